package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SgemmTest {
    private static final int[] SIZES = {1, 2, 7, 17, 33, 100};

    private static MemorySegment random(Arena arena, Random rnd, long n) {
        MemorySegment s = arena.allocate(n * 4 + 4, 4);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(Tensor.F32, i, rnd.nextFloat() * 2 - 1);
        }
        return s;
    }

    /** Runs both kernels on the same random problem (with padded strides and offsets) and compares C. */
    private static void check(Random rnd, boolean ta, boolean tb, int m, int n, int k, float alpha, float beta) {
        try (Arena arena = Arena.ofConfined()) {
            int pad = rnd.nextInt(3);
            int lda = (ta ? m : k) + pad;
            int ldb = (tb ? k : n) + pad;
            int ldc = n + pad;
            long aOff = rnd.nextInt(3);
            long bOff = rnd.nextInt(3);
            long cOff = 1; // an odd offset: unaligned C
            MemorySegment a = random(arena, rnd, aOff + (long) (ta ? k : m) * lda);
            MemorySegment b = random(arena, rnd, bOff + (long) (tb ? n : k) * ldb);
            MemorySegment c1 = random(arena, rnd, cOff + (long) m * ldc);
            MemorySegment c2 = arena.allocate(c1.byteSize(), 4);
            c2.copyFrom(c1);
            if (beta == 0f) {
                c1.setAtIndex(Tensor.F32, cOff, Float.NaN); // must not leak into the result
            }
            Sgemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c1, cOff, ldc);
            SgemmReference.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c2, cOff, ldc);
            for (long i = 0; i < c1.byteSize() / 4 - 1; i++) {
                float x = c1.getAtIndex(Tensor.F32, i);
                float y = c2.getAtIndex(Tensor.F32, i);
                float tol = 1e-5f * (k + 1) * (Math.abs(alpha) + 1);
                if (!(Math.abs(x - y) <= tol)) {
                    fail("ta=" + ta + " tb=" + tb + " m=" + m + " n=" + n + " k=" + k + " alpha=" + alpha + " beta=" + beta
                            + " at " + i + ": " + x + " vs " + y);
                }
            }
        }
    }

    @Test
    void matchesReferenceOnOddSizesAndTransposes() {
        Random rnd = new Random(42);
        for (int m : SIZES) {
            for (int n : SIZES) {
                for (int k : SIZES) {
                    boolean ta = rnd.nextBoolean();
                    boolean tb = rnd.nextBoolean();
                    check(rnd, ta, tb, m, n, k, 1f, 0f);
                }
            }
        }
    }

    @Test
    void allTransposeCombinationsWithAlphaBeta() {
        Random rnd = new Random(7);
        float[][] ab = {{1f, 0f}, {1f, 1f}, {0.5f, -2f}, {-1.5f, 0.25f}, {0f, 3f}};
        for (int t = 0; t < 4; t++) {
            for (float[] p : ab) {
                check(rnd, (t & 1) != 0, (t & 2) != 0, 33, 17, 100, p[0], p[1]);
                check(rnd, (t & 1) != 0, (t & 2) != 0, 7, 100, 1, p[0], p[1]);
                check(rnd, (t & 1) != 0, (t & 2) != 0, 1, 100, 33, p[0], p[1]); // matrix-vector paths
                check(rnd, (t & 1) != 0, (t & 2) != 0, 100, 1, 33, p[0], p[1]);
                check(rnd, (t & 1) != 0, (t & 2) != 0, 1, 1, 7, p[0], p[1]);
            }
        }
    }

    @Test
    void blocksLargerThanOnePanel() {
        Random rnd = new Random(3);
        // K beyond KC (several K blocks, beta applied once), M beyond MC, N beyond NC.
        check(rnd, false, false, Sgemm.MC + 5, 37, Sgemm.KC * 2 + 3, 1f, 0.5f);
        check(rnd, true, true, 13, Sgemm.NC + Sgemm.NR + 3, Sgemm.KC + 1, 2f, 1f);
    }

    @Test
    void emptyAndZeroDepth() {
        Random rnd = new Random(5);
        check(rnd, false, false, 0, 5, 3, 1f, 0f);
        check(rnd, false, false, 4, 5, 0, 1f, 0.5f);
        check(rnd, false, false, 4, 5, 0, 1f, 0f);
        assertThrows(IllegalArgumentException.class, () -> Sgemm.sgemm(false, false, -1, 1, 1, 1f,
                MemorySegment.NULL, 0, 1, MemorySegment.NULL, 0, 1, 0f, MemorySegment.NULL, 0, 1));
    }
}
