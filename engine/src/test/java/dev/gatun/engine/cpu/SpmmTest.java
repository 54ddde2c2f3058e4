package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.cpu.Epilogue.Activation;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link Spmm} (CSR and 2:4, SpMM and GEMV, 1 and 3 threads, epilogues) against its scalar twin {@link SpmmReference}
 * and against the dense {@link Sgemm} on the same pruned weights, on random shapes with odd tails.
 */
class SpmmTest {
    private static final Arena ARENA = Arena.ofShared();
    private static final IntraOpPool POOL = new IntraOpPool(3, "spmm-test");

    /** A context on the shared test arena with {@code threads} threads (more than one use the test pool). */
    private static KernelContext context(int threads) {
        return PoolContext.of(ARENA, POOL, threads);
    }

    @BeforeAll
    static void splitSmallProducts() {
        Spmm.parallelWork = 0;
        Spmm.parallelGemvWork = 0;
    }

    @AfterAll
    static void close() {
        Spmm.parallelWork = 1L << 19;
        Spmm.parallelGemvWork = 1L << 15;
        POOL.close();
    }

    private static MemorySegment random(Random rnd, long n) {
        MemorySegment s = ARENA.allocate(n * 4 + 4, 4);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(Tensor.F32, i, rnd.nextFloat() * 2 - 1);
        }
        return s;
    }

    /** Zeros the {@code sparsity} fraction of smallest-magnitude elements of b[0, count). */
    static void pruneUnstructured(MemorySegment b, long count, double sparsity) {
        float[] mags = new float[(int) count];
        for (int i = 0; i < count; i++) {
            mags[i] = Math.abs(b.getAtIndex(Tensor.F32, i));
        }
        float[] sorted = mags.clone();
        Arrays.sort(sorted);
        int cut = (int) Math.round(sparsity * count);
        float threshold = cut == 0 ? -1f : sorted[cut - 1];
        for (int i = 0; i < count; i++) {
            if (mags[i] <= threshold) {
                b.setAtIndex(Tensor.F32, i, 0f);
            }
        }
    }

    /** Keeps the 2 largest of every 4 consecutive k of each column of op(B)[k, n] (element (p, j) at p*ldk + j*ldn). */
    static void pruneTwoFour(MemorySegment b, int k, int n, long ldk, long ldn) {
        for (int j = 0; j < n; j++) {
            for (int g = 0; g < k; g += 4) {
                int len = Math.min(4, k - g);
                for (int drop = 0; drop < len - 2; drop++) {
                    int at = -1;
                    float best = Float.MAX_VALUE;
                    for (int p = g; p < g + len; p++) {
                        float v = Math.abs(b.getAtIndex(Tensor.F32, p * ldk + j * ldn));
                        if (v != 0f && v < best) {
                            best = v;
                            at = p;
                        }
                    }
                    if (at >= 0) {
                        b.setAtIndex(Tensor.F32, at * ldk + j * ldn, 0f);
                    }
                }
            }
        }
    }

    private record Weight(boolean transB, int k, int n, MemorySegment b, int ldb) {
        static Weight random(Random rnd, boolean transB, int k, int n, SparseB.Format f, double sparsity) {
            int ldb = transB ? k : n;
            MemorySegment b = SpmmTest.random(rnd, (long) k * n);
            if (f == SparseB.Format.TWO_FOUR) {
                pruneTwoFour(b, k, n, transB ? 1 : n, transB ? k : 1);
            } else {
                pruneUnstructured(b, (long) k * n, sparsity);
            }
            return new Weight(transB, k, n, b, ldb);
        }
    }

    private static void assertBitEqual(MemorySegment x, MemorySegment y, String what) {
        long at = x.mismatch(y);
        assertEquals(-1, at, () -> what + ": first difference at byte " + at);
    }

    /** |got - want| <= 1e-5 * max(1, |want|) relative, with the magnitude scale of a K-term sum. */
    private static void assertClose(MemorySegment want, MemorySegment got, long count, int k, String what) {
        float tol = 1e-5f * (float) Math.sqrt(k + 1);
        for (long i = 0; i < count; i++) {
            float x = got.getAtIndex(Tensor.F32, i);
            float y = want.getAtIndex(Tensor.F32, i);
            if (!(Math.abs(x - y) <= tol * Math.max(1, Math.abs(y)))) {
                fail(what + " at " + i + ": " + x + " vs " + y);
            }
        }
    }

    private static void check(Random rnd, int m, Weight w, SparseB.Format f, Epilogue epi) {
        String what = f + " m=" + m + " k=" + w.k + " n=" + w.n + " transB=" + w.transB + " " + epi.activation();
        SparseB sb = SparseB.pack(f, w.transB, w.k, w.n, w.b, 0, w.ldb);
        SparseB.Stats st = SparseB.stats(w.transB, w.k, w.n, w.b, 0, w.ldb);
        assertEquals(st.nonzeros(), sb.nonzeros(), what + ": nonzeros");
        int lda = w.k + rnd.nextInt(3);
        int ldc = w.n + rnd.nextInt(3);
        MemorySegment a = random(rnd, (long) m * lda);
        long cCount = (long) m * ldc;
        MemorySegment want = ARENA.allocate(cCount * 4 + 4, 4);
        SpmmReference.multiply(m, a, 0, lda, sb, want, 0, ldc, epi);
        MemorySegment dense = ARENA.allocate(cCount * 4 + 4, 4);
        Sgemm.sgemm(context(1), false, w.transB, m, w.n, w.k, 1f, a, 0, lda, w.b, 0, w.ldb, 0f, dense, 0, ldc, epi);
        MemorySegment one = ARENA.allocate(cCount * 4 + 4, 4);
        Spmm.multiply(context(1), m, a, 0, lda, sb, one, 0, ldc, epi);
        assertClose(want, one, cCount, w.k, what + " vs reference");
        assertClose(dense, one, cCount, w.k, what + " vs dense Sgemm");
        MemorySegment three = ARENA.allocate(cCount * 4 + 4, 4);
        Spmm.multiply(context(3), m, a, 0, lda, sb, three, 0, ldc, epi);
        assertBitEqual(one, three, what + ": 1 vs 3 threads");
        if (m > 1) {
            // Row i alone (the GEMV) gives what it gets inside the batch (to rounding: the CSR GEMV sums eight chains).
            int i = rnd.nextInt(m);
            MemorySegment row = ARENA.allocate((long) ldc * 4 + 4, 4);
            Epilogue ei = epi.residual() == null && (epi.bias() == null || !epi.biasPerRow()) ? epi : Epilogue.NONE;
            if (ei == epi) {
                Spmm.multiply(context(1), 1, a, (long) i * lda, lda, sb, row, 0, ldc, ei);
                assertClose(one.asSlice((long) i * ldc * 4, w.n * 4L), row, w.n, w.k, what + ": row " + i + " alone");
            }
        }
    }

    @Test
    void csrMatchesReferenceAndDenseOnOddShapes() {
        Random rnd = new Random(5);
        int[] ms = {1, 2, 5, 16, 17, 33, 64, 100, 129, 150, 200};
        int[] ks = {1, 3, 7, 37, 130};
        int[] ns = {1, 5, 17, 40};
        for (int m : ms) {
            for (int k : ks) {
                for (int n : ns) {
                    double sparsity = new double[] {0.0, 0.5, 0.9, 0.97}[rnd.nextInt(4)];
                    Weight w = Weight.random(rnd, rnd.nextBoolean(), k, n, SparseB.Format.CSR, sparsity);
                    check(rnd, m, w, SparseB.Format.CSR, Epilogue.NONE);
                }
            }
        }
    }

    @Test
    void twoFourMatchesReferenceAndDenseOnOddShapes() {
        Random rnd = new Random(6);
        int[] ms = {1, 2, 15, 31, 47, 65, 150};
        int[] ks = {1, 4, 6, 37, 129};
        int[] ns = {1, 7, 17, 33};
        for (int m : ms) {
            for (int k : ks) {
                for (int n : ns) {
                    Weight w = Weight.random(rnd, rnd.nextBoolean(), k, n, SparseB.Format.TWO_FOUR, 0.5);
                    check(rnd, m, w, SparseB.Format.TWO_FOUR, Epilogue.NONE);
                }
            }
        }
    }

    /**
     * {@link SpmmTwoFour} (the pattern-sorted 2:4 SpMM) bit-equal to the column kernel it replaces from
     * {@link Spmm#sortedTwoFourRows} rows (the same FMA chain per output), on odd shapes (K not a multiple of 4, N
     * past a chunk of 128 columns), groups holding 0, 1 or 2 nonzeros (every nibble), epilogues, heap A and C,
     * 1 and 3 threads; and close to the reference ({@link #check}).
     */
    @Test
    void sortedTwoFourIsBitEqualToTheColumnKernel() {
        Random rnd = new Random(31);
        int[] ms = {48, 63, 64, 65, 129, 200};
        int[] ks = {1, 6, 37, 130};
        int[] ns = {1, 17, 130, 257};
        int saved = Spmm.sortedTwoFourRows;
        for (int m : ms) {
            for (int k : ks) {
                for (int n : ns) {
                    boolean transB = rnd.nextBoolean();
                    Weight w = Weight.random(rnd, transB, k, n, SparseB.Format.TWO_FOUR, 0.5);
                    // zero a third of the survivors: groups with one or no nonzero (empty slots at position 0)
                    for (long i = 0; i < (long) k * n; i++) {
                        if (rnd.nextInt(3) == 0) {
                            w.b.setAtIndex(Tensor.F32, i, 0f);
                        }
                    }
                    SparseB sb = SparseB.pack(SparseB.Format.TWO_FOUR, transB, k, n, w.b, 0, w.ldb);
                    Epilogue[] epis = {Epilogue.NONE, Epilogue.of(Activation.RELU).withBias(random(rnd, n), 0),
                            Epilogue.of(Activation.GELU).withBias(random(rnd, n), 0)};
                    Epilogue e = epis[rnd.nextInt(epis.length)];
                    boolean heap = rnd.nextInt(4) == 0;
                    int lda = k + rnd.nextInt(3);
                    int ldc = n + rnd.nextInt(3);
                    MemorySegment a = random(rnd, (long) m * lda);
                    if (heap) {
                        a = MemorySegment.ofArray(a.toArray(Tensor.F32));
                    }
                    long cBytes = (long) m * ldc * 4 + 4;
                    MemorySegment cols = ARENA.allocate(cBytes, 4);
                    MemorySegment one = heap ? MemorySegment.ofArray(new float[(int) (cBytes / 4)]) : ARENA.allocate(cBytes, 4);
                    MemorySegment three = ARENA.allocate(cBytes, 4);
                    try {
                        Spmm.sortedTwoFourRows = Integer.MAX_VALUE;
                        Spmm.multiply(context(1), m, a, 0, lda, sb, cols, 0, ldc, e);
                    } finally {
                        Spmm.sortedTwoFourRows = saved;
                    }
                    Spmm.multiply(context(1), m, a, 0, lda, sb, one, 0, ldc, e);
                    Spmm.multiply(context(3), m, a, 0, lda, sb, three, 0, ldc, e);
                    String what = "m=" + m + " k=" + k + " n=" + n + " transB=" + transB + " heap=" + heap + " " + e.activation();
                    assertBitEqual(cols, one, what + ": sorted vs columns");
                    assertBitEqual(cols, three, what + ": 3 threads vs columns");
                }
            }
        }
        Weight w = Weight.random(rnd, false, 129, 131, SparseB.Format.TWO_FOUR, 0.5);
        check(rnd, 100, w, SparseB.Format.TWO_FOUR, Epilogue.of(Activation.RELU).withBias(random(rnd, 131), 0));
    }

    @Test
    void slicedGemvHoldsEveryNonzeroAndMatchesTheCsrGemv() {
        Random rnd = new Random(21);
        double saved = Spmm.maxGemvPadding;
        try {
            for (int k : new int[] {1, 31, 32, 33, 100, 2001}) {
                for (int n : new int[] {1, 15, 16, 17, 40}) {
                    for (SparseB.Format f : SparseB.Format.values()) {
                        double sparsity = f == SparseB.Format.TWO_FOUR ? 0.5 : new double[] {0.0, 0.8, 0.9, 0.99}[rnd.nextInt(4)];
                        Weight w = Weight.random(rnd, rnd.nextBoolean(), k, n, f, sparsity);
                        SparseB sb = SparseB.pack(f, w.transB, k, n, w.b, 0, w.ldb);
                        // every slot lane of the layout is a nonzero of its column (or padding: value 0), each once
                        SparseGemv.Layout lay = SparseGemv.pack(sb);
                        long found = 0;
                        int vl = lay.values().length / Math.max(1, lay.start()[lay.slices()]);
                        for (int s = 0; s < lay.slices(); s++) {
                            for (int t = lay.start()[s]; t < lay.start()[s + 1]; t++) {
                                for (int l = 0; l < vl; l++) {
                                    float v = lay.values()[t * vl + l];
                                    if (v == 0f) {
                                        continue;
                                    }
                                    int p = lay.window()[t / 2] / 4 + lay.rows()[t * vl + l];
                                    assertEquals(sb.get(p, s * vl + l), v, "k=" + k + " n=" + n + " " + f + ": slot " + t + " lane " + l);
                                    found++;
                                }
                            }
                        }
                        assertEquals(sb.nonzeros(), found, "k=" + k + " n=" + n + " " + f + ": nonzeros in the layout");
                        // the layout, once built for a one-row product, counts in the weight's size
                        long own = sb.byteSize();
                        SparseGemv.Layout kept = sb.gemvLayout();
                        assertEquals(own + 4L * kept.start().length + 4L * kept.window().length
                                + 4L * kept.values().length + kept.rows().length, sb.byteSize(), "byteSize with the layout");
                        // the sliced GEMV and the CSR/2:4 one against the reference; a few rows (four per pass
                        // and the rest one by one) with an epilogue reading rows
                        Spmm.maxGemvPadding = 1e9;
                        check(rnd, 1, w, f, Epilogue.NONE);
                        int m = 2 + rnd.nextInt(8);
                        check(rnd, m, w, f, Epilogue.of(Activation.RELU).withBias(random(rnd, n), 0)
                                .withResidual(random(rnd, (long) m * n), 0, n));
                        Spmm.maxGemvPadding = 0;
                        check(rnd, 1, w, f, Epilogue.NONE);
                    }
                }
            }
        } finally {
            Spmm.maxGemvPadding = saved;
        }
    }

    @Test
    void epiloguesAsTheDenseGemmAppliesThem() {
        Random rnd = new Random(9);
        for (SparseB.Format f : SparseB.Format.values()) {
            for (Activation act : new Activation[] {Activation.NONE, Activation.RELU, Activation.GELU, Activation.GELU_TANH}) {
                for (int[] s : new int[][] {{1, 37, 41}, {2, 64, 17}, {70, 96, 50}}) {
                    int m = s[0];
                    int k = s[1];
                    int n = s[2];
                    MemorySegment bias = random(rnd, n);
                    MemorySegment res = random(rnd, (long) m * n);
                    Epilogue e = Epilogue.of(act).withBias(bias, 0).withResidual(res, 0, n);
                    Weight w = Weight.random(rnd, false, k, n, f, 0.8);
                    check(rnd, m, w, f, e);
                    check(rnd, m, w, f, Epilogue.of(act).withBias(bias, 0));
                }
            }
        }
    }

    @Test
    void largerThanOneTaskAndEmptyColumns() {
        Random rnd = new Random(12);
        Weight w = Weight.random(rnd, true, 300, 200, SparseB.Format.CSR, 0.99);
        check(rnd, 257, w, SparseB.Format.CSR, Epilogue.of(Activation.RELU));
        Weight z = Weight.random(rnd, false, 50, 30, SparseB.Format.CSR, 1.0);
        check(rnd, 40, z, SparseB.Format.CSR, Epilogue.NONE);
        // Long columns: the GEMV's eight chains per column and their tails (K = 2001: 200 nonzeros a column at 90%).
        Weight lng = Weight.random(rnd, rnd.nextBoolean(), 2001, 23, SparseB.Format.CSR, 0.9);
        check(rnd, 1, lng, SparseB.Format.CSR, Epilogue.NONE);
        check(rnd, 3, lng, SparseB.Format.CSR, Epilogue.NONE);
        Weight t = Weight.random(rnd, false, 384, 100, SparseB.Format.TWO_FOUR, 0.5);
        check(rnd, 130, t, SparseB.Format.TWO_FOUR, Epilogue.NONE);
        // At least 2 row blocks per thread (7 of 128 rows at 3 threads): each task transposes its own blocks.
        check(rnd, 833, Weight.random(rnd, true, 77, 35, SparseB.Format.CSR, 0.8), SparseB.Format.CSR, Epilogue.of(Activation.RELU));
        check(rnd, 801, Weight.random(rnd, false, 45, 19, SparseB.Format.TWO_FOUR, 0.5), SparseB.Format.TWO_FOUR, Epilogue.NONE);
        int saved = Spmm.kBlockBytes;
        int savedTwoFour = Spmm.twoFourKBlockBytes;
        int savedWork = Spmm.minWorkPerBlock;
        int savedSorted = Spmm.sortedTwoFourRows;
        try {
            // 2:4 at the default K blocks (64 rows at 128-row blocks), 33 groups: the last block one group long
            check(rnd, 130, Weight.random(rnd, false, 130, 37, SparseB.Format.TWO_FOUR, 0.5), SparseB.Format.TWO_FOUR,
                    Epilogue.NONE);
            // K blocks of 64 rows (one thread: the row-block path), the partial sums carried through the panel's
            // sums; with 3 threads the same products run unblocked, and the bits must agree.
            Spmm.kBlockBytes = 4096;
            Spmm.twoFourKBlockBytes = 4096;
            Spmm.minWorkPerBlock = 1;
            Spmm.sortedTwoFourRows = Integer.MAX_VALUE;
            check(rnd, 130, t, SparseB.Format.TWO_FOUR, Epilogue.NONE);
            check(rnd, 33, Weight.random(rnd, true, 300, 70, SparseB.Format.CSR, 0.8), SparseB.Format.CSR, Epilogue.NONE);
            check(rnd, 17, Weight.random(rnd, false, 200, 40, SparseB.Format.CSR, 0.6), SparseB.Format.CSR, Epilogue.NONE);
            check(rnd, 300, Weight.random(rnd, false, 200, 600, SparseB.Format.CSR, 0.7), SparseB.Format.CSR,
                    Epilogue.of(Activation.GELU).withBias(random(rnd, 600), 0));
        } finally {
            Spmm.kBlockBytes = saved;
            Spmm.twoFourKBlockBytes = savedTwoFour;
            Spmm.minWorkPerBlock = savedWork;
            Spmm.sortedTwoFourRows = savedSorted;
        }
    }

    @Test
    void rowBiasClipAndLeakyReluStoredStraightIntoC() {
        Random rnd = new Random(14);
        for (SparseB.Format f : SparseB.Format.values()) {
            int m = 45;
            Weight w = Weight.random(rnd, true, 70, 37, f, 0.8);
            MemorySegment rowBias = random(rnd, m);
            MemorySegment res = random(rnd, (long) m * 40);
            check(rnd, m, w, f, Epilogue.clip(-0.3f, 0.4f).withRowBias(rowBias, 0));
            check(rnd, m, w, f, Epilogue.leakyRelu(0.1f).withBias(random(rnd, 37), 0).withResidual(res, 3, 40));
        }
    }

    @Test
    void heapSegmentsTakeTheCopyingPath() {
        // A and C on the heap: A copied by rows before its transpose, C stored through a tile and the GEMM's store.
        Random rnd = new Random(15);
        for (SparseB.Format f : SparseB.Format.values()) {
            int m = 37;
            Weight w = Weight.random(rnd, false, 53, 29, f, 0.85);
            SparseB sb = SparseB.pack(f, false, w.k, w.n, w.b, 0, w.ldb);
            float[] av = new float[m * w.k];
            for (int i = 0; i < av.length; i++) {
                av[i] = rnd.nextFloat() * 2 - 1;
            }
            MemorySegment a = MemorySegment.ofArray(av);
            MemorySegment got = MemorySegment.ofArray(new float[m * w.n]);
            MemorySegment want = ARENA.allocate((long) m * w.n * 4, 4);
            Epilogue e = Epilogue.of(Activation.RELU).withBias(random(rnd, w.n), 0);
            SpmmReference.multiply(m, a, 0, w.k, sb, want, 0, w.n, e);
            Spmm.multiply(context(1), m, a, 0, w.k, sb, got, 0, w.n, e);
            assertClose(want, got, (long) m * w.n, w.k, f + " heap segments");
        }
    }

    @Test
    void statsAndPackingRoundTrip() {
        Random rnd = new Random(13);
        Weight w = Weight.random(rnd, false, 37, 11, SparseB.Format.TWO_FOUR, 0.5);
        SparseB.Stats st = SparseB.stats(false, 37, 11, w.b, 0, 11);
        assertTrue(st.twoFour());
        assertTrue(st.sparsity() >= 0.45, "2:4 pruning leaves at most half: " + st.sparsity());
        for (SparseB.Format f : SparseB.Format.values()) {
            SparseB sb = SparseB.pack(f, false, 37, 11, w.b, 0, 11);
            for (int p = 0; p < 37; p++) {
                for (int j = 0; j < 11; j++) {
                    assertEquals(w.b.getAtIndex(Tensor.F32, (long) p * 11 + j), sb.get(p, j), f + " at " + p + "," + j);
                }
            }
        }
        Weight d = Weight.random(rnd, false, 8, 4, SparseB.Format.CSR, 0.0);
        assertFalse(SparseB.stats(false, 8, 4, d.b, 0, 4).twoFour());
        assertThrows(IllegalArgumentException.class, () -> SparseB.pack(SparseB.Format.TWO_FOUR, false, 8, 4, d.b, 0, 4));
        assertThrows(IllegalArgumentException.class,
                () -> SparseB.pack(SparseB.Format.CSR, false, SparseB.MAX_K + 1, 1, d.b, 0, 1));
    }
}
