package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.attrs;
import static dev.gatun.engine.ops.DenseOpsTestSupport.random;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** dev.gatun:Attention (the tiled online-softmax kernel) against its scalar twin, {@link AttentionKernel#reference}. */
class AttentionTest {
    private static Tensor run(KernelContext ctx, Attributes a, Tensor... in) {
        DType[] types = new DType[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i] == null ? null : in[i].dtype();
        }
        NodeSpec spec = new NodeSpec("attn", "Attention", FusedOps.DOMAIN, 1, a, types, null, null, 1);
        return OpRegistry.plan(spec).kernel().run(ctx, in)[0];
    }

    private static void check(Arena arena, KernelContext ctx, Random rnd, int b, int s, int heads, int d, long[] maskDims, boolean scaleAttr) {
        int hd = heads * d;
        Tensor q = random(arena, rnd, DType.FLOAT, b, s, hd);
        Tensor k = random(arena, rnd, DType.FLOAT, b, s, hd);
        Tensor v = random(arena, rnd, DType.FLOAT, b, s, hd);
        for (Tensor t : new Tensor[] {q, k}) {
            for (long i = 0; i < t.size(); i++) {
                t.data().setAtIndex(Tensor.F32, i, t.getFloat(i) * 3);
            }
        }
        Tensor mask = null;
        if (maskDims != null) {
            mask = Tensor.allocate(arena, DType.FLOAT, Shape.of(maskDims));
            for (long i = 0; i < mask.size(); i++) {
                // the exporter's (1 - mask) * -FLT_MAX: some keys masked, never all of one row
                mask.data().setAtIndex(Tensor.F32, i, i % 5 == 3 ? -Float.MAX_VALUE : (float) rnd.nextGaussian());
            }
        }
        float scale = scaleAttr ? 0.3f : (float) (1 / Math.sqrt(d));
        Attributes a = scaleAttr ? attrs("num_heads", (long) heads, "scale", 0.3f) : attrs("num_heads", (long) heads);
        Tensor got = mask == null ? run(ctx, a, q, k, v) : run(ctx, a, q, k, v, mask);
        assertEquals(q.shape(), got.shape());
        Tensor want = Tensor.allocate(arena, DType.FLOAT, q.shape());
        AttentionKernel.Geometry g = AttentionKernel.geometry(NodeSpec.of("Attention", 1, a, 1), q, k, v, mask, heads);
        AttentionKernel.reference(g, q, k, v, mask, want, scale);
        String what = "Attention b=" + b + " s=" + s + " heads=" + heads + " d=" + d + " mask=" + java.util.Arrays.toString(maskDims);
        for (long i = 0; i < want.size(); i++) {
            float e = want.getFloat(i);
            float x = got.getFloat(i);
            if (!(Math.abs(x - e) <= 2e-5 * Math.max(1, Math.abs(e)))) {
                fail(what + ": element " + i + " is " + x + ", expected " + e);
            }
        }
    }

    @Test
    void matchesReferenceOnOddShapes() {
        Random rnd = new Random(11);
        try (Arena arena = Arena.ofShared()) {
            Workspace two = new Workspace(arena, Long.MAX_VALUE, 2);
            int c = 0;
            for (int s : new int[] {1, 7, 33, 128, 130}) {
                for (int b : new int[] {1, 3}) {
                    KernelContext ctx = c++ % 2 == 0 ? new ArenaContext(arena) : two;
                    check(arena, ctx, rnd, b, s, 3, 17, null, false);
                    check(arena, ctx, rnd, b, s, 2, 32, new long[] {b, 1, 1, s}, false);
                    check(arena, ctx, rnd, b, s, 3, 5, new long[] {b, 3, s, s}, true);
                    check(arena, ctx, rnd, b, s, 1, 16, new long[] {s}, true);
                    // one mask row per head, the same for every query
                    check(arena, ctx, rnd, b, s, 3, 8, new long[] {b, 3, 1, s}, false);
                }
            }
            two.close();
        }
    }

    @Test
    void longSequenceStreamsOverKeyBlocks() {
        Random rnd = new Random(12);
        try (Arena arena = Arena.ofShared()) {
            Workspace two = new Workspace(arena, Long.MAX_VALUE, 2);
            check(arena, two, rnd, 1, 512, 3, 17, new long[] {1, 1, 1, 512}, false);
            check(arena, new ArenaContext(arena), rnd, 3, 300, 2, 8, null, false);
            // over AttentionKernel.CACHED_BYTES: heads read in groups from whole row runs
            check(arena, two, rnd, 3, 300, 4, 33, new long[] {3, 1, 1, 300}, false);
            check(arena, two, rnd, 3, 300, 4, 33, new long[] {3, 4, 1, 300}, false);
            check(arena, new ArenaContext(arena), rnd, 7, 160, 5, 17, null, true);
            two.close();
        }
    }

    @Test
    void fullyMaskedLeadingBlockStillNormalisesOverTheRest() {
        // A row whose first key block is all -inf must not poison the running sums (no NaN from -inf - -inf).
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(13);
            int s = 200;
            Tensor q = random(arena, rnd, DType.FLOAT, 1, s, 4);
            Tensor k = random(arena, rnd, DType.FLOAT, 1, s, 4);
            Tensor v = random(arena, rnd, DType.FLOAT, 1, s, 4);
            Tensor mask = Tensor.allocate(arena, DType.FLOAT, Shape.of(1, 1, 1, s));
            for (int j = 0; j < AttentionKernel.TK + 3; j++) {
                mask.data().setAtIndex(Tensor.F32, j, Float.NEGATIVE_INFINITY);
            }
            Tensor got = run(new ArenaContext(arena), attrs("num_heads", 1L), q, k, v, mask);
            Tensor want = Tensor.allocate(arena, DType.FLOAT, q.shape());
            AttentionKernel.reference(AttentionKernel.geometry(NodeSpec.of("Attention", 1, Attributes.empty(), 1), q, k, v, mask, 1),
                    q, k, v, mask, want, 0.5f);
            for (long i = 0; i < want.size(); i++) {
                assertEquals(want.getFloat(i), got.getFloat(i), 2e-5, "element " + i);
            }
        }
    }

    @Test
    void softmaxExpMatchesItsScalarTwinAndMathExp() {
        Random rnd = new Random(14);
        int tq = AttentionKernel.TQ;
        for (int n : new int[] {1, 5, 16, 31, 128, 133}) {
            float[] x = new float[(n + 3) * tq];
            for (int j = 0; j < x.length; j++) {
                x[j] = switch (rnd.nextInt(8)) {
                    case 0 -> Float.NEGATIVE_INFINITY;
                    case 1 -> -Float.MAX_VALUE;
                    case 2 -> -87.33654f - rnd.nextFloat();
                    case 3 -> 0f;
                    default -> (float) (-rnd.nextDouble() * 90);
                };
            }
            float[] st = new float[AttentionKernel.STATE * tq];
            for (int i = 0; i < tq; i++) {
                st[AttentionKernel.SHIFT + i] = (float) rnd.nextGaussian();
            }
            float[] got = x.clone();
            AttentionKernel.expRows(got, 2, n + 2, st);
            for (int i = 0; i < tq; i++) {
                float shift = st[AttentionKernel.SHIFT + i];
                for (int j = 0; j < n + 3; j++) {
                    int at = j * tq + i;
                    if (j < 2 || j >= n + 2) {
                        assertEquals(x[at], got[at], "outside the rows: " + j);
                        continue;
                    }
                    float e = AttentionKernel.exp(x[at] - shift);
                    assertEquals(Float.floatToIntBits(e), Float.floatToIntBits(got[at]), "n=" + n + " x=" + (x[at] - shift));
                    double m = Math.exp(x[at] - shift);
                    assertTrue(Math.abs(e - m) <= 3e-7 * m + 1e-37, "exp(" + (x[at] - shift) + ") = " + e + ", Math.exp " + m);
                }
            }
        }
    }

    @Test
    void blockSumsAddInTheRowMajorLaneOrder() {
        // per query lane: VL partials over the keys j = m mod VL below the vector bound, VectorMath.sumLanes' tree,
        // then the tail keys one by one (bit for bit)
        Random rnd = new Random(15);
        int tq = AttentionKernel.TQ;
        int vl = tq / 2;
        for (int n : new int[] {1, 5, 16, 31, 128}) {
            float[] sc = new float[(AttentionKernel.TK + 1) * tq];
            for (int j = 0; j < sc.length; j++) {
                sc[j] = (float) Math.exp(-rnd.nextDouble() * 20);
            }
            float[] st = new float[AttentionKernel.STATE * tq];
            AttentionKernel.blockSums(sc, n, st, new float[vl * tq]);
            int bound = n / vl * vl;
            for (int i = 0; i < tq; i++) {
                float[] lanes = new float[vl];
                for (int j = 0; j < bound; j++) {
                    lanes[j % vl] += sc[j * tq + i];
                }
                float want = dev.gatun.engine.cpu.VectorMath.sumLanes(lanes, vl);
                for (int j = bound; j < n; j++) {
                    want += sc[j * tq + i];
                }
                assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(st[AttentionKernel.BLOCK_SUM + i]), "n=" + n + " lane " + i);
            }
        }
    }

    @Test
    void refusesBadHeadsAndShapes() {
        assertThrows(EngineException.class, () -> OpRegistry.plan(new NodeSpec("attn", "Attention", FusedOps.DOMAIN, 1,
                Attributes.empty(), new DType[] {DType.FLOAT, DType.FLOAT, DType.FLOAT}, null, null, 1)));
        try (Arena arena = Arena.ofShared()) {
            Tensor q = Tensor.allocate(arena, DType.FLOAT, Shape.of(1, 4, 10));
            EngineException e = assertThrows(EngineException.class, () -> run(new ArenaContext(arena), attrs("num_heads", 3L), q, q, q));
            assertTrue(e.getMessage().contains("'attn'") && e.getMessage().contains("num_heads=3"), e.getMessage());
            Tensor mask = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 1, 1, 4));
            EngineException m = assertThrows(EngineException.class, () -> run(new ArenaContext(arena), attrs("num_heads", 2L), q, q, q, mask));
            assertTrue(m.getMessage().contains("mask"), m.getMessage());
        }
    }
}
