package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import java.util.ArrayList;
import java.util.List;

/**
 * The erf GELU as exporters write it, into {@code dev.gatun:Gelu(x)}:
 * {@code e = Erf(Div(x, sqrt 2) | Mul(x, 1/sqrt 2)); a = Add(e, 1)} and then the product of x, 0.5 and a in any of
 * the orders {@code Mul(Mul(x, a), 0.5)}, {@code Mul(Mul(a, 0.5), x)}, {@code Mul(Mul(x, 0.5), a)} (operands of each
 * Mul and Add in either order). Constants are float32 scalars (or one-element tensors); sqrt 2 and 1/sqrt 2 are
 * accepted within 1e-6 relative (their float32 roundings), 0.5 and 1 exactly.
 */
public final class GeluFusion implements GraphPass {
    private static final double SQRT2 = Math.sqrt(2);

    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node erf : g.nodes()) {
            if (erf.opType().equals("Erf") && erf.domain().isEmpty()) {
                match(ix, rw, erf);
            }
        }
        return rw.result();
    }

    private static void match(GraphIndex ix, Rewriter rw, Node erf) {
        Node scale = ix.producer(erf.input(0));
        if (scale == null || !scale.domain().isEmpty() || scale.inputs().size() != 2 || ix.soleConsumer(scale.output(0)) != erf) {
            return;
        }
        String x;
        if (scale.opType().equals("Div")) {
            x = scale.input(0);
            if (!near(ix.scalarFloat(scale.input(1), 1), SQRT2)) {
                return;
            }
        } else if (scale.opType().equals("Mul")) {
            x = constantOperand(ix, scale, 1 / SQRT2, 1e-6);
            if (x == null) {
                return;
            }
        } else {
            return;
        }
        Node add = ix.soleConsumer(erf.output(0), "Add");
        if (add == null || !is(ix, GraphIndex.other(add, erf.output(0)), 1.0)) {
            return;
        }
        String a = add.output(0);
        Node m1 = ix.soleConsumer(a, "Mul");
        String p = m1 == null ? null : GraphIndex.other(m1, a);
        if (p == null) {
            return;
        }
        List<Node> group = new ArrayList<>(List.of(scale, erf, add, m1));
        Node last;
        if (p.equals(x) || is(ix, p, 0.5)) {
            Node m2 = ix.soleConsumer(m1.output(0), "Mul");
            String q = m2 == null ? null : GraphIndex.other(m2, m1.output(0));
            if (q == null || !(p.equals(x) ? is(ix, q, 0.5) : q.equals(x))) {
                return;
            }
            group.add(m2);
            last = m2;
        } else {
            Node half = ix.producer(p, "Mul");
            if (half == null || !x.equals(constantOperand(ix, half, 0.5, 0))) {
                return;
            }
            group.add(half);
            last = m1;
        }
        String y = last.output(0);
        if (!ix.removable(group, List.of(y))) {
            return;
        }
        rw.replace(group, new Node(erf.name() + "/Gelu", "Gelu", FusedOps.DOMAIN, List.of(x), List.of(y), FusedOps.attributes()));
    }

    /** The non-constant operand of binary {@code n} whose other operand is the float constant {@code c} (within rel), else null. */
    private static String constantOperand(GraphIndex ix, Node n, double c, double rel) {
        if (n.inputs().size() != 2) {
            return null;
        }
        for (int i = 0; i < 2; i++) {
            Float v = ix.scalarFloat(n.input(1 - i), 1);
            if (v != null && Math.abs(v - c) <= rel * Math.abs(c) && ix.constant(n.input(i)) == null) {
                return n.input(i);
            }
        }
        return null;
    }

    private static boolean is(GraphIndex ix, String value, double c) {
        Float v = value == null ? null : ix.scalarFloat(value, 1);
        return v != null && v == c;
    }

    private static boolean near(Float v, double c) {
        return v != null && Math.abs(v - c) <= 1e-6 * c;
    }
}
