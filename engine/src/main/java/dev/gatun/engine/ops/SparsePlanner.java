package dev.gatun.engine.ops;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.cpu.Epilogue;
import dev.gatun.engine.cpu.PackedB;
import dev.gatun.engine.cpu.Sgemm;
import dev.gatun.engine.cpu.SparseB;
import dev.gatun.engine.cpu.Spmm;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Sparse or dense, per node: whether a float32 product with a constant weight {@code op(B)[K, N]} (MatMul, Gemm,
 * dev.gatun:FusedMatMul) runs on the sparse kernels ({@link Spmm}) and in which layout ({@link SparseB}: CSR, or 2:4
 * when every group of 4 along K of every column holds at most 2 nonzeros), decided at plan time from the weight's
 * measured sparsity and a cost model calibrated on the reference machine (docs/PERFORMANCE-sparse.md).
 *
 * <p>Cost model, nanoseconds per output row (M cancels out for M > 1; one-row products run other kernels):
 * <ul>
 *   <li>dense GEMM {@code DENSE_MAC * K * N}; sparse SpMM {@code CSR_MAC * nnz + EDGE * (K + N)} (CSR) or
 *       {@code TWO_FOUR_MAC * slots + EDGE * (K + N)} (2:4, slots = K/2 * N), the EDGE term being the transposes
 *       of A and of the output tiles;</li>
 *   <li>M = 1: dense GEMV {@code DENSE_GEMV * K * N}; sparse, the sliced GEMV {@code SLICED_GEMV * padding * nnz}
 *       ({@code SLICED_GEMV_TWO_FOUR * slots} for 2:4)
 *       where {@code Spmm} takes it ({@link Spmm#slicedGemvPadding}), else {@code SPARSE_GEMV * nnz} (CSR) or
 *       {@code SPARSE_GEMV_TWO_FOUR * slots}.</li>
 * </ul>
 * A path is taken when its estimate beats dense by {@link #MARGIN}. M is dynamic in most models (batch x sequence),
 * so the choice is made for M = 1 and for M > 1 separately at plan time, and the kernel picks per call by M: a
 * weight chosen sparse for one and dense for the other is packed both ways.
 *
 * <p>The switch {@code -Dgatun.sparse=auto|off|force} (read at plan time): {@code auto} (default) as above,
 * {@code off} never sparse, {@code force} sparse for every such weight with a nonzero count below K x N (tests,
 * measurements). The choice is recorded on the node ({@link NodeSpec#noteKernel}) for {@code gatun inspect}.
 */
public final class SparsePlanner {
    /** The system property that forces the choice. */
    public static final String PROPERTY = "gatun.sparse";

    /** auto, off or force. */
    public enum Mode { AUTO, OFF, FORCE }

    // Constants fitted to times measured in one process (thread CPU time, dense and sparse interleaved, the segment
    // profile polluted as in a model) on the reference machine at M = 128, after the SpMM's direct A transpose and
    // output store: CSR 384x1536 and 1536x384 at 70/80/90% sparsity 5.3/3.3/1.85 us per row (the two shapes within
    // 15%), 384x384 at 70/80/90% 1.33/0.85/0.50, dense 5.6-6.2 and 1.45; 2:4 on the three 10.9/9.8/2.7 (about the
    // CSR cost per nonzero at 60%, which the linear CSR term underestimates); GEMV 4096x4096 and 384x1536 at 90%
    // 0.38-0.40 ns per nonzero (docs/PERFORMANCE-sparse.md has the sweep); 2:4 refitted after the sorted SpMM.
    /**
     * Dense GEMM, ns per row x K x N (Sgemm, packed weight, profile polluted: 384x1536 at M = 32 and 128 5.04-5.05 us
     * per row, 0.0086; 0.0080 at M = 4096; it was 0.0098 before the later dense-kernel work).
     */
    static final double DENSE_MAC = 0.0085;
    /**
     * SpMM CSR, ns per row x nonzero (one 16-row vector FMA per nonzero and 16 rows). Refitted after the address
     * masks (docs/PERFORMANCE-sparse.md, eighth pass): 384x1536 at 50-90%, with the EDGE term, 0.016-0.021 at
     * M = 128 and 0.025-0.026 at M = 32 (two-vector row blocks); 0.022 sits between, so that a weight is run sparse
     * from about 66% zeros (about 1.6x at M = 128 there, break-even at M = 32). It was 0.029.
     */
    static final double CSR_MAC = 0.022;
    /**
     * SpMM 2:4, ns per row x slot (from 65 rows the 2:4 columns in 32 KB K blocks, {@code cpu/Spmm}: 384x1536 and
     * 1536x384 at M = 128 3.3-3.5 us per row, 384x384 at M = 4096 0.91-0.93, 0.011-0.0117 with the EDGE term; up to
     * 64 rows the pattern-sorted {@code cpu/SpmmTwoFour}, 0.0136-0.016). The nibble-decoding column kernel before
     * both cost 0.030.
     */
    static final double TWO_FOUR_MAC = 0.012;
    /** SpMM transposes of A in and of the output squares out (with the stores), ns per row x (K + N). */
    static final double EDGE = 0.068;
    /** Dense GEMV, ns per K x N (weights from cache; from DRAM it is 2-3x slower, which favours sparse). */
    static final double DENSE_GEMV = 0.049;
    /** Sparse GEMV, ns per nonzero (CSR) and per slot (2:4). */
    static final double SPARSE_GEMV = 0.40;
    static final double SPARSE_GEMV_TWO_FOUR = 1.3;
    /**
     * The sliced sparse GEMV (Spmm's choice by padding and size), ns per estimated slot lane
     * ({@code Spmm.slicedGemvPadding} x nonzeros), kept in proportion to {@link #DENSE_GEMV}: JMH
     * ({@code SparseBench -p m=1}, 384x1536 and 1536x384, one thread, weights in cache) measured the dense GEMV at
     * 21.1-21.7 us (0.036 ns per K x N) and the sliced CSR GEMV at 50/80/90/95% at 0.036-0.043 ns per lane
     * (18.4-18.9, 7.8-8.1, 4.8-5.2, 3.3-3.5 us), so 0.039 x 0.049 / 0.036. It was 0.035, fitted when the dense
     * one-row path was slower, which made `gatun inspect` promise 3.8x where 2.6-2.8x was measured.
     */
    static final double SLICED_GEMV = 0.053;
    /** The sliced GEMV for a 2:4 weight, ns per slot, scaled as {@link #SLICED_GEMV}: 16.4-16.6 us, 0.056. */
    static final double SLICED_GEMV_TWO_FOUR = 0.076;
    /** How much faster than dense an estimate must be for auto to choose it. */
    static final double MARGIN = 1.1;
    /** Weights below this sparsity are not examined further (auto). */
    public static final double MIN_SPARSITY = 0.3;
    /** Weights smaller than this (K x N) stay dense: too little work to gain anything. */
    static final long MIN_ELEMENTS = 4096;

    private SparsePlanner() {}

    /** The mode the property asks for. */
    public static Mode mode() {
        String v = System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "", "auto" -> Mode.AUTO;
            case "off", "false", "dense" -> Mode.OFF;
            case "force", "on", "true" -> Mode.FORCE;
            default -> throw new EngineException(EngineException.Kind.RUNTIME, "-D" + PROPERTY + "=" + v + ": expected auto, off or force");
        };
    }

    /**
     * A 2:4 weight's many-row products run sparse up to this many rows (the sliced GEMV row by row: 384x1536 and
     * 1536x384, thread CPU time, 1.14-1.18x over dense at 2 rows, 1.37-1.47x at 4, 0.72-0.77x at 8) ...
     */
    static final int TWO_FOUR_ROWWISE_ROWS = 4;
    /**
     * ... and again from this many (the sorted kernel at 64: 1.22-1.33x; 16 to 48 rows 0.71-0.99x), when the row
     * blocks are full enough ({@link Choice#sparseAt}: 96 rows in one 128-row block 1.13-1.16x, 160 in two
     * 0.94-0.96x).
     */
    static final int TWO_FOUR_BLOCK_ROWS = 64;

    /**
     * A weight planned sparse for some M: the packed sparse form, whether it runs one-row products ({@code gemv}) and
     * many-row products ({@code gemm}), the dense packed form for the other cases ({@link DenseWeight}, packed when
     * first needed), the estimated gain over dense at full row blocks, and whether the choice was forced.
     */
    public record Choice(SparseB sparse, boolean gemv, boolean gemm, DenseWeight dense, double gemmGain,
                         boolean forced, String description) {
        /**
         * Whether a product of {@code m} rows runs sparse: {@code gemv} at one row, else {@code gemm}, except that a
         * 2:4 weight (not forced) runs dense from {@link #TWO_FOUR_ROWWISE_ROWS} + 1 to {@link #TWO_FOUR_BLOCK_ROWS}
         * - 1 rows, and beyond when its padded row blocks would eat the estimated gain (the 2:4 kernels' rows come
         * in blocks of 16 to 128; the CSR kernels keep a margin of 1.3x or more there and always run sparse).
         */
        public boolean sparseAt(int m) {
            if (m == 1) {
                return gemv;
            }
            if (!gemm || forced || sparse.format() != SparseB.Format.TWO_FOUR || m <= TWO_FOUR_ROWWISE_ROWS) {
                return gemm;
            }
            if (m < TWO_FOUR_BLOCK_ROWS) {
                return false;
            }
            int mb = Spmm.blockRows(m);
            long padded = (long) (m + mb - 1) / mb * mb;
            return gemmGain * m / padded >= 1.0;
        }

        /** {@code C = epi(A x op(B))} for {@code m} rows on the path chosen for that M. */
        public void multiply(KernelContext ctx, int m, MemorySegment a, long aOff, int lda, MemorySegment c, long cOff,
                             int ldc, Epilogue epi) {
            if (sparseAt(m)) {
                Spmm.multiply(ctx, m, a, aOff, lda, sparse, c, cOff, ldc, epi);
            } else {
                Sgemm.sgemm(ctx, false, m, 1f, a, aOff, lda, dense.get(), 0f, c, cOff, ldc, epi);
            }
        }
    }

    /**
     * The dense packed form of a weight planned sparse, built on first use and kept: at plan time when some M is
     * planned dense, else on the first product that runs dense (a 2:4 weight at 5-63 rows), so that a model only
     * ever run at large M never holds both forms.
     */
    public static final class DenseWeight {
        private final Supplier<PackedB> build;
        private volatile PackedB packed;

        DenseWeight(Supplier<PackedB> build) {
            this.build = build;
        }

        /** The packed weight (built now if not yet). */
        public PackedB get() {
            PackedB p = packed;
            if (p == null) {
                synchronized (this) {
                    p = packed;
                    if (p == null) {
                        p = build.get();
                        packed = p;
                    }
                }
            }
            return p;
        }
    }

    /**
     * The sparse plan for constant weight {@code w} ({@code op(B)[k, n]}: w is [k, n], or [n, k] with transB), or
     * null for dense; either way notes the choice on the node. {@code dense} packs the dense form when needed.
     */
    public static Choice plan(NodeSpec node, Tensor w, boolean transB, Supplier<PackedB> dense) {
        if (w == null || w.dtype() != DType.FLOAT || w.shape().rank() != 2) {
            return null;
        }
        int k = MatMulOps.toInt(node, w.shape().dim(transB ? 1 : 0));
        int n = MatMulOps.toInt(node, w.shape().dim(transB ? 0 : 1));
        Mode mode = mode();
        if (mode == Mode.OFF || k == 0 || n <= 1 || k > SparseB.MAX_K || (long) k * n < MIN_ELEMENTS) {
            return null;
        }
        int ld = MatMulOps.toInt(node, w.shape().dim(1));
        SparseB.Stats st = node.prepack().get("sparse-stats", w, (transB ? "T" : "N") + k + "x" + n,
                arena -> SparseB.stats(transB, k, n, w.data(), 0, ld));
        double sparsity = st.sparsity();
        String pct = String.format(Locale.ROOT, "%.1f%%", 100 * sparsity);
        if (st.nonzeros() == (long) k * n || (mode == Mode.AUTO && sparsity < MIN_SPARSITY)) {
            node.noteKernel("dense (weight " + pct + " zeros)");
            return null;
        }
        long slots = 2L * ((k + 3) / 4) * n;
        double denseRow = DENSE_MAC * k * n;
        double csrRow = CSR_MAC * st.nonzeros() + EDGE * (k + n);
        double tfRow = st.twoFour() ? TWO_FOUR_MAC * slots + EDGE * (k + n) : Double.POSITIVE_INFINITY;
        // 2:4 when within 10% of CSR: a third less memory (4.25 bytes per slot pair against 12 for two CSR nonzeros)
        SparseB.Format format = tfRow <= 1.1 * csrRow ? SparseB.Format.TWO_FOUR : SparseB.Format.CSR;
        double gemmGain = denseRow / (format == SparseB.Format.TWO_FOUR ? tfRow : csrRow);
        long work = format == SparseB.Format.CSR ? st.nonzeros() : slots;
        double padding = Spmm.slicedGemvPadding(format, k, n, work);
        double sliced = format == SparseB.Format.CSR ? SLICED_GEMV : SLICED_GEMV_TWO_FOUR;
        double gemvGain = DENSE_GEMV * k * n / (padding > 0 ? sliced * padding * work
                : format == SparseB.Format.CSR ? SPARSE_GEMV * work : SPARSE_GEMV_TWO_FOUR * work);
        boolean gemm = mode == Mode.FORCE || gemmGain >= MARGIN;
        boolean gemv = mode == Mode.FORCE || gemvGain >= MARGIN;
        String est = String.format(Locale.ROOT, "est %.1fx at M>1, %.1fx at M=1", gemmGain, gemvGain);
        if (!gemm && !gemv) {
            node.noteKernel("dense (weight " + pct + " zeros; sparse " + est + ")");
            return null;
        }
        SparseB sparse = node.prepack().get("sparse-" + format.label(), w, (transB ? "T" : "N") + k + "x" + n,
                arena -> SparseB.pack(format, transB, k, n, w.data(), 0, ld));
        String where = gemm && gemv ? "" : gemm ? ", dense at M=1" : ", dense at M>1";
        if (gemm && format == SparseB.Format.TWO_FOUR && mode != Mode.FORCE) {
            where += ", dense at M=" + (TWO_FOUR_ROWWISE_ROWS + 1) + ".." + (TWO_FOUR_BLOCK_ROWS - 1) + " and where row blocks pad";
        }
        String description = "sparse " + format.label() + " " + pct + " (" + est + where + (mode == Mode.FORCE ? ", forced" : "") + ")";
        node.noteKernel(description);
        DenseWeight denseWeight = new DenseWeight(dense);
        if (!gemm || !gemv) {
            denseWeight.get();
        }
        return new Choice(sparse, gemv, gemm, denseWeight, gemmGain, mode == Mode.FORCE, description);
    }
}
