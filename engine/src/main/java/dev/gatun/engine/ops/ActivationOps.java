package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.Elementwise.FLOATS;
import static dev.gatun.engine.ops.Elementwise.NUMERIC;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongUnaryOperator;

/**
 * Activation functions and Clip: {@code Y[i] = f(X[i])}, same shape and type as X.
 *
 * <p>Specs (https://onnx.ai/onnx/operators/onnx__&lt;Op&gt;.html): Relu, LeakyRelu, PRelu, Elu, Selu, Celu,
 * ThresholdedRelu, Sigmoid, HardSigmoid, HardSwish, Softplus, Softsign, Tanh, Gelu, Mish, Swish, Shrink, Clip.
 *
 * <ul>
 * <li>Relu max(0,x); LeakyRelu x&lt;0 ? alpha·x : x (alpha 0.01); Elu x&lt;0 ? alpha·(e^x-1) : x (alpha 1);
 *     Selu gamma·(x&gt;0 ? x : alpha·(e^x-1)); Celu max(0,x)+min(0,alpha·(e^(x/alpha)-1)); ThresholdedRelu
 *     x&gt;alpha ? x : 0 (alpha 1); Sigmoid 1/(1+e^-x); HardSigmoid clamp(alpha·x+beta, 0, 1) (0.2, 0.5);
 *     HardSwish x·clamp(x/6+1/2, 0, 1); Softplus ln(1+e^x); Softsign x/(1+|x|); Mish x·tanh(softplus(x));
 *     Swish x·sigmoid(alpha·x) (alpha 1); Shrink x&lt;-lambd ? x+bias : x&gt;lambd ? x-bias : 0.</li>
 * <li>Gelu (opset 20): approximate="none" 0.5·x·(1+erf(x/√2)), "tanh" 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³))).</li>
 * <li>PRelu: x&lt;0 ? slope·x : x, slope broadcast to X (opset 7+); before opset 7 a 1-D slope of X's channel
 *     count applies per channel (dim 1).</li>
 * <li>Clip: before opset 11 the {@code min}/{@code max} attributes (defaults ∓FLT_MAX); from 11 optional scalar
 *     inputs (absent: unbounded); integer types from 12. min(max(x, lo), hi), so lo &gt; hi gives hi.</li>
 * </ul>
 * float32 runs {@link FloatLoops} (Vector API for Relu, LeakyRelu, Elu, Sigmoid, HardSigmoid, HardSwish, Tanh,
 * Gelu, Swish, Clip, PRelu); float16/bfloat16/double through double; Relu, Clip, Shrink, PRelu take integers.
 */
