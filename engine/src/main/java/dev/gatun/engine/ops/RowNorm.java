package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * LayerNormalization (opset 17) and RMSNormalization (opset 23) for {@link NormOps}: normalisation of the
 * trailing axes from {@code axis} (default -1) on.
 *
 * <p>Spec: https://onnx.ai/onnx/operators/onnx__LayerNormalization.html,
 * https://onnx.ai/onnx/operators/onnx__RMSNormalization.html
 *
 * <p>Layout: X is seen as [rows, D] with D = prod(dims[axis:]); Scale (and LayerNormalization's optional B)
 * broadcast to dims[axis:] and are expanded to D floats once per run. Math per row, statistics in double:
 * LayerNormalization mean = sum x / D, var = sum (x - mean)^2 / D, inv = 1 / sqrt(var + epsilon),
 * y = (x - mean) * inv * scale + B, with optional outputs Mean and InvStdDev (float32, shape dims[:axis]
 * followed by ones); RMSNormalization inv = 1 / sqrt(sum x^2 / D + epsilon), y = x * inv * scale.
 * The row pass is one vector loop. Only {@code stash_type=1} (float32 statistics) is implemented.
 */
final class RowNorm {
    private RowNorm() {}

    static Planned plan(NodeSpec node, DType t, boolean rms) {
        NormOps.checkStash(node);
        long axis = node.attrs().getInt("axis", -1);
        float eps = node.attrs().getFloat("epsilon", 1e-5f);
        if (!node.hasInput(1)) {
            throw node.unsupported(node.opType() + " without a scale input");
        }
        int outs = node.outputCount();
        if (outs > (rms ? 1 : 3)) {
            throw node.unsupported(outs + " outputs (at most " + (rms ? 1 : 3) + ")");
        }
        DType[] outTypes = new DType[outs];
        for (int i = 0; i < outs; i++) {
            outTypes[i] = i == 0 ? t : DType.FLOAT;
        }
        Kernel k = (ctx, in) -> {
            Tensor x = NormOps.toF32(ctx, in[0]);
            Shape s = x.shape();
            int a = NormOps.normalizeAxis(node, axis, s);
            long[] dims = s.dims();
            long[] norm = java.util.Arrays.copyOfRange(dims, a, dims.length);
            long rows = s.sizeOf(0, a);
            int d = Math.toIntExact(s.sizeOf(a, dims.length));
            float[] scale = expand(node, in[1], norm, "scale", s);
            float[] bias = !rms && in.length > 2 && in[2] != null ? expand(node, in[2], norm, "B", s) : null;
            Tensor y = ctx.allocate(DType.FLOAT, s);
            long[] statDims = dims.clone();
            for (int i = a; i < statDims.length; i++) {
                statDims[i] = 1;
            }
            Tensor meanOut = outs > 1 ? ctx.allocate(DType.FLOAT, Shape.of(statDims)) : null;
            Tensor invOut = outs > 2 ? ctx.allocate(DType.FLOAT, Shape.of(statDims)) : null;
            MemorySegment xs = x.data();
            MemorySegment ys = y.data();
            for (long r = 0; r < rows; r++) {
                long off = r * d;
                float mean = 0f;
                double inv;
                if (rms) {
                    inv = 1.0 / Math.sqrt(ReduceKernels.sumSqDiff(xs, off, d, 0f) / d + eps);
                } else {
                    mean = (float) (ReduceKernels.sum(xs, off, d) / d);
                    inv = 1.0 / Math.sqrt(ReduceKernels.sumSqDiff(xs, off, d, mean) / d + eps);
                }
                ReduceKernels.normalizeRow(xs, off, ys, off, d, mean, (float) inv, scale, bias);
                if (meanOut != null) {
                    meanOut.data().setAtIndex(Tensor.F32, r, mean);
                }
                if (invOut != null) {
                    invOut.data().setAtIndex(Tensor.F32, r, (float) inv);
                }
            }
            Tensor[] out = new Tensor[outs];
            out[0] = NormOps.fromF32(ctx, y, t);
            if (outs > 1) {
                out[1] = meanOut;
            }
            if (outs > 2) {
                out[2] = invOut;
            }
            return out;
        };
        return Planned.of(k, outTypes);
    }

    /**
     * {@code p} broadcast (numpy rules, right-aligned; extra leading ones allowed) to {@code target}, as
     * prod(target) floats in row-major order.
     */
    static float[] expand(NodeSpec node, Tensor p, long[] target, String name, Shape xShape) {
        long[] pd = p.shape().dims();
        int extra = pd.length - target.length;
        for (int i = 0; i < extra; i++) {
            if (pd[i] != 1) {
                throw notBroadcastable(node, p, target, name, xShape);
            }
        }
        long[] strides = new long[target.length];
        long stride = 1;
        for (int i = target.length - 1; i >= 0; i--) {
            int pi = i + extra;
            long dim = pi >= 0 && pi < pd.length ? pd[pi] : 1;
            if (dim != 1 && dim != target[i]) {
                throw notBroadcastable(node, p, target, name, xShape);
            }
            strides[i] = dim == 1 ? 0 : stride;
            stride *= dim;
        }
        float[] src = p.toFloatArray();
        int n = Math.toIntExact(Shape.of(target).size());
        if (src.length == n) {
            return src;
        }
        float[] out = new float[n];
        int[] idx = new int[target.length];
        long off = 0;
        for (int i = 0; i < n; i++) {
            out[i] = src[(int) off];
            for (int dd = target.length - 1; dd >= 0; dd--) {
                if (++idx[dd] < target[dd]) {
                    off += strides[dd];
                    break;
                }
                idx[dd] = 0;
                off -= strides[dd] * (target[dd] - 1);
            }
        }
        return out;
    }

    private static RuntimeException notBroadcastable(NodeSpec node, Tensor p, long[] target, String name, Shape xShape) {
        return node.error(name + " of shape " + p.shape() + " does not broadcast to the normalized shape "
                + Shape.of(target) + " of input " + xShape);
    }
}
