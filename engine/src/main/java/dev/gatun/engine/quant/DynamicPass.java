package dev.gatun.engine.quant;

import dev.gatun.engine.onnx.proto.Onnx.AttributeProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.tensor.DType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Dynamic quantization, node by node (see {@link Quantizer}). For a MatMul / Gemm {@code y = x W (+ C)}:
 * <pre>
 *   x_q, x_scale, x_zp = DynamicQuantizeLinear(x)            one per distinct x, shared by its readers
 *   p  = MatMulInteger(x_q, W_q, x_zp)                          W_q int8 [K, N] (Gemm's transB undone), zero point 0
 *   f  = Cast(p, to = FLOAT)
 *   s  = Mul(x_scale, W_scale)                                  W_scale float [N] (per channel) or scalar
 *   y  = Mul(f, s)          (then y = Add(y, C) for a Gemm with C)
 * </pre>
 * For a Conv (with {@code conv}) the same around {@code ConvInteger(x_q, W_q, x_zp, 128)}, W_q uint8 with zero point
 * 128, W_scale shaped [1, M, 1, ...] and the bias added as [1, M, 1, ...].
 */
final class DynamicPass {
    private DynamicPass() {}

    static void apply(ProtoGraph g, List<Quantizer.Target> targets, QuantOptions o, List<QuantReport.Layer> layers) {
        Map<String, String[]> dql = new HashMap<>();
        for (Quantizer.Target t : targets) {
            boolean conv = t.kind() == Quantizer.Kind.CONV;
            int axis = o.perChannel() ? t.channelAxis() : -1;
            QuantMath.Weights q = QuantMath.weights(t.weight(), t.weightDims(), axis, conv);
            layers.add(Quantizer.layer(t, q, o.perChannel()));
            String base = t.name();
            String[] xq = dql.computeIfAbsent(t.input(), x -> {
                String[] names = {g.fresh(x + "_quantized"), g.fresh(x + "_scale"), g.fresh(x + "_zero_point")};
                int at = g.nodes.indexOf(t.node());
                g.nodes.add(at, ProtoGraph.node(g.fresh(x + "_DynamicQuantizeLinear"), "DynamicQuantizeLinear", List.of(x), List.of(names)));
                return names;
            });
            String wq = g.addBytes(base + "_W_quantized", conv ? DType.UINT8 : DType.INT8, q.q(), t.weightDims());
            long[] scaleDims = conv ? channelShape(t, o.perChannel()) : o.perChannel() ? new long[] {t.channels()} : new long[0];
            String ws = g.addFloats(base + "_W_scale", q.scales(), scaleDims);
            List<NodeProto> chain = new ArrayList<>();
            String p = g.fresh(base + "_int32");
            if (conv) {
                String wz = g.addBytes(base + "_W_zero_point", DType.UINT8, new byte[] {(byte) 128});
                NodeProto.Builder ci = NodeProto.newBuilder().setName(g.fresh(base + "_ConvInteger")).setOpType("ConvInteger")
                        .addInput(xq[0]).addInput(wq).addInput(xq[2]).addInput(wz).addOutput(p);
                for (AttributeProto a : t.node().getAttributeList()) {
                    ci.addAttribute(a);
                }
                chain.add(ci.build());
            } else {
                chain.add(ProtoGraph.node(g.fresh(base + "_MatMulInteger"), "MatMulInteger", List.of(xq[0], wq, xq[2]), List.of(p)));
            }
            String f = g.fresh(base + "_float");
            chain.add(ProtoGraph.node(g.fresh(base + "_Cast"), "Cast", List.of(p), List.of(f), ProtoGraph.intAttr("to", DType.FLOAT.onnxId())));
            String s = g.fresh(base + "_scales");
            chain.add(ProtoGraph.node(g.fresh(base + "_scales_Mul"), "Mul", List.of(xq[1], ws), List.of(s)));
            String y = t.output();
            if (t.bias() == null) {
                chain.add(ProtoGraph.node(g.fresh(base + "_Mul"), "Mul", List.of(f, s), List.of(y)));
            } else {
                String m = g.fresh(base + "_scaled");
                chain.add(ProtoGraph.node(g.fresh(base + "_Mul"), "Mul", List.of(f, s), List.of(m)));
                String b = conv ? g.addFloats(base + "_bias", t.biasValues(), channelShape(t, true)) : t.bias();
                chain.add(ProtoGraph.node(g.fresh(base + "_bias_Add"), "Add", List.of(m, b), List.of(y)));
            }
            int at = g.nodes.indexOf(t.node());
            g.nodes.remove(at);
            g.nodes.addAll(at, chain);
        }
    }

    /** [1, M, 1, ...] (per channel) for a Conv of weight rank r, or a scalar shape. */
    private static long[] channelShape(Quantizer.Target t, boolean perChannel) {
        if (!perChannel) {
            return new long[0];
        }
        long[] d = new long[t.weightDims().length];
        java.util.Arrays.fill(d, 1);
        d[1] = t.weightDims()[0];
        return d;
    }
}
