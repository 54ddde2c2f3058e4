package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * BERT self-attention as torch exports it, into {@code dev.gatun:Attention(q, k, v, mask)}:
 * <pre>
 *   Qt = Transpose(Reshape(q, [B, S, H, D]), perm 0,2,1,3)     q, k, v: [B, S, H*D] projection outputs
 *   Kt = Transpose(Reshape(k, [B, S, H, D]), perm 0,2,3,1)
 *   Vt = Transpose(Reshape(v, [B, S, H, D]), perm 0,2,1,3)
 *   P  = Softmax(Add(Div(MatMul(Qt, Kt), c) | Mul(MatMul(Qt, Kt), c), mask), axis -1 / 3)   (scale and mask optional)
 *   y  = Reshape(Transpose(MatMul(P, Vt), perm 0,2,1,3), [B, S, H*D])
 * </pre>
 * The split shapes must be {@code Concat(Unsqueeze(Gather(Shape(x), 0)), Unsqueeze(Gather(Shape(x), 1)), [H], [D])}
 * of the reshaped value x itself (or the constant [0, 0, H, D]); the merge shape {@code Concat(dim 0, dim 1, [H*D])}
 * taken from the transposed context or from q (or the constant [0, 0, H*D]). H and D come from those constants and
 * must agree for q, k and v; the scale is 1/c (Div) or c (Mul). The Shape chains left unused die in
 * {@link DeadNodeElimination}.
 */
