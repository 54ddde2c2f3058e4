package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.cpu.Epilogue.Activation;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * {@link SpmmChain} against the two {@link Spmm} products it replaces, bit for bit: random shapes with odd tails
 * (rows, K, the hidden width and N), with and without K blocks and several column panels, the epilogues of both
 * products, heap and native operands, 1 and 3 threads; and the calls it must refuse.
 */
class SpmmChainTest {
    private static final Arena ARENA = Arena.ofShared();
    private static final IntraOpPool POOL = new IntraOpPool(3, "spmm-chain-test");

    @AfterAll
    static void close() {
        POOL.close();
    }

    /** A context on the shared test arena with {@code threads} threads (more than one use the test pool). */
    private static KernelContext context(int threads) {
        return PoolContext.of(ARENA, POOL, threads);
    }

    private static MemorySegment random(Random rnd, long n) {
        MemorySegment s = ARENA.allocate(n * 4 + 4, 64);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(Tensor.F32, i, rnd.nextFloat() * 2 - 1);
        }
        return s;
    }

    private static SparseB csr(Random rnd, int k, int n, double sparsity) {
        MemorySegment w = random(rnd, (long) k * n);
        SpmmTest.pruneUnstructured(w, (long) k * n, sparsity);
        return SparseB.pack(SparseB.Format.CSR, false, k, n, w, 0, n);
    }

    /** The chain and the two products on the same operands; C compared bit for bit. */
    private static void check(Random rnd, int m, int k, int hidden, int n, double sparsity, Activation hiddenAct,
                              Activation act, boolean residual, boolean heap, int threads) {
        String what = "m=" + m + " k=" + k + " hidden=" + hidden + " n=" + n + " " + hiddenAct + "/" + act
                + (residual ? " +residual" : "") + (heap ? " heap" : "") + " threads=" + threads;
        SparseB b1 = csr(rnd, k, hidden, sparsity);
        SparseB b2 = csr(rnd, hidden, n, sparsity);
        int lda = k + rnd.nextInt(3);
        int ldc = n + rnd.nextInt(3);
        MemorySegment a = random(rnd, (long) m * lda);
        if (heap) {
            float[] copy = new float[m * lda];
            MemorySegment.copy(a, Tensor.F32, 0, copy, 0, copy.length);
            a = MemorySegment.ofArray(copy);
        }
        Epilogue e1 = Epilogue.of(hiddenAct).withBias(random(rnd, hidden), 0);
        Epilogue e2 = Epilogue.of(act).withBias(random(rnd, n), 0);
        if (residual) {
            e2 = e2.withResidual(random(rnd, (long) m * ldc), 0, ldc);
        }
        KernelContext ctx = context(threads);
        assertTrue(SpmmChain.fused(ctx, m, b1, e1, b2), what + ": fused");
        MemorySegment h = ARENA.allocate((long) m * hidden * 4, 64);
        MemorySegment want = ARENA.allocate((long) m * ldc * 4, 64);
        Spmm.multiply(context(1), m, a, 0, lda, b1, h, 0, hidden, e1);
        Spmm.multiply(context(1), m, h, 0, hidden, b2, want, 0, ldc, e2);
        MemorySegment got = heap ? MemorySegment.ofArray(new float[m * ldc]) : ARENA.allocate((long) m * ldc * 4, 64);
        SpmmChain.multiply(ctx, m, a, 0, lda, b1, e1, b2, got, 0, ldc, e2);
        for (int r = 0; r < m; r++) {
            long at = (long) r * ldc * 4;
            long diff = want.asSlice(at, n * 4L).mismatch(got.asSlice(at, n * 4L));
            int row = r;
            assertEquals(-1, diff, () -> what + ": row " + row + " differs at byte " + diff);
        }
    }

    @Test
    void equalsTwoProductsOnOddShapes() {
        Random rnd = new Random(11);
        Activation[] acts = {Activation.GELU, Activation.RELU, Activation.NONE, Activation.GELU_TANH};
        int[][] shapes = {{25, 3, 5, 7}, {33, 37, 40, 33}, {100, 64, 130, 17}, {129, 130, 77, 41}, {300, 21, 48, 35}};
        for (int i = 0; i < shapes.length; i++) {
            int[] s = shapes[i];
            check(rnd, s[0], s[1], s[2], s[3], 0.8, acts[i % 4], acts[(i + 1) % 4], i % 2 == 0, i % 3 == 1, 1);
        }
    }

    @Test
    void threeThreadsOwnRangesOfRowBlocks() {
        long work = Spmm.parallelWork;
        try {
            Spmm.parallelWork = 0;
            Random rnd = new Random(14);
            // 128-row blocks: at least two per thread from 6 blocks (641 rows and more)
            check(rnd, 800, 37, 66, 29, 0.8, Activation.GELU, Activation.NONE, true, false, 3);
            check(rnd, 1001, 20, 17, 40, 0.6, Activation.RELU, Activation.RELU, false, true, 3);
            assertFalse(SpmmChain.fused(context(3), 640, csr(rnd, 8, 8, 0.5), null, csr(rnd, 8, 8, 0.5)),
                    "5 row blocks for 3 threads");
        } finally {
            Spmm.parallelWork = work;
        }
    }

    @Test
    void equalsTwoProductsWithKBlocksAndSeveralPanels() {
        int bytes = Spmm.kBlockBytes;
        int work = Spmm.minWorkPerBlock;
        try {
            Spmm.kBlockBytes = 4 << 10;
            Spmm.minWorkPerBlock = 2;
            Random rnd = new Random(12);
            // 129 rows: blocks of 128 rows (8 vectors), so 512-column panels; a hidden width of 530 needs two.
            check(rnd, 129, 70, 530, 45, 0.7, Activation.GELU, Activation.NONE, true, false, 1);
            check(rnd, 200, 90, 75, 530, 0.9, Activation.RELU, Activation.GELU, false, false, 1);
            check(rnd, 97, 33, 129, 19, 0.5, Activation.GELU_TANH, Activation.RELU, true, true, 1);
        } finally {
            Spmm.kBlockBytes = bytes;
            Spmm.minWorkPerBlock = work;
        }
    }

    @Test
    void refusesWhatItDoesNotChain() {
        Random rnd = new Random(13);
        SparseB b1 = csr(rnd, 32, 48, 0.8);
        SparseB b2 = csr(rnd, 48, 20, 0.8);
        KernelContext one = context(1);
        Epilogue gelu = Epilogue.of(Activation.GELU).withBias(random(rnd, 48), 0);
        assertTrue(SpmmChain.fused(one, 64, b1, gelu, b2));
        assertFalse(SpmmChain.fused(one, 15, b1, gelu, b2), "fewer rows than a vector");
        assertFalse(SpmmChain.fused(one, 20, b1, gelu, b2), "rows Spmm runs one by one");
        assertFalse(SpmmChain.fused(one, 64, b1, gelu, csr(rnd, 47, 20, 0.8)), "widths that do not chain");
        MemorySegment w = random(rnd, 48 * 20);
        SpmmTest.pruneTwoFour(w, 48, 20, 20, 1);
        assertFalse(SpmmChain.fused(one, 64, b1, gelu, SparseB.pack(SparseB.Format.TWO_FOUR, false, 48, 20, w, 0, 20)),
                "a 2:4 weight");
        assertFalse(SpmmChain.fused(one, 64, b1, Epilogue.of(Activation.NONE).withResidual(random(rnd, 64 * 48), 0, 48),
                b2), "a residual on the hidden activations");
        assertFalse(SpmmChain.fused(one, 64, b1, Epilogue.clip(0f, 6f), b2), "Clip on the hidden activations");
        assertFalse(SpmmChain.fused(one, 64, b1, Epilogue.of(Activation.NONE).withRowBias(random(rnd, 64), 0), b2),
                "a bias per row");
        assertThrows(IllegalArgumentException.class, () -> SpmmChain.multiply(one, 15, random(rnd, 15 * 32), 0, 32, b1,
                gelu, b2, random(rnd, 15 * 20), 0, 20, null));
    }
}
