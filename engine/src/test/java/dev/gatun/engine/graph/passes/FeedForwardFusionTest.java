package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.ExecutionPlan;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.PrepackCache;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link FeedForwardFusion}: two FusedMatMuls with pruned weights become one FusedFeedForward whose outputs equal
 * the unfused graph's bit for bit, whether the sparse chain runs (many rows) or the two products do (one row, few
 * rows, two threads with too few row blocks), on 1 and 2 threads; dense weights and near misses stay unfused.
 */
class FeedForwardFusionTest {
    private final Arena arena = Arena.ofShared();
    private final Random rnd = new Random(3);
    private final Map<String, Tensor> constants = new LinkedHashMap<>();
    private final List<Node> nodes = new ArrayList<>();

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor random(long... dims) {
        Tensor t = Tensor.allocate(arena, DType.FLOAT, Shape.of(dims));
        for (long i = 0; i < t.size(); i++) {
            t.data().setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
        }
        return t;
    }

    /** A [k, n] weight with the smallest {@code sparsity} of its magnitudes zeroed. */
    private Tensor pruned(int k, int n, double sparsity) {
        Tensor w = random(k, n);
        float[] mags = new float[k * n];
        for (int i = 0; i < mags.length; i++) {
            mags[i] = Math.abs(w.data().getAtIndex(Tensor.F32, i));
        }
        float[] sorted = mags.clone();
        Arrays.sort(sorted);
        float cut = sorted[(int) (sparsity * (mags.length - 1))];
        for (int i = 0; i < mags.length; i++) {
            if (mags[i] <= cut) {
                w.data().setAtIndex(Tensor.F32, i, 0f);
            }
        }
        return w;
    }

    private void matMul(String name, List<String> in, String out, String activation) {
        nodes.add(new Node(name, "FusedMatMul", FusedOps.DOMAIN, in, List.of(out),
                new Attributes(Map.of("activation", new Attribute.Str(activation)))));
    }

    /** x [., K] -> FusedMatMul(W1, b1, Gelu) -> h -> FusedMatMul(W2, b2, residual x) -> y, weights at the sparsities. */
    private void feedForward(int k, int hidden, double s1, double s2) {
        constants.put("w1", pruned(k, hidden, s1));
        constants.put("b1", random(hidden));
        constants.put("w2", pruned(hidden, k, s2));
        constants.put("b2", random(k));
        matMul("up", List.of("x", "w1", "b1"), "h", "Gelu");
        matMul("down", List.of("h", "w2", "b2", "x"), "y", "");
    }

    private Graph graph(String... outputs) {
        List<ValueInfo> out = new ArrayList<>();
        for (String o : outputs) {
            out.add(new ValueInfo(o, DType.FLOAT, null));
        }
        return new Graph("g", nodes, List.of(new ValueInfo("x", DType.FLOAT, null)), out, constants, Map.of(),
                Map.of("", 17, FusedOps.DOMAIN, FusedOps.OPSET));
    }

    private static float[] execute(Graph g, int threads, Tensor x) {
        ExecutionPlan plan = ExecutionPlan.build(g, PrepackCache.unshared());
        Workspace ws = new Workspace(Arena.ofShared(), Long.MAX_VALUE, threads);
        try {
            return plan.execute(ws, new Tensor[] {x})[0].toFloatArray();
        } finally {
            ws.close();
        }
    }

    private static List<String> ops(Graph g) {
        return g.nodes().stream().map(Node::opType).toList();
    }

    @Test
    void prunedPairFusesAndMatchesBitForBit() {
        feedForward(37, 150, 0.8, 0.8);
        Graph g = graph("y");
        Graph f = new FeedForwardFusion().apply(g);
        assertEquals(List.of(FusedOps.FUSED_FEED_FORWARD), ops(f));
        assertEquals("down", f.nodes().getFirst().name());
        // 2 x 400 rows: the chain on 1 and 2 threads (7 row blocks); 2 x 75 rows: the chain on one thread either way
        // (too little work to split); 1 and 3 rows: the two products (sparse GEMVs)
        for (long[] dims : new long[][] {{2, 400, 37}, {2, 75, 37}, {1, 37}, {3, 37}}) {
            Tensor x = random(dims);
            float[] want = execute(g, 1, x);
            assertArrayEquals(want, execute(f, 1, x), () -> Arrays.toString(dims) + ", 1 thread");
            assertArrayEquals(want, execute(f, 2, x), () -> Arrays.toString(dims) + ", 2 threads");
        }
    }

    @Test
    void residualThatBroadcastsAndNoBiasMatch() {
        constants.put("w1", pruned(24, 70, 0.9));
        constants.put("w2", pruned(70, 24, 0.6));
        constants.put("r", random(24));
        matMul("up", List.of("x", "w1"), "h", "Relu");
        matMul("down", List.of("h", "w2", "", "r"), "y", "GeluTanh");
        Graph g = graph("y");
        Graph f = new FeedForwardFusion().apply(g);
        assertEquals(List.of(FusedOps.FUSED_FEED_FORWARD), ops(f));
        Tensor x = random(300, 24);
        float[] want = execute(g, 1, x);
        assertArrayEquals(want, execute(f, 1, x));
        assertArrayEquals(want, execute(f, 2, x));
    }

    @Test
    void denseWeightsAndNearMissesStayUnfused() {
        feedForward(16, 32, 0.8, 0.1);
        Graph dense = graph("y");
        assertSame(dense, new FeedForwardFusion().apply(dense), "W2 10% zeros");
        nodes.clear();
        feedForward(16, 32, 0.8, 0.8);
        Graph hiddenOut = graph("y", "h");
        assertSame(hiddenOut, new FeedForwardFusion().apply(hiddenOut), "the hidden tensor a graph output");
        nodes.add(new Node("relu", "Relu", "", List.of("h"), List.of("z"), Attributes.empty()));
        Graph twice = graph("y", "z");
        assertSame(twice, new FeedForwardFusion().apply(twice), "the hidden tensor read twice");
        nodes.clear();
        constants.put("w1", pruned(16, 32, 0.8));
        constants.put("w2", pruned(32, 16, 0.8));
        matMul("up", List.of("x", "w1", "", "x2"), "h", "");
        matMul("down", List.of("h", "w2"), "y", "");
        Graph residualFirst = graph("y");
        assertSame(residualFirst, new FeedForwardFusion().apply(residualFirst), "a residual on the first product");
    }

    @Test
    void offSwitch() {
        System.setProperty("gatun.fuse.feedforward", "off");
        try {
            assertFalse(FeedForwardFusion.enabled());
        } finally {
            System.clearProperty("gatun.fuse.feedforward");
        }
        assertTrue(FeedForwardFusion.enabled());
    }
}
