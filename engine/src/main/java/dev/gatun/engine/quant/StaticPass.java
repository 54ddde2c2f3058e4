package dev.gatun.engine.quant;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.onnx.proto.Onnx.AttributeProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Static quantization (see {@link Quantizer}): calibrates the input and output of every target, then writes QDQ or
 * QOperator nodes.
 *
 * <p>Which activations: each target's input x, and its output y unless y is a graph output (for a MatMul followed by
 * the Add of a constant bias, y is the Add's output: the pair is one layer). When y's only reader is
 * a Relu, or a Clip with min 0, that node is absorbed: the range is the activation's output, whose zero point is
 * then 0 (uint8 0 = real 0), so quantization itself clamps at 0 (and at the Clip's max, which the range does not
 * exceed) and the activation node goes away.
 *
 * <p>QDQ: for each quantized activation T, {@code T_q = QuantizeLinear(T', scale, zp); T = DequantizeLinear(T_q)}
 * where T' is T's producer's renamed output (for a graph input or output, T's readers are moved to the
 * DequantizeLinear instead); the weight becomes {@code DequantizeLinear(W_q int8, w_scale, 0, axis)} (Gemm with
 * transB gets the transposed weight and transB = 0), the bias {@code DequantizeLinear(B_q int32, x_scale * w_scale)}.
 * Gatun's {@code QdqFusion} pass turns these back into integer kernels; other runtimes fuse them alike.
 *
 * <p>QOperator: a Conv / MatMul with a quantized output becomes QLinearConv / QLinearMatMul reading and writing
 * uint8 (a DequantizeLinear after it for float readers, a QuantizeLinear before it when its input is not already
 * quantized); a Gemm, or a target with a float output, becomes
 * {@code MatMulInteger|ConvInteger -> Cast -> Mul(x_scale * w_scale) [-> Add(bias)]} after a static QuantizeLinear.
 */
final class StaticPass {
    /** Counts for the report. */
    record Outcome(int activations, int samples) {}

    /** A target with what static quantization needs: the absorbed activation (or null) and the quantized output. */
    private record Planned(Quantizer.Target t, NodeProto act, String outQ) {}

    private StaticPass() {}

    static Outcome apply(ProtoGraph g, List<Quantizer.Target> targets, QuantOptions o, byte[] modelBytes, String name, Path dir,
                         Quantizer.Progress progress, List<QuantReport.Layer> layers, List<QuantReport.Skipped> skipped) {
        if (o.perChannel() && g.opset() < 13) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, name + ": per-channel static quantization needs opset >= 13 "
                    + "(DequantizeLinear's axis); the model imports opset " + g.opset() + ": quantize per tensor instead");
        }
        if (targets.isEmpty()) {
            return new Outcome(0, 0);
        }
        Map<String, List<NodeProto>> consumers = g.consumers();
        List<Planned> plan = new ArrayList<>();
        List<String> tensors = new ArrayList<>();
        for (Quantizer.Target t : targets) {
            String y0 = t.biasAdd() != null ? t.biasAdd().getOutput(0) : t.output();
            NodeProto act = absorbable(g, consumers, y0);
            if (act != null && g.graphOutputs.contains(act.getOutput(0))) {
                act = null;
            }
            String y = act != null ? act.getOutput(0) : y0;
            String outQ = g.graphOutputs.contains(y) ? null : y;
            plan.add(new Planned(t, act, outQ));
            tensors.add(t.input());
            if (outQ != null) {
                tensors.add(outQ);
            }
        }
        tensors = Calibrator.distinct(tensors);
        Map<String, QuantMath.Activation> params = new LinkedHashMap<>();
        int samples;
        try (Arena arena = Arena.ofShared()) {
            Calibrator.Ranges r = Calibrator.ranges(Quantizer.parse(modelBytes, name), name, g.graphInputs, tensors,
                    inputs -> o.calibrationDir() != null ? CalibrationData.fromDirectory(o.calibrationDir(), inputs, arena)
                            : CalibrationData.random(inputs, o.calibrationSamples(), o.seed(), o.dims(), arena), o, progress);
            samples = r.samples();
            for (Map.Entry<String, float[]> e : r.ranges().entrySet()) {
                params.put(e.getKey(), QuantMath.activation(e.getValue()[0], e.getValue()[1]));
            }
        }
        if (o.format() == QuantOptions.Format.QDQ) {
            qdq(g, plan, params, o, layers);
        } else {
            qoperator(g, plan, params, o, layers);
        }
        return new Outcome(params.size(), samples);
    }

    /** y's sole reader when it is a Relu or a Clip(min 0) that quantization can absorb, else null. */
    private static NodeProto absorbable(ProtoGraph g, Map<String, List<NodeProto>> consumers, String y) {
        List<NodeProto> readers = consumers.getOrDefault(y, List.of());
        if (readers.size() != 1 || g.graphOutputs.contains(y)) {
            return null;
        }
        NodeProto r = readers.get(0);
        if (!r.getDomain().isEmpty() && !r.getDomain().equals("ai.onnx")) {
            return null;
        }
        if (r.getOpType().equals("Relu")) {
            return r;
        }
        if (r.getOpType().equals("Clip")) {
            float min;
            if (g.opset() < 11) {
                min = ProtoGraph.floatAttr(r, "min", Float.NEGATIVE_INFINITY);
            } else {
                Tensor m = r.getInputCount() > 1 && !r.getInput(1).isEmpty() ? g.constant(r.getInput(1)) : null;
                min = m == null || m.size() != 1 || m.dtype() != DType.FLOAT ? Float.NaN : m.getFloat(0);
                if (r.getInputCount() > 2 && !r.getInput(2).isEmpty() && g.constant(r.getInput(2)) == null) {
                    return null;
                }
            }
            return min == 0f ? r : null;
        }
        return null;
    }

    /** Scale (float scalar) and zero point (uint8 scalar) initializers of activation {@code t}. */
    private static String[] paramNames(ProtoGraph g, Map<String, String[]> cache, String t, QuantMath.Activation a) {
        return cache.computeIfAbsent(t, k -> new String[] {
            g.addFloats(k + "_scale", new float[] {a.scale()}),
            g.addBytes(k + "_zero_point", DType.UINT8, new byte[] {(byte) a.zeroPoint()})
        });
    }

    private static void qdq(ProtoGraph g, List<Planned> plan, Map<String, QuantMath.Activation> params, QuantOptions o,
                            List<QuantReport.Layer> layers) {
        Map<String, String[]> names = new HashMap<>();
        Map<String, String> rename = new HashMap<>();
        // 1. The targets: weights and bias through DequantizeLinear; absorbed activations removed.
        for (Planned p : plan) {
            Quantizer.Target t = p.t;
            QuantMath.Activation xa = params.get(t.input());
            String[] w = weight(g, t, o, layers, false);
            NodeProto.Builder nb = t.node().toBuilder();
            nb.setInput(1, w[0]);
            if (t.kind() == Quantizer.Kind.GEMM) {
                setTransB0(nb);
            }
            if (t.bias() != null) {
                nb.setInput(2, bias(g, t, xa.scale(), w[1], o));
            }
            if (p.act != null && t.biasAdd() == null) {
                // The target now writes the activation's output (renamed below like any produced tensor).
                nb.setOutput(0, p.act.getOutput(0));
            } else if (p.act != null) {
                g.nodes.set(g.nodes.indexOf(t.biasAdd()), t.biasAdd().toBuilder().setOutput(0, p.act.getOutput(0)).build());
            }
            if (p.act != null) {
                g.nodes.remove(p.act);
            }
            g.nodes.set(g.nodes.indexOf(t.node()), nb.build());
        }
        // 2. A Quantize/Dequantize pair per activation.
        Map<String, NodeProto> producers = g.producers();
        for (Map.Entry<String, QuantMath.Activation> e : params.entrySet()) {
            String tname = e.getKey();
            String[] sz = paramNames(g, names, tname, e.getValue());
            String q = g.fresh(tname + "_quantized");
            NodeProto prod = producers.get(tname);
            boolean renameable = prod != null && !g.graphOutputs.contains(tname);
            String src = tname;
            String dq = tname;
            if (renameable) {
                src = g.fresh(tname + "_float");
                NodeProto.Builder pb = prod.toBuilder();
                pb.setOutput(prod.getOutputList().indexOf(tname), src);
                g.nodes.set(g.nodes.indexOf(prod), pb.build());
            } else {
                dq = g.fresh(tname + "_dequantized");
                rename.put(tname, dq);
            }
            g.nodes.add(ProtoGraph.node(g.fresh(tname + "_QuantizeLinear"), "QuantizeLinear", List.of(src, sz[0], sz[1]), List.of(q)));
            g.nodes.add(ProtoGraph.node(g.fresh(tname + "_DequantizeLinear"), "DequantizeLinear", List.of(q, sz[0], sz[1]), List.of(dq)));
        }
        // 3. Readers of graph inputs / outputs that were quantized read the dequantized copy.
        if (!rename.isEmpty()) {
            for (int i = 0; i < g.nodes.size(); i++) {
                NodeProto n = g.nodes.get(i);
                if (n.getOpType().equals("QuantizeLinear") && rename.containsKey(n.getInput(0))) {
                    continue;
                }
                NodeProto.Builder nb = null;
                for (int k = 0; k < n.getInputCount(); k++) {
                    String r = rename.get(n.getInput(k));
                    if (r != null) {
                        nb = nb == null ? n.toBuilder() : nb;
                        nb.setInput(k, r);
                    }
                }
                if (nb != null) {
                    g.nodes.set(i, nb.build());
                }
            }
        }
    }

    private static void setTransB0(NodeProto.Builder nb) {
        for (int i = 0; i < nb.getAttributeCount(); i++) {
            if (nb.getAttribute(i).getName().equals("transB")) {
                nb.removeAttribute(i);
                return;
            }
        }
    }

    /**
     * The weight quantized: QDQ ({@code qoperator} false) returns {DequantizeLinear output, scale name} with the DQ
     * node added; QOperator returns {W_q, w_scale, w_zero_point}. MatMul / Gemm weights are [K, N] (per-channel axis 1).
     */
    private static String[] weight(ProtoGraph g, Quantizer.Target t, QuantOptions o, List<QuantReport.Layer> layers, boolean qoperator) {
        int axis = o.perChannel() ? t.channelAxis() : -1;
        QuantMath.Weights q = QuantMath.weights(t.weight(), t.weightDims(), axis, false);
        layers.add(Quantizer.layer(t, q, o.perChannel()));
        String base = t.name();
        long[] sd = o.perChannel() ? new long[] {t.channels()} : new long[0];
        String wq = g.addBytes(base + "_W_quantized", DType.INT8, q.q(), t.weightDims());
        String ws = g.addFloats(base + "_W_scale", q.scales(), sd);
        String wz = g.addBytes(base + "_W_zero_point", DType.INT8, new byte[q.scales().length], sd);
        if (qoperator) {
            return new String[] {wq, ws, wz};
        }
        String out = g.fresh(base + "_W_dequantized");
        AttributeProto[] attrs = o.perChannel() ? new AttributeProto[] {ProtoGraph.intAttr("axis", axis)} : new AttributeProto[0];
        g.nodes.add(ProtoGraph.node(g.fresh(base + "_W_DequantizeLinear"), "DequantizeLinear", List.of(wq, ws, wz), List.of(out), attrs));
        return new String[] {out, ws};
    }

    /** QDQ bias: DequantizeLinear(int32 bias, x_scale * w_scale) added; returns its output. */
    private static String bias(ProtoGraph g, Quantizer.Target t, float xScale, String wScaleName, QuantOptions o) {
        float[] ws = g.constant(wScaleName).toFloatArray();
        float[] bs = new float[t.biasValues().length];
        int[] bq = QuantMath.bias(t.biasValues(), xScale, ws, bs);
        String base = t.name();
        String q = g.addInts(base + "_B_quantized", bq, bq.length);
        String s = o.perChannel() ? g.addFloats(base + "_B_scale", bs, bs.length) : g.addFloats(base + "_B_scale", new float[] {bs[0]});
        String out = g.fresh(base + "_B_dequantized");
        AttributeProto[] attrs = o.perChannel() ? new AttributeProto[] {ProtoGraph.intAttr("axis", 0)} : new AttributeProto[0];
        g.nodes.add(ProtoGraph.node(g.fresh(base + "_B_DequantizeLinear"), "DequantizeLinear", List.of(q, s), List.of(out), attrs));
        return out;
    }

    private static void qoperator(ProtoGraph g, List<Planned> plan, Map<String, QuantMath.Activation> params, QuantOptions o,
                                  List<QuantReport.Layer> layers) {
        Map<String, String[]> names = new HashMap<>();
        Map<String, String> quantized = new HashMap<>();
        for (Planned p : plan) {
            Quantizer.Target t = p.t;
            String x = t.input();
            QuantMath.Activation xa = params.get(x);
            String[] xs = paramNames(g, names, x, xa);
            String xq = quantized.computeIfAbsent(x, k -> {
                String q = g.fresh(k + "_quantized");
                g.nodes.add(ProtoGraph.node(g.fresh(k + "_QuantizeLinear"), "QuantizeLinear", List.of(k, xs[0], xs[1]), List.of(q)));
                return q;
            });
            String base = t.name();
            List<NodeProto> chain = new ArrayList<>();
            boolean linear = p.outQ != null && t.kind() != Quantizer.Kind.GEMM && t.biasAdd() == null;
            if (linear) {
                String[] w = weight(g, t, o, layers, true);
                String[] ys = paramNames(g, names, p.outQ, params.get(p.outQ));
                String yq = g.fresh(p.outQ + "_quantized");
                List<String> in = new ArrayList<>(List.of(xq, xs[0], xs[1], w[0], w[1], w[2], ys[0], ys[1]));
                NodeProto.Builder nb = NodeProto.newBuilder().setName(g.fresh(base + "_quant"))
                        .setOpType(t.kind() == Quantizer.Kind.CONV ? "QLinearConv" : "QLinearMatMul").addOutput(yq);
                if (t.kind() == Quantizer.Kind.CONV) {
                    nb.addAllAttribute(t.node().getAttributeList());
                    if (t.bias() != null) {
                        float[] bs = new float[t.biasValues().length];
                        int[] bq = QuantMath.bias(t.biasValues(), xa.scale(), g.constant(w[1]).toFloatArray(), bs);
                        in.add(g.addInts(base + "_B_quantized", bq, bq.length));
                    }
                }
                chain.add(nb.addAllInput(in).build());
                chain.add(ProtoGraph.node(g.fresh(p.outQ + "_DequantizeLinear"), "DequantizeLinear", List.of(yq, ys[0], ys[1]),
                        List.of(p.outQ)));
                quantized.put(p.outQ, yq);
            } else {
                String y = p.act != null ? p.act.getOutput(0) : t.biasAdd() != null ? t.biasAdd().getOutput(0) : t.output();
                integerChain(g, t, o, layers, xq, xa, xs, chain, y, p.act);
            }
            if (t.biasAdd() != null) {
                g.nodes.remove(t.biasAdd());
            }
            if (p.act != null) {
                g.nodes.remove(p.act);
            }
            int at = g.nodes.indexOf(t.node());
            g.nodes.remove(at);
            g.nodes.addAll(at, chain);
        }
    }

    /**
     * {@code y = act?(Cast(MatMulInteger|ConvInteger(x_q, W_q, x_zp)) * (x_scale * w_scale) [+ bias])}, constants
     * folded: the float-output form. Conv weights are uint8 with zero point 128 (ONNX Runtime's ConvInteger).
     */
    private static void integerChain(ProtoGraph g, Quantizer.Target t, QuantOptions o, List<QuantReport.Layer> layers, String xq,
                                     QuantMath.Activation xa, String[] xs, List<NodeProto> chain, String y, NodeProto act) {
        boolean conv = t.kind() == Quantizer.Kind.CONV;
        int axis = o.perChannel() ? t.channelAxis() : -1;
        QuantMath.Weights q = QuantMath.weights(t.weight(), t.weightDims(), axis, conv);
        layers.add(Quantizer.layer(t, q, o.perChannel()));
        String base = t.name();
        String wq = g.addBytes(base + "_W_quantized", conv ? DType.UINT8 : DType.INT8, q.q(), t.weightDims());
        float[] s = new float[q.scales().length];
        for (int c = 0; c < s.length; c++) {
            s[c] = xa.scale() * q.scales()[c];
        }
        long[] sd = new long[0];
        if (o.perChannel()) {
            sd = conv ? channelDims(t) : new long[] {t.channels()};
        }
        String p = g.fresh(base + "_int32");
        if (conv) {
            String wz = g.addBytes(base + "_W_zero_point", DType.UINT8, new byte[] {(byte) 128});
            chain.add(NodeProto.newBuilder().setName(g.fresh(base + "_ConvInteger")).setOpType("ConvInteger")
                    .addInput(xq).addInput(wq).addInput(xs[1]).addInput(wz).addOutput(p)
                    .addAllAttribute(t.node().getAttributeList()).build());
        } else {
            chain.add(ProtoGraph.node(g.fresh(base + "_MatMulInteger"), "MatMulInteger", List.of(xq, wq, xs[1]), List.of(p)));
        }
        String f = g.fresh(base + "_float");
        chain.add(ProtoGraph.node(g.fresh(base + "_Cast"), "Cast", List.of(p), List.of(f), ProtoGraph.intAttr("to", DType.FLOAT.onnxId())));
        String scale = g.addFloats(base + "_scale", s, sd);
        String last = act == null && t.bias() == null && t.addBias() == null ? y : g.fresh(base + "_scaled");
        chain.add(ProtoGraph.node(g.fresh(base + "_Mul"), "Mul", List.of(f, scale), List.of(last)));
        float[] biasValues = t.bias() != null ? t.biasValues() : t.addBias();
        if (biasValues != null) {
            String b = conv ? g.addFloats(base + "_bias", biasValues, channelDims(t)) : g.addFloats(base + "_bias", biasValues,
                    biasValues.length);
            String out = act == null ? y : g.fresh(base + "_biased");
            chain.add(ProtoGraph.node(g.fresh(base + "_bias_Add"), "Add", List.of(last, b), List.of(out)));
            last = out;
        }
        if (act != null) {
            NodeProto.Builder ab = act.toBuilder().setInput(0, last);
            chain.add(ab.build());
        }
    }

    private static long[] channelDims(Quantizer.Target t) {
        long[] d = new long[t.weightDims().length];
        Arrays.fill(d, 1);
        d[1] = t.weightDims()[0];
        return d;
    }
}
