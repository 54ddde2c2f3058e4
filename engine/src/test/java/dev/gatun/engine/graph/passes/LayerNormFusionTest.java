package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** LayerNormFusion and SkipLayerNormFusion on hand-built exporter-style graphs. */
class LayerNormFusionTest {
    enum Variant { POW, MUL_SQUARE, RECIPROCAL, NO_BETA, POW_THREE, AXES_ONE, OPSET18 }

    /** x [2, 5, 17] -> LayerNorm written out as the exporter does, in the given variant. */
    static String layerNorm(TestGraph t, String x, Variant v, Random rnd) {
        Object[] axes = v == Variant.AXES_ONE ? new Object[] {"axes", new long[] {1}} : new Object[] {"axes", new long[] {-1}};
        String m = v == Variant.OPSET18 ? t.node("ReduceMean", new String[] {x, t.longs(new long[] {-1}, 1)})
                : t.node("ReduceMean", new String[] {x}, axes);
        String d = t.node("Sub", new String[] {x, m});
        String sq = v == Variant.MUL_SQUARE ? t.node("Mul", new String[] {d, d})
                : t.node("Pow", new String[] {d, t.scalar(v == Variant.POW_THREE ? 3f : 2f)});
        String var = v == Variant.OPSET18 ? t.node("ReduceMean", new String[] {sq, t.longs(new long[] {-1}, 1)})
                : t.node("ReduceMean", new String[] {sq}, axes);
        String s = t.node("Sqrt", new String[] {t.node("Add", new String[] {var, t.scalar(1e-5f)})});
        String n = v == Variant.RECIPROCAL ? t.node("Mul", new String[] {t.node("Reciprocal", new String[] {s}), d})
                : t.node("Div", new String[] {d, s});
        String y = t.node("Mul", new String[] {t.random(rnd, 17), n});
        return v == Variant.NO_BETA ? y : t.node("Add", new String[] {y, t.random(rnd, 17)});
    }

    private static Map<String, Integer> fuse(Variant v, boolean outputIntermediate) {
        Random rnd = new Random(v.ordinal());
        TestGraph t = new TestGraph(v == Variant.OPSET18 ? 18 : 11).input("x", -1, 5, 17);
        String y = layerNorm(t, "x", v, rnd);
        t.output(y);
        if (outputIntermediate) {
            t.output(t.last("Sub"));
        }
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = new LayerNormFusion().apply(g);
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, 2, 5, 17)}, 1e-5);
            return TestGraph.ops(new DeadNodeElimination().apply(f));
        }
    }

    @Test
    void fusesTheExportedForms() {
        for (Variant v : new Variant[] {Variant.POW, Variant.MUL_SQUARE, Variant.RECIPROCAL, Variant.NO_BETA, Variant.OPSET18}) {
            assertEquals(Map.of("dev.gatun:LayerNormalization", 1), fuse(v, false), v.name());
        }
    }

    @Test
    void leavesNearMissesAlone() {
        assertEquals(9, fuse(Variant.POW_THREE, false).values().stream().mapToInt(Integer::intValue).sum(), "Pow 3");
        assertFalse(fuse(Variant.AXES_ONE, false).containsKey("dev.gatun:LayerNormalization"), "axes [1]");
        // x - mean is also a graph output: it must survive, so nothing is fused
        assertFalse(fuse(Variant.POW, true).containsKey("dev.gatun:LayerNormalization"), "intermediate output");
    }

    @Test
    void residualAddBecomesSkipLayerNormalization() {
        Random rnd = new Random(9);
        TestGraph t = new TestGraph(11).input("x", -1, 5, 17).input("pos", 1, 5, 17);
        String sum = t.node("Add", new String[] {"x", "pos"});
        t.output(layerNorm(t, sum, Variant.POW, rnd));
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = new Optimizer(java.util.List.of(new LayerNormFusion(), new SkipLayerNormFusion())).run(g);
            assertEquals(Map.of("dev.gatun:SkipLayerNormalization", 1), TestGraph.ops(f));
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, 3, 5, 17),
                TestGraph.randomTensor(arena, rnd, 1, 5, 17)}, 1e-5);
        }
    }

    @Test
    void residualAddReadElsewhereStays() {
        Random rnd = new Random(10);
        TestGraph t = new TestGraph(11).input("x", -1, 5, 17).input("r", -1, 5, 17);
        String sum = t.node("Add", new String[] {"x", "r"});
        t.output(layerNorm(t, sum, Variant.POW, rnd));
        t.output(sum);
        try (Arena arena = Arena.ofShared()) {
            Graph f = new Optimizer(java.util.List.of(new LayerNormFusion(), new SkipLayerNormFusion())).run(t.load(arena));
            assertEquals(Map.of("Add", 1, "dev.gatun:LayerNormalization", 1), TestGraph.ops(f));
        }
    }
}
