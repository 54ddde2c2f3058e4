package dev.gatun.engine.ops;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
 *
 * <p>{@code dev.gatun:FusedConvMaxPool(X, W, B?) -> Y = MaxPool(act(Conv(X, W, B)))}, made by the CPU graph pass
 * {@link dev.gatun.engine.graph.passes.ConvPoolFusion}: FusedConv's attributes (no Z), plus the 2-D MaxPool's
 * {@code pool_kernel_shape}, {@code pool_strides}, {@code pool_pads} and {@code pool_dilations} (defaults as
 * https://onnx.ai/onnx/operators/onnx__MaxPool.html; auto_pad NOTSET, ceil_mode 0, no Indices output). Float32
 * convolutions that {@link dev.gatun.engine.cpu.ConvDirect} runs pool their rows as they are computed
 * ({@link dev.gatun.engine.cpu.ConvDirectPool}); others run the convolution, then the MaxPool.
 */
public final class FusedConvOps implements OpFamily {
    /** Gatun's own operator domain. */
    public static final String DOMAIN = FusedOps.DOMAIN;
    /** The op type of the fused convolution. */
    public static final String FUSED_CONV = "FusedConv";
    /** The op type of the fused convolution followed by a MaxPool. */
    public static final String FUSED_CONV_MAX_POOL = "FusedConvMaxPool";
    /** The MaxPool attributes that FusedConvMaxPool carries, each under the prefix {@code pool_}. */
    public static final List<String> POOL_ATTRIBUTES = List.of("kernel_shape", "strides", "pads", "dilations");

    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};

    @Override
    public List<OpInfo> ops() {
        return List.of(new OpInfo(DOMAIN, FUSED_CONV, FusedOps.OPSET, List.of(TYPES)),
                new OpInfo(DOMAIN, FUSED_CONV_MAX_POOL, FusedOps.OPSET, List.of(TYPES)));
    }

    @Override
    public Planned plan(NodeSpec node) {
        boolean pooled = node.opType().equals(FUSED_CONV_MAX_POOL);
        if (!node.opType().equals(FUSED_CONV) && !pooled) {
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
        if (pooled) {
            if (node.inputCount() > 3 || node.outputCount() != 1) {
                throw node.unsupported(node.inputCount() + " inputs, " + node.outputCount() + " outputs (X, W, B? -> Y)");
            }
            return ConvOps.planConvPool(node, act, poolSpec(node));
        }
        return ConvOps.planConv(node, act, node.hasInput(3));
    }

    /** The MaxPool (opset 12, one output) that a FusedConvMaxPool node applies to its convolution's output. */
    private static NodeSpec poolSpec(NodeSpec node) {
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        for (String name : POOL_ATTRIBUTES) {
            Attribute a = node.attrs().get("pool_" + name);
            if (a != null) {
                attrs.put(name, a);
            }
        }
        return new NodeSpec(node.name(), "MaxPool", "", 12, new Attributes(attrs), new DType[] {node.inputType(0)}, null, null, 1);
    }
}
