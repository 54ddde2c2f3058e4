package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * QuantMatMulFusion on the chains dynamic quantization writes (DynamicQuantizeLinear shared by two products,
 * MatMulInteger, Cast, the scales' Mul, bias Add, GELU, residual Add), and near misses that must stay unfused.
 */
class QuantMatMulFusionTest {
    private static final Optimizer QUANT = new Optimizer(List.of(new GeluFusion(), new QuantMatMulFusion(), new DeadNodeElimination()));

    private static String weights(TestGraph t, Random rnd, int type, long k, long n) {
        byte[] w = new byte[(int) (k * n)];
        rnd.nextBytes(w);
        return t.bytes(type, w, k, n);
    }

    /** One quantized linear layer reading (q, s, z): MatMulInteger, Cast, Mul(s, Ws), Mul; returns the float output. */
    private static String linear(TestGraph t, Random rnd, String q, String s, String z, int wType, long k, long n, boolean perColumn,
                                 long castTo) {
        String w = weights(t, rnd, wType, k, n);
        String p = t.node("MatMulInteger", new String[] {q, w, z});
        String f = t.node("Cast", new String[] {p}, "to", castTo);
        float[] ws = new float[perColumn ? (int) n : 1];
        for (int j = 0; j < ws.length; j++) {
            ws[j] = 0.001f + rnd.nextFloat() * 0.01f;
        }
        String scales = t.node("Mul", new String[] {s, perColumn ? t.floats(ws, n) : t.scalar(ws[0])});
        return t.node("Mul", new String[] {f, scales});
    }

    @Test
    void twoLayersBecomeQuantMatMulsWithTheirEpilogues() {
        Random rnd = new Random(1);
        TestGraph t = new TestGraph(13).input("x", -1, 7, 17);
        t.nodeOutputs("DynamicQuantizeLinear", new String[] {"x"}, "q", "s", "z");
        String h = linear(t, rnd, "q", "s", "z", 3, 17, 33, true, 1L);
        h = t.node("Add", new String[] {t.random(rnd, 33), h});
        String e = t.node("Erf", new String[] {t.node("Div", new String[] {h, t.scalar((float) Math.sqrt(2))})});
        h = t.node("Mul", new String[] {t.node("Mul", new String[] {h, t.node("Add", new String[] {e, t.scalar(1f)})}), t.scalar(0.5f)});
        String o = linear(t, rnd, "q", "s", "z", 2, 17, 17, false, 1L);
        o = t.node("Add", new String[] {t.node("Add", new String[] {o, t.random(rnd, 17)}), "x"});
        t.output(h).output(o);
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = QUANT.run(g);
            assertEquals(Map.of("DynamicQuantizeLinear", 1, "dev.gatun:QuantMatMul", 2), TestGraph.ops(f));
            assertEquals("Gelu", f.nodes().get(1).attrs().getString("activation", ""));
            assertEquals(8, f.nodes().get(2).inputs().size(), "the residual is the eighth input");
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, 3, 7, 17)}, 1e-5);
        }
    }

    @Test
    void nearMissesStayUnfused() {
        Random rnd = new Random(2);
        // Cast to int64: not the float chain.
        TestGraph t = new TestGraph(13).input("x", -1, 7, 17);
        t.nodeOutputs("DynamicQuantizeLinear", new String[] {"x"}, "q", "s", "z");
        t.output(t.node("Cast", new String[] {t.node("MatMulInteger", new String[] {"q", weights(t, rnd, 3, 17, 5), "z"})}, "to", 7L));
        try (Arena arena = Arena.ofShared()) {
            assertEquals(Map.of("DynamicQuantizeLinear", 1, "MatMulInteger", 1, "Cast", 1), TestGraph.ops(QUANT.run(t.load(arena))));
        }
        // The product read elsewhere too (a graph output): the chain must stay.
        TestGraph u = new TestGraph(13).input("x", -1, 7, 17);
        u.nodeOutputs("DynamicQuantizeLinear", new String[] {"x"}, "q", "s", "z");
        String y = linear(u, rnd, "q", "s", "z", 3, 17, 5, true, 1L);
        u.output(y).output(u.last("MatMulInteger"));
        try (Arena arena = Arena.ofShared()) {
            assertEquals(0, TestGraph.ops(QUANT.run(u.load(arena))).getOrDefault("dev.gatun:QuantMatMul", 0));
        }
        // The scales' product also read by another node: fused, and that Mul kept.
        TestGraph v = new TestGraph(13).input("x", -1, 7, 17);
        v.nodeOutputs("DynamicQuantizeLinear", new String[] {"x"}, "q", "s", "z");
        String f32 = v.node("Cast", new String[] {v.node("MatMulInteger", new String[] {"q", weights(v, rnd, 3, 17, 5), "z"})}, "to", 1L);
        String scales = v.node("Mul", new String[] {v.scalar(0.01f), "s"});
        v.output(v.node("Mul", new String[] {scales, f32})).output(scales);
        try (Arena arena = Arena.ofShared()) {
            Graph g = v.load(arena);
            Graph f = QUANT.run(g);
            assertEquals(Map.of("DynamicQuantizeLinear", 1, "Mul", 1, "dev.gatun:QuantMatMul", 1), TestGraph.ops(f));
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, 2, 7, 17)}, 0);
        }
    }
}
