package dev.gatun.engine.cpu;

import static dev.gatun.engine.cpu.SgemmKernel.KC;
import static dev.gatun.engine.cpu.SgemmKernel.MC;
import static dev.gatun.engine.cpu.SgemmKernel.MR;
import static dev.gatun.engine.cpu.SgemmKernel.NC;
import static dev.gatun.engine.cpu.SgemmKernel.NR;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.function.IntConsumer;

/**
 * Single-precision GEMM: {@code C[M,N] = epi(alpha * op(A)[M,K] x op(B)[K,N] + beta * C)}, row-major with row strides.
 *
 * <p>Layout: {@code op(A)[i,p]} is {@code a[aOff + i*lda + p]}, or with {@code transA} {@code a[aOff + p*lda + i]}
 * (A stored as [K,M]); {@code op(B)[p,j]} is {@code b[bOff + p*ldb + j]}, or with {@code transB}
 * {@code b[bOff + j*ldb + p]} (B stored as [N,K]); {@code C[i,j]} is {@code c[cOff + i*ldc + j]}. Offsets and
 * strides count floats. With {@code beta == 0} C is only written (NaNs in it do not propagate). The optional
 * {@link Epilogue} (bias, activation, residual) is applied to each output tile while it is in cache.
 *
 * <p>Entry points: the context-free {@code sgemm(transA, transB, ...)} (one thread, B packed per call);
 * {@code sgemm(ctx, transA, transB, ..., epi)} (threads of {@code ctx}, which may be null for one thread); and
 * {@code sgemm(ctx, transA, m, alpha, a, .., PackedB, beta, c, .., epi)} for a B packed once at plan time
 * ({@link PackedB#pack}). A context may also be passed from inside a {@code parallelFor} task (the nested loop
 * then runs on that thread); scratch memory is per thread, never allocated from the context.
 *
 * <p>Algorithm: B is packed into panels of {@link SgemmKernel#NR} columns per K block ({@link PackedB}); the
 * output is split into a grid of row x column ranges, one task each ({@link KernelContext#parallelFor});
 * a task walks K blocks, then A blocks of MC rows (copied to a per-thread array), then blocks of NC columns of B
 * (KC x NC floats, kept in L2), then MR-row panels of the A block (each kept in L1), then the NR-column B panels of
 * the column block, running the {@link SgemmKernel} micro-kernel: a row panel of A is reused from L1 by NC/NR
 * panels, C is written along its rows (sequential lines the hardware prefetcher follows). A product with one output row or column, or with fewer than
 * {@link #SMALL_M} rows and B unpacked, is a matrix-vector product ({@link Sgemv}) that streams B unpacked.
 *
 * <p>Determinism: each output element is the same sequence of operations whatever the thread count and the
 * partitioning (fused multiply-add chains in increasing p per K block of fixed size KC, then alpha, beta/C,
 * epilogue), so results are equal bit for bit across thread counts, and equal rows or columns of the inputs give
 * equal results. One-row products (packed B, or row-major B) use the same chains as the GEMM.
 */
public final class Sgemm {
    /** Below this many rows an unpacked B is streamed row by row instead of packed. */
    static final int SMALL_M = 4;
    /** Below this many flops a product runs on the calling thread (tests lower it to split small products). */
    static long parallelFlops = 1L << 20;
    /**
     * Tasks per thread a product is split into: more than one, so that a thread descheduled by a busy machine
     * delays only a small share of the work (tasks are claimed dynamically).
     */
    static int tasksPerThread = 4;

    private Sgemm() {}

