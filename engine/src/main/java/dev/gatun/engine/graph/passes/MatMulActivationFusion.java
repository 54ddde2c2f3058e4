package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import java.util.List;

/**
 * A {@code dev.gatun:FusedMatMul} with no activation and no residual, read only by an activation, takes the
 * activation into its epilogue: ONNX {@code Relu}, ONNX {@code Gelu} (opset 20, approximate none or tanh), or
 * {@code dev.gatun:Gelu}.
 */
public final class MatMulActivationFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node mm : g.nodes()) {
            if (!isPlainFusedMatMul(mm)) {
                continue;
            }
            Node act = ix.soleConsumer(mm.output(0));
            String name = act == null ? null : activation(act);
            if (name == null) {
                continue;
            }
            rw.replace(List.of(mm, act), new Node(mm.name(), mm.opType(), mm.domain(), mm.inputs(), act.outputs(),
                    FusedOps.attributes("activation", name)));
        }
        return rw.result();
    }

    /** A FusedMatMul with neither activation nor residual. */
    static boolean isPlainFusedMatMul(Node n) {
        return n.opType().equals("FusedMatMul") && n.domain().equals(FusedOps.DOMAIN) && n.inputs().size() <= 3
                && n.attrs().getString("activation", "").isEmpty();
    }

    /** The FusedMatMul activation name equal to node {@code n}, or null. */
    private static String activation(Node n) {
        if (n.inputs().size() != 1 || n.outputs().size() != 1) {
            return null;
        }
        String approx = n.attrs().getString("approximate", "none");
        if (n.domain().isEmpty()) {
            return switch (n.opType()) {
                case "Relu" -> "Relu";
                case "Gelu" -> approx.equals("none") ? "Gelu" : approx.equals("tanh") ? "GeluTanh" : null;
                default -> null;
            };
        }
        if (n.domain().equals(FusedOps.DOMAIN) && n.opType().equals("Gelu")) {
            return approx.equals("none") ? "Gelu" : approx.equals("tanh") ? "GeluTanh" : null;
        }
        return null;
    }
}
