package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import java.util.List;

/**
 * Gatun's fused convolution, made by the graph pass {@link dev.gatun.engine.graph.passes.ConvFusion} (never written by
 * exporters): {@code dev.gatun:FusedConv(X, W, B?, Z?) -> Y = act(Conv(X, W, B) + Z)}.
 *
 * <ul>
 *   <li>Conv semantics and attributes as https://onnx.ai/onnx/operators/onnx__Conv.html (auto_pad, dilations, group,
 *       kernel_shape, pads, strides); see {@link ConvOps}.</li>
 *   <li>Z (optional input 3): added before the activation, as https://onnx.ai/onnx/operators/onnx__Add.html would
 *       (broadcasting); when Z has Y's shape the add happens as the convolution stores its output.</li>
 *   <li>{@code activation} (string): "" (none), "Relu" (https://onnx.ai/onnx/operators/onnx__Relu.html, max(x, 0)) or
 *       "Clip" (https://onnx.ai/onnx/operators/onnx__Clip.html, min(max(x, clip_min), clip_max); attributes
 *       {@code clip_min} / {@code clip_max}, defaults -inf / +inf).</li>
 * </ul>
 * Opset {@value FusedOps#OPSET} of the {@code dev.gatun} domain. Types as Conv's; float32 applies the whole tail in the store.
 */
public final class FusedConvOps implements OpFamily {
    /** Gatun's own operator domain. */
    public static final String DOMAIN = FusedOps.DOMAIN;
    /** The op type of the fused convolution. */
    public static final String FUSED_CONV = "FusedConv";

    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};

    @Override
    public List<OpInfo> ops() {
        return List.of(new OpInfo(DOMAIN, FUSED_CONV, FusedOps.OPSET, List.of(TYPES)));
    }

    @Override
    public Planned plan(NodeSpec node) {
        if (!node.opType().equals(FUSED_CONV)) {
            throw node.unsupported("operator " + node.opType());
        }
        String activation = node.attrs().getString("activation", "");
        ConvOps.Act act = switch (activation) {
            case "" -> ConvOps.Act.NONE;
            case "Relu" -> new ConvOps.Act(true, 0f, Float.POSITIVE_INFINITY);
            case "Clip" -> {
                float lo = node.attrs().getFloat("clip_min", Float.NEGATIVE_INFINITY);
                float hi = node.attrs().getFloat("clip_max", Float.POSITIVE_INFINITY);
                if (Float.isNaN(lo) || Float.isNaN(hi)) {
                    throw node.unsupported("NaN clip bounds");
                }
                yield new ConvOps.Act(true, lo, hi);
            }
            default -> throw node.unsupported("activation '" + activation + "' (supported: none, Relu, Clip)");
        };
        if (node.inputCount() > 4) {
            throw node.unsupported(node.inputCount() + " inputs (at most X, W, B, Z)");
        }
        return ConvOps.planConv(node, act, node.hasInput(3));
    }
}
