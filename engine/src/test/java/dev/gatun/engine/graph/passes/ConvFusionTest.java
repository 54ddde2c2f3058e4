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
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.ops.FusedConvOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import dev.gatun.engine.models.GeneratedModels;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * {@link ConvFusion} on small hand-built graphs (BatchNorm folding, Conv + Relu / Clip, Conv + Add + Relu, near
 * misses that must stay unfused) and on ResNet-18 / MobileNetV2 when their files are present: the same outputs with
 * the pass on and off (1e-4 relative), and the expected node counts.
 */
class ConvFusionTest {
    private final Arena arena = Arena.ofShared();
    private final Random rnd = new Random(41);
    private final Map<String, Tensor> constants = new LinkedHashMap<>();
    private final List<Node> nodes = new ArrayList<>();

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor random(long... dims) {
        Tensor t = Tensor.allocate(arena, DType.FLOAT, Shape.of(dims));
        for (long i = 0; i < t.size(); i++) {
            t.data().setAtIndex(Tensor.F32, i, rnd.nextFloat() * 2 - 1);
        }
        return t;
    }

    private String constant(String name, Tensor t) {
        constants.put(name, t);
        return name;
    }

    private void node(String op, List<String> in, String out, Attributes a) {
        nodes.add(new Node(out + "_node", op, "", in, List.of(out), a));
    }

