package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedConvOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Convolution fusions on a loaded, constant-folded graph:
 * <ol>
 *   <li>BatchNormalization (inference mode, per channel) after a Conv whose only consumer it is, with constant
 *       float32 W, bias (or none), scale, B, mean and var: folded into the Conv's weights and bias,
 *       {@code s = scale / sqrt(var + epsilon)}, {@code W'[m] = W[m] * s[m]}, {@code b' = (b - mean) * s + B}
 *       (computed in double, new constants allocated in the model's arena);</li>
 *   <li>Conv, then optionally Add (the residual: the Add's other input), then optionally Relu or Clip with
 *       constant bounds (ReLU6), each the single consumer of the value before it: one
 *       {@code dev.gatun:FusedConv(X, W, B, Z)} ({@link FusedConvOps}) placed where the last fused node was.</li>
 * </ol>
 * A value that is a graph output is never swallowed. Shapes and types are not known here: FusedConv falls back to
 * separate passes at run time when the residual does not have the convolution's shape.
 */
public final class ConvFusion {
    // TODO(#3): implement the optimiser's GraphPass and register in Optimizer once the pass framework is on main.
    private final Arena arena;

    /** @param arena the model's arena, which holds the folded weights */
    public ConvFusion(Arena arena) {
        this.arena = arena;
    }

    /** The graph with BatchNormalization folded and Conv + Add + activation fused ({@code g} when nothing matched). */
    public Graph apply(Graph g) {
        return fuseActivations(foldBatchNorm(g));
    }

    /** Producers, consumers and graph outputs of a graph. */
    private static final class Index {
        final Map<String, Node> producer = new HashMap<>();
        final Map<String, List<Node>> consumers = new HashMap<>();
        final Set<String> outputs = new HashSet<>();

        Index(Graph g) {
            for (Node n : g.nodes()) {
                for (String o : n.outputs()) {
                    producer.put(o, n);
                }
                for (String in : n.inputs()) {
                    if (!in.isEmpty()) {
                        consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
                    }
                }
                for (Attribute a : n.attrs().asMap().values()) {
                    if (a instanceof Attribute.GraphValue) {
                        // A sub-graph may read any outer value: fusing around it is not worth the analysis.
                        outputs.addAll(producer.keySet());
                    }
                }
            }
            g.outputs().forEach(o -> outputs.add(o.name()));
        }

        /** The single consumer of {@code value}, or null when it has several, none, or is a graph output. */
        Node only(String value) {
            List<Node> c = consumers.get(value);
            return c == null || c.size() != 1 || outputs.contains(value) ? null : c.get(0);
        }
    }

    private static boolean is(Node n, String op) {
        return n != null && n.opType().equals(op) && n.domain().isEmpty();
    }

    private static Tensor floatConst(Graph g, Node n, int i) {
        if (i >= n.inputs().size() || n.inputs().get(i).isEmpty()) {
            return null;
        }
        Tensor t = g.constants().get(n.inputs().get(i));
        return t != null && t.dtype() == DType.FLOAT ? t : null;
    }

    // ---------------------------------------------------------------- BatchNormalization folding

    private Graph foldBatchNorm(Graph g) {
        Index idx = new Index(g);
        Map<String, Tensor> constants = new LinkedHashMap<>(g.constants());
        Map<Node, Node> replaced = new IdentityHashMap<>();
        Set<Node> removed = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node bn : g.nodes()) {
            if (!is(bn, "BatchNormalization") || !inferenceBatchNorm(g, bn)) {
                continue;
            }
            Node conv = idx.producer.get(bn.inputs().get(0));
            if (!is(conv, "Conv") || idx.only(conv.outputs().get(0)) != bn || replaced.containsKey(conv)) {
                continue;
            }
            Tensor w = floatConst(g, conv, 1);
            boolean hasBias = conv.inputs().size() > 2 && !conv.inputs().get(2).isEmpty();
            Tensor b = hasBias ? floatConst(g, conv, 2) : null;
            if (w == null || w.shape().rank() < 3 || (hasBias && b == null)) {
                continue;
            }
            long m = w.shape().dim(0);
            Tensor[] p = new Tensor[4];
            boolean ok = b == null || b.shape().equals(Shape.of(m));
            for (int i = 0; i < 4 && ok; i++) {
                p[i] = floatConst(g, bn, i + 1);
                ok = p[i] != null && p[i].shape().equals(Shape.of(m));
            }
            if (!ok) {
                continue;
            }
            double eps = bn.attrs().getFloat("epsilon", 1e-5f);
            Tensor w2 = Tensor.allocate(arena, DType.FLOAT, w.shape());
            Tensor b2 = Tensor.allocate(arena, DType.FLOAT, Shape.of(m));
            long per = w.size() / Math.max(m, 1);
            for (long c = 0; c < m; c++) {
                double s = p[0].data().getAtIndex(Tensor.F32, c) / Math.sqrt(p[3].data().getAtIndex(Tensor.F32, c) + eps);
                for (long j = c * per; j < (c + 1) * per; j++) {
                    w2.data().setAtIndex(Tensor.F32, j, (float) (w.data().getAtIndex(Tensor.F32, j) * s));
                }
                double bias = b == null ? 0 : b.data().getAtIndex(Tensor.F32, c);
                b2.data().setAtIndex(Tensor.F32, c, (float) ((bias - p[2].data().getAtIndex(Tensor.F32, c)) * s
                        + p[1].data().getAtIndex(Tensor.F32, c)));
            }
            String wName = fresh(constants, idx, conv.name() + "_bn_folded_W");
            constants.put(wName, w2);
            String bName = fresh(constants, idx, conv.name() + "_bn_folded_B");
            constants.put(bName, b2);
            Node folded = new Node(conv.name(), "Conv", "", List.of(conv.inputs().get(0), wName, bName),
                    List.of(bn.outputs().get(0)), conv.attrs());
            replaced.put(conv, folded);
            removed.add(bn);
        }
        if (replaced.isEmpty()) {
            return g;
        }
        // The folded Conv takes the Conv's place: its input is defined there, its output is only read after the BN.
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (!removed.contains(n)) {
                nodes.add(replaced.getOrDefault(n, n));
            }
        }
        return new Graph(g.name(), nodes, g.inputs(), g.outputs(), constants, g.valueInfo(), g.opsets());
    }

    /** Inference-mode, per-channel BatchNormalization with one output (as {@code NormOps} reads the attributes). */
    private static boolean inferenceBatchNorm(Graph g, Node bn) {
        int opset = g.opset(bn.domain());
        long outs = bn.outputs().stream().filter(o -> !o.isEmpty()).count();
        Attributes a = bn.attrs();
        boolean training = opset < 7 ? a.getInt("is_test", 0) == 0
                : opset < 14 ? bn.outputs().size() > 1 : a.getInt("training_mode", 0) != 0;
        boolean spatial = opset >= 9 || a.getInt("spatial", 1) != 0;
        return !training && spatial && outs == 1 && bn.inputs().size() == 5;
    }

    private static String fresh(Map<String, Tensor> constants, Index idx, String base) {
        String name = base;
        for (int i = 1; constants.containsKey(name) || idx.producer.containsKey(name) || idx.consumers.containsKey(name); i++) {
            name = base + "_" + i;
        }
        return name;
    }

    // ---------------------------------------------------------------- Conv + Add + activation

    private static Graph fuseActivations(Graph g) {
        Index idx = new Index(g);
        Map<Node, Integer> position = new IdentityHashMap<>();
        for (int i = 0; i < g.nodes().size(); i++) {
            position.put(g.nodes().get(i), i);
        }
        Set<Node> used = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        Map<Node, Node> placeAt = new IdentityHashMap<>();
        for (Node conv : g.nodes()) {
            if (!is(conv, "Conv") || used.contains(conv) || conv.outputs().size() != 1) {
                continue;
            }
            List<Node> group = new ArrayList<>(List.of(conv));
            String out = conv.outputs().get(0);
            String residual = null;
            Node next = idx.only(out);
            if (is(next, "Add") && !used.contains(next) && addFusable(g, next, out)) {
                residual = next.inputs().get(0).equals(out) ? next.inputs().get(1) : next.inputs().get(0);
                Node other = idx.producer.get(residual);
                // When both operands are fusable convolutions, fuse the later one: the earlier is then ready.
                if (other != null && position.get(other) > position.get(conv) && is(other, "Conv") && !used.contains(other)
                        && idx.only(residual) == next) {
                    continue;
                }
                group.add(next);
                out = next.outputs().get(0);
                next = idx.only(out);
            }
            float[] bounds = next != null && !used.contains(next) ? activation(g, next) : null;
            if (bounds != null) {
                group.add(next);
                out = next.outputs().get(0);
            }
            if (group.size() == 1) {
                continue;
            }
            Map<String, Attribute> attrs = new LinkedHashMap<>(conv.attrs().asMap());
            if (bounds != null) {
                boolean relu = bounds[0] == 0f && bounds[1] == Float.POSITIVE_INFINITY && is(next, "Relu");
                attrs.put("activation", new Attribute.Str(relu ? "Relu" : "Clip"));
                if (!relu) {
                    attrs.put("clip_min", new Attribute.Float(bounds[0]));
                    attrs.put("clip_max", new Attribute.Float(bounds[1]));
                }
            }
            List<String> inputs = new ArrayList<>(conv.inputs());
            if (residual != null) {
                while (inputs.size() < 3) {
                    inputs.add("");
                }
                inputs.add(residual);
            }
            Node fused = new Node(conv.name(), FusedConvOps.FUSED_CONV, FusedConvOps.DOMAIN, inputs, List.of(out), new Attributes(attrs));
            used.addAll(group);
            placeAt.put(group.get(group.size() - 1), fused);
        }
        if (placeAt.isEmpty()) {
            return g;
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            Node r = placeAt.get(n);
            if (r != null) {
                nodes.add(r);
            } else if (!used.contains(n)) {
                nodes.add(n);
            }
        }
        Map<String, Integer> opsets = new HashMap<>(g.opsets());
        opsets.putIfAbsent(FusedConvOps.DOMAIN, 1);
        return new Graph(g.name(), nodes, g.inputs(), g.outputs(), g.constants(), g.valueInfo(), opsets);
    }

    /** An Add of {@code out} and another value, with numpy broadcasting (no legacy broadcast attribute). */
    private static boolean addFusable(Graph g, Node add, String out) {
        return add.inputs().size() == 2 && add.outputs().size() == 1 && g.opset("") >= 7
                && !add.inputs().get(0).equals(add.inputs().get(1)) && add.inputs().contains(out);
    }

    /** [lo, hi] of a Relu or a Clip with constant (or absent) bounds, else null. */
    private static float[] activation(Graph g, Node n) {
        if (n.outputs().size() != 1) {
            return null;
        }
        if (is(n, "Relu") && n.inputs().size() == 1) {
            return new float[] {0f, Float.POSITIVE_INFINITY};
        }
        if (!is(n, "Clip")) {
            return null;
        }
        if (g.opset("") < 11) {
            return new float[] {n.attrs().getFloat("min", -Float.MAX_VALUE), n.attrs().getFloat("max", Float.MAX_VALUE)};
        }
        float[] b = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY};
        for (int i = 1; i < n.inputs().size(); i++) {
            if (n.inputs().get(i).isEmpty()) {
                continue;
            }
            Tensor t = g.constants().get(n.inputs().get(i));
            if (t == null || t.dtype() != DType.FLOAT || t.size() != 1) {
                return null;
            }
            b[i - 1] = t.data().getAtIndex(Tensor.F32, 0);
        }
        return Float.isNaN(b[0]) || Float.isNaN(b[1]) ? null : b;
    }
}
