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
public final class ConvFusion implements GraphPass {
    private final Arena arena;

    /** @param arena the model's arena, which holds the folded weights */
    public ConvFusion(Arena arena) {
        this.arena = arena;
    }

    /** The graph with BatchNormalization folded and Conv + Add + activation fused ({@code g} when nothing matched). */
    @Override
    public Graph apply(Graph g) {
        return fuseActivations(foldBatchNorm(g));
    }

    private static boolean is(Node n, String op) {
        return n != null && n.opType().equals(op) && n.domain().isEmpty();
    }

    private static Tensor floatConst(Graph g, Node n, int i) {
        if (i >= n.inputs().size() || n.input(i).isEmpty()) {
            return null;
        }
        Tensor t = g.constants().get(n.input(i));
        return t != null && t.dtype() == DType.FLOAT ? t : null;
    }

    // ---------------------------------------------------------------- BatchNormalization folding

    private Graph foldBatchNorm(Graph g) {
        GraphIndex idx = new GraphIndex(g);
        Map<String, Tensor> constants = new LinkedHashMap<>(g.constants());
        Map<Node, Node> replaced = new IdentityHashMap<>();
        Set<Node> removed = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node bn : g.nodes()) {
            if (!is(bn, "BatchNormalization") || !inferenceBatchNorm(g, bn)) {
                continue;
            }
            Node conv = idx.producer(bn.input(0), "Conv");
            if (conv == null || idx.soleConsumer(conv.output(0)) != bn || replaced.containsKey(conv)) {
                continue;
            }
            Tensor w = floatConst(g, conv, 1);
            boolean hasBias = conv.inputs().size() > 2 && !conv.input(2).isEmpty();
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
            Node folded = new Node(conv.name(), "Conv", "", List.of(conv.input(0), wName, bName),
                    List.of(bn.output(0)), conv.attrs());
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

    private static String fresh(Map<String, Tensor> constants, GraphIndex idx, String base) {
        String name = base;
        for (int i = 1; constants.containsKey(name) || idx.producer(name) != null || !idx.consumers(name).isEmpty(); i++) {
            name = base + "_" + i;
        }
        return name;
    }

    // ---------------------------------------------------------------- Conv + Add + activation

    private static Graph fuseActivations(Graph g) {
        GraphIndex idx = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        Map<Node, Integer> position = new IdentityHashMap<>();
        for (int i = 0; i < g.nodes().size(); i++) {
            position.put(g.nodes().get(i), i);
        }
        for (Node conv : g.nodes()) {
            if (!is(conv, "Conv") || rw.isReplaced(conv) || conv.outputs().size() != 1) {
                continue;
            }
            List<Node> group = new ArrayList<>(List.of(conv));
            String out = conv.output(0);
            String residual = null;
            Node next = idx.soleConsumer(out);
            if (is(next, "Add") && !rw.isReplaced(next) && addFusable(g, next, out)) {
                residual = GraphIndex.other(next, out);
                Node other = idx.producer(residual, "Conv");
                if (other != null && !rw.isReplaced(other) && idx.soleConsumer(residual) == next
                        && !hostsAdd(g, conv, other, position)) {
                    continue;
                }
                group.add(next);
                out = next.output(0);
                next = idx.soleConsumer(out);
            }
            float[] bounds = next != null && !rw.isReplaced(next) ? activation(g, next) : null;
            if (bounds != null) {
                group.add(next);
                out = next.output(0);
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
            rw.replace(group, new Node(conv.name(), FusedConvOps.FUSED_CONV, FusedConvOps.DOMAIN, inputs, List.of(out),
                    new Attributes(attrs)));
        }
        return rw.result();
    }

    /**
     * When both operands of an Add are convolutions read only by it, which one takes the Add: the one with more
     * weights (more work per output, so the add's reads weigh least; ResNet's 3x3 rather than its 1x1 downsample,
     * which then runs before it, right after the block's first 3x3 has read the same input, as ONNX Runtime orders
     * them), the later one on a tie or when a weight is not constant. Either way the fused node sits where the Add
     * (or its activation) was, after both. {@code -Dgatun.fuse.residual=later} keeps the later one always.
     */
    private static boolean hostsAdd(Graph g, Node conv, Node other, Map<Node, Integer> position) {
        long mine = weightCount(g, conv);
        long theirs = weightCount(g, other);
        if (!"later".equals(System.getProperty("gatun.fuse.residual")) && mine > 0 && theirs > 0 && mine != theirs) {
            return mine > theirs;
        }
        return position.get(conv) > position.get(other);
    }

    private static long weightCount(Graph g, Node conv) {
        Tensor w = conv.inputs().size() > 1 ? g.constants().get(conv.input(1)) : null;
        return w == null ? 0 : w.size();
    }

    /** An Add of {@code out} and another value, with numpy broadcasting (no legacy broadcast attribute). */
    private static boolean addFusable(Graph g, Node add, String out) {
        return add.outputs().size() == 1 && g.opset("") >= 7 && GraphIndex.other(add, out) != null;
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
            if (n.input(i).isEmpty()) {
                continue;
            }
            Tensor t = g.constants().get(n.input(i));
            if (t == null || t.dtype() != DType.FLOAT || t.size() != 1) {
                return null;
            }
            b[i - 1] = t.data().getAtIndex(Tensor.F32, 0);
        }
        return Float.isNaN(b[0]) || Float.isNaN(b[1]) ? null : b;
    }
}
