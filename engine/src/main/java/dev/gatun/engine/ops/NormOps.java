package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Normalisations over channels, features or whole rows.
 *
 * <p>Spec: https://onnx.ai/onnx/operators/onnx__BatchNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__InstanceNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__LayerNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__RMSNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__GroupNormalization.html, https://onnx.ai/onnx/operators/onnx__LRN.html,
 * https://onnx.ai/onnx/operators/onnx__MeanVarianceNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__LpNormalization.html
 *
 * <p>Every kernel computes in float32 with statistics accumulated in double; float16, bfloat16 and double
 * inputs are converted to a float32 copy and the result converted back (double results therefore carry
 * float32 precision). Variances are two-pass population variances: mean first, then the mean of (x - mean)^2.
 * Parameter inputs (scale, bias, mean, var) may have any float type; they are read into float arrays.
 */
public final class NormOps implements OpFamily {
    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("BatchNormalization", 1, TYPES), OpInfo.of("InstanceNormalization", 1, TYPES),
                OpInfo.of("LayerNormalization", 17, TYPES), OpInfo.of("RMSNormalization", 23, TYPES),
                OpInfo.of("GroupNormalization", 18, TYPES), OpInfo.of("LRN", 1, TYPES),
                OpInfo.of("MeanVarianceNormalization", 9, TYPES), OpInfo.of("LpNormalization", 1, TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        DType t = node.requireType(0, TYPES);
        for (int i = 1; i < node.inputCount(); i++) {
            if (node.hasInput(i)) {
                node.requireType(i, TYPES);
            }
        }
        return switch (node.opType()) {
            case "BatchNormalization" -> BatchNorm.plan(node, t);
            case "InstanceNormalization" -> {
                node.requireType(1, TYPES);
                node.requireType(2, TYPES);
                yield Planned.of(f32Kernel(node, t, NormOps::instanceNorm), t);
            }
            case "LayerNormalization" -> RowNorm.plan(node, t, false);
            case "RMSNormalization" -> RowNorm.plan(node, t, true);
            case "GroupNormalization" -> planGroupNorm(node, t);
            case "LRN" -> planLrn(node, t);
            case "MeanVarianceNormalization" -> planMvn(node, t);
            case "LpNormalization" -> planLpNorm(node, t);
            default -> throw node.unsupported("op type " + node.opType());
        };
    }

    /** A single-output kernel body over float32: reads {@code x} (float32) and the other inputs, writes {@code y}. */
    @FunctionalInterface
    interface F32Body {
        void run(NodeSpec node, Tensor x, Tensor[] in, Tensor y);
    }

    /** Wraps a float32 body: converts a non-float32 input to float32 and the output back. */
    static Kernel f32Kernel(NodeSpec node, DType t, F32Body body) {
        return (ctx, in) -> {
            Tensor x = toF32(ctx, in[0]);
            Tensor y = ctx.allocate(DType.FLOAT, x.shape());
            if (y.size() > 0) {
                body.run(node, x, in, y);
            }
            return new Tensor[] {fromF32(ctx, y, t)};
        };
    }

    /** {@code t} itself when float32, else a float32 copy. */
    static Tensor toF32(KernelContext ctx, Tensor t) {
        if (t.dtype() == DType.FLOAT) {
            return t;
        }
        Tensor f = ctx.allocate(DType.FLOAT, t.shape());
        MemorySegment d = f.data();
        long n = t.size();
        for (long i = 0; i < n; i++) {
            d.setAtIndex(F32, i, (float) t.getDouble(i));
        }
        return f;
    }

    /** {@code f} itself when {@code t} is float32, else a copy converted to {@code t}. */
    static Tensor fromF32(KernelContext ctx, Tensor f, DType t) {
        if (t == DType.FLOAT) {
            return f;
        }
        Tensor y = ctx.allocate(t, f.shape());
        long n = f.size();
        for (long i = 0; i < n; i++) {
            y.setDouble(i, f.getFloat(i));
        }
        return y;
    }

    /** The values of a per-channel parameter, checked to hold {@code n} elements. */
    static float[] param(NodeSpec node, Tensor p, long n, String name, Shape xShape) {
        if (p.size() != n) {
            throw node.error(name + " has shape " + p.shape() + ", expected " + n + " elements for input of shape " + xShape);
        }
        return p.toFloatArray();
    }

