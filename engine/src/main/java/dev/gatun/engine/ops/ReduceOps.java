package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reductions over a set of axes.
 *
 * <p>Spec: https://onnx.ai/onnx/operators/onnx__ReduceSum.html, onnx__ReduceMean.html, onnx__ReduceMax.html,
 * onnx__ReduceMin.html, onnx__ReduceProd.html, onnx__ReduceL1.html, onnx__ReduceL2.html, onnx__ReduceLogSum.html,
 * onnx__ReduceLogSumExp.html, onnx__ReduceSumSquare.html (all under https://onnx.ai/onnx/operators/).
 *
 * <p>Versions: {@code axes} is an attribute up to opset 17 (ReduceSum: up to 12) and an optional int64 input
 * from opset 18 (ReduceSum: 13), which also brings {@code noop_with_empty_axes}. Missing or empty axes reduce
 * every axis, unless {@code noop_with_empty_axes=1}: then no axis is reduced and the op maps each element alone
 * (ReduceSumSquare squares, ReduceL1 takes |x|, ReduceLogSum takes log, the others are the identity), as the
 * ONNX reference does. Negative axes count from the end; {@code keepdims} (default 1) keeps reduced axes as 1.
 *
 * <p>Math, over the reduced set S of each output position: Sum = sum x, Mean = sum x / |S|, Max/Min, Prod,
 * L1 = sum |x|, L2 = sqrt(sum x^2), LogSum = log(sum x), LogSumExp = m + log(sum exp(x - m)) with m = max x
 * (m = 0 when it is not finite), SumSquare = sum x^2. An empty S gives 0 (Sum, L1, L2, SumSquare), 1 (Prod),
 * -inf (Max, LogSum, LogSumExp), +inf (Min), NaN (Mean); integer types get their lowest/highest value for
 * Max/Min/LogSum/LogSumExp and 0 for Mean.
 *
 * <p>Layout: adjacent axes with the same role are merged and size-1 axes dropped, giving alternating kept and
 * reduced blocks. Each reduced block is one pass over [O, R, I] (outer, reduced, inner), innermost block first:
 * I = 1 reduces contiguous runs (vector sums, float lanes flushed into double every 1024 elements); I > 1
 * accumulates whole rows of I elements with vector adds (float rows flushed into double every 256 rows for
 * sums). Further passes use the decomposed form (L2 sums squares once, then sums), the final pass applies the
 * finishing step (mean, sqrt, log). float32 runs on the segments; float16/bfloat16/double go through double
 * arrays; integers and bool through long arrays (exact sums and products, wrapping like the type), except
 * L2/LogSum/LogSumExp which compute in double and truncate.
 */
public final class ReduceOps implements OpFamily {
    /** The accumulation of one pass. */
    enum Acc { SUM, SUM_ABS, SUM_SQ, MAX, MIN, PROD, LSE }

    /** The finishing step of the last pass. */
    enum Fin { NONE, MEAN, SQRT, LOG }

    private record Kind(String op, Acc first, Acc later, Fin fin, int axesInputFrom) {}

    private static final List<Kind> KINDS = List.of(
            new Kind("ReduceSum", Acc.SUM, Acc.SUM, Fin.NONE, 13),
            new Kind("ReduceMean", Acc.SUM, Acc.SUM, Fin.MEAN, 18),
            new Kind("ReduceMax", Acc.MAX, Acc.MAX, Fin.NONE, 18),
            new Kind("ReduceMin", Acc.MIN, Acc.MIN, Fin.NONE, 18),
            new Kind("ReduceProd", Acc.PROD, Acc.PROD, Fin.NONE, 18),
            new Kind("ReduceL1", Acc.SUM_ABS, Acc.SUM, Fin.NONE, 18),
            new Kind("ReduceL2", Acc.SUM_SQ, Acc.SUM, Fin.SQRT, 18),
            new Kind("ReduceLogSum", Acc.SUM, Acc.SUM, Fin.LOG, 18),
            new Kind("ReduceLogSumExp", Acc.LSE, Acc.LSE, Fin.NONE, 18),
            new Kind("ReduceSumSquare", Acc.SUM_SQ, Acc.SUM, Fin.NONE, 18));

    private static final DType[] NUMERIC = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8,
            DType.UINT8, DType.INT16, DType.UINT16, DType.INT32, DType.UINT32, DType.INT64, DType.UINT64};
    private static final DType[] WITH_BOOL = withBool();

    /** Rows summed in float before they are flushed into the double accumulator (outer-axis sums). */
    private static final int ROW_BLOCK = 256;

    private static DType[] withBool() {
        DType[] t = Arrays.copyOf(NUMERIC, NUMERIC.length + 1);
        t[NUMERIC.length] = DType.BOOL;
        return t;
    }

    @Override
    public List<OpInfo> ops() {
        List<OpInfo> l = new ArrayList<>();
        for (Kind k : KINDS) {
            l.add(OpInfo.of(k.op(), 1, isMinMax(k) ? WITH_BOOL : NUMERIC));
        }
        return l;
    }

    private static boolean isMinMax(Kind k) {
        return k.first() == Acc.MAX || k.first() == Acc.MIN;
    }

    @Override
    public Planned plan(NodeSpec node) {
        Kind k = KINDS.stream().filter(x -> x.op().equals(node.opType())).findFirst()
                .orElseThrow(() -> node.unsupported("op type " + node.opType()));
        DType t = node.requireType(0, isMinMax(k) ? WITH_BOOL : NUMERIC);
        boolean keepDims = node.attrs().getInt("keepdims", 1) != 0;
        boolean axesInput = node.opset() >= k.axesInputFrom();
        long[] fixedAxes;
        boolean noop;
        if (axesInput) {
            if (node.attrs().has("axes")) {
                throw node.unsupported("the 'axes' attribute (axes is an input from opset " + k.axesInputFrom() + ")");
            }
            noop = node.attrs().getInt("noop_with_empty_axes", 0) != 0;
            if (node.hasInput(1)) {
                node.requireType(1, DType.INT64);
            }
            Tensor c = node.constant(1);
            fixedAxes = c == null ? null : c.toLongArray();
        } else {
            if (node.hasInput(1)) {
                throw node.unsupported("a second input (axes is an attribute before opset " + k.axesInputFrom() + ")");
            }
            noop = false;
            fixedAxes = node.attrs().getInts("axes", new long[0]);
        }
        Reduction r = new Reduction(node, k, t, keepDims, noop, axesInput, fixedAxes);
        return Planned.of(r::run, t);
    }

    /** One planned reduction node. */
    private record Reduction(NodeSpec node, Kind k, DType t, boolean keepDims, boolean noop, boolean axesInput,
                             long[] fixedAxes) {
        Tensor[] run(KernelContext ctx, Tensor[] in) {
            Tensor x = in[0];
            long[] axes = fixedAxes;
            if (axes == null) {
                axes = axesInput && in.length > 1 && in[1] != null ? in[1].toLongArray() : new long[0];
            }
            long[] dims = x.shape().dims();
            int rank = dims.length;
            boolean[] red = reducedAxes(node, axes, rank, noop, x.shape());
            long count = 1;
            boolean trivial = true;
            List<Long> outDims = new ArrayList<>();
            for (int d = 0; d < rank; d++) {
                if (red[d]) {
                    count *= dims[d];
                    trivial &= dims[d] == 1;
                    if (keepDims) {
                        outDims.add(1L);
                    }
                } else {
                    outDims.add(dims[d]);
                }
            }
            Shape outShape = Shape.of(outDims.stream().mapToLong(Long::longValue).toArray());
            if (trivial && isIdentity(k)) {
                return new Tensor[] {x.reshape(outShape)};
            }
            Tensor y = ctx.allocate(t, outShape);
            if (y.size() == 0) {
                return new Tensor[] {y};
            }
            if (x.size() == 0) {
                fillEmpty(y);
                return new Tensor[] {y};
            }
            List<Pass> passes = passes(dims, red, k);
            if (t == DType.FLOAT) {
                MemorySegment cur = x.data();
                for (Pass p : passes) {
                    MemorySegment dst = p.last() ? y.data() : ctx.allocate(DType.FLOAT, Shape.of(p.outer() * p.inner())).data();
                    passF32(cur, dst, p, p.last() ? k.fin() : Fin.NONE, count);
                    cur = dst;
                }
            } else if (t.isFloating() || k.first() == Acc.LSE || k.fin() == Fin.SQRT || k.fin() == Fin.LOG) {
                double[] cur = toDoubles(node, x);
                for (Pass p : passes) {
                    cur = passDouble(cur, p, p.last() ? k.fin() : Fin.NONE, count);
                }
                for (int i = 0; i < cur.length; i++) {
                    y.setDouble(i, cur[i]);
                }
            } else {
                boolean flip = t == DType.UINT64 && isMinMax(k);
                long[] cur = toLongs(node, x, flip);
                for (Pass p : passes) {
                    cur = passLong(cur, p, p.last() && k.fin() == Fin.MEAN ? count : 1);
                }
                for (int i = 0; i < cur.length; i++) {
                    y.setLong(i, flip ? cur[i] ^ Long.MIN_VALUE : cur[i]);
                }
            }
            return new Tensor[] {y};
        }

        private void fillEmpty(Tensor y) {
            double v = switch (k.first()) {
                case SUM, SUM_ABS, SUM_SQ -> k.fin() == Fin.LOG ? Double.NEGATIVE_INFINITY : k.fin() == Fin.MEAN ? Double.NaN : 0;
                case PROD -> 1;
                case MAX, LSE -> Double.NEGATIVE_INFINITY;
                case MIN -> Double.POSITIVE_INFINITY;
            };
            long n = y.size();
            if (t.isFloating()) {
                for (long i = 0; i < n; i++) {
                    y.setDouble(i, v);
                }
            } else {
                long lv = Double.isNaN(v) ? 0 : v == Double.NEGATIVE_INFINITY ? lowest(t) : v == Double.POSITIVE_INFINITY ? highest(t) : (long) v;
                for (long i = 0; i < n; i++) {
                    y.setLong(i, lv);
                }
            }
        }
    }

    /** Whether reducing a single element gives it back unchanged. */
    private static boolean isIdentity(Kind k) {
        return k.first() != Acc.SUM_ABS && k.first() != Acc.SUM_SQ && (k.fin() == Fin.NONE || k.fin() == Fin.MEAN);
    }

    /** Which axes are reduced: {@code axes} normalised and checked, empty meaning all (or none when {@code noop}). */
    static boolean[] reducedAxes(NodeSpec node, long[] axes, int rank, boolean noop, Shape shape) {
        boolean[] red = new boolean[rank];
        if (axes.length == 0) {
            Arrays.fill(red, !noop);
            return red;
        }
        for (long a : axes) {
            long ax = a < 0 ? a + rank : a;
            if (ax < 0 || ax >= rank) {
                throw node.error("axis " + a + " is out of range for input of shape " + shape);
            }
            if (red[(int) ax]) {
                throw node.error("axis " + a + " is repeated in axes " + Arrays.toString(axes));
            }
            red[(int) ax] = true;
        }
        return red;
    }

    /** One pass: reduce the middle of [outer, r, inner] with {@code acc}; {@code last} applies the finishing step. */
    record Pass(long outer, long r, long inner, Acc acc, boolean last) {}

    /** The passes of a reduction: merged alternating blocks, the innermost reduced block first. */
    static List<Pass> passes(long[] dims, boolean[] red, Kind k) {
        List<long[]> blocks = new ArrayList<>();
        long total = 1;
        for (int d = 0; d < dims.length; d++) {
            total *= dims[d];
            if (dims[d] == 1) {
                continue;
            }
            long flag = red[d] ? 1 : 0;
            if (!blocks.isEmpty() && blocks.getLast()[1] == flag) {
                blocks.getLast()[0] *= dims[d];
            } else {
                blocks.add(new long[] {dims[d], flag});
            }
        }
        List<Pass> out = new ArrayList<>();
        while (true) {
            int kIdx = -1;
            for (int i = blocks.size() - 1; i >= 0; i--) {
                if (blocks.get(i)[1] == 1) {
                    kIdx = i;
                    break;
                }
            }
            if (kIdx < 0) {
                break;
            }
            long o = 1;
            long in = 1;
            for (int i = 0; i < kIdx; i++) {
                o *= blocks.get(i)[0];
            }
            for (int i = kIdx + 1; i < blocks.size(); i++) {
                in *= blocks.get(i)[0];
            }
            out.add(new Pass(o, blocks.get(kIdx)[0], in, out.isEmpty() ? k.first() : k.later(), false));
            blocks.remove(kIdx);
            if (kIdx > 0 && kIdx < blocks.size() && blocks.get(kIdx - 1)[1] == 0 && blocks.get(kIdx)[1] == 0) {
                blocks.get(kIdx - 1)[0] *= blocks.remove(kIdx)[0];
            }
        }
        if (out.isEmpty()) {
            out.add(new Pass(total, 1, 1, k.first(), true));
        } else {
            Pass p = out.removeLast();
            out.add(new Pass(p.outer(), p.r(), p.inner(), p.acc(), true));
        }
        return out;
    }

    private static double finish(double v, Fin fin, long count) {
        return switch (fin) {
            case NONE -> v;
            case MEAN -> v / count;
            case SQRT -> Math.sqrt(v);
            case LOG -> Math.log(v);
        };
    }

    // ---- float32 ----

    /** One pass over float32 segments: {@code out[o, i] = fin(acc_r in[o, r, i])}. */
    static void passF32(MemorySegment in, MemorySegment out, Pass p, Fin fin, long count) {
        long outer = p.outer();
        long r = p.r();
        if (p.inner() == 1) {
            for (long o = 0; o < outer; o++) {
                long off = o * r;
                double v = switch (p.acc()) {
                    case SUM -> ReduceKernels.sum(in, off, r);
                    case SUM_ABS -> ReduceKernels.sumAbs(in, off, r);
                    case SUM_SQ -> ReduceKernels.sumSqDiff(in, off, r, 0f);
                    case MAX -> ReduceKernels.max(in, off, r);
                    case MIN -> ReduceKernels.min(in, off, r);
                    case PROD -> prodF32(in, off, r);
                    case LSE -> logSumExpF32(in, off, r);
                };
                out.setAtIndex(F32, o, (float) finish(v, fin, count));
            }
            return;
        }
        int n = Math.toIntExact(p.inner());
        float[] acc = new float[n];
        switch (p.acc()) {
            case SUM, SUM_ABS, SUM_SQ -> {
                ReduceKernels.RowOp op = p.acc() == Acc.SUM ? ReduceKernels.RowOp.ADD
                        : p.acc() == Acc.SUM_ABS ? ReduceKernels.RowOp.ADD_ABS : ReduceKernels.RowOp.ADD_SQ;
                double[] dacc = new double[n];
                for (long o = 0; o < outer; o++) {
                    Arrays.fill(dacc, 0);
                    for (long r0 = 0; r0 < r; r0 += ROW_BLOCK) {
                        Arrays.fill(acc, 0f);
                        long r1 = Math.min(r, r0 + ROW_BLOCK);
                        for (long ri = r0; ri < r1; ri++) {
                            ReduceKernels.accumulateRow(op, acc, in, (o * r + ri) * n, n);
                        }
                        for (int j = 0; j < n; j++) {
                            dacc[j] += acc[j];
                        }
                    }
                    for (int j = 0; j < n; j++) {
                        out.setAtIndex(F32, o * n + j, (float) finish(dacc[j], fin, count));
                    }
                }
            }
            case MAX, MIN, PROD -> {
                ReduceKernels.RowOp op = p.acc() == Acc.MAX ? ReduceKernels.RowOp.MAX
                        : p.acc() == Acc.MIN ? ReduceKernels.RowOp.MIN : ReduceKernels.RowOp.MUL;
                for (long o = 0; o < outer; o++) {
                    MemorySegment.copy(in, F32, o * r * n * 4, acc, 0, n);
                    for (long ri = 1; ri < r; ri++) {
                        ReduceKernels.accumulateRow(op, acc, in, (o * r + ri) * n, n);
                    }
                    for (int j = 0; j < n; j++) {
                        out.setAtIndex(F32, o * n + j, (float) finish(acc[j], fin, count));
                    }
                }
            }
            case LSE -> {
                float[] shift = new float[n];
                for (long o = 0; o < outer; o++) {
                    MemorySegment.copy(in, F32, o * r * n * 4, shift, 0, n);
                    for (long ri = 1; ri < r; ri++) {
                        ReduceKernels.accumulateRow(ReduceKernels.RowOp.MAX, shift, in, (o * r + ri) * n, n);
                    }
                    for (int j = 0; j < n; j++) {
                        if (!Float.isFinite(shift[j])) {
                            shift[j] = 0f;
                        }
                    }
                    Arrays.fill(acc, 0f);
                    for (long ri = 0; ri < r; ri++) {
                        ReduceKernels.accumulateExpRow(acc, in, (o * r + ri) * n, shift, n, null, 0);
                    }
                    for (int j = 0; j < n; j++) {
                        out.setAtIndex(F32, o * n + j, (float) finish(Math.log(acc[j]) + shift[j], fin, count));
                    }
                }
            }
        }
    }

    private static double prodF32(MemorySegment in, long off, long n) {
        double p = 1;
        for (long i = 0; i < n; i++) {
            p *= in.getAtIndex(F32, off + i);
        }
        return p;
    }

    private static double logSumExpF32(MemorySegment in, long off, long n) {
        float m = ReduceKernels.max(in, off, n);
        float shift = Float.isFinite(m) ? m : 0f;
        return Math.log(ReduceKernels.sumExp(in, off, n, shift, null, 0)) + shift;
    }

    // ---- double (float16, bfloat16, double; integer L2/LogSum/LogSumExp) ----

    private static double[] toDoubles(NodeSpec node, Tensor x) {
        double[] a = new double[checkedLength(node, x)];
        for (int i = 0; i < a.length; i++) {
            a[i] = x.getDouble(i);
        }
        return a;
    }

    private static int checkedLength(NodeSpec node, Tensor x) {
        if (x.size() > Integer.MAX_VALUE - 8) {
            throw node.error("input " + x + " is too large for the " + x.dtype() + " reduction path (at most 2^31 elements)");
        }
        return (int) x.size();
    }

    static double[] passDouble(double[] in, Pass p, Fin fin, long count) {
        int outer = (int) p.outer();
        int r = (int) p.r();
        int n = (int) p.inner();
        double[] out = new double[outer * n];
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < n; j++) {
                int base = o * r * n + j;
                double v;
                switch (p.acc()) {
                    case SUM, SUM_ABS, SUM_SQ -> {
                        v = 0;
                        for (int ri = 0; ri < r; ri++) {
                            double e = in[base + ri * n];
                            v += p.acc() == Acc.SUM ? e : p.acc() == Acc.SUM_ABS ? Math.abs(e) : e * e;
                        }
                    }
                    case MAX -> {
                        v = Double.NEGATIVE_INFINITY;
                        for (int ri = 0; ri < r; ri++) {
                            v = Math.max(v, in[base + ri * n]);
                        }
                    }
                    case MIN -> {
                        v = Double.POSITIVE_INFINITY;
                        for (int ri = 0; ri < r; ri++) {
                            v = Math.min(v, in[base + ri * n]);
                        }
                    }
                    case PROD -> {
                        v = 1;
                        for (int ri = 0; ri < r; ri++) {
                            v *= in[base + ri * n];
                        }
                    }
                    case LSE -> {
                        double m = Double.NEGATIVE_INFINITY;
                        for (int ri = 0; ri < r; ri++) {
                            m = Math.max(m, in[base + ri * n]);
                        }
                        double shift = Double.isFinite(m) ? m : 0;
                        double s = 0;
                        for (int ri = 0; ri < r; ri++) {
                            s += Math.exp(in[base + ri * n] - shift);
                        }
                        v = Math.log(s) + shift;
                    }
                    default -> throw new IllegalStateException();
                }
                out[o * n + j] = finish(v, fin, count);
            }
        }
        return out;
    }

    // ---- integers and bool ----

    private static long[] toLongs(NodeSpec node, Tensor x, boolean flip) {
        long[] a = new long[checkedLength(node, x)];
        for (int i = 0; i < a.length; i++) {
            a[i] = flip ? x.getAsLong(i) ^ Long.MIN_VALUE : x.getAsLong(i);
        }
        return a;
    }

    /** One pass over longs; {@code divisor} is the element count for the last pass of a mean, else 1. */
    static long[] passLong(long[] in, Pass p, long divisor) {
        int outer = (int) p.outer();
        int r = (int) p.r();
        int n = (int) p.inner();
        long[] out = new long[outer * n];
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < n; j++) {
                int base = o * r * n + j;
                long v = in[base];
                v = switch (p.acc()) {
                    case SUM_ABS -> Math.abs(v);
                    case SUM_SQ -> v * v;
                    default -> v;
                };
                for (int ri = 1; ri < r; ri++) {
                    long e = in[base + ri * n];
                    v = switch (p.acc()) {
                        case SUM -> v + e;
                        case SUM_ABS -> v + Math.abs(e);
                        case SUM_SQ -> v + e * e;
                        case MAX -> Math.max(v, e);
                        case MIN -> Math.min(v, e);
                        case PROD -> v * e;
                        case LSE -> throw new IllegalStateException("LogSumExp runs in double");
                    };
                }
                out[o * n + j] = v / divisor;
            }
        }
        return out;
    }

    /** The lowest value of an integer (or bool) type, as stored by {@link Tensor#setLong}. */
    static long lowest(DType t) {
        return switch (t) {
            case INT8 -> Byte.MIN_VALUE;
            case INT16 -> Short.MIN_VALUE;
            case INT32 -> Integer.MIN_VALUE;
            case INT64 -> Long.MIN_VALUE;
            default -> 0;
        };
    }

    /** The highest value of an integer (or bool) type, as stored by {@link Tensor#setLong}. */
    static long highest(DType t) {
        return switch (t) {
            case INT8 -> Byte.MAX_VALUE;
            case UINT8 -> 0xff;
            case INT16 -> Short.MAX_VALUE;
            case UINT16 -> 0xffff;
            case INT32 -> Integer.MAX_VALUE;
            case UINT32 -> 0xffffffffL;
            case INT64 -> Long.MAX_VALUE;
            case UINT64 -> -1L;
            case BOOL -> 1;
            default -> 0;
        };
    }
}
