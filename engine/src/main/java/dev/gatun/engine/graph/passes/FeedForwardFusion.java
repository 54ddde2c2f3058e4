package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.ops.SparsePlanner;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Two {@code dev.gatun:FusedMatMul}s in a row as one {@code dev.gatun:FusedFeedForward} (a transformer's
 * feed-forward block, {@link FusedOps}), for CPU sessions, when both weights are pruned: the sparse kernels then keep
 * the hidden activations in the layout the second product reads ({@code cpu/SpmmChain}), and the hidden tensor
 * never goes to memory. A candidate: a FusedMatMul without residual, with a constant float32 weight [K, N1], whose
 * output is read only by a FusedMatMul (not a graph output) as its A, with a constant float32 weight [N1, N2]; both
 * weights about {@link SparsePlanner#MIN_SPARSITY} zeros or more (dense weights are left to the GEMM, which gains nothing
 * from the chain). The fused node takes the second's name and output; inputs {@code (A, W1, bias1, W2, bias2,
 * residual)} (absent ones empty), attributes {@code hidden_activation} (the first's activation) and
 * {@code activation} (the second's).
 *
 * <p>{@code -Dgatun.fuse.feedforward=off} (read when a model loads) turns it off, as {@code -Dgatun.sparse=off} does.
 */
public final class FeedForwardFusion implements GraphPass {
    /** Whether the system properties leave this fusion on. */
    public static boolean enabled() {
        return !"off".equalsIgnoreCase(System.getProperty("gatun.fuse.feedforward", "on").trim())
                && SparsePlanner.mode() != SparsePlanner.Mode.OFF;
    }

    @Override
    public Graph apply(Graph g) {
        GraphIndex idx = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node first : g.nodes()) {
            Tensor w1 = weight(g, first);
            if (w1 == null || input(first, 3) != null || first.outputs().size() != 1) {
                continue;
            }
            Node second = idx.soleConsumer(first.output(0));
            Tensor w2 = second == null ? null : weight(g, second);
            if (w2 == null || !second.input(0).equals(first.output(0)) || second.input(1).equals(first.output(0))
                    || w2.shape().dim(0) != w1.shape().dim(1) || !pruned(w1) || !pruned(w2)) {
                continue;
            }
            List<String> inputs = new ArrayList<>(List.of(first.input(0), first.input(1), orEmpty(input(first, 2)),
                    second.input(1), orEmpty(input(second, 2)), orEmpty(input(second, 3))));
            while (inputs.getLast().isEmpty()) {
                inputs.removeLast();
            }
            Map<String, Attribute> attrs = new LinkedHashMap<>();
            attrs.put("hidden_activation", new Attribute.Str(first.attrs().getString("activation", "")));
            attrs.put("activation", new Attribute.Str(second.attrs().getString("activation", "")));
            rw.replace(List.of(first, second), new Node(second.name(), FusedOps.FUSED_FEED_FORWARD, FusedOps.DOMAIN,
                    inputs, List.of(second.output(0)), new Attributes(attrs)));
        }
        return rw.result();
    }

    /** The constant float32 [K, N] weight of a FusedMatMul, else null. */
    private static Tensor weight(Graph g, Node n) {
        if (!n.opType().equals("FusedMatMul") || !n.domain().equals(FusedOps.DOMAIN) || n.inputs().size() < 2
                || FusedOps.activationCode(n.attrs().getString("activation", "")) < 0) {
            return null;
        }
        Tensor w = g.constants().get(n.input(1));
        return w != null && w.dtype() == DType.FLOAT && w.shape().rank() == 2 ? w : null;
    }

    /** Input i of n, or null when absent. */
    private static String input(Node n, int i) {
        return i < n.inputs().size() && !n.input(i).isEmpty() ? n.input(i) : null;
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }

    /**
     * Whether about {@link SparsePlanner#MIN_SPARSITY} or more of w's elements are zero, judged on an even sample of
     * at most 2^16 elements: the fusion only decides how the products run (results are the same either way), and a
     * large dense model should not pay a full scan of its weights at load (the planner counts exactly later).
     */
    private static boolean pruned(Tensor w) {
        long size = w.size();
        long step = Math.max(1, size / (1 << 16));
        long zeros = 0;
        long seen = 0;
        for (long i = 0; i < size; i += step, seen++) {
            if (w.data().getAtIndex(Tensor.F32, i) == 0f) {
                zeros++;
            }
        }
        return zeros >= SparsePlanner.MIN_SPARSITY * seen;
    }
}
