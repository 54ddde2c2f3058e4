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
 * threads: one block) all of At is allocated from the context and transposed by K chunks first. At is written and
 * read through {@link SgemmKernel#ALL} at absolute addresses (bounds checked once per call) and A copied by rows into
 * a per-thread array, never loaded through its own segment: the JDK's shared segment-access code, once its type
 * profile has seen heap segments (as in any real model's JVM), made the SpMM 2x slower (docs/ARCHITECTURE.md "GEMM
 * memory access"). Output column j of a row block is then {@code mb/VL} vector accumulators
 * in registers: for each nonzero (p, w) of column j, {@code acc += broadcast(w) * At[p][0..mb)}. Columns are done
 * {@link #NB} at a time into a per-thread tile [NB][mb], which is transposed (VL x VL squares in registers,
 * {@link #transposeSquare}; A's transpose works the same way) into a row-major [mb][NB] tile and stored through
 * the GEMM's tile store with the epilogue. In the shared-At case tasks are (row block, NB columns) units, row block
 * major, split over {@link KernelContext#parallelFor}. Optionally ({@link #kBlockBytes}) K is cut into blocks whose transposed A fits
 * L1, the partial sums carried through the tile.
 *
 * <p>Speed: one activation load per vector FMA (the dense GEMM reuses each loaded B vector over 8 rows), so the
 * SpMM runs at about 0.3-0.5 ns per 16-row FMA against the dense kernel's 0.16: it wins above about 70% sparsity
 * (see {@code ops/SparsePlanner} for the measured cost model).
 *
 * <p>M = 1, the sparse GEMV: {@code y[j] = sum w * x[p]} gathering x (copied once into a per-thread array) by the
 * nonzeros' int16 row indices; each CSR column runs eight chains over its nonzeros (round robin), summed at the end,
 * so long columns (K in the thousands) are not one latency-bound chain. About 0.4 ns per nonzero on the reference
 * machine, whether the x values are loaded one by one or gathered VL at a time (Zen 5's gathers are no faster).
 *
 * <p>In the SpMM each output element is one fused multiply-add chain over its column's nonzeros in increasing k (2:4:
 * over the slots in order, empty slots adding 0 x A[4g]), whatever M, the row block size, the tasks and the thread
 * count; the CSR GEMV sums eight chains, so a row alone and the same row inside a batch agree to rounding, not bit for
 * bit (2:4 GEMV: one chain, the same bits). {@link SpmmReference} is the scalar twin.
 */
public final class Spmm {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** All of memory: the transposed A is read and written through it at absolute addresses (see the class comment). */
    private static final MemorySegment ALL = SgemmKernel.ALL;
    /** Output columns per tile. */
    static final int NB = VL;
    /** Rows of A transposed per task unit of the transpose: p chunk length. */
    private static final int T_CHUNK = 128;
    /** Below this many multiply-adds a product runs on the calling thread. */
    static long parallelWork = 1L << 19;

    /** log2(VL): stages of the in-register transpose. */
    private static final int STAGES = Integer.numberOfTrailingZeros(VL);
    /** Two-vector permutes of transpose stage s (pairs of rows d = VL >> (s+1) apart): the low and high outputs. */
    private static final FloatVector[] LO = new FloatVector[STAGES];
    private static final FloatVector[] HI = new FloatVector[STAGES];

    static {
        for (int st = 0; st < STAGES; st++) {
            LO[st] = permute(st, false);
            HI[st] = permute(st, true);
        }
    }

    /** The same permutes as constants for 16 lanes (what {@link #transpose16} needs to keep them in registers). */
    private static final FloatVector L0 = VL == 16 ? LO[0] : null, L1 = VL == 16 ? LO[1] : null;
    private static final FloatVector L2 = VL == 16 ? LO[2] : null, L3 = VL == 16 ? LO[3] : null;
    private static final FloatVector H0 = VL == 16 ? HI[0] : null, H1 = VL == 16 ? HI[1] : null;
    private static final FloatVector H2 = VL == 16 ? HI[2] : null, H3 = VL == 16 ? HI[3] : null;

    /**
     * Stage {@code st}'s permute of a pair of rows (x, y) d = VL >> (st+1) apart, as two-vector indices (y's lanes
     * from VL): the low output takes the even d-float chunks of x and y interleaved, the high output the odd ones.
     */
    private static FloatVector permute(int st, boolean high) {
        int d = VL >> (st + 1);
        float[] idx = new float[VL];
        for (int l = 0; l < VL; l++) {
            int c = l / d;
            idx[l] = ((c & 1) == 0 ? 0 : VL) + (c / 2) * 2 * d + (high ? d : 0) + l % d;
        }
        return FloatVector.fromArray(S, idx, 0);
    }

    /** Per-thread tiles. */
    private static final class Scratch {
        final float[] yt = new float[NB * 8 * VL];
        /** A VL x VL square and its transpose. */
        final float[] square = new float[2 * VL * VL];
        /** The transpose's scratch. */
        final float[] square2 = new float[2 * VL * VL];
        final float[] tile = new float[8 * VL * NB];
        private float[] acc = new float[NB];
        float[] x = new float[0];
        /** A row block's transposed A (the row-block path), native: read through {@link #ALL}. */
        private MemorySegment at = MemorySegment.NULL;

        /** The absolute address of this thread's transposed-A buffer of at least {@code bytes} bytes. */
        long at(long bytes) {
            if (at.byteSize() < bytes) {
                at = NativeMemory.allocateScratch(bytes);
            }
            return at.address();
        }

        /** A column panel's partial sums (the row-block path with K blocks). */
        private float[] sums = new float[0];

        float[] sums(int count) {
            if (sums.length < count) {
                sums = new float[count];
            }
            return sums;
        }

        /** The GEMV's outputs for n columns. */
        float[] acc(int n) {
            if (acc.length < n) {
                acc = new float[n];
            }
            return acc;
        }

        float[] x(int k) {
            if (x.length < k) {
                x = new float[k];
            }
            return x;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Spmm() {}

    /**
     * Bytes of transposed A one K block spans (the row-block path): its rows stay in L1 while every column of a
     * panel runs its nonzeros in the block (64 KB: 128 rows of a 128-row block), the partial sums carried through
     * the panel's sums ({@link #PANEL_BYTES}). Tests lower it.
     */
    static int kBlockBytes = 64 << 10;
    /** K blocks only when a column has at least this many nonzeros per block on average (tests lower it). */
    static int minWorkPerBlock = 24;
    /** Bytes of partial sums of one column panel (the row-block path with K blocks). */
    private static final int PANEL_BYTES = 256 << 10;
    /** The most vectors per row block (8; lower to measure). */
    static int maxVectors = 8;

    /**
     * Rows of a K block for row blocks of {@code mb} rows (a multiple of {@link SparseB#K_STEP}, or K for one block):
     * enough blocks that the transposed A of one stays within {@link #kBlockBytes}, but no more than leave a column
     * {@link #minWorkPerBlock} multiply-adds per block on average (each block reloads and stores the column's sums:
     * at 95% sparsity on 384x1536, blocking was 14% slower in a prototype, at 90% 3% slower; at 80% 16% faster, at 70% 33%).
     */
    static int kBlock(SparseB b, int mb) {
        int k = b.k();
        long byBytes = ((long) k * mb * 4 + kBlockBytes - 1) / kBlockBytes;
        long byWork = b.work() / b.n() / minWorkPerBlock;
        long blocks = Math.max(1, Math.min(byBytes, byWork));
        if (blocks == 1) {
            return k;
        }
        int kc = (int) ((k + blocks - 1) / blocks);
        return (kc + SparseB.K_STEP - 1) / SparseB.K_STEP * SparseB.K_STEP;
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
        int threads = ctx.threads() <= 1 || (long) m * b.work() < parallelWork ? 1 : ctx.threads();
        if (m == 1) {
            gemv(ctx, threads, a, aOff, b, c, cOff, e);
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
        if (threads == 1 || blocks >= 2 * threads) {
            // one task per range of row blocks: each block transposed into the thread's own scratch, used while in L2
            run(ctx, threads == 1 ? 1 : Math.min(blocks, 4 * threads), blocks, (b0, b1) -> {
                Scratch s = SCRATCH.get();
                long atAddr = s.at((long) k * mb * 4);
                int kc = kBlock(b, mb);
                for (int blk = b0; blk < b1; blk++) {
                    transpose(a, aOff, aAt, lda, m, blk * mb, mb, 0, k, atAddr);
                    if (kc < k) {
                        kBlocked(nv, b, m, blk * mb, mb, kc, atAddr, s, c, cOff, cAt, ldc, e);
                    } else {
                        for (int ch = 0; ch < nChunks; ch++) {
                            columns(nv, b, m, blk * mb, mb, ch * NB, atAddr, s, c, cOff, cAt, ldc, e);
                        }
                    }
                    heavyPass(cAt, ldc, e, blk * mb, Math.min(mb, m - blk * mb), 0, n);
                }
            });
            return;
        }
        MemorySegment at = ctx.allocate(DType.FLOAT, Shape.of((long) blocks * k * mb)).data();
        long atAddr = checkedAddress(at, (long) blocks * k * mb * 4);
        int kChunks = (k + T_CHUNK - 1) / T_CHUNK;
        int tUnits = blocks * kChunks;
        run(ctx, Math.min(tUnits, 4 * threads), tUnits, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int blk = u / kChunks;
                int p0 = (u % kChunks) * T_CHUNK;
                transpose(a, aOff, aAt, lda, m, blk * mb, mb, p0, Math.min(k, p0 + T_CHUNK), atAddr + (long) blk * k * mb * 4);
            }
        });
        int units = blocks * nChunks;
        run(ctx, Math.min(units, 4 * threads), units, (u0, u1) -> {
            Scratch s = SCRATCH.get();
            for (int u = u0; u < u1; u++) {
                int blk = u / nChunks;
                int j0 = (u % nChunks) * NB;
                columns(nv, b, m, blk * mb, mb, j0, atAddr + (long) blk * k * mb * 4, s, c, cOff, cAt, ldc, e);
                heavyPass(cAt, ldc, e, blk * mb, Math.min(mb, m - blk * mb), j0, Math.min(NB, n - j0));
            }
        });
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
     * The row block at m0 (mb rows, its transposed A at {@code base}) with K cut into blocks of kc rows: per panel of
     * columns (partial sums of {@link #PANEL_BYTES}), each K block runs every column of the panel over its nonzeros
     * in the block, the block's transposed A staying in L1 and the sums carried in the thread's panel array (the
     * chains unchanged: one per output, in increasing k); then the panel's outputs are stored as {@link #columns}
     * stores them. Without blocks each NB columns would load their transposed-A rows from L2, one 64-byte line per
     * vector FMA, L2's bandwidth the limit at 70-80% sparsity.
     */
    private static void kBlocked(int nv, SparseB b, int m, int m0, int mb, int kc, long base, Scratch s,
                                 MemorySegment c, long cOff, long cAt, int ldc, Epilogue e) {
        int k = b.k();
        int n = b.n();
        int panel = Math.max(NB, PANEL_BYTES / (mb * 4) / NB * NB);
        float[] sums = s.sums(panel * mb);
        int rows = Math.min(mb, m - m0);
        for (int j0 = 0; j0 < n; j0 += panel) {
            int j1 = Math.min(n, j0 + panel);
            for (int p0 = 0; p0 < k; p0 += kc) {
                int p1 = Math.min(k, p0 + kc);
                for (int j = j0; j < j1; j++) {
                    column(nv, b, j, p0, p1, base, sums, (j - j0) * mb);
                }
            }
            for (int q0 = j0; q0 < j1; q0 += NB) {
                output(sums, (q0 - j0) * mb, mb, rows, Math.min(NB, j1 - q0), m0, q0, s, c, cOff, cAt, ldc, e);
            }
        }
    }

    /** Column j over k rows [p0, p1) into yt[to .. + mb): see {@link #columnCsr}. */
    private static void column(int nv, SparseB b, int j, int p0, int p1, long base, float[] yt, int to) {
        if (b.format() == SparseB.Format.CSR) {
            columnCsr(nv, b, j, p0, p1, base, yt, to);
        } else {
            columnTwoFour(nv, b, j, p0, p1, base, yt, to);
        }
    }

    /**
     * Stores columns [j0, j0 + nb) of the row block at m0 from {@code yt} (column l's mb sums at yt[yOff + l*mb]):
     * straight into C at the absolute address {@code cAt} ({@link #storeChunk}) when it is not -1, else transposed
     * into a row-major tile stored by the GEMM's tile store.
     */
    private static void output(float[] yt, int yOff, int mb, int rows, int nb, int m0, int j0, Scratch s,
                               MemorySegment c, long cOff, long cAt, int ldc, Epilogue e) {
        if (cAt != -1) {
            storeChunk(yt, yOff, mb, rows, nb, cAt, ldc, m0, j0, e, s.square, s.square2);
            return;
        }
        for (int r0 = 0; r0 < rows; r0 += VL) {
            transposeSquare(yt, yOff + r0, mb, s.tile, r0 * NB, NB, s.square);
        }
        SgemmKernel.store(s.tile, 0, NB, rows, nb, 1f, 0f, true, e, c, cOff + (long) m0 * ldc + j0, ldc, m0, j0);
    }

    /**
     * The absolute address of C[0, 0] ({@code c} at float {@code cOff}) when the output can be stored straight into
     * it through {@link #ALL} (C, the bias and the residual native and alive, the m x n outputs and the operands the
     * epilogue reads inside their segments: checked here once per call), else -1.
     */
    private static long directC(MemorySegment c, long cOff, int ldc, int m, int n, Epilogue e) {
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
                SgemmKernel.address(e.residual(), e.residualOffset() * 4, ((m - 1) * e.residualStride() + n) * 4, "residual");
            }
        }
        return c.address() + cOff * 4;
    }

    /**
     * C[m0 + r, j0 + l] = epi(yt[yOff + l*mb + r]) for r < rows, l < nb, C at the absolute address {@code cAt} (row stride
     * ldc floats), its bias and residual read at absolute addresses ({@link #directC} checked them): each VL x VL
     * square of yt transposed in registers into {@code sq} (scratch: see {@link #transposeSquare}), then its rows stored (masked past nb) with the bias, a
     * light activation and the residual, the lane operations and their order those of the GEMM's fused store. A
     * heavy activation (Gelu) and the residual after it are left to {@link #heavyPass}.
     */
    private static void storeChunk(float[] yt, int yOff, int mb, int rows, int nb, long cAt, int ldc, int m0, int j0,
                                   Epilogue e, float[] sq, float[] scratch) {
        long ldcB = ldc * 4L;
        long at0 = cAt + ((long) m0 * ldc + j0) * 4;
        if (e == null && nb == VL) {
            for (int r0 = 0; r0 < rows; r0 += VL) {
                transposeSquare(yt, yOff + r0, mb, sq, 0, VL, scratch);
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
        FloatVector bv = colBias ? FloatVector.fromMemorySegment(S, ALL, bias.address() + (e.biasOffset() + j0) * 4, LE, mask)
                : FloatVector.zero(S);
        long rowBiasAt = bias != null && !colBias ? bias.address() + (e.biasOffset() + m0) * 4 : 0;
        boolean residual = e != null && e.residual() != null && act.light();
        long resStride = residual ? e.residualStride() * 4 : 0;
        long resAt = residual ? e.residual().address() + (e.residualOffset() + m0 * e.residualStride() + j0) * 4 : 0;
        for (int r0 = 0; r0 < rows; r0 += VL) {
            transposeSquare(yt, yOff + r0, mb, sq, 0, VL, scratch);
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
    private static void heavyPass(long cAt, int ldc, Epilogue e, int m0, int rows, int j0, int cols) {
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

    /** Runs {@code body(from, to)} over [0, units) cut into {@code tasks} ranges. */
    private static void run(KernelContext ctx, int tasks, int units, RangeBody body) {
        if (tasks <= 1) {
            body.run(0, units);
            return;
        }
        ctx.parallelFor(tasks, t -> body.run((int) ((long) units * t / tasks), (int) ((long) units * (t + 1) / tasks)));
    }

    @FunctionalInterface
    private interface RangeBody {
        void run(int from, int to);
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
    private static void checkA(MemorySegment a, long aOff, int lda, int m, int k) {
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
    private static void transpose(MemorySegment a, long aOff, long aAt, int lda, int m, int m0, int mb, int p0, int p1,
                                  long atAt) {
        Scratch s = SCRATCH.get();
        float[] sq = s.square;
        float[] sq2 = s.square2;
        for (int r0 = 0; r0 < mb; r0 += VL) {
            for (int q0 = p0; q0 < p1; q0 += VL) {
                int len = Math.min(VL, p1 - q0);
                if (VL == 16 && aAt != -1 && len == VL && m0 + r0 + VL <= m) {
                    transpose16(aAt + ((long) (m0 + r0) * lda + q0) * 4, lda * 4L, atAt + ((long) q0 * mb + r0) * 4, mb * 4L);
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
                transposeSquare(sq, 0, VL, sq, VL * VL, VL, sq2);
                for (int q = 0; q < len; q++) {
                    FloatVector.fromArray(S, sq, VL * VL + q * VL).intoMemorySegment(ALL, atAt + ((long) (q0 + q) * mb + r0) * 4, LE);
                }
            }
        }
    }

    /** {@link #transposeSquare} for 16 lanes: the 16 rows in registers, 4 stages of 16 two-vector permutes. */
    private static void transpose16(float[] src, int so, int ss, float[] dst, int dof, int ds) {
        FloatVector r0 = FloatVector.fromArray(S, src, so + 0 * ss);
        FloatVector r1 = FloatVector.fromArray(S, src, so + 1 * ss);
        FloatVector r2 = FloatVector.fromArray(S, src, so + 2 * ss);
        FloatVector r3 = FloatVector.fromArray(S, src, so + 3 * ss);
        FloatVector r4 = FloatVector.fromArray(S, src, so + 4 * ss);
        FloatVector r5 = FloatVector.fromArray(S, src, so + 5 * ss);
        FloatVector r6 = FloatVector.fromArray(S, src, so + 6 * ss);
        FloatVector r7 = FloatVector.fromArray(S, src, so + 7 * ss);
        FloatVector r8 = FloatVector.fromArray(S, src, so + 8 * ss);
        FloatVector r9 = FloatVector.fromArray(S, src, so + 9 * ss);
        FloatVector r10 = FloatVector.fromArray(S, src, so + 10 * ss);
        FloatVector r11 = FloatVector.fromArray(S, src, so + 11 * ss);
        FloatVector r12 = FloatVector.fromArray(S, src, so + 12 * ss);
        FloatVector r13 = FloatVector.fromArray(S, src, so + 13 * ss);
        FloatVector r14 = FloatVector.fromArray(S, src, so + 14 * ss);
        FloatVector r15 = FloatVector.fromArray(S, src, so + 15 * ss);
        FloatVector a0 = L0.selectFrom(r0, r8), a8 = H0.selectFrom(r0, r8);
        FloatVector a1 = L0.selectFrom(r1, r9), a9 = H0.selectFrom(r1, r9);
        FloatVector a2 = L0.selectFrom(r2, r10), a10 = H0.selectFrom(r2, r10);
        FloatVector a3 = L0.selectFrom(r3, r11), a11 = H0.selectFrom(r3, r11);
        FloatVector a4 = L0.selectFrom(r4, r12), a12 = H0.selectFrom(r4, r12);
        FloatVector a5 = L0.selectFrom(r5, r13), a13 = H0.selectFrom(r5, r13);
        FloatVector a6 = L0.selectFrom(r6, r14), a14 = H0.selectFrom(r6, r14);
        FloatVector a7 = L0.selectFrom(r7, r15), a15 = H0.selectFrom(r7, r15);
        FloatVector b0 = L1.selectFrom(a0, a4), b4 = H1.selectFrom(a0, a4);
        FloatVector b1 = L1.selectFrom(a1, a5), b5 = H1.selectFrom(a1, a5);
        FloatVector b2 = L1.selectFrom(a2, a6), b6 = H1.selectFrom(a2, a6);
        FloatVector b3 = L1.selectFrom(a3, a7), b7 = H1.selectFrom(a3, a7);
        FloatVector b8 = L1.selectFrom(a8, a12), b12 = H1.selectFrom(a8, a12);
        FloatVector b9 = L1.selectFrom(a9, a13), b13 = H1.selectFrom(a9, a13);
        FloatVector b10 = L1.selectFrom(a10, a14), b14 = H1.selectFrom(a10, a14);
        FloatVector b11 = L1.selectFrom(a11, a15), b15 = H1.selectFrom(a11, a15);
        FloatVector c0 = L2.selectFrom(b0, b2), c2 = H2.selectFrom(b0, b2);
        FloatVector c1 = L2.selectFrom(b1, b3), c3 = H2.selectFrom(b1, b3);
        FloatVector c4 = L2.selectFrom(b4, b6), c6 = H2.selectFrom(b4, b6);
        FloatVector c5 = L2.selectFrom(b5, b7), c7 = H2.selectFrom(b5, b7);
        FloatVector c8 = L2.selectFrom(b8, b10), c10 = H2.selectFrom(b8, b10);
        FloatVector c9 = L2.selectFrom(b9, b11), c11 = H2.selectFrom(b9, b11);
        FloatVector c12 = L2.selectFrom(b12, b14), c14 = H2.selectFrom(b12, b14);
        FloatVector c13 = L2.selectFrom(b13, b15), c15 = H2.selectFrom(b13, b15);
        FloatVector d0 = L3.selectFrom(c0, c1), d1 = H3.selectFrom(c0, c1);
        FloatVector d2 = L3.selectFrom(c2, c3), d3 = H3.selectFrom(c2, c3);
        FloatVector d4 = L3.selectFrom(c4, c5), d5 = H3.selectFrom(c4, c5);
        FloatVector d6 = L3.selectFrom(c6, c7), d7 = H3.selectFrom(c6, c7);
        FloatVector d8 = L3.selectFrom(c8, c9), d9 = H3.selectFrom(c8, c9);
        FloatVector d10 = L3.selectFrom(c10, c11), d11 = H3.selectFrom(c10, c11);
        FloatVector d12 = L3.selectFrom(c12, c13), d13 = H3.selectFrom(c12, c13);
        FloatVector d14 = L3.selectFrom(c14, c15), d15 = H3.selectFrom(c14, c15);
        d0.intoArray(dst, dof + 0 * ds);
        d1.intoArray(dst, dof + 1 * ds);
        d2.intoArray(dst, dof + 2 * ds);
        d3.intoArray(dst, dof + 3 * ds);
        d4.intoArray(dst, dof + 4 * ds);
        d5.intoArray(dst, dof + 5 * ds);
        d6.intoArray(dst, dof + 6 * ds);
        d7.intoArray(dst, dof + 7 * ds);
        d8.intoArray(dst, dof + 8 * ds);
        d9.intoArray(dst, dof + 9 * ds);
        d10.intoArray(dst, dof + 10 * ds);
        d11.intoArray(dst, dof + 11 * ds);
        d12.intoArray(dst, dof + 12 * ds);
        d13.intoArray(dst, dof + 13 * ds);
        d14.intoArray(dst, dof + 14 * ds);
        d15.intoArray(dst, dof + 15 * ds);
    }

    /**
     * The 16 x 16 square of rows at the absolute addresses {@code src + i*ss} (bytes) transposed in registers, its
     * rows written at {@code dst + l*ds}, both through {@link #ALL} (A's transpose: no copy through an array).
     */
    private static void transpose16(long src, long ss, long dst, long ds) {
        FloatVector r0 = FloatVector.fromMemorySegment(S, ALL, src + 0 * ss, LE);
        FloatVector r1 = FloatVector.fromMemorySegment(S, ALL, src + 1 * ss, LE);
        FloatVector r2 = FloatVector.fromMemorySegment(S, ALL, src + 2 * ss, LE);
        FloatVector r3 = FloatVector.fromMemorySegment(S, ALL, src + 3 * ss, LE);
        FloatVector r4 = FloatVector.fromMemorySegment(S, ALL, src + 4 * ss, LE);
        FloatVector r5 = FloatVector.fromMemorySegment(S, ALL, src + 5 * ss, LE);
        FloatVector r6 = FloatVector.fromMemorySegment(S, ALL, src + 6 * ss, LE);
        FloatVector r7 = FloatVector.fromMemorySegment(S, ALL, src + 7 * ss, LE);
        FloatVector r8 = FloatVector.fromMemorySegment(S, ALL, src + 8 * ss, LE);
        FloatVector r9 = FloatVector.fromMemorySegment(S, ALL, src + 9 * ss, LE);
        FloatVector r10 = FloatVector.fromMemorySegment(S, ALL, src + 10 * ss, LE);
        FloatVector r11 = FloatVector.fromMemorySegment(S, ALL, src + 11 * ss, LE);
        FloatVector r12 = FloatVector.fromMemorySegment(S, ALL, src + 12 * ss, LE);
        FloatVector r13 = FloatVector.fromMemorySegment(S, ALL, src + 13 * ss, LE);
        FloatVector r14 = FloatVector.fromMemorySegment(S, ALL, src + 14 * ss, LE);
        FloatVector r15 = FloatVector.fromMemorySegment(S, ALL, src + 15 * ss, LE);
        FloatVector a0 = L0.selectFrom(r0, r8), a8 = H0.selectFrom(r0, r8);
        FloatVector a1 = L0.selectFrom(r1, r9), a9 = H0.selectFrom(r1, r9);
        FloatVector a2 = L0.selectFrom(r2, r10), a10 = H0.selectFrom(r2, r10);
        FloatVector a3 = L0.selectFrom(r3, r11), a11 = H0.selectFrom(r3, r11);
        FloatVector a4 = L0.selectFrom(r4, r12), a12 = H0.selectFrom(r4, r12);
        FloatVector a5 = L0.selectFrom(r5, r13), a13 = H0.selectFrom(r5, r13);
        FloatVector a6 = L0.selectFrom(r6, r14), a14 = H0.selectFrom(r6, r14);
        FloatVector a7 = L0.selectFrom(r7, r15), a15 = H0.selectFrom(r7, r15);
        FloatVector b0 = L1.selectFrom(a0, a4), b4 = H1.selectFrom(a0, a4);
        FloatVector b1 = L1.selectFrom(a1, a5), b5 = H1.selectFrom(a1, a5);
        FloatVector b2 = L1.selectFrom(a2, a6), b6 = H1.selectFrom(a2, a6);
        FloatVector b3 = L1.selectFrom(a3, a7), b7 = H1.selectFrom(a3, a7);
        FloatVector b8 = L1.selectFrom(a8, a12), b12 = H1.selectFrom(a8, a12);
        FloatVector b9 = L1.selectFrom(a9, a13), b13 = H1.selectFrom(a9, a13);
        FloatVector b10 = L1.selectFrom(a10, a14), b14 = H1.selectFrom(a10, a14);
        FloatVector b11 = L1.selectFrom(a11, a15), b15 = H1.selectFrom(a11, a15);
        FloatVector c0 = L2.selectFrom(b0, b2), c2 = H2.selectFrom(b0, b2);
        FloatVector c1 = L2.selectFrom(b1, b3), c3 = H2.selectFrom(b1, b3);
        FloatVector c4 = L2.selectFrom(b4, b6), c6 = H2.selectFrom(b4, b6);
        FloatVector c5 = L2.selectFrom(b5, b7), c7 = H2.selectFrom(b5, b7);
        FloatVector c8 = L2.selectFrom(b8, b10), c10 = H2.selectFrom(b8, b10);
        FloatVector c9 = L2.selectFrom(b9, b11), c11 = H2.selectFrom(b9, b11);
        FloatVector c12 = L2.selectFrom(b12, b14), c14 = H2.selectFrom(b12, b14);
        FloatVector c13 = L2.selectFrom(b13, b15), c15 = H2.selectFrom(b13, b15);
        FloatVector d0 = L3.selectFrom(c0, c1), d1 = H3.selectFrom(c0, c1);
        FloatVector d2 = L3.selectFrom(c2, c3), d3 = H3.selectFrom(c2, c3);
        FloatVector d4 = L3.selectFrom(c4, c5), d5 = H3.selectFrom(c4, c5);
        FloatVector d6 = L3.selectFrom(c6, c7), d7 = H3.selectFrom(c6, c7);
        FloatVector d8 = L3.selectFrom(c8, c9), d9 = H3.selectFrom(c8, c9);
        FloatVector d10 = L3.selectFrom(c10, c11), d11 = H3.selectFrom(c10, c11);
        FloatVector d12 = L3.selectFrom(c12, c13), d13 = H3.selectFrom(c12, c13);
        FloatVector d14 = L3.selectFrom(c14, c15), d15 = H3.selectFrom(c14, c15);
        d0.intoMemorySegment(ALL, dst + 0 * ds, LE);
        d1.intoMemorySegment(ALL, dst + 1 * ds, LE);
        d2.intoMemorySegment(ALL, dst + 2 * ds, LE);
        d3.intoMemorySegment(ALL, dst + 3 * ds, LE);
        d4.intoMemorySegment(ALL, dst + 4 * ds, LE);
        d5.intoMemorySegment(ALL, dst + 5 * ds, LE);
        d6.intoMemorySegment(ALL, dst + 6 * ds, LE);
        d7.intoMemorySegment(ALL, dst + 7 * ds, LE);
        d8.intoMemorySegment(ALL, dst + 8 * ds, LE);
        d9.intoMemorySegment(ALL, dst + 9 * ds, LE);
        d10.intoMemorySegment(ALL, dst + 10 * ds, LE);
        d11.intoMemorySegment(ALL, dst + 11 * ds, LE);
        d12.intoMemorySegment(ALL, dst + 12 * ds, LE);
        d13.intoMemorySegment(ALL, dst + 13 * ds, LE);
        d14.intoMemorySegment(ALL, dst + 14 * ds, LE);
        d15.intoMemorySegment(ALL, dst + 15 * ds, LE);
    }

    /**
     * Writes the transpose of the VL x VL square at {@code src[so + i*ss + l]} (row i, lane l) to
     * {@code dst[dof + l*ds + i]}: with 16 lanes all in registers ({@link #transpose16}), else by log2(VL) stages of
     * two-vector permutes (stage s pairs rows d = VL >> (s+1) apart and interleaves their d-float chunks) through
     * {@code scratch} (2 * VL * VL floats).
     */
    static void transposeSquare(float[] src, int so, int ss, float[] dst, int dof, int ds, float[] scratch) {
        if (VL == 16) {
            transpose16(src, so, ss, dst, dof, ds);
            return;
        }
        for (int i = 0; i < VL; i++) {
            FloatVector.fromArray(S, src, so + i * ss).intoArray(scratch, i * VL);
        }
        int from = 0;
        int to = VL * VL;
        for (int st = 0; st < STAGES; st++) {
            int d = VL >> (st + 1);
            FloatVector lo = LO[st];
            FloatVector hi = HI[st];
            for (int i = 0; i < VL; i++) {
                if ((i & d) != 0) {
                    continue;
                }
                FloatVector x = FloatVector.fromArray(S, scratch, from + i * VL);
                FloatVector y = FloatVector.fromArray(S, scratch, from + (i + d) * VL);
                lo.selectFrom(x, y).intoArray(scratch, to + i * VL);
                hi.selectFrom(x, y).intoArray(scratch, to + (i + d) * VL);
            }
            int t = from;
            from = to;
            to = t;
        }
        for (int i = 0; i < VL; i++) {
            FloatVector.fromArray(S, scratch, from + i * VL).intoArray(dst, dof + i * ds);
        }
    }

    // ---------------------------------------------------------------- SpMM columns

    /** The accumulator at yt[at ..]: zero on the first K block, else the partial sum the previous block left. */
    private static FloatVector acc(boolean first, float[] yt, int at) {
        return first ? FloatVector.zero(S) : FloatVector.fromArray(S, yt, at);
    }

    /**
     * yt[to .. + nv*VL) = column j of the row block whose transposed A starts at byte {@code base}, over the nonzeros
     * in rows [p0, p1) (continuing the previous block's sums unless p0 is 0): CSR.
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
            long o = base + rows[i] * stride;
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
            long o = base + rows[i] * stride;
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
            long o = base + rows[i] * stride;
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

    /** As {@link #columnCsr} for a 2:4 weight: two slots per group of 4 rows. */
    private static void columnTwoFour(int nv, SparseB b, int j, int p0, int p1, long base, float[] yt, int to) {
        int g0 = p0 / 4;
        int g1 = Math.min(b.groups(), (p1 + 3) / 4);
        boolean first = p0 == 0;
        switch (nv) {
            case 8 -> twoFour8(b, j, g0, g1, base, yt, to, first);
            case 4 -> twoFour4(b, j, g0, g1, base, yt, to, first);
            case 2 -> twoFour2(b, j, g0, g1, base, yt, to, first);
            default -> twoFour1(b, j, g0, g1, base, yt, to, first);
        }
    }

    private static void twoFour8(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = acc(first, yt, to), c1 = acc(first, yt, to + 1 * VL), c2 = acc(first, yt, to + 2 * VL), c3 = acc(first, yt, to + 3 * VL);
        FloatVector c4 = acc(first, yt, to + 4 * VL), c5 = acc(first, yt, to + 5 * VL), c6 = acc(first, yt, to + 6 * VL), c7 = acc(first, yt, to + 7 * VL);
        long stride = 8L * VL * 4;
        long vb = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            for (int slot = 0; slot < 2; slot++) {
                long o = base + (4L * g + ((nib >> (2 * slot)) & 3)) * stride;
                FloatVector w = FloatVector.broadcast(S, values[v + slot]);
                c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
                c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
                c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
                c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
                c4 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 4 * vb, LE), c4);
                c5 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 5 * vb, LE), c5);
                c6 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 6 * vb, LE), c6);
                c7 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 7 * vb, LE), c7);
            }
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

    private static void twoFour4(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = acc(first, yt, to), c1 = acc(first, yt, to + 1 * VL), c2 = acc(first, yt, to + 2 * VL), c3 = acc(first, yt, to + 3 * VL);
        long stride = 4L * VL * 4;
        long vb = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o = base + (4L * g + (nib & 3)) * stride;
            FloatVector w = FloatVector.broadcast(S, values[v]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
            o = base + (4L * g + ((nib >> 2) & 3)) * stride;
            w = FloatVector.broadcast(S, values[v + 1]);
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

    private static void twoFour2(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = acc(first, yt, to), c1 = acc(first, yt, to + 1 * VL);
        long stride = 2L * VL * 4;
        long vb = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o = base + (4L * g + (nib & 3)) * stride;
            FloatVector w = FloatVector.broadcast(S, values[v]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            o = base + (4L * g + ((nib >> 2) & 3)) * stride;
            w = FloatVector.broadcast(S, values[v + 1]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
    }

    private static void twoFour1(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = acc(first, yt, to);
        long stride = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o0 = base + (4L * g + (nib & 3)) * stride;
            long o1 = base + (4L * g + ((nib >> 2) & 3)) * stride;
            c0 = FloatVector.broadcast(S, values[v]).fma(FloatVector.fromMemorySegment(S, ALL, o0, LE), c0);
            c0 = FloatVector.broadcast(S, values[v + 1]).fma(FloatVector.fromMemorySegment(S, ALL, o1, LE), c0);
        }
        c0.intoArray(yt, to);
    }

    // ---------------------------------------------------------------- GEMV (M = 1)

    private static void gemv(KernelContext ctx, int threads, MemorySegment a, long aOff, SparseB b, MemorySegment c,
                             long cOff, Epilogue e) {
        int n = b.n();
        int chunks = (n + NB - 1) / NB;
        float[] x0 = SCRATCH.get().x(b.k());
        MemorySegment.copy(a, Tensor.F32, aOff * 4, x0, 0, b.k());
        run(ctx, threads == 1 ? 1 : Math.min(chunks, 4 * threads), chunks, (u0, u1) -> {
            int j0 = u0 * NB;
            int nb = Math.min(n, u1 * NB) - j0;
            float[] acc = SCRATCH.get().acc(nb);
            if (b.format() == SparseB.Format.CSR) {
                dotsCsr(b, j0, nb, x0, acc, 0);
            } else {
                dotsTwoFour(b, j0, nb, x0, acc, 0);
            }
            SgemmKernel.store(acc, 0, nb, 1, nb, 1f, 0f, true, e, c, cOff + j0, 0, 0, j0);
        });
    }

    /**
     * acc[to + q] = sum over column j+q's nonzeros of w * x[p], q < cols: eight chains per column over its nonzeros
     * (i .. i+7 round robin, the rest on the first), summed ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)). Scalar
     * loads, as fast as gathering VL x values per vector FMA on the reference machine; eight chains measured 8%
     * faster than four (4096x4096 at 90%: 598 against 653 us), the loads of x, w and k the limit.
     */
    private static void dotsCsr(SparseB b, int j, int cols, float[] x, float[] acc, int to) {
        int[] start = b.start();
        short[] rows = b.rows();
        float[] values = b.values();
        for (int q = 0; q < cols; q++) {
            int i1 = start[j + q + 1];
            int i = start[j + q];
            float s0 = 0f;
            float s1 = 0f;
            float s2 = 0f;
            float s3 = 0f;
            float s4 = 0f;
            float s5 = 0f;
            float s6 = 0f;
            float s7 = 0f;
            for (; i + 8 <= i1; i += 8) {
                s0 = Math.fma(values[i], x[rows[i]], s0);
                s1 = Math.fma(values[i + 1], x[rows[i + 1]], s1);
                s2 = Math.fma(values[i + 2], x[rows[i + 2]], s2);
                s3 = Math.fma(values[i + 3], x[rows[i + 3]], s3);
                s4 = Math.fma(values[i + 4], x[rows[i + 4]], s4);
                s5 = Math.fma(values[i + 5], x[rows[i + 5]], s5);
                s6 = Math.fma(values[i + 6], x[rows[i + 6]], s6);
                s7 = Math.fma(values[i + 7], x[rows[i + 7]], s7);
            }
            for (; i < i1; i++) {
                s0 = Math.fma(values[i], x[rows[i]], s0);
            }
            acc[to + q] = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
        }
    }

    /** As {@link #dotsCsr} for a 2:4 weight. */
    private static void dotsTwoFour(SparseB b, int j, int cols, float[] x, float[] acc, int to) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int half = b.groupsPadded() / 2;
        for (int q = 0; q < cols; q++) {
            int v = 2 * (j + q) * groups;
            int mq = (j + q) * half;
            float s = 0f;
            for (int g = 0; g < groups; g++, v += 2) {
                int nib = meta[mq + (g >> 1)] >> ((g & 1) * 4);
                s = Math.fma(values[v], x[4 * g + (nib & 3)], s);
                s = Math.fma(values[v + 1], x[4 * g + ((nib >> 2) & 3)], s);
            }
            acc[to + q] = s;
        }
    }
}
