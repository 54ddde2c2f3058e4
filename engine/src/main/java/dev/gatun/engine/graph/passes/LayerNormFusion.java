package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * LayerNorm as exporters write it for opsets below 17, into {@code dev.gatun:LayerNormalization(x, gamma, beta)}:
 * <pre>
 *   m = ReduceMean(x, axes=[-1]); d = Sub(x, m)
 *   v = ReduceMean(Pow(d, 2) | Mul(d, d), axes=[-1])
 *   n = Div(d, Sqrt(Add(v, eps)))  |  Mul(d, Reciprocal(Sqrt(Add(v, eps))))
 *   y = Add(Mul(n, gamma), beta)   (Mul and Add in either operand order; the Add is optional)
 * </pre>
 * gamma and beta must be 1-D float32 constants, eps a float32 constant of one element, both ReduceMeans keep
 * their dims; every intermediate value must be read only inside the pattern.
 */
public final class LayerNormFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node rm : g.nodes()) {
            if (isMeanOverLastAxis(ix, rm)) {
                match(ix, rw, rm);
            }
        }
        return rw.result();
    }

    /** ReduceMean over axes [-1] with keepdims=1 (axes as attribute, or as constant input from opset 18). */
    static boolean isMeanOverLastAxis(GraphIndex ix, Node n) {
        if (!n.opType().equals("ReduceMean") || !n.domain().isEmpty() || n.attrs().getInt("keepdims", 1) != 1) {
            return false;
        }
        long[] axes = n.attrs().has("axes") ? n.attrs().getInts("axes", null)
                : n.inputs().size() > 1 ? ix.ints(n.input(1)) : null;
        return axes != null && axes.length == 1 && axes[0] == -1;
    }

    private static void match(GraphIndex ix, Rewriter rw, Node rm) {
        String x = rm.input(0);
        String mean = rm.output(0);
        Node sub = ix.soleConsumer(mean, "Sub");
        if (sub == null || !sub.input(0).equals(x) || !sub.input(1).equals(mean)) {
            return;
        }
        String d = sub.output(0);
        List<Node> dUsers = ix.consumers(d);
        if (dUsers.size() != 2 || ix.isGraphOutput(d)) {
            return;
        }
        Node sq = null;
        Node norm = null;
        for (Node u : dUsers) {
            if (isSquare(ix, u, d)) {
                sq = u;
            } else {
                norm = u;
            }
        }
        if (sq == null || norm == null) {
            return;
        }
        Node rm2 = ix.soleConsumer(sq.output(0));
        if (rm2 == null || !isMeanOverLastAxis(ix, rm2)) {
            return;
        }
        Node addEps = ix.soleConsumer(rm2.output(0), "Add");
        String epsName = addEps == null ? null : GraphIndex.other(addEps, rm2.output(0));
        Float eps = epsName == null ? null : ix.scalarFloat(epsName, 1);
        if (eps == null) {
            return;
        }
        Node sqrt = ix.soleConsumer(addEps.output(0), "Sqrt");
        if (sqrt == null) {
            return;
        }
        List<Node> group = new ArrayList<>(List.of(rm, sub, sq, rm2, addEps, sqrt));
        String s = sqrt.output(0);
        if (norm.opType().equals("Div") && norm.domain().isEmpty()) {
            if (!norm.inputs().equals(List.of(d, s))) {
                return;
            }
        } else if (norm.opType().equals("Mul") && norm.domain().isEmpty()) {
            Node recip = ix.soleConsumer(s, "Reciprocal");
            if (recip == null || !d.equals(GraphIndex.other(norm, recip.output(0)))) {
                return;
            }
            group.add(recip);
        } else {
            return;
        }
        group.add(norm);
        Node mulG = ix.soleConsumer(norm.output(0), "Mul");
        String gamma = mulG == null ? null : GraphIndex.other(mulG, norm.output(0));
        if (gamma == null || !isVector(ix.constant(gamma))) {
            return;
        }
        group.add(mulG);
        String y = mulG.output(0);
        String beta = "";
        Node addB = ix.soleConsumer(y, "Add");
        String b = addB == null ? null : GraphIndex.other(addB, y);
        if (b != null && isVector(ix.constant(b))) {
            group.add(addB);
            beta = b;
            y = addB.output(0);
        }
        if (!ix.removable(group, List.of(y))) {
            return;
        }
        List<String> inputs = beta.isEmpty() ? List.of(x, gamma) : List.of(x, gamma, beta);
        rw.replace(group, new Node(rm.name() + "/LayerNormalization", "LayerNormalization", FusedOps.DOMAIN, inputs,
                List.of(y), FusedOps.attributes("axis", -1L, "epsilon", eps)));
    }

    /** Pow(d, 2) or Mul(d, d). */
    private static boolean isSquare(GraphIndex ix, Node n, String d) {
        if (!n.domain().isEmpty() || n.inputs().size() != 2 || !n.input(0).equals(d)) {
            return false;
        }
        if (n.opType().equals("Mul")) {
            return n.input(1).equals(d);
        }
        if (!n.opType().equals("Pow")) {
            return false;
        }
        Tensor e = ix.constant(n.input(1));
        return e != null && e.size() == 1 && e.shape().rank() <= 1 && e.dtype() != DType.STRING && e.getDouble(0) == 2.0;
    }

    /** A 1-D float32 constant. */
    static boolean isVector(Tensor t) {
        return t != null && t.dtype() == DType.FLOAT && t.shape().rank() == 1;
    }
}