    /** Rank check for ops over [N, C, spatial...]. */
    static void requireRank(NodeSpec node, Shape s, int min) {
        if (s.rank() < min) {
            throw node.error("input has shape " + s + ", expected rank " + min + " or more");
        }
    }

    // ---- BatchNormalization ----

    /**
     * BatchNormalization over X [N, C, D1, ...] with scale, B, mean, var of shape [C]
     * (opset < 9 with {@code spatial=0}: [C, D1, ...], one set per element of a sample).
     * Inference: y = (x - mean) * scale / sqrt(var + epsilon) + B, one vector pass per (n, c) run.
     * Training ({@code is_test=0} before opset 7, more than one output from 7 to 13, {@code training_mode=1}
     * from 14): mean and var are the batch statistics over N and the spatial axes (population variance);
     * outputs running_mean = mean_in * momentum + batch_mean * (1 - momentum) and running_var likewise, and
     * before opset 14 optionally also saved_mean and saved_var (the batch mean and variance).
     */
    private static final class BatchNorm {
        static Planned plan(NodeSpec node, DType t) {
            int opset = node.opset();
            float eps = node.attrs().getFloat("epsilon", 1e-5f);
            float momentum = node.attrs().getFloat("momentum", 0.9f);
            boolean training = opset < 7 ? node.attrs().getInt("is_test", 0) == 0
                    : opset < 14 ? node.outputCount() > 1 : node.attrs().getInt("training_mode", 0) != 0;
            boolean spatial = opset >= 9 || node.attrs().getInt("spatial", 1) != 0;
            for (int i = 1; i <= 4; i++) {
                if (!node.hasInput(i)) {
                    throw node.unsupported("BatchNormalization without input " + i);
                }
            }
            int maxOut = training ? (opset < 14 ? 5 : 3) : 1;
            if (node.outputCount() > maxOut) {
                throw node.unsupported(node.outputCount() + " outputs " + (training ? "in training mode" : "in inference mode")
                        + " (at most " + maxOut + ")");
            }
            if (training && !spatial) {
                throw node.unsupported("training mode with spatial=0");
            }
            DType statType = node.inputType(3);
            DType[] outTypes = new DType[node.outputCount()];
            for (int i = 0; i < outTypes.length; i++) {
                outTypes[i] = i == 0 || i >= 3 ? t : statType;
            }
            Kernel k = (ctx, in) -> {
                Tensor x = toF32(ctx, in[0]);
                Shape s = x.shape();
                requireRank(node, s, 2);
                long c = s.dim(1);
                long sp = s.sizeOf(2, s.rank());
                Tensor y = ctx.allocate(DType.FLOAT, s);
                Tensor[] out = new Tensor[outTypes.length];
                if (training) {
                    train(node, x, in, y, eps, momentum, ctx, out, outTypes);
                } else if (spatial || in[1].size() == c) {
                    float[] scale = param(node, in[1], c, "scale", s);
                    float[] bias = param(node, in[2], c, "B", s);
                    float[] mean = param(node, in[3], c, "mean", s);
                    float[] var = param(node, in[4], c, "var", s);
                    long n = s.dim(0);
                    for (long ni = 0; ni < n; ni++) {
                        for (int ci = 0; ci < c; ci++) {
                            long off = (ni * c + ci) * sp;
                            float a = (float) (scale[ci] / Math.sqrt((double) var[ci] + eps));
                            ReduceKernels.shiftScale(x.data(), off, y.data(), off, sp, mean[ci], a, bias[ci]);
                        }
                    }
                } else {
                    long per = c * sp;
                    float[] scale = param(node, in[1], per, "scale", s);
                    float[] bias = param(node, in[2], per, "B", s);
                    float[] mean = param(node, in[3], per, "mean", s);
                    float[] var = param(node, in[4], per, "var", s);
                    float[] a = new float[(int) per];
                    float[] b = new float[(int) per];
                    for (int i = 0; i < per; i++) {
                        double ai = scale[i] / Math.sqrt((double) var[i] + eps);
                        a[i] = (float) ai;
                        b[i] = (float) (bias[i] - mean[i] * ai);
                    }
                    for (long ni = 0; ni < s.dim(0); ni++) {
                        ReduceKernels.mulAddRow(x.data(), ni * per, y.data(), ni * per, a, b, (int) per);
                    }
                }
                out[0] = fromF32(ctx, y, t);
                return out;
            };
            return Planned.of(k, outTypes);
        }

