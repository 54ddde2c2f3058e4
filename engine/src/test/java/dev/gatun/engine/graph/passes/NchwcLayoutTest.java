package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.models.GeneratedModels;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.ops.NchwcOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link NchwcLayout}: the same outputs as the NCHW graph (1e-4 of the largest output, 1 and 2 threads) on a hand-built graph that
 * exercises every boundary (a stem read as NCHW, a plain input reordered in, a depthwise layer, residuals from the
 * component, from outside and broadcast, a value read both blocked and plain, GlobalAveragePool of a blocked value,
 * pad lanes with 20 and 24 channels, batch 2), and on MobileNetV2 / ResNet-18; the nodes each mode writes.
 */
class NchwcLayoutTest {
    private final Arena arena = Arena.ofShared();
    private final Random rnd = new Random(43);
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
                case Long v -> new Attribute.Int(v);
                default -> throw new IllegalArgumentException();
            });
        }
        return new Attributes(m);
    }

    private void conv(String in, String out, long c, long m, long k, Attributes a) {
        long cg = a.getInt("group", 1) == 1 ? c : 1;
        node("Conv", List.of(in, constant(out + ".w", random(m, cg, k, k)), constant(out + ".b", random(m))), out, a);
    }

    private static long count(Graph g, String op) {
        return g.nodes().stream().filter(n -> n.opType().equals(op)).count();
    }

    @Test
    void everyBoundaryGivesTheNchwResults() {
        Attributes pad1 = attrs("pads", new long[] {1, 1, 1, 1});
        conv("x", "a0", 3, 20, 3, attrs("pads", new long[] {1, 1, 1, 1}, "strides", new long[] {2, 2}));
        node("Relu", List.of("a0"), "a", Attributes.empty());
        conv("a", "b0", 20, 20, 3, attrs("pads", new long[] {1, 1, 1, 1}, "group", 20L));
        node("Clip", List.of("b0", constant("lo", Tensor.ofFloats(arena, new float[] {0f})),
                constant("hi", Tensor.ofFloats(arena, new float[] {6f}))), "b", Attributes.empty());
        conv("b", "c0", 20, 20, 1, Attributes.empty());
        node("Add", List.of("c0", "a"), "c", Attributes.empty());
        node("Relu", List.of("c"), "d", Attributes.empty());
        conv("c", "e0", 20, 20, 1, Attributes.empty());
        node("Add", List.of("e0", "x1"), "e", Attributes.empty());
        conv("e", "f0", 20, 20, 3, attrs("pads", new long[] {0, 1, 2, 1}, "group", 20L, "strides", new long[] {1, 2}));
        node("Add", List.of("f0", "x2"), "f", Attributes.empty());
        conv("f", "g", 20, 24, 1, Attributes.empty());
        node("GlobalAveragePool", List.of("g"), "h", Attributes.empty());
        conv("x1", "i", 20, 24, 1, pad1);
        Graph g = new Graph("g", nodes, List.of(new ValueInfo("x", DType.FLOAT, null), new ValueInfo("x1", DType.FLOAT, null),
                new ValueInfo("x2", DType.FLOAT, null)), List.of(new ValueInfo("d", DType.FLOAT, null),
                new ValueInfo("h", DType.FLOAT, null), new ValueInfo("g", DType.FLOAT, null), new ValueInfo("i", DType.FLOAT, null)),
                constants, Map.of(), Map.of("", 17));
        Graph fused = new ConvFusion(arena).apply(g);
        Graph blocked = new NchwcLayout(NchwcLayout.Mode.ALL).apply(fused);
        assertEquals(7, count(blocked, NchwcOps.CONV));
        assertEquals(1, count(blocked, NchwcOps.GLOBAL_AVERAGE_POOL));
        assertEquals(2, count(blocked, NchwcOps.REORDER_TO), "x1 once (a residual and conv i's X), x2 (a broadcast residual)");
        assertEquals(3, count(blocked, NchwcOps.REORDER_FROM), "c for Relu, outputs g and i");
        Tensor x = random(2, 3, 9, 11);
        Tensor x1 = random(2, 20, 5, 6);
        Tensor x2 = random(1, 20, 1, 1);
        TestGraph.assertSameOutputs(fused, blocked, new Tensor[] {x, x1, x2}, 1e-4);
        assertSame(fused, new NchwcLayout(NchwcLayout.Mode.OFF).apply(fused));
    }

    @Test
    void autoLeavesComponentsWithoutDepthwiseAlone() {
        conv("x", "a", 16, 32, 3, attrs("pads", new long[] {1, 1, 1, 1}));
        conv("a", "b", 32, 32, 1, Attributes.empty());
        Graph g = new Graph("g", nodes, List.of(new ValueInfo("x", DType.FLOAT, null)),
                List.of(new ValueInfo("b", DType.FLOAT, null)), constants, Map.of(), Map.of("", 17));
        Graph auto = new NchwcLayout(NchwcLayout.Mode.AUTO).apply(g);
        assertSame(g, auto);
        Graph all = new NchwcLayout(NchwcLayout.Mode.ALL).apply(g);
        assertEquals(2, count(all, NchwcOps.CONV));
        Tensor x = random(1, 16, 7, 5);
        TestGraph.assertSameOutputs(g, all, new Tensor[] {x}, 1e-4);
    }

    @Test
    void inputsOfTheWrongShapeAreClearErrorsNamingTheNode() {
        conv("x", "a", 3, 16, 3, attrs("pads", new long[] {1, 1, 1, 1}));
        conv("a", "b", 16, 16, 3, attrs("pads", new long[] {1, 1, 1, 1}, "group", 16L));
        Graph g = new NchwcLayout(NchwcLayout.Mode.ALL).apply(new Graph("g", nodes,
                List.of(new ValueInfo("x", DType.FLOAT, null)), List.of(new ValueInfo("b", DType.FLOAT, null)), constants,
                Map.of(), Map.of("", 17)));
        dev.gatun.engine.EngineException e = assertThrows(dev.gatun.engine.EngineException.class,
                () -> TestGraph.run(g, new Tensor[] {random(1, 5, 8, 8)}, 1));
        assertTrue(e.getMessage().contains("a_node") && e.getMessage().contains("[N, 3, H, W]"), e.getMessage());
        e = assertThrows(dev.gatun.engine.EngineException.class, () -> TestGraph.run(g, new Tensor[] {random(3, 8, 8)}, 1));
        assertTrue(e.getMessage().contains("a_node"), e.getMessage());
    }

    private static Path model(String name) {
        try {
            return GeneratedModels.get(name);
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("cannot generate " + name, e);
        }
    }

    private void wholeModel(String name, NchwcLayout.Mode mode, int convs, int reorders) {
        Graph g = new ConvFusion(arena).apply(ConstantFolder.fold(OnnxLoader.load(model(name), arena).graph(), arena, Long.MAX_VALUE));
        Graph b = new NchwcLayout(mode).apply(g);
        assertEquals(convs, count(b, NchwcOps.CONV), name + " NchwcConv nodes");
        assertEquals(reorders, count(b, NchwcOps.REORDER_TO) + count(b, NchwcOps.REORDER_FROM), name + " reorders");
        Tensor x = random(2, 3, 224, 224);
        TestGraph.assertSameOutputs(g, b, new Tensor[] {x}, 1e-4);
    }

    @Test
    void mobilenetV2RunsBlockedWithoutReorders() {
        wholeModel("mobilenet_v2.onnx", NchwcLayout.Mode.ALL, 52, 0);
    }

    @Test
    void resnet18RunsBlockedThroughItsMaxPool() {
        wholeModel("resnet18.onnx", NchwcLayout.Mode.ALL, 20, 0);
    }
}
