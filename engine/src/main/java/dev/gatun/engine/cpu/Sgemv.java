package dev.gatun.engine.cpu;

import static dev.gatun.engine.cpu.SgemmKernel.KC;
import static dev.gatun.engine.cpu.SgemmKernel.LE;
import static dev.gatun.engine.cpu.SgemmKernel.NR;
import static dev.gatun.engine.cpu.SgemmKernel.S;
import static dev.gatun.engine.cpu.SgemmKernel.VL;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The matrix-vector products of {@link Sgemm} (one output row or one output column), memory-bound: they stream the
 * matrix once, split into column (or row) ranges over the intra-op threads.
 *
 * <ul>
 *   <li>{@link #rowPacked}: {@code y[1,N] = x[1,K] x B} with a {@link PackedB}: each panel's K blocks are read in
 *       order, NR columns in registers; per element the same K-block fused multiply-add chains as the GEMM
 *       micro-kernel, so a row gives the same bits whether it is computed here or inside a larger GEMM.</li>
 *   <li>{@link #rowDirect}: the same with B row-major [K, N] in place (4 rows per step, each column's chain still
 *       in increasing p, also bit-equal to the GEMM).</li>
 *   <li>{@link #dots}: rows of a matrix times a vector ({@code B^T} stored [N, K], or A [M, K] with one B column):
 *       four vector partial sums, combined and then summed over lanes in a fixed order.</li>
 *   <li>{@link #columnAxpy}: {@code A^T} stored [K, M] times a vector: axpys down the rows.</li>
 * </ul>
 * All finish through {@link SgemmKernel#store} (alpha, beta, {@link Epilogue}).
 */
final class Sgemv {
    /** Columns (or rows) per task: big enough to stream, small enough to balance two threads. */
    private static final int MIN_TASK_COLUMNS = 256;

    private Sgemv() {}

    /** Tasks for {@code units} of work, at least {@code minUnits} each (1 unit each when tests split everything). */
    private static int tasks(KernelContext ctx, long units, long minUnits) {
        int t = ctx == null ? 1 : ctx.threads();
        if (t <= 1) {
            return 1;
        }
        long min = Sgemm.parallelFlops == 0 ? 1 : Math.max(1, minUnits);
        return (int) Math.max(1, Math.min(2L * Sgemm.tasksPerThread * t, units / min));
    }

    private static void run(KernelContext ctx, int tasks, IntConsumer body) {
        if (tasks <= 1 || ctx == null) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
        } else {
            ctx.parallelFor(tasks, body);
        }
    }

    /** {@code y[0, j] = alpha * sum_p x[p] * B[p, j] (+ beta y) -> epi}, for j < n; y contiguous. */
    static void rowPacked(KernelContext ctx, float[] x, float alpha, PackedB b, float beta,
                          MemorySegment y, long yOff, Epilogue epi) {
        int panels = b.npad() / NR;
        int tasks = tasks(ctx, panels, MIN_TASK_COLUMNS / NR);
        RowPacked region = ROW_PACKED.get();
        region.set(x, alpha, b, beta, y, yOff, epi, panels, tasks);
        try {
            run(ctx, tasks, region);
        } finally {
            region.set(null, 0f, null, 0f, null, 0, null, 0, 0);
        }
    }

    /**
     * The tasks of {@link #rowPacked}: task t runs panels [panels * t / tasks, panels * (t + 1) / tasks). A reused
     * object (one per calling thread, fields set before the region and cleared after) instead of a capturing
     * lambda, so that a warm run allocates nothing.
     */
    private static final class RowPacked implements IntConsumer {
        private float[] x;
        private float alpha, beta;
        private PackedB b;
        private MemorySegment y;
        private long yOff;
        private Epilogue epi;
        private int panels, tasks;

        void set(float[] x, float alpha, PackedB b, float beta, MemorySegment y, long yOff, Epilogue epi, int panels, int tasks) {
            this.x = x;
            this.alpha = alpha;
            this.b = b;
            this.beta = beta;
            this.y = y;
            this.yOff = yOff;
            this.epi = epi;
            this.panels = panels;
            this.tasks = tasks;
        }

        @Override
        public void accept(int t) {
            int n = b.n();
            int k = b.k();
            MemorySegment data = b.data();
            float[] tile = GemmScratch.get().tile;
            int q0 = (int) ((long) panels * t / tasks);
            int q1 = (int) ((long) panels * (t + 1) / tasks);
            // K blocks outermost: the task's panels of one block are contiguous, one long stream.
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                for (int q = q0; q < q1; q++) {
                    int jr = q * NR;
                    panel(x, pc, data, b.panelAt(pc, jr), kc, tile);
                    SgemmKernel.store(tile, 0, NR, 1, Math.min(NR, n - jr), alpha, beta, pc == 0,
                            pc + kc >= k ? epi : null, y, yOff + jr, 0, 0, jr);
                }
            }
        }
    }

    private static final ThreadLocal<RowPacked> ROW_PACKED = ThreadLocal.withInitial(RowPacked::new);

    /** One packed panel times x[pc, pc + kc): NR chains (one per column) into tile[0, NR). */
    private static void panel(float[] x, int pc, MemorySegment b, long bAt, int kc, float[] tile) {
        if (SgemmKernel.NV == 3) {
            FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S);
            for (int p = 0; p < kc; p++) {
                long bq = bAt + p * (long) (NR * 4);
                FloatVector xv = FloatVector.broadcast(S, x[pc + p]);
                c0 = xv.fma(FloatVector.fromMemorySegment(S, b, bq, LE), c0);
                c1 = xv.fma(FloatVector.fromMemorySegment(S, b, bq + VL * 4L, LE), c1);
                c2 = xv.fma(FloatVector.fromMemorySegment(S, b, bq + VL * 8L, LE), c2);
            }
            c0.intoArray(tile, 0);
            c1.intoArray(tile, VL);
            c2.intoArray(tile, 2 * VL);
        } else {
            FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S);
            for (int p = 0; p < kc; p++) {
                long bq = bAt + p * (long) (NR * 4);
                FloatVector xv = FloatVector.broadcast(S, x[pc + p]);
                c0 = xv.fma(FloatVector.fromMemorySegment(S, b, bq, LE), c0);
                c1 = xv.fma(FloatVector.fromMemorySegment(S, b, bq + VL * 4L, LE), c1);
            }
            c0.intoArray(tile, 0);
            c1.intoArray(tile, VL);
        }
    }

    /**
     * {@code y[0, j] = alpha * sum_p x[p] * b[bOff + p*ldb + j] (+ beta y) -> epi}, for j < n, B row-major in place.
     * Accumulators live in a per-thread array (one per column of the task's range), reset per K block.
     */
    static void rowDirect(KernelContext ctx, float[] x, int k, int n, float alpha, MemorySegment b, long bOff, int ldb,
                          float beta, MemorySegment y, long yOff, Epilogue epi) {
        int chunks = (n + NR - 1) / NR;
        int tasks = tasks(ctx, chunks, MIN_TASK_COLUMNS / NR);
        run(ctx, tasks, t -> {
            int j0 = (int) ((long) chunks * t / tasks) * NR;
            int j1 = Math.min(n, (int) ((long) chunks * (t + 1) / tasks) * NR);
            int len = j1 - j0;
            float[] acc = GemmScratch.get().row(len + NR);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                Arrays.fill(acc, 0, len, 0f);
                axpyRows(x, pc, kc, b, bOff + j0, ldb, len, acc);
                for (int j = 0; j < len; j += NR) {
                    SgemmKernel.store(acc, j, NR, 1, Math.min(NR, len - j), alpha, beta, pc == 0,
                            pc + kc >= k ? epi : null, y, yOff + j0 + j, 0, 0, j0 + j);
                }
            }
        });
    }

    /** acc[j] = fma(x[p], B[p, j], acc[j]) for p in [pc, pc + kc) in order, j < len; four rows per pass. */
    private static void axpyRows(float[] x, int pc, int kc, MemorySegment b, long bOff, int ldb, int len, float[] acc) {
        int p = 0;
        for (; p + 4 <= kc; p += 4) {
            long r0 = (bOff + (long) (pc + p) * ldb) * 4;
            long r1 = r0 + ldb * 4L;
            long r2 = r1 + ldb * 4L;
            long r3 = r2 + ldb * 4L;
            FloatVector x0 = FloatVector.broadcast(S, x[pc + p]);
            FloatVector x1 = FloatVector.broadcast(S, x[pc + p + 1]);
            FloatVector x2 = FloatVector.broadcast(S, x[pc + p + 2]);
            FloatVector x3 = FloatVector.broadcast(S, x[pc + p + 3]);
            for (int j = 0; j < len; j += VL) {
                long o = j * 4L;
                if (j + VL <= len) {
                    FloatVector s = FloatVector.fromArray(S, acc, j);
                    s = x0.fma(FloatVector.fromMemorySegment(S, b, r0 + o, LE), s);
                    s = x1.fma(FloatVector.fromMemorySegment(S, b, r1 + o, LE), s);
                    s = x2.fma(FloatVector.fromMemorySegment(S, b, r2 + o, LE), s);
                    s = x3.fma(FloatVector.fromMemorySegment(S, b, r3 + o, LE), s);
                    s.intoArray(acc, j);
                } else {
                    VectorMask<Float> m = S.indexInRange(j, len);
                    FloatVector s = FloatVector.fromArray(S, acc, j);
                    s = x0.fma(FloatVector.fromMemorySegment(S, b, r0 + o, LE, m), s);
                    s = x1.fma(FloatVector.fromMemorySegment(S, b, r1 + o, LE, m), s);
                    s = x2.fma(FloatVector.fromMemorySegment(S, b, r2 + o, LE, m), s);
                    s = x3.fma(FloatVector.fromMemorySegment(S, b, r3 + o, LE, m), s);
                    s.intoArray(acc, j);
                }
            }
        }
        for (; p < kc; p++) {
            long r0 = (bOff + (long) (pc + p) * ldb) * 4;
            FloatVector x0 = FloatVector.broadcast(S, x[pc + p]);
            for (int j = 0; j < len; j += VL) {
                VectorMask<Float> m = S.indexInRange(j, len);
                FloatVector s = FloatVector.fromArray(S, acc, j);
                x0.fma(FloatVector.fromMemorySegment(S, b, r0 + j * 4L, LE, m), s).intoArray(acc, j);
            }
        }
    }

    /**
     * {@code out(i) = alpha * dot(mat row i, x) (+ beta out) -> epi} for i < rows: row i at {@code mat[off + i*ld ..]},
     * k long. Output i is {@code y[yOff + i*yStride]}; as a GEMM output it is (i, 0) when {@code column}, else (0, i).
     */
    static void dots(KernelContext ctx, int rows, int k, float alpha, MemorySegment mat, long off, long ld, float[] x,
                     float beta, MemorySegment y, long yOff, long yStride, boolean column, Epilogue epi) {
        int chunks = (rows + NR - 1) / NR;
        int tasks = Math.min(chunks, tasks(ctx, (long) chunks * k, 64L * 1024));
        run(ctx, tasks, t -> {
            int i0 = (int) ((long) chunks * t / tasks) * NR;
            int i1 = Math.min(rows, (int) ((long) chunks * (t + 1) / tasks) * NR);
            float[] acc = GemmScratch.get().row(i1 - i0 + NR);
            for (int i = i0; i < i1; i++) {
                acc[i - i0] = dot(mat, (off + (long) i * ld) * 4, x, k);
            }
            finish(acc, i1 - i0, alpha, beta, y, yOff + i0 * yStride, yStride, column, i0, epi);
        });
    }

    /** Stores outputs acc[0, count) (GEMM outputs starting at index {@code first} along a row or column). */
    private static void finish(float[] acc, int count, float alpha, float beta, MemorySegment y, long yOff, long yStride,
                               boolean column, long first, Epilogue epi) {
        if (column) {
            for (int i = 0; i < count; i++) {
                SgemmKernel.store(acc, i, NR, 1, 1, alpha, beta, true, epi, y, yOff + i * yStride, 0, first + i, 0);
            }
        } else {
            for (int j = 0; j < count; j += NR) {
                SgemmKernel.store(acc, j, NR, 1, Math.min(NR, count - j), alpha, beta, true, epi, y, yOff + j, 0, 0, first + j);
            }
        }
    }

    /** dot(mat[at/4 .. + k], x): four vector partial sums, then lanes summed in a fixed order (equal rows, equal sums). */
    private static float dot(MemorySegment mat, long at, float[] x, int k) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S), s3 = FloatVector.zero(S);
        int p = 0;
        for (; p + 4 * VL <= k; p += 4 * VL) {
            long o = at + p * 4L;
            s0 = FloatVector.fromMemorySegment(S, mat, o, LE).fma(FloatVector.fromArray(S, x, p), s0);
            s1 = FloatVector.fromMemorySegment(S, mat, o + VL * 4L, LE).fma(FloatVector.fromArray(S, x, p + VL), s1);
            s2 = FloatVector.fromMemorySegment(S, mat, o + VL * 8L, LE).fma(FloatVector.fromArray(S, x, p + 2 * VL), s2);
            s3 = FloatVector.fromMemorySegment(S, mat, o + VL * 12L, LE).fma(FloatVector.fromArray(S, x, p + 3 * VL), s3);
        }
        for (; p < k; p += VL) {
            VectorMask<Float> m = S.indexInRange(p, k);
            s0 = FloatVector.fromMemorySegment(S, mat, at + p * 4L, LE, m).fma(FloatVector.fromArray(S, x, p, m), s0);
        }
        FloatVector s = s0.add(s1).add(s2.add(s3));
        float[] lanes = GemmScratch.get().lanes;
        s.intoArray(lanes, 0);
        float sum = 0f;
        for (float l : lanes) {
            sum += l;
        }
        return sum;
    }

    /**
     * {@code y[i] = alpha * sum_p mat[off + p*ld + i] * x[p] (+ beta y) -> epi} for i < rows (A^T stored [K, M] times
     * a vector): axpys down the rows, rows split over tasks; output i is GEMM output (i, 0), {@code yStride} apart.
     */
    static void columnAxpy(KernelContext ctx, int rows, int k, float alpha, MemorySegment mat, long off, int ld, float[] x,
                           float beta, MemorySegment y, long yOff, long yStride, Epilogue epi) {
        int chunks = (rows + NR - 1) / NR;
        int tasks = tasks(ctx, chunks, MIN_TASK_COLUMNS / NR);
        run(ctx, tasks, t -> {
            int i0 = (int) ((long) chunks * t / tasks) * NR;
            int i1 = Math.min(rows, (int) ((long) chunks * (t + 1) / tasks) * NR);
            int len = i1 - i0;
            float[] acc = GemmScratch.get().row(len + NR);
            Arrays.fill(acc, 0, len, 0f);
            axpyRows(x, 0, k, mat, off + i0, ld, len, acc);
            finish(acc, len, alpha, beta, y, yOff + i0 * yStride, yStride, true, i0, epi);
        });
    }

    /** {@code count} floats of {@code s} from element {@code off}, {@code stride} apart, into a per-thread array. */
    static float[] gather(MemorySegment s, long off, long stride, int count) {
        float[] x = GemmScratch.get().vector(count);
        if (stride == 1) {
            MemorySegment.copy(s, Tensor.F32, off * 4, x, 0, count);
        } else {
            for (int i = 0; i < count; i++) {
                x[i] = s.getAtIndex(Tensor.F32, off + i * stride);
            }
        }
        return x;
    }
}
