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
 *
 * <p>With per-row activations ({@link QuantOptions#perRowActivations()}, the default; MatMul / Gemm only) each row
 * of x [..., K] (a token) gets its own uint8 scale and zero point, DynamicQuantizeLinear's rule applied per row, in
 * standard ops (ONNX has no per-row DynamicQuantizeLinear, and ONNX Runtime's MatMulInteger takes only a scalar
 * a_zero_point, so the zero point is subtracted in int32 after the product):
 * <pre>
 *   hi = Max(ReduceMax(x, axes=[-1], keepdims=1), 0)    lo = Min(ReduceMin(x, axes=[-1], keepdims=1), 0)
 *   s  = Max(Div(Sub(hi, lo), 255), FLT_MIN)            [..., 1], never 0 (an all-zero row)
 *   zf = Round(Div(Neg(lo), s))                          [..., 1] float, in [0, 255]
 *   x_q = Cast(Clip(Add(Round(Div(x, s)), zf), 0, 255), to = UINT8)
 *   zi = Cast(zf, to = INT32)                             (these 16 nodes once per distinct x)
 *   p  = Sub(MatMulInteger(x_q, W_q), Mul(zi, colsum))    colsum int32 [N]: the column sums of W_q
 *   y  = Mul(Cast(p, to = FLOAT), Mul(s, W_scale))       (then Add(y, C) for a Gemm with C)
 * </pre>
 * The chain is exact in int32 (p = sum_k (x_q - zf)(W_q)); Gatun's {@code DynamicQuantizeRowsFusion} and
 * {@code QuantMatMulFusion} run it as one row-quantizing kernel and one fused integer GEMM that applies the row
 * zero point and scale in its epilogue. Transformers' activations (the GELU output above all) vary by orders of
 * magnitude between tokens, so one scale per tensor leaves the bulk of the rows few quantization steps.
 */
final class DynamicPass {
    private DynamicPass() {}

    static void apply(ProtoGraph g, List<Quantizer.Target> targets, QuantOptions o, List<QuantReport.Layer> layers) {
        Map<String, String[]> dql = new HashMap<>();
        Map<String, String[]> rowsQ = new HashMap<>();
        for (Quantizer.Target t : targets) {
            boolean conv = t.kind() == Quantizer.Kind.CONV;
            if (!conv && o.perRowActivations()) {
                perRow(g, t, o, layers, rowsQ);
                continue;
            }
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

    /** The per-row chain of the class comment for MatMul / Gemm target {@code t}. */
    private static void perRow(ProtoGraph g, Quantizer.Target t, QuantOptions o, List<QuantReport.Layer> layers, Map<String, String[]> rowsQ) {
        int axis = o.perChannel() ? t.channelAxis() : -1;
        QuantMath.Weights q = QuantMath.weights(t.weight(), t.weightDims(), axis, false);
        layers.add(Quantizer.layer(t, q, o.perChannel()));
        String base = t.name();
        String[] xq = rowsQ.computeIfAbsent(t.input(), x -> quantizeRows(g, x, g.nodes.indexOf(t.node())));
        int k = (int) t.weightDims()[0];
        int n = (int) t.weightDims()[1];
        int[] colSum = new int[n];
        for (int p = 0; p < k; p++) {
            for (int j = 0; j < n; j++) {
                colSum[j] += q.q()[p * n + j];
            }
        }
        String wq = g.addBytes(base + "_W_quantized", DType.INT8, q.q(), t.weightDims());
        String ws = g.addFloats(base + "_W_scale", q.scales(), o.perChannel() ? new long[] {n} : new long[0]);
        String cs = g.addInts(base + "_W_column_sums", colSum, n);
        List<NodeProto> chain = new ArrayList<>();
        String acc = g.fresh(base + "_int32");
        chain.add(ProtoGraph.node(g.fresh(base + "_MatMulInteger"), "MatMulInteger", List.of(xq[0], wq), List.of(acc)));
        String corr = g.fresh(base + "_zero_point_correction");
        chain.add(ProtoGraph.node(g.fresh(base + "_zero_point_Mul"), "Mul", List.of(xq[3], cs), List.of(corr)));
        String p = g.fresh(base + "_centred");
        chain.add(ProtoGraph.node(g.fresh(base + "_zero_point_Sub"), "Sub", List.of(acc, corr), List.of(p)));
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
            chain.add(ProtoGraph.node(g.fresh(base + "_bias_Add"), "Add", List.of(m, t.bias()), List.of(y)));
        }
        int at = g.nodes.indexOf(t.node());
        g.nodes.remove(at);
        g.nodes.addAll(at, chain);
    }

    /**
     * Inserts the per-row quantization of {@code x} before node index {@code at}; returns {x_q, s, zf, zi}.
     * ReduceMax / ReduceMin take their axes as an attribute before opset 18 and as an input from 18.
     */
    private static String[] quantizeRows(ProtoGraph g, String x, int at) {
        String zero = g.addFloats(x + "_rows_zero", new float[] {0f});
        String c255 = g.addFloats(x + "_rows_255", new float[] {255f});
        String tiny = g.addFloats(x + "_rows_min_scale", new float[] {Float.MIN_NORMAL});
        List<NodeProto> c = new ArrayList<>();
        String hi = reduce(g, c, "ReduceMax", x);
        String lo = reduce(g, c, "ReduceMin", x);
        String hi0 = op(g, c, "Max", x + "_rows_hi", hi, zero);
        String lo0 = op(g, c, "Min", x + "_rows_lo", lo, zero);
        String range = op(g, c, "Sub", x + "_rows_range", hi0, lo0);
        String s0 = op(g, c, "Div", x + "_rows_step", range, c255);
        String s = op(g, c, "Max", x + "_rows_scale", s0, tiny);
        String neg = op(g, c, "Neg", x + "_rows_neg_lo", lo0);
        String zq = op(g, c, "Div", x + "_rows_zero_point_real", neg, s);
        String zf = op(g, c, "Round", x + "_rows_zero_point", zq);
        String xs = op(g, c, "Div", x + "_rows_scaled", x, s);
        String xr = op(g, c, "Round", x + "_rows_rounded", xs);
        String xz = op(g, c, "Add", x + "_rows_shifted", xr, zf);
        String xc = op(g, c, "Clip", x + "_rows_clipped", xz, zero, c255);
        String xq = g.fresh(x + "_rows_quantized");
        c.add(ProtoGraph.node(g.fresh(x + "_rows_Cast"), "Cast", List.of(xc), List.of(xq), ProtoGraph.intAttr("to", DType.UINT8.onnxId())));
        String zi = g.fresh(x + "_rows_zero_point_int32");
        c.add(ProtoGraph.node(g.fresh(x + "_rows_zero_point_Cast"), "Cast", List.of(zf), List.of(zi), ProtoGraph.intAttr("to", DType.INT32.onnxId())));
        g.nodes.addAll(at, c);
        return new String[] {xq, s, zf, zi};
    }

    private static String reduce(ProtoGraph g, List<NodeProto> c, String op, String x) {
        String out = g.fresh(x + "_rows_" + op);
        String name = g.fresh(x + "_rows_" + op + "_node");
        if (g.opset() >= 18) {
            String axes = g.addLongs(x + "_rows_axes", new long[] {-1}, 1);
            c.add(ProtoGraph.node(name, op, List.of(x, axes), List.of(out), ProtoGraph.intAttr("keepdims", 1)));
        } else {
            AttributeProto axes = AttributeProto.newBuilder().setName("axes").setType(AttributeProto.AttributeType.INTS).addInts(-1).build();
            c.add(ProtoGraph.node(name, op, List.of(x), List.of(out), axes, ProtoGraph.intAttr("keepdims", 1)));
        }
        return out;
    }

    private static String op(ProtoGraph g, List<NodeProto> c, String op, String out, String... inputs) {
        String name = g.fresh(out);
        c.add(ProtoGraph.node(g.fresh(out + "_" + op), op, List.of(inputs), List.of(name)));
        return name;
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
