package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.cpu.Epilogue.Activation;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link Sgemm} (packed and unpacked B, 1 and 3 threads, epilogues) against {@link SgemmReference}. */
class SgemmTest {
    private static final int[] SIZES = {1, 2, 3, 7, 17, 33, 100, 257};
    private static final Arena ARENA = Arena.ofShared();
    private static final IntraOpPool POOL = new IntraOpPool(3, "sgemm-test");

    /** A context on the shared test arena with {@code threads} threads (more than one use the test pool). */
    private static KernelContext context(int threads) {
        return PoolContext.of(ARENA, POOL, threads);
    }

    @BeforeAll
    static void splitSmallProducts() {
        Sgemm.parallelFlops = 0; // so that 3 threads really partition even the small products
    }

    @AfterAll
    static void close() {
        Sgemm.parallelFlops = 1L << 20;
        POOL.close();
    }

    private static MemorySegment random(Random rnd, long n) {
        MemorySegment s = ARENA.allocate(n * 4 + 4, 4);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(Tensor.F32, i, rnd.nextFloat() * 2 - 1);
        }
        return s;
    }

    private static MemorySegment copy(MemorySegment s) {
        MemorySegment d = ARENA.allocate(s.byteSize(), 4);
        d.copyFrom(s);
        return d;
    }

    /** One random problem with padded strides and offsets; C starts at an odd offset (unaligned). */
    private record Problem(boolean ta, boolean tb, int m, int n, int k, float alpha, float beta,
                           MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                           MemorySegment c, long cOff, int ldc) {
        static Problem random(Random rnd, boolean ta, boolean tb, int m, int n, int k, float alpha, float beta) {
            int pad = rnd.nextInt(3);
            int lda = (ta ? m : k) + pad;
            int ldb = (tb ? k : n) + pad;
            int ldc = n + pad;
            long aOff = rnd.nextInt(3);
            long bOff = rnd.nextInt(3);
            MemorySegment a = SgemmTest.random(rnd, aOff + (long) (ta ? k : m) * lda);
            MemorySegment b = SgemmTest.random(rnd, bOff + (long) (tb ? n : k) * ldb);
            MemorySegment c = SgemmTest.random(rnd, 1 + (long) m * ldc);
            return new Problem(ta, tb, m, n, k, alpha, beta, a, aOff, lda, b, bOff, ldb, c, 1, ldc);
        }

        /** C after the reference GEMM and the epilogue's reference. */
        MemorySegment expected(Epilogue epi) {
            MemorySegment out = copy(c);
            SgemmReference.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, out, cOff, ldc);
            epi.applyReference(out, cOff, ldc, m, n);
            return out;
        }

        /** C after Sgemm with {@code threads} threads, B packed ahead or not. */
        MemorySegment actual(int threads, boolean packed, Epilogue epi) {
            MemorySegment out = copy(c);
            if (beta == 0f && m > 0 && n > 0) {
                out.setAtIndex(Tensor.F32, cOff, Float.NaN); // must not leak into the result
            }
            KernelContext ctx = context(threads);
            if (packed) {
                PackedB pb = PackedB.pack(ARENA, tb, k, n, b, bOff, ldb);
                Sgemm.sgemm(ctx, ta, m, alpha, a, aOff, lda, pb, beta, out, cOff, ldc, epi);
            } else if (threads == 1 && epi.isIdentity()) {
                Sgemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, out, cOff, ldc);
            } else {
                Sgemm.sgemm(ctx, ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, out, cOff, ldc, epi);
            }
            return out;
        }

        void assertClose(MemorySegment want, MemorySegment got, String what) {
            float tol = 2e-5f * (k + 1) * (Math.abs(alpha) + 1) + 1e-5f;
            for (long i = 0; i < want.byteSize() / 4 - 1; i++) {
                float x = got.getAtIndex(Tensor.F32, i);
                float y = want.getAtIndex(Tensor.F32, i);
                if (!(Math.abs(x - y) <= tol * Math.max(1, Math.abs(y)))) {
                    fail(what + " " + this + " at " + i + ": " + x + " vs " + y);
                }
            }
        }

        @Override
        public String toString() {
            return "ta=" + ta + " tb=" + tb + " m=" + m + " n=" + n + " k=" + k + " alpha=" + alpha + " beta=" + beta;
        }
    }

    private static void assertBitEqual(MemorySegment x, MemorySegment y, String what) {
        long at = x.mismatch(y);
        assertEquals(-1, at, () -> what + ": first difference at byte " + at);
    }

    /** Checks every path on one problem: unpacked and packed, 1 and 3 threads (the latter two bit-equal). */
    private static void check(Problem p, Epilogue epi) {
        MemorySegment want = p.expected(epi);
        for (boolean packed : new boolean[] {false, true}) {
            if (packed && (p.k == 0 || p.n == 0)) {
                continue;
            }
            MemorySegment one = p.actual(1, packed, epi);
            p.assertClose(want, one, (packed ? "packed" : "unpacked") + " 1 thread");
            MemorySegment three = p.actual(3, packed, epi);
            assertBitEqual(one, three, (packed ? "packed " : "unpacked ") + p + ": 1 vs 3 threads");
        }
    }

    @Test
    void matchesReferenceOnOddSizesAndTransposes() {
        Random rnd = new Random(42);
        for (int m : SIZES) {
            for (int n : SIZES) {
                for (int k : SIZES) {
                    if ((long) m * n * k > 300_000 && rnd.nextInt(4) != 0) {
                        continue; // keep the run short: a quarter of the biggest cases
                    }
                    check(Problem.random(rnd, rnd.nextBoolean(), rnd.nextBoolean(), m, n, k, 1f, 0f), Epilogue.NONE);
                }
            }
        }
    }

    @Test
    void everyTranspositionWithAlphaBeta() {
        Random rnd = new Random(7);
        float[][] ab = {{1f, 0f}, {1f, 1f}, {0.5f, -2f}, {-1.5f, 0.25f}, {0f, 3f}};
        int[][] shapes = {{33, 17, 100}, {7, 100, 1}, {1, 100, 33}, {100, 1, 33}, {1, 1, 7}, {2, 57, 40}, {3, 9, 700}};
        for (int t = 0; t < 4; t++) {
            for (float[] p : ab) {
                for (int[] s : shapes) {
                    check(Problem.random(rnd, (t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], p[0], p[1]), Epilogue.NONE);
                }
            }
        }
    }

    @Test
    void blocksLargerThanOnePanel() {
        Random rnd = new Random(3);
        // K beyond KC (several K blocks, beta applied once), M beyond MC, many panels and threads' ranges.
        check(Problem.random(rnd, false, false, SgemmKernel.MC + 5, 37, SgemmKernel.KC * 2 + 3, 1f, 0.5f), Epilogue.NONE);
        check(Problem.random(rnd, true, true, 13, 9 * SgemmKernel.NR + 3, SgemmKernel.KC + 1, 2f, 1f), Epilogue.NONE);
        // One A block per K block, several K blocks: A packed once and shared by the column tasks.
        check(Problem.random(rnd, false, true, 2 * SgemmKernel.MC - 1, 7 * SgemmKernel.NR + 5, 2 * SgemmKernel.KC + 9, 1f, 0f),
                Epilogue.NONE);
        check(Problem.random(rnd, true, false, 33, 3 * SgemmKernel.NR + 1, SgemmKernel.KC - 3, -1f, 1f), Epilogue.of(Activation.GELU));
        check(Problem.random(rnd, false, true, 300, 200, 130, 1f, 0f), Epilogue.of(Activation.RELU));
        check(Problem.random(rnd, true, false, 1, 1000, SgemmKernel.KC + 7, 1f, 0f), Epilogue.NONE);
    }

    @Test
    void epiloguesMatchTheirReference() {
        Random rnd = new Random(11);
        for (Epilogue base : new Epilogue[] {Epilogue.of(Activation.RELU), Epilogue.of(Activation.GELU),
                Epilogue.of(Activation.GELU_TANH), Epilogue.clip(-0.3f, 0.4f), Epilogue.leakyRelu(0.1f), Epilogue.NONE}) {
            for (int[] s : new int[][] {{17, 33, 20}, {1, 100, 7}, {100, 1, 9}, {2, 50, 30}, {64, 96, 8}}) {
                int m = s[0];
                int n = s[1];
                Problem p = Problem.random(rnd, rnd.nextBoolean(), rnd.nextBoolean(), m, n, s[2], 1f, rnd.nextBoolean() ? 0f : 1f);
                MemorySegment colBias = random(rnd, n + 2);
                MemorySegment rowBias = random(rnd, m + 1);
                MemorySegment res = random(rnd, 3 + (long) m * (n + 4));
                check(p, base);
                check(p, base.withBias(colBias, 2));
                check(p, base.withRowBias(rowBias, 1));
                check(p, base.withBias(colBias, 1).withResidual(res, 3, n + 4));
            }
        }
    }

    @Test
    void vectorEpilogueMatchesItsReference() {
        Random rnd = new Random(5);
        int m = 5;
        int n = 37;
        for (Epilogue e : new Epilogue[] {Epilogue.of(Activation.GELU), Epilogue.of(Activation.GELU_TANH), Epilogue.clip(0f, 6f)}) {
            MemorySegment c = random(rnd, (long) m * n);
            for (long i = 0; i < (long) m * n; i++) {
                c.setAtIndex(Tensor.F32, i, c.getAtIndex(Tensor.F32, i) * 12); // cover the clamped ranges too
            }
            MemorySegment want = copy(c);
            e.applyReference(want, 0, n, m, n);
            e.apply(c, 0, n, m, n, 0, 0);
            for (long i = 0; i < (long) m * n; i++) {
                float x = c.getAtIndex(Tensor.F32, i);
                float y = want.getAtIndex(Tensor.F32, i);
                assertEquals(y, x, 3e-6f * Math.max(1, Math.abs(y)), e.activation() + " at " + i);
            }
        }
    }

    @Test
    void equalRowsAndColumnsGiveEqualBits() {
        Random rnd = new Random(9);
        for (boolean packed : new boolean[] {false, true}) {
            int m = 21; // rows 0 and 20: a full panel and an edge panel
            int n = 2 * SgemmKernel.NR + 5; // columns 0 and n-1: a full panel and an edge vector
            int k = SgemmKernel.KC + 40;
            Problem p = Problem.random(rnd, false, false, m, n, k, 1f, 0f);
            for (int q = 0; q < k; q++) {
                p.a.setAtIndex(Tensor.F32, p.aOff + (long) (m - 1) * p.lda + q, p.a.getAtIndex(Tensor.F32, p.aOff + q));
                p.b.setAtIndex(Tensor.F32, p.bOff + (long) q * p.ldb + n - 1, p.b.getAtIndex(Tensor.F32, p.bOff + (long) q * p.ldb));
            }
            Epilogue e = Epilogue.of(Activation.GELU);
            MemorySegment c = p.actual(3, packed, e);
            for (int j = 0; j < n; j++) {
                assertEquals(Float.floatToRawIntBits(c.getAtIndex(Tensor.F32, p.cOff + j)),
                        Float.floatToRawIntBits(c.getAtIndex(Tensor.F32, p.cOff + (long) (m - 1) * p.ldc + j)), "row copies, column " + j);
            }
            for (int i = 0; i < m; i++) {
                long row = p.cOff + (long) i * p.ldc;
                assertEquals(Float.floatToRawIntBits(c.getAtIndex(Tensor.F32, row)),
                        Float.floatToRawIntBits(c.getAtIndex(Tensor.F32, row + n - 1)), "column copies, row " + i);
            }
            // A one-row product over the same B gives the GEMM's bits for that row.
            Problem one = new Problem(false, false, 1, n, k, 1f, 0f, p.a, p.aOff + 7L * p.lda, p.lda, p.b, p.bOff, p.ldb,
                    ARENA.allocate((n + 1) * 4L, 4), 1, n);
            MemorySegment row = one.actual(1, packed, e);
            for (int j = 0; j < n; j++) {
                assertEquals(Float.floatToRawIntBits(c.getAtIndex(Tensor.F32, p.cOff + 7L * p.ldc + j)),
                        Float.floatToRawIntBits(row.getAtIndex(Tensor.F32, 1 + j)), "one-row product, column " + j);
            }
        }
    }

    @Test
    void emptyAndZeroDepth() {
        Random rnd = new Random(5);
        check(Problem.random(rnd, false, false, 0, 5, 3, 1f, 0f), Epilogue.NONE);
        check(Problem.random(rnd, false, false, 4, 5, 0, 1f, 0.5f), Epilogue.NONE);
        check(Problem.random(rnd, false, false, 4, 5, 0, 1f, 0f), Epilogue.of(Activation.RELU));
        assertThrows(IllegalArgumentException.class, () -> Sgemm.sgemm(false, false, -1, 1, 1, 1f,
                MemorySegment.NULL, 0, 1, MemorySegment.NULL, 0, 1, 0f, MemorySegment.NULL, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> PackedB.pack(ARENA, false, 0, 3, MemorySegment.NULL, 0, 3));
    }

    @Test
    void microKernelChecksItsOperandsBoundsOncePerCall() {
        int kc = 5;
        try (Arena arena = Arena.ofConfined()) {
            float[] tile = new float[SgemmKernel.MR * SgemmKernel.NR];
            MemorySegment a = arena.allocate((long) SgemmKernel.MR * kc * 4, 64);
            MemorySegment b = arena.allocate((long) kc * SgemmKernel.NR * 4, 64);
            for (int i = 0; i < SgemmKernel.MR * kc; i++) {
                a.setAtIndex(Tensor.F32, i, i % 7 - 3);
            }
            for (int i = 0; i < kc * SgemmKernel.NR; i++) {
                b.setAtIndex(Tensor.F32, i, i % 5 - 2);
            }
            SgemmKernel.kernel(a, 0, kc * 4L, 4, b, 0, kc, SgemmKernel.NR, tile);
            for (int r = 0; r < SgemmKernel.MR; r++) {
                for (int j = 0; j < SgemmKernel.NR; j++) {
                    float want = 0;
                    for (int p = 0; p < kc; p++) {
                        want += a.getAtIndex(Tensor.F32, (long) r * kc + p) * b.getAtIndex(Tensor.F32, (long) p * SgemmKernel.NR + j);
                    }
                    assertEquals(want, tile[r * SgemmKernel.NR + j], 1e-5f, "tile[" + r + "," + j + "]");
                }
            }
            // One float past A's last row, B one row short, B on the heap: rejected before any read.
            assertThrows(IndexOutOfBoundsException.class, () -> SgemmKernel.kernel(a, 4, kc * 4L, 4, b, 0, kc, SgemmKernel.NR, tile));
            assertThrows(IndexOutOfBoundsException.class, () -> SgemmKernel.kernel(a, 0, kc * 4L, 4, b, 0, kc + 1, SgemmKernel.NR, tile));
            assertThrows(IndexOutOfBoundsException.class, () -> SgemmKernel.kernel(a, 0, kc * 4L, 4,
                    MemorySegment.ofArray(new float[kc * SgemmKernel.NR]), 0, kc, SgemmKernel.NR, tile));
            float[] ap = new float[SgemmKernel.MR * kc];
            assertThrows(IndexOutOfBoundsException.class, () -> SgemmKernel.kernel(ap, 1, b, 0, kc, SgemmKernel.NR, tile));
        }
    }

    @Test
    void packedAPanelsMatchTheirDefinition() {
        Random rnd = new Random(13);
        int mr = SgemmKernel.MR;
        for (int t = 0; t < 40; t++) {
            boolean transA = t % 4 == 3;
            int rows = 1 + rnd.nextInt(3 * mr + 3);
            int kc = 1 + rnd.nextInt(70);
            int row = rnd.nextInt(4);
            int pc = rnd.nextInt(5);
            int lda = (transA ? row + rows : pc + kc) + rnd.nextInt(3);
            int depth = transA ? pc + kc : row + rows;
            MemorySegment a = random(rnd, 2 + (long) lda * depth);
            int padded = (rows + mr - 1) / mr * mr;
            int apOff = rnd.nextInt(9);
            float[] ap = new float[apOff + padded * kc + 3];
            java.util.Arrays.fill(ap, Float.NaN);
            SgemmKernel.packA(transA, a, 2, lda, row, rows, pc, kc, ap, apOff);
            for (int i = 0; i < padded; i++) {
                for (int p = 0; p < kc; p++) {
                    float want = i >= rows ? 0f : a.getAtIndex(Tensor.F32,
                            2 + (transA ? (long) (pc + p) * lda + row + i : (long) (row + i) * lda + pc + p));
                    assertEquals(want, ap[apOff + i / mr * mr * kc + p * mr + i % mr], "row " + i + " step " + p + " trial " + t);
                }
            }
        }
    }

    @Test
    void heapAndNativeCGiveEqualBits() {
        Random rnd = new Random(17);
        int m = 2 * SgemmKernel.MR + 3;
        int n = SgemmKernel.NR + 7;
        int k = 45;
        MemorySegment a = random(rnd, (long) m * k);
        MemorySegment b = random(rnd, (long) k * n);
        MemorySegment c0 = random(rnd, (long) m * n);
        float[] heap = new float[m * n];
        MemorySegment.copy(c0, Tensor.F32, 0, heap, 0, m * n);
        MemorySegment onHeap = MemorySegment.ofArray(heap);
        Epilogue e = Epilogue.of(Activation.RELU).withBias(random(rnd, n), 0);
        Sgemm.sgemm(null, false, false, m, n, k, 0.5f, a, 0, k, b, 0, n, 0.75f, c0, 0, n, e);
        Sgemm.sgemm(null, false, false, m, n, k, 0.5f, a, 0, k, b, 0, n, 0.75f, onHeap, 0, n, e);
        for (int i = 0; i < m * n; i++) {
            assertEquals(Float.floatToRawIntBits(c0.getAtIndex(Tensor.F32, i)), Float.floatToRawIntBits(heap[i]), "at " + i);
        }
    }
}