    private static Attributes attrs(Object... kv) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], switch (kv[i + 1]) {
                case long[] v -> new Attribute.Ints(v);
                case Float v -> new Attribute.Float(v);
                case Long v -> new Attribute.Int(v);
                default -> throw new IllegalArgumentException();
            });
        }
        return new Attributes(m);
    }

    private static final Attributes PAD1 = attrs("pads", new long[] {1, 1, 1, 1});

    /** A Conv X[1, c, 6, 5] -> [1, m, 6, 5] with constant weights and bias named after {@code out}. */
    private void conv(String in, String out, long c, long m) {
        node("Conv", List.of(in, constant(out + ".w", random(m, c, 3, 3)), constant(out + ".b", random(m))), out, PAD1);
    }

    private void batchNorm(String in, String out, long m) {
        Tensor var = random(m);
        for (long i = 0; i < m; i++) {
            var.data().setAtIndex(Tensor.F32, i, 0.5f + Math.abs(var.data().getAtIndex(Tensor.F32, i)));
        }
        node("BatchNormalization", List.of(in, constant(out + ".scale", random(m)), constant(out + ".bias", random(m)),
                constant(out + ".mean", random(m)), constant(out + ".var", var)), out, attrs("epsilon", 1e-3f));
    }

    private Graph graph(String output, String... inputs) {
        List<ValueInfo> in = new ArrayList<>();
        for (String i : inputs) {
            in.add(new ValueInfo(i, DType.FLOAT, null));
        }
        return new Graph("g", nodes, in, List.of(new ValueInfo(output, DType.FLOAT, null)), constants, Map.of(), Map.of("", 17));
    }

    private static float[] execute(Graph g, Tensor... inputs) {
        ExecutionPlan plan = ExecutionPlan.build(g, PrepackCache.unshared());
        try (Arena a = Arena.ofConfined()) {
            Workspace ws = new Workspace(a, Long.MAX_VALUE, 1);
            float[] out = plan.execute(ws, inputs)[0].toFloatArray();
            ws.reset();
            return out;
        }
    }

    private static void assertClose(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-4 * Math.max(1, Math.abs(want[i])), "element " + i);
        }
    }

    /** Runs the pass; checks outputs against the unfused graph and returns the fused graph. */
    private Graph fuseAndCompare(Graph g, Tensor... inputs) {
        Graph f = new ConvFusion(arena).apply(g);
        assertClose(execute(g, inputs), execute(f, inputs));
        return f;
    }

    private static long count(Graph g, String op) {
        return g.nodes().stream().filter(n -> n.opType().equals(op)).count();
    }

    @Test
    void batchNormFoldsIntoConvAndReluFuses() {
        conv("x", "c", 3, 5);
        batchNorm("c", "bn", 5);
        node("Relu", List.of("bn"), "y", Attributes.empty());
        Graph f = fuseAndCompare(graph("y", "x"), random(1, 3, 6, 5));
        assertEquals(1, f.nodes().size());
        Node n = f.nodes().get(0);
        assertEquals(FusedConvOps.FUSED_CONV, n.opType());
        assertEquals(FusedConvOps.DOMAIN, n.domain());
        assertEquals("Relu", n.attrs().getString("activation", ""));
        assertEquals(1, f.opset(FusedConvOps.DOMAIN));
        assertTrue(f.constants().containsKey(n.inputs().get(1)) && f.constants().containsKey(n.inputs().get(2)));
    }

    @Test
    void convWithoutBiasBatchNormThenClip() {
        node("Conv", List.of("x", constant("w", random(4, 2, 3, 3))), "c", PAD1);
        batchNorm("c", "bn", 4);
        node("Clip", List.of("bn", constant("lo", Tensor.ofFloats(arena, new float[] {0f})),
                constant("hi", Tensor.ofFloats(arena, new float[] {0.5f}))), "y", Attributes.empty());
        Graph f = fuseAndCompare(graph("y", "x"), random(1, 2, 6, 5));
        assertEquals(1, f.nodes().size());
        assertEquals("Clip", f.nodes().get(0).attrs().getString("activation", ""));
        assertEquals(0.5f, f.nodes().get(0).attrs().getFloat("clip_max", 0f));
    }

    @Test
    void residualAddAndReluFuseIntoTheConvWithMoreWeights() {
        conv("x", "a", 3, 4);
        node("Relu", List.of("a"), "r", Attributes.empty());
        conv("r", "b", 4, 4);
        conv("x", "d", 3, 4);
        node("Add", List.of("b", "d"), "s", Attributes.empty());
        node("Relu", List.of("s"), "y", Attributes.empty());
        Graph f = fuseAndCompare(graph("y", "x"), random(1, 3, 6, 5));
        // b (4x4x3x3 weights) takes Add + Relu with residual d (4x3x3x3), which now runs before it.
        assertEquals(3, f.nodes().size());
        assertEquals(0, count(f, "Relu") + count(f, "Add"));
        assertEquals("d", f.nodes().get(1).output(0));
        Node last = f.nodes().get(2);
        assertEquals(List.of("y"), last.outputs());
        assertEquals(4, last.inputs().size());
        assertEquals("r", last.inputs().get(0));
        assertEquals("d", last.inputs().get(3));
    }

    @Test
    void residualAddFusesIntoTheLaterConvOnATie() {
        conv("x", "a", 3, 4);
        node("Relu", List.of("a"), "r", Attributes.empty());
        conv("r", "b", 4, 4);
        conv("r", "d", 4, 4);
        node("Add", List.of("b", "d"), "s", Attributes.empty());
        node("Relu", List.of("s"), "y", Attributes.empty());
        Graph f = fuseAndCompare(graph("y", "x"), random(1, 3, 6, 5));
        assertEquals(3, f.nodes().size());
        Node last = f.nodes().get(2);
        assertEquals("b", last.inputs().get(3));
        assertEquals("d.w", last.inputs().get(1));
    }

    @Test
    void residualFromAGraphInput() {
        conv("x", "c", 3, 3);
        node("Add", List.of("z", "c"), "s", Attributes.empty());
        Graph f = fuseAndCompare(graph("s", "x", "z"), random(1, 3, 6, 5), random(1, 3, 6, 5));
        assertEquals(1, f.nodes().size());
        assertEquals("", f.nodes().get(0).attrs().getString("activation", ""));
        assertEquals("z", f.nodes().get(0).inputs().get(3));
    }

    @Test
    void nearMissesStayUnfused() {
        // The Conv output is also read by a second node; the BN's scale is a graph input (not constant).
        conv("x", "c", 3, 4);
        node("Relu", List.of("c"), "r", Attributes.empty());
        node("Add", List.of("c", "r"), "s", Attributes.empty());
        node("BatchNormalization", List.of("s", "scale", constant("bn.b", random(4)), constant("bn.m", random(4)),
                constant("bn.v", Tensor.ofFloats(arena, new float[] {1, 2, 3, 4}, 4))), "y", Attributes.empty());
        Graph g = graph("y", "x", "scale");
        Graph f = fuseAndCompare(g, random(1, 3, 6, 5), random(4));
        assertEquals(g.nodes(), f.nodes());
        // A Conv whose output is a graph output keeps its Relu apart.
        nodes.clear();
        constants.clear();
        conv("x", "c", 3, 4);
        node("Relu", List.of("c"), "y", Attributes.empty());
        Graph g2 = new Graph("g", nodes, List.of(new ValueInfo("x", DType.FLOAT, null)),
                List.of(new ValueInfo("y", DType.FLOAT, null), new ValueInfo("c", DType.FLOAT, null)), constants, Map.of(), Map.of("", 17));
        assertSame(g2, new ConvFusion(arena).apply(g2));
    }

    // ---------------------------------------------------------------- whole models

    private static Path model(String name) {
        try {
            return GeneratedModels.get(name);
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("cannot generate " + name, e);
        }
    }

    private void wholeModel(String name, int fusedNodes, int batch) {
        Path path = model(name);
        Graph g = ConstantFolder.fold(OnnxLoader.load(path, arena).graph(), arena, Long.MAX_VALUE);
        Graph f = new ConvFusion(arena).apply(g);
        assertEquals(fusedNodes, f.nodes().size(), name + " nodes after fusion: " + count(f, FusedConvOps.FUSED_CONV) + " fused");
        Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(batch, 3, 224, 224));
        Random r = new Random(5);
        for (long i = 0; i < x.size(); i++) {
            x.data().setAtIndex(Tensor.F32, i, (float) r.nextGaussian());
        }
        float[] want = execute(g, x);
        float[] got = execute(f, x);
        double scale = 0;
        for (float v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-4 * scale, name + " logit " + i);
        }
    }

    @Test
    void resnet18FusedMatchesUnfused() {
        // 20 Conv (17 with Relu or Add + Relu), MaxPool, GlobalAveragePool, Flatten, Gemm.
        wholeModel("resnet18.onnx", 24, 2);
    }

    @Test
    void mobilenetV2FusedMatchesUnfused() {
        // 52 Conv (35 with ReLU6, 10 with the residual Add), GlobalAveragePool, Flatten, Gemm.
        wholeModel("mobilenet_v2.onnx", 55, 2);
    }

    @Test
    void graphsWithNothingToFuseAreReturnedAsIs() {
        node("Relu", List.of("x"), "y", Attributes.empty());
        Graph g = graph("y", "x");
        assertSame(g, new ConvFusion(arena).apply(g));
        assertEquals(Map.of("", 17), new HashMap<>(g.opsets()));
    }
}