public final class AttentionFusion implements GraphPass {
    private static final long[] PERM_SPLIT = {0, 2, 1, 3};
    private static final long[] PERM_KEY = {0, 2, 3, 1};

    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        int opset = g.opset("");
        for (Node sm : g.nodes()) {
            if (sm.opType().equals("Softmax") && sm.domain().isEmpty()) {
                long axis = sm.attrs().getInt("axis", opset < 13 ? 1 : -1);
                if (axis == 3 || axis == -1) {
                    match(ix, rw, sm);
                }
            }
        }
        return rw.result();
    }

    /** One head split: the reshaped value and H, D. */
    private record Split(String x, long heads, long size, Node reshape, Node transpose) {}

    private static void match(GraphIndex ix, Rewriter rw, Node sm) {
        List<Node> group = new ArrayList<>();
        String in = sm.input(0);
        String mask = "";
        Node maskAdd = ix.producer(in, "Add");
        String scaled = in;
        if (maskAdd != null && maskAdd.inputs().size() == 2) {
            for (int i = 0; i < 2 && mask.isEmpty(); i++) {
                String s = maskAdd.input(i);
                if (scoreSource(ix, s) != null) {
                    scaled = s;
                    mask = maskAdd.input(1 - i);
                }
            }
            if (mask.isEmpty()) {
                return;
            }
            group.add(maskAdd);
        }
        Node scaleNode = scoreSource(ix, scaled);
        if (scaleNode == null) {
            return;
        }
        float scale = 1f;
        Node qk = scaleNode;
        if (!scaleNode.opType().equals("MatMul")) {
            String scores = scaleNode.input(0);
            Float c = ix.scalarFloat(scaleNode.input(1), 1);
            if (scaleNode.opType().equals("Mul") && ix.producer(scores, "MatMul") == null) {
                scores = scaleNode.input(1);
                c = ix.scalarFloat(scaleNode.input(0), 1);
            }
            qk = ix.producer(scores, "MatMul");
            if (qk == null || c == null) {
                return;
            }
            scale = scaleNode.opType().equals("Div") ? (float) (1.0 / c) : c;
            group.add(scaleNode);
        }
        group.add(qk);
        group.add(sm);
        Split q = split(ix, qk.input(0), PERM_SPLIT);
        Split k = split(ix, qk.input(1), PERM_KEY);
        Node pv = ix.soleConsumer(sm.output(0), "MatMul");
        if (q == null || k == null || pv == null || !pv.input(0).equals(sm.output(0))) {
            return;
        }
        Split v = split(ix, pv.input(1), PERM_SPLIT);
        if (v == null || q.heads != k.heads || q.heads != v.heads || q.size != k.size || q.size != v.size) {
            return;
        }
        Node merge = ix.soleConsumer(pv.output(0), "Transpose");
        if (merge == null || !Arrays.equals(merge.attrs().getInts("perm", null), PERM_SPLIT)) {
            return;
        }
        String ctx = merge.output(0);
        Node out = null;
        for (Node c : ix.consumers(ctx)) {
            if (c.opType().equals("Reshape") && c.domain().isEmpty() && c.input(0).equals(ctx)) {
                out = c;
            }
        }
        if (out == null) {
            return;
        }
        List<Node> chain = mergeShape(ix, out, ctx, q.x, q.heads * q.size);
        if (chain == null) {
            return;
        }
        for (Split s : List.of(q, k, v)) {
            group.add(s.reshape);
            group.add(s.transpose);
        }
        group.addAll(List.of(pv, merge, out));
        group.addAll(chain);
        String y = out.output(0);
        if (!ix.removable(group, List.of(y))) {
            return;
        }
        List<String> inputs = mask.isEmpty() ? List.of(q.x, k.x, v.x) : List.of(q.x, k.x, v.x, mask);
        rw.replace(group, new Node(sm.name() + "/Attention", "Attention", FusedOps.DOMAIN, inputs, List.of(y),
                FusedOps.attributes("num_heads", q.heads, "scale", scale)));
    }

    /** The node making the raw or scaled scores {@code value}: MatMul, or Div / Mul of a MatMul by a float scalar. */
    private static Node scoreSource(GraphIndex ix, String value) {
        Node n = ix.producer(value);
        if (n == null || !n.domain().isEmpty() || n.inputs().size() != 2) {
            return null;
        }
        return switch (n.opType()) {
            case "MatMul" -> n;
            case "Div" -> ix.producer(n.input(0), "MatMul") != null && ix.scalarFloat(n.input(1), 1) != null ? n : null;
            case "Mul" -> {
                for (int i = 0; i < 2; i++) {
                    if (ix.producer(n.input(i), "MatMul") != null && ix.scalarFloat(n.input(1 - i), 1) != null) {
                        yield n;
                    }
                }
                yield null;
            }
            default -> null;
        };
    }

    /** {@code Transpose(Reshape(x, [B, S, H, D]), perm)} with a split shape as the class comment says, or null. */
    private static Split split(GraphIndex ix, String value, long[] perm) {
        Node t = ix.producer(value, "Transpose");
        if (t == null || !Arrays.equals(t.attrs().getInts("perm", null), perm)) {
            return null;
        }
        Node r = ix.producer(t.input(0), "Reshape");
        if (r == null || r.inputs().size() != 2) {
            return null;
        }
        String x = r.input(0);
        String shape = r.input(1);
        long[] c = ix.ints(shape);
        if (c != null) {
            if (c.length == 4 && c[0] == 0 && c[1] == 0 && c[2] > 0 && c[3] > 0 && r.attrs().getInt("allowzero", 0) == 0) {
                return new Split(x, c[2], c[3], r, t);
            }
            return null;
        }
        Node concat = ix.producer(shape, "Concat");
        if (concat == null || concat.inputs().size() != 4 || concat.attrs().getInt("axis", 0) != 0
                || dimOf(ix, concat.input(0), 0, Set.of(x)) == null || dimOf(ix, concat.input(1), 1, Set.of(x)) == null) {
            return null;
        }
        long[] h = ix.ints(concat.input(2));
        long[] d = ix.ints(concat.input(3));
        if (h == null || d == null || h.length != 1 || d.length != 1 || h[0] <= 0 || d[0] <= 0) {
            return null;
        }
        return new Split(x, h[0], d[0], r, t);
    }

    /**
     * The nodes to remove with the merge Reshape {@code out}'s shape: empty for the constant [0, 0, H*D], the Shape
     * chains on {@code ctx} (and their Concat) for a dynamic shape; null when the shape is neither.
     */
    private static List<Node> mergeShape(GraphIndex ix, Node out, String ctx, String q, long hd) {
        if (out.inputs().size() != 2) {
            return null;
        }
        String shape = out.input(1);
        long[] c = ix.ints(shape);
        if (c != null) {
            return c.length == 3 && c[0] == 0 && c[1] == 0 && c[2] == hd && out.attrs().getInt("allowzero", 0) == 0 ? List.of() : null;
        }
        Node concat = ix.producer(shape, "Concat");
        if (concat == null || concat.inputs().size() != 3 || concat.attrs().getInt("axis", 0) != 0) {
            return null;
        }
        long[] last = ix.ints(concat.input(2));
        if (last == null || last.length != 1 || last[0] != hd) {
            return null;
        }
        List<Node> chain = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            List<Node> dim = dimOf(ix, concat.input(i), i, Set.of(ctx, q));
            if (dim == null) {
                return null;
            }
            if (dim.get(2).input(0).equals(ctx)) {
                chain.addAll(dim);
            }
        }
        if (!chain.isEmpty()) {
            chain.add(concat);
        }
        return chain;
    }

    /** {@code Unsqueeze(Gather(Shape(x), index), axes [0])} with x one of {@code from}: [unsqueeze, gather, shape], or null. */
    private static List<Node> dimOf(GraphIndex ix, String value, long index, Set<String> from) {
        Node u = ix.producer(value, "Unsqueeze");
        if (u == null) {
            return null;
        }
        long[] axes = u.attrs().has("axes") ? u.attrs().getInts("axes", null) : u.inputs().size() > 1 ? ix.ints(u.input(1)) : null;
        if (axes == null || axes.length != 1 || axes[0] != 0) {
            return null;
        }
        Node gather = ix.producer(u.input(0), "Gather");
        if (gather == null || gather.attrs().getInt("axis", 0) != 0) {
            return null;
        }
        var idx = ix.constant(gather.input(1));
        long[] iv = ix.ints(gather.input(1));
        if (idx == null || iv == null || idx.shape().rank() != 0 || iv[0] != index) {
            return null;
        }
        Node shape = ix.producer(gather.input(0), "Shape");
        if (shape == null || shape.attrs().has("start") || shape.attrs().has("end") || !from.contains(shape.input(0))) {
            return null;
        }
        return List.of(u, gather, shape);
    }
}
