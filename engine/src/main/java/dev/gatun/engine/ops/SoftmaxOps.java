package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Softmax, LogSoftmax and Hardmax.
 *
 * <p>Spec: https://onnx.ai/onnx/operators/onnx__Softmax.html, https://onnx.ai/onnx/operators/onnx__LogSoftmax.html,
 * https://onnx.ai/onnx/operators/onnx__Hardmax.html
 *
 * <p>Versions: before opset 13 the input is coerced to 2-D [N, D] at {@code axis} (default 1, range [-r, r]):
 * N = prod(dims[:axis]), D = prod(dims[axis:]), and each row of D elements is normalised as one set. From
 * opset 13 the op runs along the single axis {@code axis} (default -1, range [-r, r-1]).
 *
 * <p>Layout: the input is seen as [O, A, I]; each (o, i) pair is one set of A elements with stride I (the
 * coerced form is I = 1). Math, with m = max over the set: Softmax y = exp(x - m) / sum exp(x - m);
 * LogSoftmax y = x - m - log(sum exp(x - m)); Hardmax y = 1 at the first maximum of the set, 0 elsewhere.
 * float32 with I = 1 (the usual last-axis case) runs vector max, exp+sum and scale passes over each row;
 * I > 1 runs the same passes on whole rows of I elements. float16, bfloat16 and double compute in double.
 */
public final class SoftmaxOps implements OpFamily {
    private enum Mode { SOFTMAX, LOG, HARD }

    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("Softmax", 1, TYPES), OpInfo.of("LogSoftmax", 1, TYPES), OpInfo.of("Hardmax", 1, TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        Mode mode = switch (node.opType()) {
            case "Softmax" -> Mode.SOFTMAX;
            case "LogSoftmax" -> Mode.LOG;
            case "Hardmax" -> Mode.HARD;
            default -> throw node.unsupported("op type " + node.opType());
        };
        DType t = node.requireType(0, TYPES);
        boolean coerce2d = node.opset() < 13;
        long axis = node.attrs().getInt("axis", coerce2d ? 1 : -1);
        Kernel k = (ctx, in) -> {
            Tensor x = in[0];
            Shape s = x.shape();
            int rank = s.rank();
            long hi = coerce2d ? rank : rank - 1;
            if (axis < -rank || axis > hi) {
                throw node.error("axis " + axis + " is out of range for input of shape " + s);
            }
            int a = (int) (axis < 0 ? axis + rank : axis);
            long outer = s.sizeOf(0, a);
            long len = coerce2d ? s.sizeOf(a, rank) : s.dim(a);
            long inner = coerce2d ? 1 : s.sizeOf(a + 1, rank);
            Tensor y = ctx.allocate(t, s);
            if (y.size() == 0) {
                return new Tensor[] {y};
            }
            if (t == DType.FLOAT) {
                runF32(mode, x.data(), y.data(), outer, len, inner);
            } else {
                runDouble(mode, x, y, outer, len, inner);
            }
            return new Tensor[] {y};
        };
        return Planned.of(k, t);
    }

    private static void runF32(Mode mode, MemorySegment x, MemorySegment y, long outer, long len, long inner) {
        if (inner == 1) {
            for (long o = 0; o < outer; o++) {
                long off = o * len;
                switch (mode) {
                    case SOFTMAX -> {
                        float m = ReduceKernels.max(x, off, len);
                        double s = ReduceKernels.sumExp(x, off, len, m, y, off);
                        ReduceKernels.affine(y, off, y, off, len, (float) (1.0 / s), 0f);
                    }
                    case LOG -> {
                        float m = ReduceKernels.max(x, off, len);
                        double s = ReduceKernels.sumExp(x, off, len, m, null, 0);
                        ReduceKernels.shiftScale(x, off, y, off, len, m, 1f, (float) -Math.log(s));
                    }
                    case HARD -> {
                        float m = ReduceKernels.max(x, off, len);
                        long idx = 0;
                        while (idx < len - 1 && !same(x.getAtIndex(F32, off + idx), m)) {
                            idx++;
                        }
                        y.asSlice(off * 4, len * 4).fill((byte) 0);
                        y.setAtIndex(F32, off + idx, 1f);
                    }
                }
            }
            return;
        }
        int n = Math.toIntExact(inner);
        float[] m = new float[n];
        float[] acc = new float[n];
        float[] coef = new float[n];
        for (long o = 0; o < outer; o++) {
            long base = o * len * n;
            MemorySegment.copy(x, F32, base * 4, m, 0, n);
            for (long a = 1; a < len; a++) {
                ReduceKernels.accumulateRow(ReduceKernels.RowOp.MAX, m, x, base + a * n, n);
            }
            switch (mode) {
                case SOFTMAX -> {
                    Arrays.fill(acc, 0f);
                    for (long a = 0; a < len; a++) {
                        ReduceKernels.accumulateExpRow(acc, x, base + a * n, m, n, y, base + a * n);
                    }
                    for (int j = 0; j < n; j++) {
                        coef[j] = (float) (1.0 / acc[j]);
                    }
                    for (long a = 0; a < len; a++) {
                        ReduceKernels.mulAddRow(y, base + a * n, y, base + a * n, coef, null, n);
                    }
                }
                case LOG -> {
                    Arrays.fill(acc, 0f);
                    for (long a = 0; a < len; a++) {
                        ReduceKernels.accumulateExpRow(acc, x, base + a * n, m, n, null, 0);
                    }
                    for (int j = 0; j < n; j++) {
                        coef[j] = (float) -Math.log(acc[j]);
                    }
                    for (long a = 0; a < len; a++) {
                        ReduceKernels.shiftAddRow(x, base + a * n, y, base + a * n, m, coef, n);
                    }
                }
                case HARD -> {
                    y.asSlice(base * 4, len * n * 4).fill((byte) 0);
                    for (int j = 0; j < n; j++) {
                        long idx = 0;
                        while (idx < len - 1 && !same(x.getAtIndex(F32, base + idx * n + j), m[j])) {
                            idx++;
                        }
                        y.setAtIndex(F32, base + idx * n + j, 1f);
                    }
                }
            }
        }
    }

    /** Equal, or both NaN (so the first NaN is the argmax, as numpy's argmax has it). */
    private static boolean same(double a, double b) {
        return a == b || (Double.isNaN(a) && Double.isNaN(b));
    }

    private static void runDouble(Mode mode, Tensor x, Tensor y, long outer, long len, long inner) {
        for (long o = 0; o < outer; o++) {
            for (long j = 0; j < inner; j++) {
                long base = o * len * inner + j;
                double m = Double.NEGATIVE_INFINITY;
                for (long a = 0; a < len; a++) {
                    m = Math.max(m, x.getDouble(base + a * inner));
                }
                switch (mode) {
                    case SOFTMAX, LOG -> {
                        double s = 0;
                        for (long a = 0; a < len; a++) {
                            s += Math.exp(x.getDouble(base + a * inner) - m);
                        }
                        double logS = Math.log(s);
                        for (long a = 0; a < len; a++) {
                            double v = x.getDouble(base + a * inner) - m;
                            y.setDouble(base + a * inner, mode == Mode.LOG ? v - logS : Math.exp(v) / s);
                        }
                    }
                    case HARD -> {
                        long idx = 0;
                        while (idx < len - 1 && !same(x.getDouble(base + idx * inner), m)) {
                            idx++;
                        }
                        for (long a = 0; a < len; a++) {
                            y.setDouble(base + a * inner, a == idx ? 1 : 0);
                        }
                    }
                }
            }
        }
    }
}