        private static void train(NodeSpec node, Tensor x, Tensor[] in, Tensor y, float eps, float momentum,
                                  KernelContext ctx, Tensor[] out, DType[] outTypes) {
            Shape s = x.shape();
            int c = Math.toIntExact(s.dim(1));
            long n = s.dim(0);
            long sp = s.sizeOf(2, s.rank());
            float[] scale = param(node, in[1], c, "scale", s);
            float[] bias = param(node, in[2], c, "B", s);
            float[] runMean = param(node, in[3], c, "input_mean", s);
            float[] runVar = param(node, in[4], c, "input_var", s);
            double count = (double) n * sp;
            double[] mean = new double[c];
            double[] var = new double[c];
            for (int ci = 0; ci < c; ci++) {
                double sum = 0;
                for (long ni = 0; ni < n; ni++) {
                    sum += ReduceKernels.sum(x.data(), (ni * c + ci) * sp, sp);
                }
                mean[ci] = sum / count;
                double sq = 0;
                for (long ni = 0; ni < n; ni++) {
                    sq += ReduceKernels.sumSqDiff(x.data(), (ni * c + ci) * sp, sp, (float) mean[ci]);
                }
                var[ci] = sq / count;
                float a = (float) (scale[ci] / Math.sqrt(var[ci] + eps));
                for (long ni = 0; ni < n; ni++) {
                    long off = (ni * c + ci) * sp;
                    ReduceKernels.shiftScale(x.data(), off, y.data(), off, sp, (float) mean[ci], a, bias[ci]);
                }
            }
            for (int o = 1; o < out.length; o++) {
                Tensor r = ctx.allocate(outTypes[o], Shape.of(c));
                for (int ci = 0; ci < c; ci++) {
                    r.setDouble(ci, switch (o) {
                        case 1 -> runMean[ci] * momentum + mean[ci] * (1 - momentum);
                        case 2 -> runVar[ci] * momentum + var[ci] * (1 - momentum);
                        case 3 -> mean[ci];
                        default -> var[ci];
                    });
                }
                out[o] = r;
            }
        }
    }

    // ---- InstanceNormalization ----

    /** InstanceNormalization over X [N, C, D1, ...]: each (n, c) run normalised, then * scale[c] + B[c]. */
    private static void instanceNorm(NodeSpec node, Tensor x, Tensor[] in, Tensor y) {
        Shape s = x.shape();
        requireRank(node, s, 2);
        float eps = node.attrs().getFloat("epsilon", 1e-5f);
        long n = s.dim(0);
        int c = Math.toIntExact(s.dim(1));
        long sp = s.sizeOf(2, s.rank());
        float[] scale = param(node, in[1], c, "scale", s);
        float[] bias = param(node, in[2], c, "B", s);
        for (long ni = 0; ni < n; ni++) {
            for (int ci = 0; ci < c; ci++) {
                long off = (ni * c + ci) * sp;
                float mean = (float) (ReduceKernels.sum(x.data(), off, sp) / sp);
                double var = ReduceKernels.sumSqDiff(x.data(), off, sp, mean) / sp;
                float a = (float) (scale[ci] / Math.sqrt(var + eps));
                ReduceKernels.shiftScale(x.data(), off, y.data(), off, sp, mean, a, bias[ci]);
            }
        }
    }

    // ---- GroupNormalization ----

