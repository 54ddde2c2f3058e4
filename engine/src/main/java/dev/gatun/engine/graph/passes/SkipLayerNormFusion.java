package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code dev.gatun:LayerNormalization(Add(a, b), gamma, beta)}, the Add read by nothing else, into
 * {@code dev.gatun:SkipLayerNormalization(a, b, gamma, beta)}: the residual sum is formed row by row inside the
 * normalisation. Runs after {@link MatMulResidualFusion}, so it takes the adds a GEMM epilogue could not (e.g.
 * BERT's embedding sums).
 */
public final class SkipLayerNormFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node ln : g.nodes()) {
            if (!ln.opType().equals("LayerNormalization") || !ln.domain().equals(FusedOps.DOMAIN) || ln.outputs().size() != 1
                    || ln.attrs().getInt("axis", -1) != -1) {
                continue;
            }
            Node add = ix.producer(ln.input(0), "Add");
            if (add == null || ix.soleConsumer(add.output(0)) != ln || add.inputs().size() != 2
                    || add.input(0).isEmpty() || add.input(1).isEmpty()) {
                continue;
            }
            List<String> inputs = new ArrayList<>(add.inputs());
            inputs.addAll(ln.inputs().subList(1, ln.inputs().size()));
            rw.replace(List.of(add, ln), new Node(ln.name().replace("/LayerNormalization", "") + "/SkipLayerNormalization",
                    "SkipLayerNormalization", FusedOps.DOMAIN, inputs, ln.outputs(),
                    FusedOps.attributes("epsilon", ln.attrs().getFloat("epsilon", 1e-5f))));
        }
        return rw.result();
    }
}
