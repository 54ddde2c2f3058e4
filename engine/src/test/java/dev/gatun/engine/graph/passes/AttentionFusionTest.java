package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** AttentionFusion on BERT self-attention as torch exports it (3 heads of 5), its variants and near misses. */
class AttentionFusionTest {
    private static final int H = 3;
    private static final int D = 5;

    /** How a test graph differs from the exporter's. */
    record Options(int opset, boolean mask, boolean mulScale, boolean constShapes, boolean mergeFromQ,
                   boolean softmaxAxis, boolean scoresAreOutput) {
        static Options torch() {
            return new Options(11, true, false, false, false, true, false);
        }
    }

    private static String dim(TestGraph t, String x, long i, int opset) {
        String g = t.node("Gather", new String[] {t.node("Shape", new String[] {x}), t.longs(new long[] {i})}, "axis", 0L);
        return opset < 13 ? t.node("Unsqueeze", new String[] {g}, "axes", new long[] {0})
                : t.node("Unsqueeze", new String[] {g, t.longs(new long[] {0}, 1)});
    }

    private static String split(TestGraph t, String x, long[] perm, Options o) {
        String shape = o.constShapes() ? t.longs(new long[] {0, 0, H, D}, 4)
                : t.node("Concat", new String[] {dim(t, x, 0, o.opset()), dim(t, x, 1, o.opset()), t.longs(new long[] {H}, 1),
                    t.longs(new long[] {D}, 1)}, "axis", 0L);
        return t.node("Transpose", new String[] {t.node("Reshape", new String[] {x, shape})}, "perm", perm);
    }

    static TestGraph attention(Options o, Random rnd) {
        TestGraph t = new TestGraph(o.opset()).input("x", -1, -1, H * D).input("m", -1, 1, 1, -1);
        String[] qkv = new String[3];
        for (int i = 0; i < 3; i++) {
            qkv[i] = t.node("Add", new String[] {t.random(rnd, H * D), t.node("MatMul", new String[] {"x", t.random(rnd, H * D, H * D)})});
        }
        String q = split(t, qkv[0], new long[] {0, 2, 1, 3}, o);
        String k = split(t, qkv[1], new long[] {0, 2, 3, 1}, o);
        String v = split(t, qkv[2], new long[] {0, 2, 1, 3}, o);
        String scores = t.node("MatMul", new String[] {q, k});
        String scaled = o.mulScale() ? t.node("Mul", new String[] {t.scalar((float) (1 / Math.sqrt(D))), scores})
                : t.node("Div", new String[] {scores, t.scalar((float) Math.sqrt(D))});
        String masked = o.mask() ? t.node("Add", new String[] {scaled, "m"}) : scaled;
        String probs = o.softmaxAxis() ? t.node("Softmax", new String[] {masked}, "axis", o.opset() < 13 ? 3L : -1L)
                : t.node("Softmax", new String[] {masked});
        String ctx = t.node("Transpose", new String[] {t.node("MatMul", new String[] {probs, v})}, "perm", new long[] {0, 2, 1, 3});
        String from = o.mergeFromQ() ? qkv[0] : ctx;
        String shape = o.constShapes() ? t.longs(new long[] {0, 0, H * D}, 3)
                : t.node("Concat", new String[] {dim(t, from, 0, o.opset()), dim(t, from, 1, o.opset()), t.longs(new long[] {H * D}, 1)},
                    "axis", 0L);
        t.output(t.node("Reshape", new String[] {ctx, shape}));
        if (o.scoresAreOutput()) {
            t.output(scaled);
        }
        return t;
    }

    private static Map<String, Integer> check(Options o) {
        Random rnd = new Random(o.hashCode());
        TestGraph t = attention(o, rnd);
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = Optimizer.fromSystemProperties().run(g);
            for (int[] bs : new int[][] {{1, 7}, {3, 33}, {2, 130}}) {
                float[] mask = new float[bs[0] * bs[1]];
                for (int i = 0; i < mask.length; i++) {
                    mask[i] = i % bs[1] >= bs[1] - 2 && bs[1] > 2 ? -Float.MAX_VALUE : 0f;
                }
                TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, bs[0], bs[1], H * D),
                    Tensor.ofFloats(arena, mask, bs[0], 1, 1, bs[1])}, 1e-5);
            }
            for (Node n : f.nodes()) {
                if (n.opType().equals("Attention")) {
                    assertEquals(H, n.attrs().getInt("num_heads", 0));
                    assertEquals(1 / Math.sqrt(D), n.attrs().getFloat("scale", 0), 1e-6);
                    assertEquals(o.mask() ? 4 : 3, n.inputs().size());
                }
            }
            return TestGraph.ops(f);
        }
    }

    @Test
    void torchExportBecomesOneAttention() {
        assertEquals(Map.of("dev.gatun:FusedMatMul", 3, "dev.gatun:Attention", 1), check(Options.torch()));
    }

    @Test
    void variantsFuseToo() {
        Map<String, Integer> fused = Map.of("dev.gatun:FusedMatMul", 3, "dev.gatun:Attention", 1);
        assertEquals(fused, check(new Options(13, true, true, false, true, true, false)), "opset 13, Mul scale, merge shape from q");
        assertEquals(fused, check(new Options(11, false, false, true, false, true, false)), "no mask, constant shapes");
    }

    @Test
    void nearMissesStayUnfused() {
        // opset 11 Softmax without axis normalises over [H, S, S]: not attention's softmax
        assertFalse(check(new Options(11, true, false, false, false, false, false)).containsKey("dev.gatun:Attention"));
        // the scaled scores are also a graph output: they must survive
        assertFalse(check(new Options(11, true, false, false, false, true, true)).containsKey("dev.gatun:Attention"));
    }
}
