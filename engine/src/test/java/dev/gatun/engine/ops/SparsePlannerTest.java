package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link SparsePlanner}: the choice per weight and mode, and MatMul / Gemm / FusedMatMul run sparse equal dense. */
class SparsePlannerTest {
    private static final Arena ARENA = Arena.ofShared();

    @AfterEach
    void clear() {
        System.clearProperty(SparsePlanner.PROPERTY);
    }

    /** A [k, n] float weight with the given fraction of elements zeroed at random. */
    private static Tensor weight(Random rnd, int k, int n, double sparsity) {
        float[] v = new float[k * n];
        for (int i = 0; i < v.length; i++) {
            v[i] = rnd.nextDouble() < sparsity ? 0f : rnd.nextFloat() * 2 - 1;
        }
        return Tensor.ofFloats(ARENA, v, k, n);
    }

    private static Tensor random(Random rnd, long... dims) {
        Tensor t = Tensor.allocate(ARENA, DType.FLOAT, Shape.of(dims));
        for (long i = 0; i < t.size(); i++) {
            t.data().setAtIndex(Tensor.F32, i, rnd.nextFloat() * 2 - 1);
        }
        return t;
    }

    /** Plans {@code op} with B constant and returns the node (its note) and the kernel's output on {@code a}. */
    private static Object[] planAndRun(String domain, String op, Attributes attrs, Tensor a, Tensor b, Tensor bias) {
        Tensor[] in = bias == null ? new Tensor[] {a, b} : new Tensor[] {a, b, bias};
        DType[] types = new DType[in.length];
        Tensor[] consts = new Tensor[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = DType.FLOAT;
            consts[i] = i == 0 ? null : in[i];
        }
        NodeSpec spec = new NodeSpec(op + "_0", op, domain, domain.isEmpty() ? 13 : 1, attrs, types, null, consts, 1);
        Kernel k = OpRegistry.plan(spec).kernel();
        return new Object[] {spec, k.run(new ArenaContext(ARENA), in)[0].toFloatArray()};
    }

    private static String note(String mode, Tensor w) {
        if (mode != null) {
            System.setProperty(SparsePlanner.PROPERTY, mode);
        }
        NodeSpec spec = new NodeSpec("m", "MatMul", "", 13, Attributes.empty(), new DType[] {DType.FLOAT, DType.FLOAT}, null,
                new Tensor[] {null, w}, 1);
        OpRegistry.plan(spec);
        return spec.kernelNote();
    }

    @Test
    void choosesBySparsityAndMode() {
        Random rnd = new Random(1);
        Tensor sparse = weight(rnd, 384, 1536, 0.9);
        Tensor dense = weight(rnd, 384, 1536, 0.0);
        Tensor half = weight(rnd, 384, 384, 0.5);
        assertTrue(note(null, sparse).startsWith("sparse CSR 90."), note(null, sparse));
        assertTrue(note(null, dense).startsWith("dense (weight 0.0% zeros"), note(null, dense));
        // half zeros: dense for M > 1; the sliced GEMV (1.5x over dense measured at 50%) takes one-row products
        assertTrue(note(null, half).startsWith("sparse CSR 5") && note(null, half).contains("dense at M>1"), note(null, half));
        Tensor quarter = weight(rnd, 384, 384, 0.25);
        assertTrue(note(null, quarter).startsWith("dense (weight 2"), note(null, quarter));
        assertTrue(note("force", half).startsWith("sparse CSR 5"), note("force", half));
        assertTrue(note("force", half).endsWith("forced)"), note("force", half));
        assertNull(note("off", sparse));
        System.setProperty(SparsePlanner.PROPERTY, "sometimes");
        EngineException e = assertThrows(EngineException.class, () -> note(null, sparse));
        assertTrue(e.getMessage().contains("auto, off or force"), e.getMessage());
    }

    @Test
    void twoFourWeightsGetTheTwoFourLayoutWhenForced() {
        Random rnd = new Random(2);
        float[] v = new float[256 * 64];
        for (int p = 0; p < 256; p++) {
            for (int j = 0; j < 64; j++) {
                v[p * 64 + j] = (p % 4 == j % 4 || (p + 1) % 4 == j % 4) ? rnd.nextFloat() + 0.1f : 0f;
            }
        }
        Tensor w = Tensor.ofFloats(ARENA, v, 256, 64);
        String n = note("force", w);
        assertTrue(n.startsWith("sparse 2:4 50.0%"), n);
    }

    /** A weight pruned 2:4 along K: per column and group of 4 rows, the two at (p + j) % 4 and (p + j + 1) % 4 kept. */
    private static Tensor twoFour(Random rnd, int k, int n) {
        float[] v = new float[k * n];
        for (int p = 0; p < k; p++) {
            for (int j = 0; j < n; j++) {
                v[p * n + j] = (p % 4 == j % 4 || (p + 1) % 4 == j % 4) ? rnd.nextFloat() + 0.1f : 0f;
            }
        }
        return Tensor.ofFloats(ARENA, v, k, n);
    }