    /**
     * GroupNormalization over X [N, C, D1, ...] with {@code num_groups} G dividing C: each (n, g) run of
     * C/G channels is normalised as one set, then each channel is scaled and shifted. Opset 18 has scale and
     * bias of shape [G] (one per group); opset 21 of shape [C] (one per channel) and adds {@code stash_type}.
     */
    private static Planned planGroupNorm(NodeSpec node, DType t) {
        long groups = node.attrs().getInt("num_groups", -1);
        if (groups <= 0) {
            throw node.unsupported("GroupNormalization without a positive num_groups attribute");
        }
        checkStash(node);
        float eps = node.attrs().getFloat("epsilon", 1e-5f);
        boolean perGroup = node.opset() < 21;
        return Planned.of(f32Kernel(node, t, (nd, x, in, y) -> {
            Shape s = x.shape();
            requireRank(node, s, 2);
            long n = s.dim(0);
            long c = s.dim(1);
            if (c % groups != 0) {
                throw node.error("num_groups " + groups + " does not divide the " + c + " channels of input " + s);
            }
            long cg = c / groups;
            long sp = s.sizeOf(2, s.rank());
            boolean byGroup = perGroup && in[1].size() == groups && groups != c;
            float[] scale = param(node, in[1], byGroup ? groups : c, "scale", s);
            float[] bias = param(node, in[2], byGroup ? groups : c, "bias", s);
            long len = cg * sp;
            for (long ni = 0; ni < n; ni++) {
                for (int g = 0; g < groups; g++) {
                    long off = (ni * c + g * cg) * sp;
                    float mean = (float) (ReduceKernels.sum(x.data(), off, len) / len);
                    double inv = 1.0 / Math.sqrt(ReduceKernels.sumSqDiff(x.data(), off, len, mean) / len + eps);
                    for (long k = 0; k < cg; k++) {
                        int ch = (int) (byGroup ? g : g * cg + k);
                        ReduceKernels.shiftScale(x.data(), off + k * sp, y.data(), off + k * sp, sp, mean,
                                (float) (inv * scale[ch]), bias[ch]);
                    }
                }
            }
        }), t);
    }

    /** Refuses a {@code stash_type} other than float32 (the precision the statistics are kept in). */
    static void checkStash(NodeSpec node) {
        long stash = node.attrs().getInt("stash_type", 1);
        if (stash != 1) {
            throw node.unsupported("stash_type " + stash + " (" + DType.onnxTypeName((int) stash) + "; only 1, float)");
        }
    }

    // ---- LRN ----

    /**
     * LRN over X [N, C, D1, ...]: square_sum[n, c, d] = sum of x[n, i, d]^2 for i in
     * [max(0, c - floor((size-1)/2)), min(C-1, c + ceil((size-1)/2))];
     * y = x / (bias + alpha / size * square_sum)^beta.
     */
    private static Planned planLrn(NodeSpec node, DType t) {
        long size = node.attrs().getInt("size", -1);
        if (size <= 0) {
            throw node.unsupported("LRN without a positive size attribute");
        }
        float alpha = node.attrs().getFloat("alpha", 1e-4f);
        float beta = node.attrs().getFloat("beta", 0.75f);
        float bias = node.attrs().getFloat("bias", 1f);
        long before = (size - 1) / 2;
        long after = size - 1 - before;
        return Planned.of(f32Kernel(node, t, (nd, x, in, y) -> {
            Shape s = x.shape();
            requireRank(node, s, 2);
            long n = s.dim(0);
            long c = s.dim(1);
            int sp = Math.toIntExact(s.sizeOf(2, s.rank()));
            float[] acc = new float[sp];
            double k = (double) alpha / size;
            for (long ni = 0; ni < n; ni++) {
                for (long ci = 0; ci < c; ci++) {
                    Arrays.fill(acc, 0f);
                    for (long i = Math.max(0, ci - before); i <= Math.min(c - 1, ci + after); i++) {
                        ReduceKernels.accumulateRow(ReduceKernels.RowOp.ADD_SQ, acc, x.data(), (ni * c + i) * sp, sp);
                    }
                    long off = (ni * c + ci) * sp;
                    for (int j = 0; j < sp; j++) {
                        double d = Math.pow(bias + k * acc[j], beta);
                        y.data().setAtIndex(F32, off + j, (float) (x.data().getAtIndex(F32, off + j) / d));
                    }
                }
            }
        }), t);
    }

    // ---- MeanVarianceNormalization ----

