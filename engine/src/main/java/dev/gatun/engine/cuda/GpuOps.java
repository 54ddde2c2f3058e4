package dev.gatun.engine.cuda;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.ops.NodeSpec;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.Set;

/**
 * Which nodes the GPU runs, and how: {@link #plan} returns a {@link GpuPlanned} for a node the CUDA backend
 * implements, or null, and the session runs that node on the CPU with copies around it. Elementwise, activation,
 * softmax, normalisation and attention ops are here; layout ops in {@link GpuLayoutOps}; GEMM, convolution, pooling
 * and reductions in {@link GpuMathOps}. float32 throughout (int64/int32/bool where an op moves indices or casts).
 */
final class GpuOps {
    private GpuOps() {}

    /** The ops the GPU backend claims (for every dtype and attribute it accepts; others fall back per node). */
    static final Set<String> CLAIMED = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Relu", "Sigmoid", "Tanh",
            "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Reciprocal", "Floor", "Ceil", "Gelu", "Clip", "LeakyRelu",
            "HardSigmoid", "HardSwish", "Softplus", "Softmax", "LogSoftmax", "LayerNormalization", "SkipLayerNormalization",
            "Attention", "FusedMatMul", "MatMul", "Gemm", "Conv", "FusedConv", "MaxPool", "AveragePool", "GlobalAveragePool",
            "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "Gather", "Transpose", "Reshape", "Flatten", "Squeeze",
            "Unsqueeze", "Identity", "Shape", "Concat", "Cast");

    /** The GPU plan for {@code node}, or null when it must run on the CPU. */
    static GpuPlanned plan(NodeSpec node) {
        String d = node.domain();
        if (!d.isEmpty() && !d.equals("ai.onnx") && !d.equals(FusedOps.DOMAIN)) {
            return null;
        }
        try {
            return switch (node.opType()) {
                case "Add" -> binary(node, "add");
                case "Sub" -> binary(node, "sub");
                case "Mul" -> binary(node, "mul");
                case "Div" -> binary(node, "div");
                case "Pow" -> binary(node, "pow");
                case "Max" -> node.inputCount() == 2 ? binary(node, "max") : null;
                case "Min" -> node.inputCount() == 2 ? binary(node, "min") : null;
                case "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Reciprocal", "Floor", "Ceil",
                     "Gelu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Softplus" -> unary(node);
                case "Softmax", "LogSoftmax" -> softmax(node);
                case "LayerNormalization" -> layerNorm(node, false);
                case "SkipLayerNormalization" -> layerNorm(node, true);
                case "Attention" -> attention(node);
                case "FusedMatMul", "MatMul", "Gemm", "Conv", "FusedConv", "MaxPool", "AveragePool", "GlobalAveragePool",
                     "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin" -> GpuMathOps.plan(node);
                case "Gather", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Concat",
                     "Cast" -> GpuLayoutOps.plan(node);
                default -> null;
            };
        } catch (EngineException | IllegalArgumentException e) {
            return null;
        }
    }

    /** Whether every present input is float32. */
    static boolean floats(NodeSpec node) {
        for (int i = 0; i < node.inputCount(); i++) {
            if (node.hasInput(i) && node.inputType(i) != DType.FLOAT) {
                return false;
            }
        }
        return true;
    }

    static DeviceTensor dev(Object o) {
        return (DeviceTensor) o;
    }

    /** numpy broadcast of two shapes, or an error naming the node. */
    static Shape broadcast(GpuContext ctx, Shape a, Shape b) {
        int r = Math.max(a.rank(), b.rank());
        long[] out = new long[r];
        for (int d = 0; d < r; d++) {
            int ia = d - (r - a.rank()), ib = d - (r - b.rank());
            long x = ia >= 0 ? a.dim(ia) : 1, y = ib >= 0 ? b.dim(ib) : 1;
            if (x != y && x != 1 && y != 1) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": shapes " + a + " and " + b
                        + " do not broadcast");
            }
            out[d] = x == 1 ? y : x;
        }
        return Shape.of(out);
    }

    private static GpuPlanned binary(NodeSpec node, String op) {
        if (node.inputCount() != 2 || !floats(node) || !node.hasInput(0) || !node.hasInput(1)) {
            return null;
        }
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor a = dev(in[0]), b = dev(in[1]);
            Shape out = broadcast(ctx, a.shape(), b.shape());
            DeviceTensor y = ctx.alloc(DType.FLOAT, out);
            if (a.shape().equals(out) && b.shape().equals(out)) {
                ctx.launch("elementwise", op + "_same_f32", y.size(), a, b, y, y.size());
            } else {
                Bcast g = Bcast.of(out, a.shape(), b.shape());
                if (g == null) {
                    throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": rank " + out.rank()
                            + " above the GPU kernels' 6");
                }
                ctx.launch("elementwise", op + "_f32", y.size(), a, b, y, y.size(), g);
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned unary(NodeSpec node) {
        if (!node.hasInput(0) || node.inputType(0) != DType.FLOAT || node.outputCount() != 1) {
            return null;
        }
        String kernel;
        float p = 0, q = 0;
        switch (node.opType()) {
            case "Gelu" -> kernel = node.attrs().getString("approximate", "none").equals("tanh") ? "gelu_tanh" : "gelu";
            case "Clip" -> {
                kernel = "clip";
                if (node.opset() < 11) {
                    p = node.attrs().getFloat("min", -Float.MAX_VALUE);
                    q = node.attrs().getFloat("max", Float.MAX_VALUE);
                } else {
                    p = scalar(node, 1, Float.NEGATIVE_INFINITY);
                    q = scalar(node, 2, Float.POSITIVE_INFINITY);
                    if (Float.isNaN(p) || Float.isNaN(q)) {
                        return null;
                    }
                }
            }
            case "LeakyRelu" -> {
                kernel = "leaky_relu";
                p = node.attrs().getFloat("alpha", 0.01f);
            }
            case "HardSigmoid" -> {
                kernel = "hard_sigmoid";
                p = node.attrs().getFloat("alpha", 0.2f);
                q = node.attrs().getFloat("beta", 0.5f);
            }
            case "HardSwish" -> kernel = "hard_swish";
            case "Softplus" -> kernel = "softplus";
            case "Reciprocal" -> kernel = "reciprocal";
            default -> kernel = node.opType().toLowerCase(java.util.Locale.ROOT);
        }
        if (!node.opType().equals("Clip") && node.inputCount() > 1) {
            return null;
        }
        String k = kernel + "_f32";
        float fp = p, fq = q;
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            DeviceTensor y = ctx.alloc(DType.FLOAT, x.shape());
            ctx.launch("unary", k, y.size(), x, y, y.size(), fp, fq);
            return new Object[] {y};
        });
    }

    /** A float input that must be a plan-time constant scalar (absent: {@code dflt}); NaN when it is not constant. */
    static float scalar(NodeSpec node, int i, float dflt) {
        if (!node.hasInput(i)) {
            return dflt;
        }
        Tensor c = node.constant(i);
        if (c == null || c.size() != 1 || c.dtype() != DType.FLOAT) {
            return Float.NaN;
        }
        return c.data().get(Tensor.F32, 0);
    }

    private static GpuPlanned softmax(NodeSpec node) {
        if (!floats(node) || node.inputCount() != 1) {
            return null;
        }
        String k = node.opType().equals("Softmax") ? "softmax_f32" : "log_softmax_f32";
        boolean coerced = node.opset() < 13;
        long axis = node.attrs().getInt("axis", coerced ? 1 : -1);
        Shape known = node.inputShape(0);
        if (!coerced && axis != -1 && (known == null || axis != known.rank() - 1)) {
            return null;
        }
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            int r = x.shape().rank();
            int ax = (int) (axis < 0 ? axis + r : axis);
            if (ax < 0 || ax >= Math.max(r, 1) || (!coerced && ax != r - 1)) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": axis " + axis + " of rank " + r);
            }
            long rows = 1;
            for (int d = 0; d < ax; d++) {
                rows *= x.shape().dim(d);
            }
            long cols = rows == 0 ? 0 : x.size() / Math.max(rows, 1);
            DeviceTensor y = ctx.alloc(DType.FLOAT, x.shape());
            if (y.size() > 0) {
                ctx.launchRows("softmax", k, rows, 256, 0, x, y, rows, cols);
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned layerNorm(NodeSpec node, boolean skip) {
        if (!floats(node) || node.outputCount() != 1) {
            return null;
        }
        int scaleAt = skip ? 2 : 1;
        if (!node.hasInput(scaleAt)) {
            return null;
        }
        long axis = node.attrs().getInt("axis", -1);
        Shape known = node.inputShape(0);
        if (axis != -1 && (known == null || axis != known.rank() - 1)) {
            return null;
        }
        float eps = node.attrs().getFloat("epsilon", 1e-5f);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor x = dev(in[0]);
            DeviceTensor s = skip ? dev(in[1]) : null;
            if (s != null && s.size() > x.size()) {
                DeviceTensor t = x;
                x = s;
                s = t;
            }
            int r = x.shape().rank();
            long dim = r == 0 ? 1 : x.shape().dim(r - 1);
            DeviceTensor gamma = dev(in[scaleAt]);
            DeviceTensor beta = in.length > scaleAt + 1 ? dev(in[scaleAt + 1]) : null;
            if (gamma.size() != dim || (beta != null && beta.size() != dim)) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": scale " + gamma.shape()
                        + (beta == null ? "" : " / bias " + beta.shape()) + " must have the " + dim + " elements of the last axis");
            }
            if (dim * 4 > 48 * 1024) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": a row of " + dim
                        + " elements is above the GPU kernel's 12288");
            }
            long rows = dim == 0 ? 0 : x.size() / dim;
            long skipRows = s == null ? 1 : s.size() / Math.max(dim, 1);
            if (s != null && (s.size() % Math.max(dim, 1) != 0 || skipRows == 0 || rows % skipRows != 0)) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": skip " + s.shape()
                        + " does not broadcast to " + x.shape());
            }
            DeviceTensor y = ctx.alloc(DType.FLOAT, x.shape());
            if (rows > 0) {
                ctx.launchRows("layernorm", "layer_norm_f32", rows, 256, (int) (dim * 4), x, s, gamma, beta, y, rows, dim,
                        skipRows, eps);
            }
            return new Object[] {y};
        });
    }

    private static GpuPlanned attention(NodeSpec node) {
        if (!floats(node) || !node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2)) {
            return null;
        }
        long heads = node.attrs().getInt("num_heads", 0);
        if (heads < 1) {
            return null;
        }
        boolean hasScale = node.attrs().has("scale");
        float scaleAttr = node.attrs().getFloat("scale", 1f);
        return GpuPlanned.of((ctx, in) -> {
            DeviceTensor q = dev(in[0]), k = dev(in[1]), v = dev(in[2]);
            DeviceTensor mask = in.length > 3 ? dev(in[3]) : null;
            Shape qs = q.shape(), ks = k.shape(), vs = v.shape();
            if (qs.rank() != 3 || ks.rank() != 3 || vs.rank() != 3 || ks.dim(0) != qs.dim(0) || vs.dim(0) != qs.dim(0)
                    || ks.dim(2) != qs.dim(2) || vs.dim(2) != qs.dim(2) || vs.dim(1) != ks.dim(1) || qs.dim(2) % heads != 0) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": Q " + qs + ", K " + ks + ", V " + vs
                        + " are not [batch, sequence, heads*head_size] alike for num_heads=" + heads);
            }
            int b = (int) qs.dim(0), sq = (int) qs.dim(1), sk = (int) ks.dim(1), h = (int) heads;
            int d = (int) (qs.dim(2) / heads);
            if (d > 256) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": head size " + d + " above the GPU kernel's 256");
            }
            long[] ms = new long[4];
            if (mask != null) {
                long[] target = {b, h, sq, sk};
                long[] md = mask.shape().dims();
                if (md.length > 4) {
                    throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": mask " + mask.shape() + " has rank above 4");
                }
                long acc = 1;
                for (int i = 3; i >= 0; i--) {
                    int mi = i - (4 - md.length);
                    long dim = mi >= 0 ? md[mi] : 1;
                    if (dim != 1 && dim != target[i]) {
                        throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": mask " + mask.shape()
                                + " does not broadcast to [" + b + "," + h + "," + sq + "," + sk + "]");
                    }
                    ms[i] = dim == 1 ? 0 : acc;
                    acc *= dim;
                }
            }
            float scale = hasScale ? scaleAttr : (float) (1 / Math.sqrt(d));
            DeviceTensor o = ctx.alloc(DType.FLOAT, qs);
            long rows = (long) b * h * sq;
            if (rows > 0 && sk * 16L > 200 * 1024) {
                throw new EngineException(EngineException.Kind.RUNTIME, ctx.where() + ": " + sk + " keys above the GPU kernel's limit");
            }
            if (rows > 0) {
                ctx.launchRows("attention", "attention_f32", (rows + 3) / 4, 128, 4 * sk * 4, q, k, v, mask, o, b, h, sq, sk, d,
                        scale, ms[0], ms[1], ms[2], ms[3]);
            }
            return new Object[] {o};
        });
    }
}