    @Test
    void twoFourRunsDenseWhereItsKernelsLoseAndPacksDenseOnlyThen() {
        Random rnd = new Random(4);
        Tensor w = twoFour(rnd, 384, 384);
        NodeSpec spec = new NodeSpec("m", "MatMul", "", 13, Attributes.empty(), new DType[] {DType.FLOAT, DType.FLOAT}, null,
                new Tensor[] {null, w}, 1);
        int[] packs = {0};
        SparsePlanner.Choice c = SparsePlanner.plan(spec, w, false, () -> {
            packs[0]++;
            return dev.gatun.engine.cpu.PackedB.pack(ARENA, false, 384, 384, w.data(), 0, 384);
        });
        assertNotNull(c);
        assertTrue(c.gemm(), spec.kernelNote());
        assertTrue(spec.kernelNote().contains("dense at M=5..63"), spec.kernelNote());
        assertEquals(c.gemv() ? 0 : 1, packs[0], "packed dense at plan time only when M = 1 runs dense");
        for (int m : new int[] {2, 4, 64, 96, 128, 4096}) {
            assertTrue(c.sparseAt(m), "rows " + m);
        }
        for (int m : new int[] {5, 8, 32, 63, 160}) {
            assertFalse(c.sparseAt(m), "rows " + m);
        }
        int before = packs[0];
        Tensor a = random(rnd, 32, 384);
        Tensor y = Tensor.allocate(ARENA, DType.FLOAT, Shape.of(32, 384));
        c.multiply(new ArenaContext(ARENA), 32, a.data(), 0, 384, y.data(), 0, 384, dev.gatun.engine.cpu.Epilogue.NONE);
        c.multiply(new ArenaContext(ARENA), 32, a.data(), 0, 384, y.data(), 0, 384, dev.gatun.engine.cpu.Epilogue.NONE);
        assertEquals(1, packs[0], "dense packed once: at plan time or on the first dense product (before: " + before + ")");
        System.setProperty(SparsePlanner.PROPERTY, "off");
        float[] want = (float[]) planAndRun("", "MatMul", Attributes.empty(), a, w, null)[1];
        assertClose(want, y.toFloatArray(), "2:4 at 32 rows (dense path)");
        System.setProperty(SparsePlanner.PROPERTY, "force");
        SparsePlanner.Choice forced = SparsePlanner.plan(spec, w, false, () -> {
            throw new AssertionError("forced: never dense");
        });
        assertTrue(forced.sparseAt(32) && forced.sparseAt(160));
    }

    @Test
    void sparseProductsEqualDense() {
        Random rnd = new Random(3);
        Tensor w = weight(rnd, 130, 70, 0.9);
        Tensor bias = random(rnd, 70);
        for (int rows : new int[] {1, 3, 77}) {
            Tensor a = random(rnd, 2, rows, 130);
            for (String[] op : new String[][] {{"", "MatMul"}, {"dev.gatun", "FusedMatMul"}}) {
                Attributes at = op[0].isEmpty() ? Attributes.empty() : FusedOps.attributes("activation", "Gelu");
                Tensor bi = op[0].isEmpty() ? null : bias;
                System.setProperty(SparsePlanner.PROPERTY, "off");
                float[] want = (float[]) planAndRun(op[0], op[1], at, a, w, bi)[1];
                System.setProperty(SparsePlanner.PROPERTY, "force");
                Object[] got = planAndRun(op[0], op[1], at, a, w, bi);
                assertTrue(((NodeSpec) got[0]).kernelNote().startsWith("sparse CSR"), ((NodeSpec) got[0]).kernelNote());
                assertClose(want, (float[]) got[1], op[1] + " rows " + rows);
            }
            // Gemm with B stored [N, K] (transB) and a bias C
            Tensor a2 = random(rnd, rows, 130);
            Tensor wt = weight(rnd, 70, 130, 0.9);
            Attributes gat = FusedOps.attributes("transB", 1L);
            System.setProperty(SparsePlanner.PROPERTY, "off");
            float[] want = (float[]) planAndRun("", "Gemm", gat, a2, wt, bias)[1];
            System.setProperty(SparsePlanner.PROPERTY, "force");
            Object[] got = planAndRun("", "Gemm", gat, a2, wt, bias);
            assertNotNull(((NodeSpec) got[0]).kernelNote());
            assertClose(want, (float[]) got[1], "Gemm transB rows " + rows);
        }
    }

    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5f * Math.max(1, Math.abs(want[i])) * 12, what + " at " + i);
        }
    }

}