public final class ActivationOps implements OpFamily {
    private static final DType[] SIGNED_RELU = Elementwise.concat(FLOATS, Elementwise.SIGNED);

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("Relu", SIGNED_RELU), OpInfo.of("LeakyRelu", FLOATS), OpInfo.of("PRelu", NUMERIC),
                OpInfo.of("Elu", FLOATS), OpInfo.of("Selu", FLOATS), OpInfo.of("Celu", 12, FLOATS),
                OpInfo.of("ThresholdedRelu", 10, FLOATS), OpInfo.of("Sigmoid", FLOATS), OpInfo.of("HardSigmoid", FLOATS),
                OpInfo.of("HardSwish", 14, FLOATS), OpInfo.of("Softplus", FLOATS), OpInfo.of("Softsign", FLOATS),
                OpInfo.of("Tanh", FLOATS), OpInfo.of("Gelu", 20, FLOATS), OpInfo.of("Mish", 18, FLOATS),
                OpInfo.of("Swish", 24, FLOATS), OpInfo.of("Shrink", 9, NUMERIC), OpInfo.of("Clip", NUMERIC));
    }

    @Override
    public Planned plan(NodeSpec node) {
        var a = node.attrs();
        return switch (node.opType()) {
            case "Relu" -> simple(node, SIGNED_RELU, FloatLoops.RELU, 0, 0, x -> Math.max(x, 0));
            case "LeakyRelu" -> simple(node, FLOATS, FloatLoops.LEAKY_RELU, a.getFloat("alpha", 0.01f), 0, null);
            case "Elu" -> simple(node, FLOATS, FloatLoops.ELU, a.getFloat("alpha", 1f), 0, null);
            case "Selu" -> simple(node, FLOATS, FloatLoops.SELU, a.getFloat("alpha", 1.67326319217681884765625f),
                    a.getFloat("gamma", 1.05070102214813232421875f), null);
            case "Celu" -> {
                float alpha = a.getFloat("alpha", 1f);
                if (alpha == 0) {
                    throw node.unsupported("alpha=0");
                }
                yield simple(node, FLOATS, FloatLoops.CELU, alpha, 0, null);
            }
            case "ThresholdedRelu" -> simple(node, FLOATS, FloatLoops.THRESHOLDED_RELU, a.getFloat("alpha", 1f), 0, null);
            case "Sigmoid" -> simple(node, FLOATS, FloatLoops.SIGMOID, 0, 0, null);
            case "HardSigmoid" -> simple(node, FLOATS, FloatLoops.HARD_SIGMOID, a.getFloat("alpha", 0.2f), a.getFloat("beta", 0.5f), null);
            case "HardSwish" -> simple(node, FLOATS, FloatLoops.HARD_SWISH, 0, 0, null);
            case "Softplus" -> simple(node, FLOATS, FloatLoops.SOFTPLUS, 0, 0, null);
            case "Softsign" -> simple(node, FLOATS, FloatLoops.SOFTSIGN, 0, 0, null);
            case "Tanh" -> simple(node, FLOATS, FloatLoops.TANH, 0, 0, null);
            case "Mish" -> simple(node, FLOATS, FloatLoops.MISH, 0, 0, null);
            case "Swish" -> simple(node, FLOATS, FloatLoops.SWISH, a.getFloat("alpha", 1f), 0, null);
            case "Gelu" -> {
                String approx = a.getString("approximate", "none");
                int code = switch (approx) {
                    case "none" -> FloatLoops.GELU;
                    case "tanh" -> FloatLoops.GELU_TANH;
                    default -> throw node.unsupported("approximate='" + approx + "' (must be none or tanh)");
                };
                yield simple(node, FLOATS, code, 0, 0, null);
            }
            case "Shrink" -> {
                float lambd = a.getFloat("lambd", 0.5f);
                float bias = a.getFloat("bias", 0f);
                yield simple(node, NUMERIC, FloatLoops.SHRINK, lambd, bias,
                        x -> (long) FloatLoops.unary(FloatLoops.SHRINK, (double) x, lambd, bias));
            }
            case "PRelu" -> prelu(node);
            case "Clip" -> clip(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    private static Planned simple(NodeSpec node, DType[] types, int code, double p, double q, LongUnaryOperator intOp) {
        DType t = node.requireType(0, types);
        return Planned.of(Elementwise.unary(t, code, p, q, intOp), t);
    }

    private Planned prelu(NodeSpec node) {
        DType t = BinaryOps.sameTypes(node, NUMERIC);
        Elementwise.Row2 row;
        if (t == DType.FLOAT) {
            row = Elementwise.f32(FloatLoops.PRELU);
        } else if (t.isFloating()) {
            row = Elementwise.generic(FloatLoops.PRELU);
        } else {
            boolean unsigned = !t.isSigned();
            row = Elementwise.viaLong((x, s) -> !unsigned && x < 0 ? x * s : x);
        }
        boolean channelwise = node.opset() < 7;
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Tensor slope = in[1];
            if (!Broadcast.broadcastsTo(slope.shape(), x.shape()) && channelwise && slope.shape().rank() == 1
                    && x.shape().rank() >= 2 && slope.shape().dim(0) == x.shape().dim(1)) {
                long[] d = new long[x.shape().rank() - 1];
                Arrays.fill(d, 1);
                d[0] = slope.shape().dim(0);
                slope = slope.reshape(Shape.of(d));
            }
            if (!Broadcast.broadcastsTo(slope.shape(), x.shape())) {
                throw node.error("slope of shape " + slope.shape() + " does not broadcast to X of shape " + x.shape());
            }
            return new Tensor[] {Elementwise.binary(ctx, node, x, slope, t, row)};
        }, t);
    }

    private Planned clip(NodeSpec node) {
        DType t = node.inputType(0);
        if (node.opset() < 11) {
            node.requireType(0, FLOATS);
            float lo = node.attrs().getFloat("min", -Float.MAX_VALUE);
            float hi = node.attrs().getFloat("max", Float.MAX_VALUE);
            return Planned.of(Elementwise.unary(t, FloatLoops.CLIP, lo, hi, null), t);
        }
        node.requireType(0, node.opset() < 12 ? FLOATS : NUMERIC);
        for (int i = 1; i < 3; i++) {
            if (node.hasInput(i) && node.inputType(i) != t) {
                throw node.unsupported("bound input " + i + " of type " + node.inputType(i) + " with X of type " + t);
            }
        }
        boolean u64 = Elementwise.isU64(t);
        return Planned.of((ctx, in) -> {
            Tensor min = in.length > 1 ? in[1] : null;
            Tensor max = in.length > 2 ? in[2] : null;
            if (t.isFloating()) {
                double lo = min == null ? Double.NEGATIVE_INFINITY : Elementwise.scalarDouble(node, min, "min");
                double hi = max == null ? Double.POSITIVE_INFINITY : Elementwise.scalarDouble(node, max, "max");
                return Elementwise.unary(t, FloatLoops.CLIP, lo, hi, null).run(ctx, in);
            }
            long lo = min == null ? (u64 ? 0 : Long.MIN_VALUE) : Elementwise.scalarLong(node, min, "min");
            long hi = max == null ? (u64 ? -1 : Long.MAX_VALUE) : Elementwise.scalarLong(node, max, "max");
            LongUnaryOperator f = u64
                    ? x -> {
                        long y = Long.compareUnsigned(x, lo) < 0 ? lo : x;
                        return Long.compareUnsigned(y, hi) > 0 ? hi : y;
                    }
                    : x -> Math.min(Math.max(x, lo), hi);
            return Elementwise.unary(t, FloatLoops.CLIP, 0, 0, f).run(ctx, in);
        }, t);
    }
}