    /**
     * MeanVarianceNormalization over {@code axes} (default [0, 2, 3]): y = (x - mean) / (sqrt(var) + 1e-9), mean
     * and population variance taken over the axes for each position of the other axes (the epsilon is the one
     * of the ONNX function body).
     */
    private static Planned planMvn(NodeSpec node, DType t) {
        long[] axes = node.attrs().getInts("axes", new long[] {0, 2, 3});
        return Planned.of(f32Kernel(node, t, (nd, x, in, y) -> {
            Shape s = x.shape();
            long[] dims = s.dims();
            boolean[] red = ReduceOps.reducedAxes(node, axes, dims.length, false, s);
            if (x.size() > Integer.MAX_VALUE - 8) {
                throw node.error("input " + s + " is too large for MeanVarianceNormalization");
            }
            int total = (int) x.size();
            int[] group = new int[total];
            int[] idx = new int[dims.length];
            long[] keptStride = new long[dims.length];
            long kept = 1;
            for (int d = dims.length - 1; d >= 0; d--) {
                if (!red[d]) {
                    keptStride[d] = kept;
                    kept *= dims[d];
                }
            }
            long g = 0;
            for (int i = 0; i < total; i++) {
                group[i] = (int) g;
                for (int d = dims.length - 1; d >= 0; d--) {
                    if (++idx[d] < dims[d]) {
                        g += keptStride[d];
                        break;
                    }
                    idx[d] = 0;
                    g -= keptStride[d] * (dims[d] - 1);
                }
            }
            double[] mean = new double[(int) kept];
            double[] sq = new double[(int) kept];
            double cnt = (double) total / kept;
            MemorySegment xs = x.data();
            for (int i = 0; i < total; i++) {
                mean[group[i]] += xs.getAtIndex(F32, i);
            }
            for (int j = 0; j < kept; j++) {
                mean[j] /= cnt;
            }
            for (int i = 0; i < total; i++) {
                double d = xs.getAtIndex(F32, i) - mean[group[i]];
                sq[group[i]] += d * d;
            }
            for (int j = 0; j < kept; j++) {
                sq[j] = 1.0 / (Math.sqrt(sq[j] / cnt) + 1e-9);
            }
            for (int i = 0; i < total; i++) {
                y.data().setAtIndex(F32, i, (float) ((xs.getAtIndex(F32, i) - mean[group[i]]) * sq[group[i]]));
            }
        }), t);
    }

    // ---- LpNormalization ----

    /**
     * LpNormalization along {@code axis} (default -1) with {@code p} 1 or 2 (default 2): y = x / ||x||_p over each
     * set along the axis, seen as [O, A, I]. A set whose norm is 0 gives 0 (not NaN), as onnxruntime does.
     */
    private static Planned planLpNorm(NodeSpec node, DType t) {
        long p = node.attrs().getInt("p", 2);
        if (p != 1 && p != 2) {
            throw node.unsupported("LpNormalization with p=" + p + " (only 1 and 2)");
        }
        long axis = node.attrs().getInt("axis", -1);
        return Planned.of(f32Kernel(node, t, (nd, x, in, y) -> {
            Shape s = x.shape();
            int a = normalizeAxis(node, axis, s);
            long outer = s.sizeOf(0, a);
            long len = s.dim(a);
            long inner = s.sizeOf(a + 1, s.rank());
            MemorySegment xs = x.data();
            MemorySegment ys = y.data();
            if (inner == 1) {
                for (long o = 0; o < outer; o++) {
                    long off = o * len;
                    double norm = p == 1 ? ReduceKernels.sumAbs(xs, off, len) : Math.sqrt(ReduceKernels.sumSqDiff(xs, off, len, 0f));
                    ReduceKernels.affine(xs, off, ys, off, len, norm == 0 ? 0f : (float) (1.0 / norm), 0f);
                }
                return;
            }
            int n = Math.toIntExact(inner);
            float[] acc = new float[n];
            ReduceKernels.RowOp op = p == 1 ? ReduceKernels.RowOp.ADD_ABS : ReduceKernels.RowOp.ADD_SQ;
            for (long o = 0; o < outer; o++) {
                long base = o * len * n;
                Arrays.fill(acc, 0f);
                for (long i = 0; i < len; i++) {
                    ReduceKernels.accumulateRow(op, acc, xs, base + i * n, n);
                }
                for (int j = 0; j < n; j++) {
                    double norm = p == 1 ? acc[j] : Math.sqrt(acc[j]);
                    acc[j] = norm == 0 ? 0f : (float) (1.0 / norm);
                }
                for (long i = 0; i < len; i++) {
                    ReduceKernels.mulAddRow(xs, base + i * n, ys, base + i * n, acc, null, n);
                }
            }
        }), t);
    }

    /** {@code axis} in [-rank, rank-1] made non-negative, else a run-time error naming the shape. */
    static int normalizeAxis(NodeSpec node, long axis, Shape s) {
        int rank = s.rank();
        if (axis < -rank || axis >= rank) {
            throw node.error("axis " + axis + " is out of range for input of shape " + s);
        }
        return (int) (axis < 0 ? axis + rank : axis);
    }
}
