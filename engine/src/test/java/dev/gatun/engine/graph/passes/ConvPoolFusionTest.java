package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.ExecutionPlan;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.PrepackCache;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.models.GeneratedModels;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.ops.FusedConvOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ConvPoolFusion}: Conv (+ Relu / Clip, through {@link ConvFusion}) + MaxPool on hand-built graphs of odd
 * sizes and on ResNet-18 give the unfused graph's outputs bit for bit, on 1 and 2 threads; near misses (a second
 * consumer, the convolution's output a graph output, MaxPool's Indices, ceil_mode, a residual) stay unfused.
 */
class ConvPoolFusionTest {
    private final Arena arena = Arena.ofShared();
    private final Random rnd = new Random(7);
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

    private static Attributes attrs(Object... kv) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1] instanceof long[] v ? new Attribute.Ints(v) : new Attribute.Int((Long) kv[i + 1]));
        }
        return new Attributes(m);
    }

    private void node(String op, List<String> in, List<String> out, Attributes a) {
        nodes.add(new Node(out.get(0) + "_node", op, "", in, out, a));
    }

    /** Conv X [., c, ., .] -> "c" with M outputs, a square kernel k, stride s and pads p (constant W and B). */
    private void conv(long c, long m, long k, long s, long p) {
        constants.put("w", random(m, c, k, k));
        constants.put("b", random(m));
        node("Conv", List.of("x", "w", "b"), List.of("c"), attrs("strides", new long[] {s, s}, "pads", new long[] {p, p, p, p}));
    }

    private void maxPool(String in, long k, long s, long p) {
        node("MaxPool", List.of(in), List.of("y"), attrs("kernel_shape", new long[] {k, k}, "strides", new long[] {s, s},
                "pads", new long[] {p, p, p, p}));
    }

    private Graph graph(String... outputs) {
        List<ValueInfo> out = new ArrayList<>();
        for (String o : outputs) {
            out.add(new ValueInfo(o, DType.FLOAT, null));
        }
        return new Graph("g", nodes, List.of(new ValueInfo("x", DType.FLOAT, null)), out, constants, Map.of(), Map.of("", 17));
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

    private static long count(Graph g, String op) {
        return g.nodes().stream().filter(n -> n.opType().equals(op)).count();
    }

    /** ConvFusion, then ConvPoolFusion: one FusedConvMaxPool, equal to the unfused graph on 1 and 2 threads. */
    private void fusesExactly(Graph g, Tensor x, int nodesAfter) {
        Graph conv = new ConvFusion(arena).apply(g);
        Graph f = new ConvPoolFusion().apply(conv);
        assertEquals(1, count(f, FusedConvOps.FUSED_CONV_MAX_POOL));
        assertEquals(0, count(f, "MaxPool"));
        assertEquals(nodesAfter, f.nodes().size());
        float[] want = execute(g, 1, x);
        assertArrayEquals(want, execute(conv, 2, x), "ConvFusion");
        assertArrayEquals(want, execute(f, 1, x), "fused, 1 thread");
        assertArrayEquals(want, execute(f, 2, x), "fused, 2 threads");
    }

    @Test
    void stemWithReluFuses() {
        // 7x7/2 pad 3 (K = 147: ConvDirect) into 23x23, Relu, 3x3/2 pad 1 into 12x12; 40 channels (a partial panel).
        conv(3, 40, 7, 2, 3);
        node("Relu", List.of("c"), List.of("r"), Attributes.empty());
        maxPool("r", 3, 2, 1);
        fusesExactly(graph("y"), random(1, 3, 45, 45), 1);
    }

    @Test
    void batchOfThreeWithoutActivationAndTwoByTwoPool() {
        conv(16, 33, 3, 1, 1);
        maxPool("c", 2, 2, 0);
        fusesExactly(graph("y"), random(3, 16, 25, 27), 1);
    }

    @Test
    void clipThenThreeByThreeWithoutPads() {
        conv(3, 64, 7, 2, 3);
        constants.put("lo", Tensor.ofFloats(arena, new float[] {0f}));
        constants.put("hi", Tensor.ofFloats(arena, new float[] {1.5f}));
        node("Clip", List.of("c", "lo", "hi"), List.of("r"), Attributes.empty());
        maxPool("r", 3, 2, 0);
        node("Relu", List.of("y"), List.of("z"), Attributes.empty());
        Graph g = graph("z");
        Graph f = new ConvPoolFusion().apply(new ConvFusion(arena).apply(g));
        assertEquals(List.of(FusedConvOps.FUSED_CONV_MAX_POOL, "Relu"), f.nodes().stream().map(Node::opType).toList());
        Tensor x = random(3, 3, 51, 47);
        float[] want = execute(g, 1, x);
        assertArrayEquals(want, execute(f, 1, x));
        assertArrayEquals(want, execute(f, 2, x));
    }

    @Test
    void smallPlanesFallBackToConvThenPool() {
        // A plane ConvDirect does not take (ConvGemm / ConvSmallPlane runs): the fused node runs Conv, then MaxPool.
        conv(4, 8, 3, 1, 1);
        maxPool("c", 3, 2, 1);
        fusesExactly(graph("y"), random(2, 4, 9, 11), 1);
    }

    @Test
    void nearMissesStayUnfused() {
        // A second consumer of the convolution's output.
        conv(3, 8, 7, 2, 3);
        maxPool("c", 3, 2, 1);
        node("Relu", List.of("c"), List.of("r"), Attributes.empty());
        Graph g = graph("y", "r");
        assertSame(g, new ConvPoolFusion().apply(g));
        // The convolution's output is a graph output.
        nodes.remove(2);
        Graph g2 = graph("y", "c");
        assertSame(g2, new ConvPoolFusion().apply(g2));
        // MaxPool's Indices, ceil_mode 1, dilations 2.
        nodes.clear();
        conv(3, 8, 7, 2, 3);
        node("MaxPool", List.of("c"), List.of("y", "i"), attrs("kernel_shape", new long[] {3, 3}));
        Graph g3 = graph("y", "i");
        assertSame(g3, new ConvPoolFusion().apply(g3));
        nodes.set(1, new Node("p", "MaxPool", "", List.of("c"), List.of("y"), attrs("kernel_shape", new long[] {3, 3}, "ceil_mode", 1L)));
        Graph g4 = graph("y");
        assertSame(g4, new ConvPoolFusion().apply(g4));
        nodes.set(1, new Node("p", "MaxPool", "", List.of("c"), List.of("y"), attrs("kernel_shape", new long[] {3, 3},
                "dilations", new long[] {2, 2})));
        Graph g5 = graph("y");
        assertSame(g5, new ConvPoolFusion().apply(g5));
    }

    @Test
    void residualConvolutionStaysUnfused() {
        conv(3, 3, 3, 1, 1);
        node("Add", List.of("c", "x"), List.of("s"), Attributes.empty());
        maxPool("s", 3, 2, 1);
        Graph f = new ConvFusion(arena).apply(graph("y"));
        assertEquals(List.of(FusedConvOps.FUSED_CONV, "MaxPool"), f.nodes().stream().map(Node::opType).toList());
        assertSame(f, new ConvPoolFusion().apply(f));
    }

    @Test
    void resnet18StemFusesAndMatchesBitForBit() throws IOException, InterruptedException {
        Graph g = ConstantFolder.fold(OnnxLoader.load(GeneratedModels.get("resnet18.onnx"), arena).graph(), arena, Long.MAX_VALUE);
        Graph conv = new ConvFusion(arena).apply(g);
        Graph f = new ConvPoolFusion().apply(conv);
        assertEquals(1, count(f, FusedConvOps.FUSED_CONV_MAX_POOL));
        assertEquals(0, count(f, "MaxPool"));
        assertEquals(conv.nodes().size() - 1, f.nodes().size());
        Tensor x = random(2, 3, 224, 224);
        float[] want = execute(conv, 2, x);
        assertArrayEquals(want, execute(f, 1, x), "1 thread");
        assertArrayEquals(want, execute(f, 2, x), "2 threads");
    }
}