    /** GEMM on one thread; see the class comment for the layout. */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda,
                             MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        sgemm(null, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, Epilogue.NONE);
    }

    /** GEMM on the threads of {@code ctx} (null: the calling thread) with an epilogue; see the class comment. */
    public static void sgemm(KernelContext ctx, boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda,
                             MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc, Epilogue epi) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("negative GEMM size " + m + "x" + n + "x" + k);
        }
        if (m == 0 || n == 0) {
            return;
        }
        Epilogue e = epi == null || epi.isIdentity() ? null : epi;
        if (k == 0 || alpha == 0f) {
            scaleC(m, n, beta, c, cOff, ldc, e);
            return;
        }
        if (n == 1) {
            // C[i, 0] = sum_p op(A)[i, p] * op(B)[p, 0]: op(A) times a vector.
            float[] x = Sgemv.gather(b, bOff, transB ? 1 : ldb, k);
            if (!transA) {
                Sgemv.dots(ctx, m, k, alpha, a, aOff, lda, x, beta, c, cOff, ldc, true, e);
            } else {
                Sgemv.columnAxpy(ctx, m, k, alpha, a, aOff, lda, x, beta, c, cOff, ldc, e);
            }
            return;
        }
        if (m < SMALL_M) {
            // Each row of C is op(B)^T times a row of op(A).
            for (int i = 0; i < m; i++) {
                float[] x = Sgemv.gather(a, transA ? aOff + i : aOff + (long) i * lda, transA ? lda : 1, k);
                long cRow = cOff + (long) i * ldc;
                Epilogue ei = e == null ? null : shiftRows(e, i);
                if (!transB) {
                    Sgemv.rowDirect(ctx, x, k, n, alpha, b, bOff, ldb, beta, c, cRow, ei);
                } else {
                    Sgemv.dots(ctx, n, k, alpha, b, bOff, ldb, x, beta, c, cRow, 1, false, ei);
                }
            }
            return;
        }
        long floats = PackedB.floats(k, n);
        PackedB packed = PackedB.over(k, n, GemmScratch.get().packedB(floats));
        int units = packed.panelCount();
        int tasks = threads(ctx, 2L * m * n * k) == 1 ? 1 : Math.min(units, tasksPerThread * ctx.threads());
        if (tasks == 1) {
            packed.packPanels(transB, b, bOff, ldb, 0, units);
        } else {
            PackTasks r = REGIONS.get().pack;
            r.set(packed, transB, b, bOff, ldb, units, tasks);
            try {
                ctx.parallelFor(tasks, r);
            } finally {
                r.set(null, false, null, 0, 0, 0, 0);
            }
        }
        multiply(ctx, transA, m, alpha, a, aOff, lda, packed, beta, c, cOff, ldc, e);
    }

    /**
     * GEMM with B packed ahead ({@link PackedB#pack}: op(B) is [b.k(), b.n()]) on the threads of {@code ctx}
     * (null: the calling thread); see the class comment for the layout of A and C.
     */
    public static void sgemm(KernelContext ctx, boolean transA, int m, float alpha, MemorySegment a, long aOff, int lda,
                             PackedB b, float beta, MemorySegment c, long cOff, int ldc, Epilogue epi) {
        if (m < 0) {
            throw new IllegalArgumentException("negative GEMM size " + m + "x" + b.n() + "x" + b.k());
        }
        if (m == 0) {
            return;
        }
        Epilogue e = epi == null || epi.isIdentity() ? null : epi;
        if (alpha == 0f) {
            scaleC(m, b.n(), beta, c, cOff, ldc, e);
            return;
        }
        multiply(ctx, transA, m, alpha, a, aOff, lda, b, beta, c, cOff, ldc, e);
    }

    /** An epilogue for row {@code i} of C seen as row 0 of a one-row product. */
    private static Epilogue shiftRows(Epilogue e, int i) {
        return new Epilogue(e.activation(), e.p(), e.q(), e.bias(), e.biasOffset() + (e.biasPerRow() ? i : 0), e.biasPerRow(),
                e.residual(), e.residualOffset() + (long) i * e.residualStride(), e.residualStride());
    }

    /** 1 when the product should stay on the calling thread, else the context's thread count. */
    private static int threads(KernelContext ctx, long flops) {
        return ctx == null || ctx.threads() <= 1 || flops < parallelFlops ? 1 : ctx.threads();
    }

    private static void multiply(KernelContext ctx, boolean transA, int m, float alpha, MemorySegment a, long aOff, int lda,
                                 PackedB b, float beta, MemorySegment c, long cOff, int ldc, Epilogue e) {
        int n = b.n();
        int k = b.k();
        if (m == 1) {
            float[] x = Sgemv.gather(a, aOff, transA ? lda : 1, k);
            Sgemv.rowPacked(ctx, x, alpha, b, beta, c, cOff, e);
            return;
        }
        int mPanels = (m + MR - 1) / MR;
        int nPanels = b.npad() / NR;
        int threads = threads(ctx, 2L * m * n * k);
        // Row ranges of at least one A block each when M allows, the rest of the tasks over columns.
        int want = tasksPerThread * threads;
        int tm = threads == 1 ? 1 : Math.max(1, Math.min(want, mPanels / (MC / MR)));
        int tn = threads == 1 ? 1 : Math.max(1, Math.min(nPanels, (want + tm - 1) / tm));
        int tasks = tm * tn;
        if (tasks == 1) {
            block(transA, m, k, alpha, a, aOff, lda, b, beta, c, cOff, ldc, e, 0, m, 0, n);
            return;
        }
        if (tm == 1) {
            sharedA(ctx, transA, m, alpha, a, aOff, lda, b, beta, c, cOff, ldc, e, tn);
            return;
        }
        GridTasks r = REGIONS.get().grid;
        r.set(transA, m, alpha, a, aOff, lda, b, beta, c, cOff, ldc, e, mPanels, tm, tn);
        try {
            ctx.parallelFor(tasks, r);
        } finally {
            r.set(false, 0, 0f, null, 0, 0, null, 0f, null, 0, 0, null, 0, 0, 0);
        }
    }

    /**
     * The tasks of {@link #multiply}'s grid: {@code tm} row ranges x {@code tn} column ranges. A reused object (one
     * per calling thread, fields set before each region and cleared after) instead of a capturing lambda, so that
     * a steady-state run allocates nothing.
     */
    private static final class GridTasks implements IntConsumer {
        private boolean transA;
        private int m, k, n, lda, ldc, mPanels, nPanels, tm, tn;
        private float alpha, beta;
        private MemorySegment a, c;
        private long aOff, cOff;
        private PackedB b;
        private Epilogue e;

        void set(boolean transA, int m, float alpha, MemorySegment a, long aOff, int lda, PackedB b, float beta,
                 MemorySegment c, long cOff, int ldc, Epilogue e, int mPanels, int tm, int tn) {
            this.transA = transA;
            this.m = m;
            this.k = b == null ? 0 : b.k();
            this.n = b == null ? 0 : b.n();
            this.nPanels = b == null ? 0 : b.npad() / NR;
            this.alpha = alpha;
            this.a = a;
            this.aOff = aOff;
            this.lda = lda;
            this.b = b;
            this.beta = beta;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            this.e = e;
            this.mPanels = mPanels;
            this.tm = tm;
            this.tn = tn;
        }

        @Override
        public void accept(int t) {
            int ti = t / tn;
            int tj = t % tn;
            int i0 = (int) ((long) mPanels * ti / tm) * MR;
            int i1 = Math.min(m, (int) ((long) mPanels * (ti + 1) / tm) * MR);
            int j0 = (int) ((long) nPanels * tj / tn) * NR;
            int j1 = Math.min(n, (int) ((long) nPanels * (tj + 1) / tn) * NR);
            block(transA, m, k, alpha, a, aOff, lda, b, beta, c, cOff, ldc, e, i0, i1, j0, j1);
        }
    }

    /**
     * A product whose rows fit one A block per K block (a transformer at batch 1: M = the sequence length), on
     * several threads: op(A) is packed once, shared by all, in one region (tasks over K blocks x row ranges), then
     * a second region splits the columns into {@code tn} ranges of whole panels. Splitting columns with a private A
     * copy per task would pack all of A once per task (at M = 128, K = 1536 as many floats as the task multiplies).
     * Packed layout: K block {@code pc} holds {@code mpad * kc} floats at {@code mpad * pc}, its rows as
     * {@link SgemmKernel#packA} writes them. The FMA chains are those of {@link #block}: results are equal bit for bit.
     */
    private static void sharedA(KernelContext ctx, boolean transA, int m, float alpha, MemorySegment a, long aOff, int lda,
                                PackedB b, float beta, MemorySegment c, long cOff, int ldc, Epilogue e, int tn) {
        int n = b.n();
        int k = b.k();
        int mPanels = (m + MR - 1) / MR;
        int mpad = mPanels * MR;
        int nPanels = b.npad() / NR;
        int kBlocks = (k + KC - 1) / KC;
        float[] ap = GemmScratch.get().packA(Math.multiplyExact(mpad, k));
        int rowParts = Math.max(1, Math.min(mPanels, (2 * ctx.threads() + kBlocks - 1) / kBlocks));
        SharedTasks r = REGIONS.get().shared;
        r.set(transA, m, alpha, a, aOff, lda, b, beta, c, cOff, ldc, e, tn, ap, rowParts);
        try {
            r.packing = true;
            ctx.parallelFor(kBlocks * rowParts, r);
            r.packing = false;
            ctx.parallelFor(tn, r);
        } finally {
            r.set(false, 0, 0f, null, 0, 0, null, 0f, null, 0, 0, null, 0, null, 0);
        }
    }

    /**
     * The two regions of {@link #sharedA}: packing op(A) (tasks over K blocks x row ranges) while {@code packing},
     * then the column ranges. A reused object (one per calling thread, fields set before the regions and cleared
     * after) instead of capturing lambdas, so that a steady-state run allocates nothing.
     */
    private static final class SharedTasks implements IntConsumer {
        private boolean transA, packing;
        private int m, k, n, lda, ldc, mPanels, mpad, nPanels, tn, rowParts;
        private float alpha, beta;
        private MemorySegment a, c, bData;
        private long aOff, cOff;
        private PackedB b;
        private Epilogue e;
        private float[] ap;

        void set(boolean transA, int m, float alpha, MemorySegment a, long aOff, int lda, PackedB b, float beta,
                 MemorySegment c, long cOff, int ldc, Epilogue e, int tn, float[] ap, int rowParts) {
            this.transA = transA;
            this.m = m;
            this.k = b == null ? 0 : b.k();
            this.n = b == null ? 0 : b.n();
            this.nPanels = b == null ? 0 : b.npad() / NR;
            this.bData = b == null ? null : b.data();
            this.mPanels = (m + MR - 1) / MR;
            this.mpad = mPanels * MR;
            this.alpha = alpha;
            this.a = a;
            this.aOff = aOff;
            this.lda = lda;
            this.b = b;
            this.beta = beta;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            this.e = e;
            this.tn = tn;
            this.ap = ap;
            this.rowParts = rowParts;
        }

        @Override
        public void accept(int t) {
            if (packing) {
                pack(t);
            } else {
                columns(t);
            }
        }

        private void pack(int t) {
            int pc = t / rowParts * KC;
            int kc = Math.min(KC, k - pc);
            int r = t % rowParts;
            int i0 = (int) ((long) mPanels * r / rowParts) * MR;
            int i1 = Math.min(m, (int) ((long) mPanels * (r + 1) / rowParts) * MR);
            SgemmKernel.packA(transA, a, aOff, lda, i0, i1 - i0, pc, kc, ap, mpad * pc + i0 * kc);
        }

        private void columns(int t) {
            int j0 = (int) ((long) nPanels * t / tn) * NR;
            int j1 = Math.min(n, (int) ((long) nPanels * (t + 1) / tn) * NR);
            float[] tile = GemmScratch.get().tile;
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                boolean first = pc == 0;
                Epilogue ek = pc + kc >= k ? e : null;
                for (int jc = j0; jc < j1; jc += NC) {
                    int jEnd = Math.min(j1, jc + NC);
                    for (int ir = 0; ir < m; ir += MR) {
                        int mr = Math.min(MR, m - ir);
                        for (int jr = jc; jr < jEnd; jr += NR) {
                            int nr = Math.min(NR, jEnd - jr);
                            SgemmKernel.kernel(ap, mpad * pc + ir * kc, bData, b.panelAt(pc, jr), kc, nr, tile);
                            SgemmKernel.store(tile, 0, NR, mr, nr, alpha, beta, first, ek, c, cOff + (long) ir * ldc + jr, ldc, ir, jr);
                        }
                    }
                }
            }
        }
    }

    /** The tasks of packing B per call: panel ranges. Reused like {@link GridTasks}. */
    private static final class PackTasks implements IntConsumer {
        private PackedB packed;
        private boolean transB;
        private MemorySegment b;
        private long bOff;
        private int ldb, units, tasks;

        void set(PackedB packed, boolean transB, MemorySegment b, long bOff, int ldb, int units, int tasks) {
            this.packed = packed;
            this.transB = transB;
            this.b = b;
            this.bOff = bOff;
            this.ldb = ldb;
            this.units = units;
            this.tasks = tasks;
        }

        @Override
        public void accept(int t) {
            packed.packPanels(transB, b, bOff, ldb, (int) ((long) units * t / tasks), (int) ((long) units * (t + 1) / tasks));
        }
    }

    /** A calling thread's region objects (a nested product on a worker uses that worker's own). */
    private static final class Regions {
        final PackTasks pack = new PackTasks();
        final GridTasks grid = new GridTasks();
        final SharedTasks shared = new SharedTasks();
    }

    private static final ThreadLocal<Regions> REGIONS = ThreadLocal.withInitial(Regions::new);

    /** Output rows [i0, i1) x columns [j0, j1) (i0 a multiple of MR, j0 of NR) on the calling thread. */
    private static void block(boolean transA, int m, int k, float alpha, MemorySegment a, long aOff, int lda,
                              PackedB b, float beta, MemorySegment c, long cOff, int ldc, Epilogue e,
                              int i0, int i1, int j0, int j1) {
        if (i0 >= i1 || j0 >= j1) {
            return;
        }
        GemmScratch s = GemmScratch.get();
        float[] tile = s.tile;
        float[] ap = s.packA(MC * Math.min(KC, k));
        MemorySegment bData = b.data();
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            boolean first = pc == 0;
            Epilogue ek = pc + kc >= k ? e : null;
            for (int ic = i0; ic < i1; ic += MC) {
                int mc = Math.min(MC, i1 - ic);
                SgemmKernel.packA(transA, a, aOff, lda, ic, mc, pc, kc, ap, 0);
                for (int jc = j0; jc < j1; jc += NC) {
                    int jEnd = Math.min(j1, jc + NC);
                    for (int ir = ic; ir < ic + mc; ir += MR) {
                        int mr = Math.min(MR, ic + mc - ir);
                        for (int jr = jc; jr < jEnd; jr += NR) {
                            int nr = Math.min(NR, jEnd - jr);
                            SgemmKernel.kernel(ap, (ir - ic) * kc, bData, b.panelAt(pc, jr), kc, nr, tile);
                            SgemmKernel.store(tile, 0, NR, mr, nr, alpha, beta, first, ek, c, cOff + (long) ir * ldc + jr, ldc, ir, jr);
                        }
                    }
                }
            }
        }
    }

    /** C = beta * C (C = 0 when beta is 0), then the epilogue: the product when K is 0 or alpha is 0. */
    private static void scaleC(int m, int n, float beta, MemorySegment c, long cOff, int ldc, Epilogue e) {
        for (int i = 0; i < m; i++) {
            long row = cOff + (long) i * ldc;
            if (beta == 0f) {
                c.asSlice(row * 4, n * 4L).fill((byte) 0);
            } else if (beta != 1f) {
                for (int j = 0; j < n; j++) {
                    c.setAtIndex(Tensor.F32, row + j, beta * c.getAtIndex(Tensor.F32, row + j));
                }
            }
        }
        if (e != null) {
            e.apply(c, cOff, ldc, m, n, 0, 0);
        }
    }
}
