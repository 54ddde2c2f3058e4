package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.List;

/**
 * {@code MatMul(A, W)} with W a 2-D float32 constant [K, N], and the {@code Add(., bias)} after it when bias is a
 * float32 constant [N] (either operand order), into {@code dev.gatun:FusedMatMul(A, W, bias)}: the weight is
 * packed once and the product runs on the session's threads with the bias added in its epilogue. A MatMul with no
 * such Add becomes a FusedMatMul without bias.
 */
public final class MatMulBiasFusion implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        GraphIndex ix = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node mm : g.nodes()) {
            if (!mm.opType().equals("MatMul") || !mm.domain().isEmpty() || mm.inputs().size() != 2) {
                continue;
            }
            Tensor w = ix.constant(mm.input(1));
            if (w == null || w.dtype() != DType.FLOAT || w.shape().rank() != 2 || ix.constant(mm.input(0)) != null) {
                continue;
            }
            String y = mm.output(0);
            Node add = ix.soleConsumer(y, "Add");
            String bias = add == null ? null : GraphIndex.other(add, y);
            Tensor b = bias == null ? null : ix.constant(bias);
            boolean withBias = b != null && b.dtype() == DType.FLOAT && b.shape().rank() == 1 && b.shape().dim(0) == w.shape().dim(1);
            List<String> inputs = withBias ? List.of(mm.input(0), mm.input(1), bias) : mm.inputs();
            String out = withBias ? add.output(0) : y;
            rw.replace(withBias ? List.of(mm, add) : List.of(mm),
                    new Node(mm.name() + "/FusedMatMul", "FusedMatMul", FusedOps.DOMAIN, inputs, List.of(out), FusedOps.attributes()));
        }
        return rw.result();
    }
}
