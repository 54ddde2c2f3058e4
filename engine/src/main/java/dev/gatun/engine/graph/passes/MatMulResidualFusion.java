package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import java.util.ArrayList;
import java.util.List;

/**
 * The residual add of a transformer block, {@code Add(FusedMatMul(...), r)} (either operand order) where the
 * FusedMatMul has no residual yet and nothing else reads its output, into the FusedMatMul's fourth input: the sum
 * is formed in the GEMM epilogue, after the bias and activation, as the unfused graph rounds it.
 */
public final class MatMulResidualFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node mm : g.nodes()) {
            if (!mm.opType().equals("FusedMatMul") || !mm.domain().equals(FusedOps.DOMAIN) || mm.inputs().size() > 3) {
                continue;
            }
            String y = mm.output(0);
            Node add = ix.soleConsumer(y, "Add");
            String r = add == null ? null : GraphIndex.other(add, y);
            if (r == null || r.isEmpty()) {
                continue;
            }
            List<String> inputs = new ArrayList<>(mm.inputs());
            while (inputs.size() < 3) {
                inputs.add("");
            }
            inputs.add(r);
            rw.replace(List.of(mm, add), new Node(mm.name(), mm.opType(), mm.domain(), inputs, add.outputs(), mm.attrs()));
        }
        return rw.result();
    }
}
