package dev.gatun.engine.cpu;

import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Sparse-weight x dense-activation products: {@code C[M, N] = epi(A[M, K] x op(B)[K, N])} with B a {@link SparseB}
 * (CSR or 2:4), A and C row-major with row strides {@code lda}, {@code ldc} (floats), the {@link Epilogue} (bias,
 * activation, residual) applied as each output tile is stored, exactly as {@link Sgemm} applies it.
 *
 * <p>M > 1, the SpMM (XNNPACK's design): A is transposed, per block of {@code mb} rows ({@code mb} = 16, 32, 64 or 128
 * with 16-float vectors: 1, 2, 4 or 8 vectors), into a K-major scratch {@code At[block][p][r] = A[m0 + r, p]} (rows past
 * M are 0). With one thread or at least two row blocks per thread, tasks own ranges of row blocks and each block
 * is transposed into the thread's own native buffer just before its columns use it (in L2); otherwise (M = 128 on 2
 * threads: one block) all of At is allocated from the context and transposed by K chunks first. A (when native) is
 * read and At written and read through {@link SgemmKernel#ALL} at absolute addresses (bounds checked once per call),
 * never through their own segments: the JDK's shared segment-access code, once its type profile has seen heap
 * segments (as in any real model's JVM), made the SpMM 2x slower (docs/ARCHITECTURE.md "GEMM memory access"); a heap
 * A is copied by rows into a per-thread array first. Output column j of a row block is then {@code mb/VL} vector
 * accumulators in registers: for each nonzero (p, w) of column j, {@code acc += broadcast(w) * At[p][0..mb)}. The
 * sums of {@link #NB} columns ([NB][mb], column-major) are transposed (VL x VL squares in registers,
 * {@link SquareTranspose#square}; A's transpose works the same way) and stored straight into C with the epilogue
 * ({@link #storeChunk}; a heap C goes through a row-major tile and the GEMM's tile store). In the row-block path K is
 * cut into blocks whose At fits L1 ({@link #kBlock}) when columns are dense enough: every column of a panel runs
 * its nonzeros in one block before the next block, the partial sums carried in a per-thread panel array. In the
 * shared-At case tasks are (row block, NB columns) units, row block major, split over
 * {@link KernelContext#parallelFor}, without K blocks.
 *
 * <p>2:4 weights from {@link #sortedTwoFourRows} rows run {@link SpmmTwoFour} instead (columns sorted by position
 * pattern per group of 4, the activations in registers and the sums in L1; bit-equal to the 2:4 columns here) when
 * their row blocks would be under 8 vectors (M <= 64); 128-row blocks run the 2:4 columns
 * ({@link TwoFourColumns}) in K blocks of 64 rows ({@link #twoFourKBlockBytes}), about 0.17 ns per useful 16-lane
 * FMA against the sorted kernel's 0.21, on the row-block path, or with fewer row blocks than two a thread each
 * thread transposing the block and running a range of its columns ({@link #columnRanges}), never the shared At.
 *
 * <p>Speed: one 64-byte activation load per vector FMA (the dense GEMM reuses each loaded B vector over 8 rows),
 * so the SpMM runs at about 0.33-0.4 ns per 16-row FMA from L2 (0.25 from L1) against the dense kernel's 0.14: it
 * wins above about 65-70% sparsity (see {@code ops/SparsePlanner} for the measured cost model).
 *
 * <p>M = 1 (and a few rows, {@link #maxSlicedRows}), {@link SparseGemv}: with 16-float vectors and a padding the
 * weight's size allows ({@link #sliced}), its column-sliced, permute-windowed layout (x copied once into a per-thread
 * aligned native buffer; about 0.05 ns per slot lane, 1.7 lanes a nonzero at 90% sparsity). Otherwise (M = 1)
 * {@code y[j] = sum w * x[p]} gathering
 * x (copied once into a per-thread array) by the nonzeros' int16 row indices; each CSR column runs eight chains over
 * its nonzeros (round robin), summed at the end, so long columns (K in the thousands) are not one latency-bound
 * chain. About 0.4 ns per nonzero on the reference machine, whether the x values are loaded one by one or gathered
 * VL at a time (Zen 5's gathers are no faster).
 *
 * <p>In the SpMM each output element is one fused multiply-add chain over its column's nonzeros in increasing k (2:4:
 * over the slots in order, empty slots adding 0 x A[4g]), whatever M, the row block size, the tasks and the thread
 * count; the GEMVs sum several chains (sliced: four per slice; CSR: eight per column), so a row alone and the same
 * row inside a batch agree to rounding, not bit for bit (the 2:4 dot products: one chain, the same bits). {@link SpmmReference} is the scalar twin.
 */
public final class Spmm {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** All of memory: the transposed A is read and written through it at absolute addresses (see the class comment). */
    private static final MemorySegment ALL = SgemmKernel.ALL;
    private static final long AM = SgemmKernel.ADDRESS_MASK;
    /** Output columns per tile. */
    static final int NB = VL;
    /** Rows of A transposed per task unit of the transpose: p chunk length. */
    private static final int T_CHUNK = 128;
    /** Below this many multiply-adds a product runs on the calling thread. */
    static long parallelWork = 1L << 19;
    /**
     * The same for a one-row product (GEMV): its nonzeros cost about 0.4 ns each, so 2^15 of them are ~13 us, several
     * times a parallel region's cost (384x1536 at 90%, 59k nonzeros: 22.7 us on one thread).
     */
    static long parallelGemvWork = 1L << 15;

    /**
     * The one-row product runs the sliced layout ({@link SparseGemv}) when its estimated padding (slot lanes per
     * nonzero, {@link SparseGemv#expectedPadding}: 2.25 at 90% sparsity, 2.9 at 95%, 6.4 at 99%, about 10 at 99.5%)
     * is at most this, else the CSR/2:4 dot products; 0 turns the sliced GEMV off (measurements). In cache the sliced
     * GEMV costs about 0.05 ns per slot lane against CSR's 0.36-0.4 per nonzero and its per-column overhead
     * (384x1536, one thread, sliced against CSR: 90% 6.4 against 23.1 us, 95% 4.6 against 13.4, 99% 2.5 against 5.8;
     * 1536x384 at 99% 2.0 against 3.2).
     */
    static double maxGemvPadding = 12;
    /**
     * Above this many bytes (about 5 per slot lane) the sliced layout is taken only when the estimated padding is at
     * most {@link #MAX_STREAMED_PADDING}: read from DRAM it moves 5 bytes a lane against CSR's 6 a nonzero, and CSR's
     * compute-bound 0.36 ns a nonzero about keeps up with DRAM (4096x4096 from DRAM, one thread, CSR against sliced:
     * 80% 1320 against 790-880 us, 90% 606-617 against 505-536, 95% 313-318 against 332-367).
     */
    static long maxSlicedBytes = 8L << 20;
    /** See {@link #maxSlicedBytes}: up to about 91% sparsity (2:4: 1). */
    private static final double MAX_STREAMED_PADDING = 2.4;

    /**
     * Products of up to this many rows run row by row on the sliced layout when {@link #sliced}, and up to three
     * times as many when its padding is at most 2 (about 85% sparsity or denser, 2:4); else the SpMM, whose row
     * blocks of 16-128 rows cost the same for 2 rows as for 16. Measured (CPU time, 384x1536 and 1536x384, sliced
     * against SpMM, us): 90% M = 2 10.6 / 48.9, M = 8 26.1 / 50.6, M = 16 47-52 / 47-56, M = 32 98-104 / 70;
     * 80% M = 24 110-120 / 134-141, M = 32 155-161 / 131-134; 2:4 M = 4 34 / 313, M = 24 208 / 327-339.
     */
    static int maxSlicedRows = 8;

    /**
     * From this many rows a 2:4 product runs {@link SpmmTwoFour} (the pattern-sorted layout; tests raise it) while
     * its row blocks would be under 8 vectors (M <= 64): past the row-by-row
     * limit ({@link #maxSlicedRows}) it beats the 2:4 columns there (384x1536, CPU time: M = 32 261 / 304 us, 64
     * 264 / 387); from 65 rows the columns in K blocks win (M = 80 426-438 / 507-528, 128 423-445 / 542-555,
     * 4096 14.5-14.7 / 17.6-18.5 ms).
     */
    static int sortedTwoFourRows = 25;

    /** Whether an m-row product (m > 1) runs row by row on the sliced layout: see {@link #maxSlicedRows}. */
    static boolean rowwise(int m, SparseB b) {
        if (m > 3 * maxSlicedRows) {
            return false;
        }
        double padding = slicedPadding(b.gemvPadding(), b.nonzeros());
        return padding > 0 && (m <= maxSlicedRows || padding <= 2);
    }

    /** Whether the one-row product of {@code b} runs {@link SparseGemv}. */
    static boolean sliced(SparseB b) {
        return slicedPadding(b.gemvPadding(), b.nonzeros()) > 0;
    }

    /**
     * The expected slot lanes per nonzero of the sliced GEMV ({@link SparseGemv}) for a K x N weight in
     * {@code format} with {@code nonzeros}, or 0 when a one-row product of it runs the CSR/2:4 dot products
     * (the planner's cost model).
     */
    public static double slicedGemvPadding(SparseB.Format format, int k, int n, long nonzeros) {
        return slicedPadding(format == SparseB.Format.TWO_FOUR ? 1 : SparseGemv.expectedPadding(k, n, nonzeros), nonzeros);
    }

    /** {@code padding} when the sliced GEMV is taken at that estimated padding and nonzero count, else 0. */
    private static double slicedPadding(double padding, long nonzeros) {
        if (!SparseGemv.SUPPORTED || nonzeros == 0) {
            return 0;
        }
        double bytes = 5 * padding * nonzeros;
        return padding <= maxGemvPadding && (bytes <= maxSlicedBytes || padding <= MAX_STREAMED_PADDING) ? padding : 0;
    }

    /** Per-thread tiles. */
    static final class Scratch {
        final float[] yt = new float[NB * 8 * VL];
        /** A VL x VL square and its transpose. */
        final float[] square = new float[2 * VL * VL];
        /** The transpose's scratch. */
        final float[] square2 = new float[2 * VL * VL];
        final float[] tile = new float[8 * VL * NB];
        /** A row block's transposed A (the row-block path), native: read through {@link #ALL}. */
        private MemorySegment at = MemorySegment.NULL;

        /** The absolute address of this thread's transposed-A buffer of at least {@code bytes} bytes. */
        long at(long bytes) {
            if (at.byteSize() < bytes) {
                at = NativeMemory.allocateScratch(bytes);
            }
            return at.address();
        }

        /** A row block's hidden activations in {@link SpmmChain}, laid out as a transposed A, native. */
        private MemorySegment hidden = MemorySegment.NULL;

        /** The absolute address of this thread's hidden-activation buffer of at least {@code bytes} bytes. */
        long hidden(long bytes) {
            if (hidden.byteSize() < bytes) {
                hidden = NativeMemory.allocateScratch(bytes);
            }
            return hidden.address();
        }

        /** A column panel's partial sums (the row-block path with K blocks). */
        private float[] sums = new float[0];

        float[] sums(int count) {
            if (sums.length < count) {
                sums = new float[count];
            }
            return sums;
        }

    }

    static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Spmm() {}

    /**
     * Bytes of transposed A one K block spans (the row-block path): its rows stay in L1 while every column of a
     * panel runs its nonzeros in the block (64 KB: 128 rows of a 128-row block), the partial sums carried through
     * the panel's sums ({@link #PANEL_BYTES}). Tests lower it.
     */
    static int kBlockBytes = 64 << 10;
    /**
     * {@link #kBlockBytes} for 2:4 weights: 32 KB, 64 k rows of a 128-row block, so that a block's transposed A
     * stays in L1 (48 KB) beside the streamed weights (384x1536, M = 128, one thread, CPU time: 470-490 us
     * against 640-670 at 64 KB).
     */
    static int twoFourKBlockBytes = 32 << 10;
    /** K blocks only when a column has at least this many nonzeros per block on average (tests lower it). */
    static int minWorkPerBlock = 24;
    /** Bytes of partial sums of one column panel (the row-block path with K blocks). */
    static final int PANEL_BYTES = 256 << 10;
    /** The most vectors per row block (8; lower to measure). */
    static int maxVectors = 8;

    /**
     * Rows of a K block for row blocks of {@code mb} rows (a multiple of {@link SparseB#K_STEP}, or K for one block):
     * enough blocks that the transposed A of one stays within {@link #kBlockBytes}, but no more than leave a column
     * {@link #minWorkPerBlock} multiply-adds per block on average (each block reloads and stores the column's sums;
     * on 384x1536 blocking measured 14% slower at 95% sparsity in a prototype and 3% slower at 90%, 16% faster at
     * 80% and 33% at 70%).
     */
    static int kBlock(SparseB b, int mb) {
        int k = b.k();
        int bytes = b.format() == SparseB.Format.TWO_FOUR ? twoFourKBlockBytes : kBlockBytes;
        long byBytes = ((long) k * mb * 4 + bytes - 1) / bytes;
        long byWork = b.work() / b.n() / minWorkPerBlock;
        long blocks = Math.max(1, Math.min(byBytes, byWork));
        if (blocks == 1) {
            return k;
        }
        int kc = (int) ((k + blocks - 1) / blocks);
        return (kc + SparseB.K_STEP - 1) / SparseB.K_STEP * SparseB.K_STEP;
    }

    /**
     * Rows per full row block of an {@code m}-row product (a last partial block may run narrower:
     * {@link #tailVectors}).
     */
    public static int blockRows(int m) {
        return vectorsPerBlock(m) * VL;
    }

    /** The vectors per row block the SpMM uses for {@code m} rows (1, 2, 4 or 8). */
    static int vectorsPerBlock(int m) {
        int nv = m > 4 * VL ? 8 : m > 2 * VL ? 4 : m > VL ? 2 : 1;
        return Math.min(nv, maxVectors);
    }

    /**
     * {@code C = epi(A x op(B))} on the threads of {@code ctx} (which allocates the transposed A); see the class
     * comment. {@code epi} may be null.
     */
    public static void multiply(KernelContext ctx, int m, MemorySegment a, long aOff, int lda, SparseB b,
                                MemorySegment c, long cOff, int ldc, Epilogue epi) {
        if (m < 0) {
            throw new IllegalArgumentException("negative row count " + m);
        }
        Epilogue e = epi == null || epi.isIdentity() ? null : epi;
        if (m == 0) {
            return;
        }
        boolean rowwise = m == 1 || rowwise(m, b);
        int threads = ctx.threads() <= 1 || (long) m * b.work() < (rowwise ? parallelGemvWork : parallelWork) ? 1 : ctx.threads();
        if (rowwise) {
            SparseGemv.multiply(ctx, threads, m, sliced(b), a, aOff, lda, b, c, cOff, ldc, e);
            return;
        }
        int k = b.k();
        int n = b.n();
        int nv = vectorsPerBlock(m);
        int mb = nv * VL;
        int blocks = (m + mb - 1) / mb;
        checkA(a, aOff, lda, m, k);
        int nChunks = (n + NB - 1) / NB;
        long aAt = a.isNative() && a.scope().isAlive() ? a.address() + aOff * 4 : -1;
        long cAt = directC(c, cOff, ldc, m, n, e);
        boolean rowBlocks = threads == 1 || blocks >= 2 * threads;
        boolean twoFour = b.format() == SparseB.Format.TWO_FOUR;
        if (twoFour && SpmmTwoFour.SUPPORTED && m >= sortedTwoFourRows && nv < 8) {
            SpmmTwoFour.multiply(ctx, threads, m, a, aOff, aAt, lda, b, c, cOff, cAt, ldc, e);
            return;
        }
        SpmmRegion r = SpmmRegion.of(a, aOff, aAt, lda, m, b, c, cOff, cAt, ldc, e, nv);
        try {
            if (rowBlocks) {
                // one task per range of row blocks: each block transposed into the thread's own scratch, used while in L2
                SpmmRegion.run(ctx, threads == 1 ? 1 : Math.min(blocks, 4 * threads), blocks, r, Spmm::rowBlocks);
                return;
            }
            if (twoFour && nv == 8) {
                // 2:4, too few row blocks: per block one column range a thread, each thread transposing the block
                r.nChunks = threads;
                SpmmRegion.run(ctx, blocks * threads, blocks * threads, r, Spmm::columnRanges);
                return;
            }
            MemorySegment at = ctx.allocate(DType.FLOAT, r.atShape((long) blocks * k * mb)).data();
            r.atAddr = checkedAddress(at, (long) blocks * k * mb * 4);
            r.kChunks = (k + T_CHUNK - 1) / T_CHUNK;
            r.nChunks = nChunks;
            int tUnits = blocks * r.kChunks;
            SpmmRegion.run(ctx, Math.min(tUnits, 4 * threads), tUnits, r, Spmm::transposeUnits);
            int units = blocks * nChunks;
            SpmmRegion.run(ctx, Math.min(units, 4 * threads), units, r, Spmm::columnUnits);
        } finally {
            r.clear();
        }
    }

    /**
     * Row blocks [b0, b1) of the row-block path: each transposed into the thread's scratch, then its panels. A last
     * block of fewer rows is cut into narrower blocks ({@link #tailVectors}: 200 rows run as 128 + 64 + 16, not
     * 2 x 128); every output is still one chain over its column's nonzeros, so the bits do not change.
     */
    private static void rowBlocks(SpmmRegion r, int b0, int b1) {
        Scratch s = SCRATCH.get();
        int k = r.b.k();
        long atAddr = s.at((long) k * r.mb * 4);
        int kc = kBlock(r.b, r.mb);
        for (int blk = b0; blk < b1; blk++) {
            int end = Math.min(r.m, (blk + 1) * r.mb);
            for (int m0 = blk * r.mb; m0 < end; ) {
                int nv = Math.min(r.nv, tailVectors(end - m0, r.b.format()));
                int mb = nv * VL;
                int rows = Math.min(mb, end - m0);
                transpose(r.a, r.aOff, r.aAt, r.lda, r.m, m0, mb, 0, k, atAddr);
                kBlocked(nv, r.b, r.m, m0, mb, nv == r.nv ? kc : kBlock(r.b, mb), atAddr, s, r.c, r.cOff, r.cAt, r.ldc,
                        r.e, 0, r.b.n());
                heavyPass(r.cAt, r.ldc, r.e, m0, rows, 0, r.b.n());
                m0 += rows;
            }
        }
    }

    /**
     * Vectors of the next block for {@code rows} rows left of a block: all 8 from 96 rows (the widest kernel is the
     * most efficient per multiply-add), else the widest block they fill (72 rows: 64, then 16 for the last 8), and
     * the narrowest that holds them under 16 rows. A 2:4 weight keeps 8 above 64 rows: its narrower column kernels
     * decode positions group by group, and 72 rows measured slower as 64 + 16 than as one 128-row block (384x1536:
     * 0.88x against 1.05x over dense at 200 rows).
     */
    static int tailVectors(int rows, SparseB.Format format) {
        if (rows >= 6 * VL || format == SparseB.Format.TWO_FOUR && rows > 4 * VL) {
            return 8;
        }
        return rows >= 4 * VL ? 4 : rows >= 2 * VL ? 2 : 1;
    }

    /**
     * Units [u0, u1) = (row block, one of {@code r.nChunks} column ranges of NB multiples), row block major: the
     * row-block path for fewer row blocks than threads (2:4), each unit's block transposed into the thread's own
     * scratch when it changes (the transpose repeated once per thread).
     */
    private static void columnRanges(SpmmRegion r, int u0, int u1) {
        Scratch s = SCRATCH.get();
        int k = r.b.k();
        int n = r.b.n();
        long atAddr = s.at((long) k * r.mb * 4);
        int kc = kBlock(r.b, r.mb);
        int cols = ((n + r.nChunks - 1) / r.nChunks + NB - 1) / NB * NB;
        int done = -1;
        for (int u = u0; u < u1; u++) {
            int blk = u / r.nChunks;
            int j0 = (u % r.nChunks) * cols;
            int j1 = Math.min(n, j0 + cols);
            if (j0 >= j1) {
                continue;
            }
            int m0 = blk * r.mb;
            if (blk != done) {
                transpose(r.a, r.aOff, r.aAt, r.lda, r.m, m0, r.mb, 0, k, atAddr);
                done = blk;
            }
            kBlocked(r.nv, r.b, r.m, m0, r.mb, kc, atAddr, s, r.c, r.cOff, r.cAt, r.ldc, r.e, j0, j1);
            heavyPass(r.cAt, r.ldc, r.e, m0, Math.min(r.mb, r.m - m0), j0, j1 - j0);
        }
    }

    /** Transpose units [u0, u1) of the shared-At path: (row block, K chunk of T_CHUNK rows). */
    private static void transposeUnits(SpmmRegion r, int u0, int u1) {
        int k = r.b.k();
        for (int u = u0; u < u1; u++) {
            int blk = u / r.kChunks;
            int p0 = (u % r.kChunks) * T_CHUNK;
            transpose(r.a, r.aOff, r.aAt, r.lda, r.m, blk * r.mb, r.mb, p0, Math.min(k, p0 + T_CHUNK),
                    r.atAddr + (long) blk * k * r.mb * 4);
        }
    }

    /** Column units [u0, u1) of the shared-At path: (row block, NB columns). */
    private static void columnUnits(SpmmRegion r, int u0, int u1) {
        Scratch s = SCRATCH.get();
        int k = r.b.k();
        int n = r.b.n();
        for (int u = u0; u < u1; u++) {
            int blk = u / r.nChunks;
            int j0 = (u % r.nChunks) * NB;
            columns(r.nv, r.b, r.m, blk * r.mb, r.mb, j0, r.atAddr + (long) blk * k * r.mb * 4, s, r.c, r.cOff, r.cAt,
                    r.ldc, r.e);
            heavyPass(r.cAt, r.ldc, r.e, blk * r.mb, Math.min(r.mb, r.m - blk * r.mb), j0, Math.min(NB, n - j0));
        }
    }

    /**
     * Columns [j0, j0 + NB) of the row block at m0 (mb rows, its transposed A at the absolute address {@code base}):
     * computed into the thread's tile, transposed, stored into C with the epilogue: straight into C at the absolute
     * address {@code cAt} ({@link #storeChunk}) when it is not -1, else through a row-major tile and the GEMM's store.
     */
    private static void columns(int nv, SparseB b, int m, int m0, int mb, int j0, long base, Scratch s,
                                MemorySegment c, long cOff, long cAt, int ldc, Epilogue e) {
        int nb = Math.min(NB, b.n() - j0);
        for (int j = 0; j < nb; j++) {
            column(nv, b, j0 + j, 0, b.k(), base, s.yt, j * mb);
        }
        output(s.yt, 0, mb, Math.min(mb, m - m0), nb, m0, j0, s, c, cOff, cAt, ldc, e);
    }

    /**
     * Columns [jFrom, jTo) of the row block at m0 (mb rows, its transposed A at {@code base}) with K cut into blocks
     * of kc rows (kc = K: one block): per panel of columns (partial sums of {@link #PANEL_BYTES}), each K block runs every column of the panel
     * over its nonzeros in the block, the block's transposed A staying in L1 and the sums carried in the thread's
     * panel array (the chains unchanged: one per output, in increasing k); then the panel's outputs are stored, 16
     * rows at a time across the panel's columns (each square as {@link #storeChunk} stores it), so that C is written
     * row by row rather than 64 bytes per row per 16 columns (one thread, CPU time, against chunk by chunk: 384x1536
     * at 90% 2.61-2.65x over dense against 2.42-2.48x at M = 4096, 2.93-2.94x against 2.76-2.91x at M = 128; 80%
     * within 2%). Without K blocks each NB columns would load their transposed-A rows from L2, one 64-byte line per
     * vector FMA, L2's bandwidth the limit at 70-80% sparsity.
     */
    static void kBlocked(int nv, SparseB b, int m, int m0, int mb, int kc, long base, Scratch s,
                                 MemorySegment c, long cOff, long cAt, int ldc, Epilogue e, int jFrom, int jTo) {
        int k = b.k();
        int panel = Math.max(NB, PANEL_BYTES / (mb * 4) / NB * NB);
        float[] sums = s.sums(panel * mb);
        int rows = Math.min(mb, m - m0);
        for (int j0 = jFrom; j0 < jTo; j0 += panel) {
            int j1 = Math.min(jTo, j0 + panel);
            for (int p0 = 0; p0 < k; p0 += kc) {
                int p1 = Math.min(k, p0 + kc);
                if (nv == 8 && b.format() == SparseB.Format.TWO_FOUR) {
                    // the whole panel in one call (per column: 256 multiply-adds at 64 k rows)
                    TwoFourColumns.twoFour8(b, j0, j1, p0 / 4, Math.min(b.groups(), (p1 + 3) / 4), base, sums, 0, p0 == 0);
                    continue;
                }
                for (int j = j0; j < j1; j++) {
                    column(nv, b, j, p0, p1, base, sums, (j - j0) * mb);
                }
            }
            if (cAt != -1) {
                for (int r0 = 0; r0 < rows; r0 += VL) {
                    for (int q0 = j0; q0 < j1; q0 += NB) {
                        storeChunk(sums, (q0 - j0) * mb + r0, mb, Math.min(VL, rows - r0), Math.min(NB, j1 - q0), cAt, ldc,
                                m0 + r0, q0, e, s.square, s.square2);
                    }
                }
                continue;
            }
            for (int q0 = j0; q0 < j1; q0 += NB) {
                output(sums, (q0 - j0) * mb, mb, rows, Math.min(NB, j1 - q0), m0, q0, s, c, cOff, cAt, ldc, e);
            }
        }
    }

    /** Column j over k rows [p0, p1) into yt[to .. + mb): see {@link #columnCsr}. */
    static void column(int nv, SparseB b, int j, int p0, int p1, long base, float[] yt, int to) {
        if (b.format() == SparseB.Format.CSR) {
            columnCsr(nv, b, j, p0, p1, base, yt, to);
        } else {
            TwoFourColumns.column(nv, b, j, p0, p1, base, yt, to);
        }
    }

    /**
     * Stores columns [j0, j0 + nb) of the row block at m0 from {@code yt} (column l's mb sums at yt[yOff + l*mb]):
     * straight into C at the absolute address {@code cAt} ({@link #storeChunk}) when it is not -1, else transposed
     * into a row-major tile stored by the GEMM's tile store.
     */
    static void output(float[] yt, int yOff, int mb, int rows, int nb, int m0, int j0, Scratch s,
                               MemorySegment c, long cOff, long cAt, int ldc, Epilogue e) {
        if (cAt != -1) {
            storeChunk(yt, yOff, mb, rows, nb, cAt, ldc, m0, j0, e, s.square, s.square2);
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += VL) {
            SquareTranspose.square(yt, yOff + r0, mb, s.tile, r0 * NB, NB, s.square);
        }
        SgemmKernel.store(s.tile, 0, NB, rows, nb, 1f, 0f, true, e, c, cOff + (long) m0 * ldc + j0, ldc, m0, j0);
    }

    /**
     * The absolute address of C[0, 0] ({@code c} at float {@code cOff}) when the output can be stored straight into
     * it through {@link #ALL} (C, the bias and the residual native and alive, the m x n outputs and the operands the
     * epilogue reads inside their segments: checked here once per call), else -1.
     */
    static long directC(MemorySegment c, long cOff, int ldc, int m, int n, Epilogue e) {
        if (!c.isNative() || !c.scope().isAlive() || ldc < n || cOff < 0
                || (cOff + (long) (m - 1) * ldc + n) * 4 > c.byteSize()) {
            return -1;
        }
        if (e != null) {
            if (!e.nativeOperands()) {
                return -1;
            }
            if (e.bias() != null) {
                SgemmKernel.address(e.bias(), e.biasOffset() * 4, (e.biasPerRow() ? m : n) * 4L, "bias");
            }
            if (e.residual() != null) {
                SgemmKernel.address(e.residual(), e.residualOffset() * 4, ((m - 1) * e.residualStride() + n) * 4,
                        "residual");
            }
        }
        return c.address() + cOff * 4;
    }

    /**
     * C[m0 + r, j0 + l] = epi(yt[yOff + l*mb + r]) for r < rows, l < nb, C at the absolute address {@code cAt}
     * (row stride ldc floats), its bias and residual read at absolute addresses ({@link #directC} checked them):
     * each VL x VL square of yt transposed in registers into {@code sq} (scratch: see
     * {@link SquareTranspose#square}), then its rows stored (masked past nb) with the bias, a light activation and
     * the residual, the lane operations and their order those of the GEMM's fused store. A heavy activation (Gelu)
     * and the residual after it are left to {@link #heavyPass}.
     */
    private static void storeChunk(float[] yt, int yOff, int mb, int rows, int nb, long cAt, int ldc, int m0, int j0,
                                   Epilogue e, float[] sq, float[] scratch) {
        long ldcB = ldc * 4L;
        long at0 = cAt + ((long) m0 * ldc + j0) * 4;
        if (e == null && nb == VL) {
            for (int r0 = 0; r0 < rows; r0 += VL) {
                if (VL == 16 && r0 + VL <= rows) {
                    // a full square: transposed in registers straight into C
                    SquareTranspose.square16ToC(yt, yOff + r0, mb, at0 + r0 * ldcB, ldcB);
                    continue;
                }
                SquareTranspose.square(yt, yOff + r0, mb, sq, 0, VL, scratch);
                long at = at0 + r0 * ldcB;
                for (int r = 0; r < Math.min(VL, rows - r0); r++) {
                    FloatVector.fromArray(S, sq, r * VL).intoMemorySegment(ALL, at + r * ldcB, LE);
                }
            }
            return;
        }
        VectorMask<Float> mask = S.indexInRange(0, nb);
        Epilogue.Activation act = e == null ? Epilogue.Activation.NONE : e.activation();
        float lo = e == null ? 0f : e.p();
        float hi = e == null ? 0f : e.q();
        MemorySegment bias = e == null ? null : e.bias();
        boolean colBias = bias != null && !e.biasPerRow();
        FloatVector bv = colBias
                ? FloatVector.fromMemorySegment(S, ALL, bias.address() + (e.biasOffset() + j0) * 4, LE, mask)
                : FloatVector.zero(S);
        long rowBiasAt = bias != null && !colBias ? bias.address() + (e.biasOffset() + m0) * 4 : 0;
        boolean residual = e != null && e.residual() != null && act.light();
        long resStride = residual ? e.residualStride() * 4 : 0;
        long resAt = residual ? e.residual().address() + (e.residualOffset() + m0 * e.residualStride() + j0) * 4 : 0;
        // full squares with a column bias alone: transposed in registers straight into C
        boolean direct = VL == 16 && nb == VL && act == Epilogue.Activation.NONE && colBias && !residual;
        long biasAt = direct ? bias.address() + (e.biasOffset() + j0) * 4 : 0;
        for (int r0 = 0; r0 < rows; r0 += VL) {
            if (direct && r0 + VL <= rows) {
                SquareTranspose.square16ToC(yt, yOff + r0, mb, at0 + r0 * ldcB, ldcB, biasAt);
                continue;
            }
            SquareTranspose.square(yt, yOff + r0, mb, sq, 0, VL, scratch);
            for (int r = r0; r < Math.min(r0 + VL, rows); r++) {
                FloatVector x = FloatVector.fromArray(S, sq, (r - r0) * VL);
                if (colBias) {
                    x = x.add(bv);
                } else if (bias != null) {
                    x = x.add(ALL.get(Tensor.F32, rowBiasAt + r * 4L));
                }
                switch (act) {
                    case RELU -> x = x.max(0f);
                    case CLIP -> x = x.max(lo).min(hi);
                    case LEAKY_RELU -> x = x.blend(x.mul(lo), x.compare(VectorOperators.LT, 0f));
                    default -> { }
                }
                if (residual) {
                    x = x.add(FloatVector.fromMemorySegment(S, ALL, resAt + r * resStride, LE, mask));
                }
                x.intoMemorySegment(ALL, at0 + r * ldcB, LE, mask);
            }
        }
    }

    /**
     * The heavy activation of {@code e} (Gelu), and the residual after it, over C rows [m0, m0 + rows), columns
     * [j0, j0 + cols) that {@link #storeChunk} wrote (C at the absolute address {@code cAt}); nothing for other
     * epilogues or when C is not stored directly.
     */
    static void heavyPass(long cAt, int ldc, Epilogue e, int m0, int rows, int j0, int cols) {
        if (cAt == -1 || e == null || e.activation().light()) {
            return;
        }
        int f = e.activation() == Epilogue.Activation.GELU ? VectorMath.GELU : VectorMath.GELU_TANH;
        MemorySegment res = e.residual();
        for (int r = m0; r < m0 + rows; r++) {
            long at = cAt / 4 + (long) r * ldc + j0;
            VectorMath.apply(f, ALL, at, ALL, at, cols, res == null ? null : ALL,
                    res == null ? 0 : res.address() / 4 + e.residualOffset() + r * e.residualStride() + j0);
        }
    }

    /**
     * The absolute address of the native segment {@code s}, which must be alive and hold {@code bytes}: checked once
     * per call, as the loads through {@link #ALL} are not.
     */
    private static long checkedAddress(MemorySegment s, long bytes) {
        if (!s.isNative() || !s.scope().isAlive() || s.byteSize() < bytes) {
            throw new IllegalStateException("SpMM scratch: need a live native segment of " + bytes + " bytes, got "
                    + (s.isNative() ? "" : "non-native ") + s.byteSize());
        }
        return s.address();
    }

    /** A's m rows of k floats at {@code aOff + r*lda} must lie inside {@code a}. */
    static void checkA(MemorySegment a, long aOff, int lda, int m, int k) {
        long last = aOff + (long) (m - 1) * lda + k;
        if (aOff < 0 || lda < k || last * 4 > a.byteSize()) {
            throw new IndexOutOfBoundsException("SpMM: A rows [" + aOff + ", " + last + ") (lda " + lda
                    + ") outside a segment of " + a.byteSize() / 4 + " floats");
        }
    }

    /**
     * At[p*mb + r] (floats from the absolute address {@code atAt}) = A[m0 + r, p] for p in [p0, p1), r < mb (0 for
     * rows at or past m): VL x VL squares of A copied by rows into a per-thread array, transposed in registers,
     * stored by rows of At.
     */
    static void transpose(MemorySegment a, long aOff, long aAt, int lda, int m, int m0, int mb, int p0, int p1,
                                  long atAt) {
        Scratch s = SCRATCH.get();
        float[] sq = s.square;
        float[] sq2 = s.square2;
        for (int r0 = 0; r0 < mb; r0 += VL) {
            for (int q0 = p0; q0 < p1; q0 += VL) {
                int len = Math.min(VL, p1 - q0);
                if (VL == 16 && aAt != -1 && len == VL && m0 + r0 + VL <= m) {
                    SquareTranspose.square16(aAt + ((long) (m0 + r0) * lda + q0) * 4, lda * 4L,
                            atAt + ((long) q0 * mb + r0) * 4, mb * 4L);
                    continue;
                }
                for (int i = 0; i < VL; i++) {
                    int row = m0 + r0 + i;
                    if (row >= m) {
                        java.util.Arrays.fill(sq, i * VL, i * VL + VL, 0f);
                        continue;
                    }
                    MemorySegment.copy(a, Tensor.F32, (aOff + (long) row * lda + q0) * 4, sq, i * VL, len);
                    if (len < VL) {
                        java.util.Arrays.fill(sq, i * VL + len, i * VL + VL, 0f);
                    }
                }
                SquareTranspose.square(sq, 0, VL, sq, VL * VL, VL, sq2);
                for (int q = 0; q < len; q++) {
                    FloatVector.fromArray(S, sq, VL * VL + q * VL).intoMemorySegment(ALL, atAt + ((long) (q0 + q) * mb + r0) * 4, LE);
                }
            }
        }
    }

    // ---------------------------------------------------------------- SpMM columns

    /** The accumulator at yt[at ..]: zero on the first K block, else the partial sum the previous block left. */
    static FloatVector acc(boolean first, float[] yt, int at) {
        return first ? FloatVector.zero(S) : FloatVector.fromArray(S, yt, at);
    }

    /**
     * yt[to .. + nv*VL) = column j of the row block whose transposed A starts at byte {@code base}, over the nonzeros
     * in rows [p0, p1) (continuing the previous block's sums unless p0 is 0): CSR (2:4: {@link TwoFourColumns}).
     */
    private static void columnCsr(int nv, SparseB b, int j, int p0, int p1, long base, float[] yt, int to) {
        short[] rows = b.rows();
        float[] values = b.values();
        int i0 = b.blockStart(j, p0);
        int i1 = b.blockStart(j, p1);
        boolean first = p0 == 0;
        switch (nv) {
            case 8 -> csr8(rows, values, i0, i1, base, yt, to, first);
            case 4 -> csr4(rows, values, i0, i1, base, yt, to, first);
            case 2 -> csr2(rows, values, i0, i1, base, yt, to, first);
            default -> csr1(rows, values, i0, i1, base, yt, to, first);
        }
    }

    private static void csr8(short[] rows, float[] values, int i0, int i1, long base, float[] yt, int to,
                             boolean first) {
        FloatVector c0 = acc(first, yt, to), c1 = acc(first, yt, to + 1 * VL), c2 = acc(first, yt, to + 2 * VL), c3 = acc(first, yt, to + 3 * VL);
        FloatVector c4 = acc(first, yt, to + 4 * VL), c5 = acc(first, yt, to + 5 * VL), c6 = acc(first, yt, to + 6 * VL), c7 = acc(first, yt, to + 7 * VL);
        long stride = 8L * VL * 4;
        long vb = VL * 4L;
        for (int i = i0; i < i1; i++) {
            FloatVector w = FloatVector.broadcast(S, values[i]);
            long o = (base + rows[i] * stride) & AM;
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
            c4 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 4 * vb, LE), c4);
            c5 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 5 * vb, LE), c5);
            c6 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 6 * vb, LE), c6);
            c7 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 7 * vb, LE), c7);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
        c2.intoArray(yt, to + 2 * VL);
        c3.intoArray(yt, to + 3 * VL);
        c4.intoArray(yt, to + 4 * VL);
        c5.intoArray(yt, to + 5 * VL);
        c6.intoArray(yt, to + 6 * VL);
        c7.intoArray(yt, to + 7 * VL);
    }

    private static void csr4(short[] rows, float[] values, int i0, int i1, long base, float[] yt, int to,
                             boolean first) {
        FloatVector c0 = acc(first, yt, to), c1 = acc(first, yt, to + 1 * VL), c2 = acc(first, yt, to + 2 * VL), c3 = acc(first, yt, to + 3 * VL);
        long stride = 4L * VL * 4;
        long vb = VL * 4L;
        for (int i = i0; i < i1; i++) {
            FloatVector w = FloatVector.broadcast(S, values[i]);
            long o = (base + rows[i] * stride) & AM;
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
        c2.intoArray(yt, to + 2 * VL);
        c3.intoArray(yt, to + 3 * VL);
    }

    private static void csr2(short[] rows, float[] values, int i0, int i1, long base, float[] yt, int to,
                             boolean first) {
        FloatVector c0 = acc(first, yt, to), c1 = acc(first, yt, to + 1 * VL);
        long stride = 2L * VL * 4;
        long vb = VL * 4L;
        for (int i = i0; i < i1; i++) {
            FloatVector w = FloatVector.broadcast(S, values[i]);
            long o = (base + rows[i] * stride) & AM;
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
    }

    private static void csr1(short[] rows, float[] values, int i0, int i1, long base, float[] yt, int to,
                             boolean first) {
        FloatVector c0 = acc(first, yt, to);
        long stride = VL * 4L;
        for (int i = i0; i < i1; i++) {
            c0 = FloatVector.broadcast(S, values[i]).fma(FloatVector.fromMemorySegment(S, ALL, base + rows[i] * stride, LE), c0);
        }
        c0.intoArray(yt, to);
    }
}
