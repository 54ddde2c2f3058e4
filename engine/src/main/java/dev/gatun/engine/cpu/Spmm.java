package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Sparse-weight x dense-activation products: {@code C[M, N] = epi(A[M, K] x op(B)[K, N])} with B a {@link SparseB}
 * (CSR or 2:4), A and C row-major with row strides {@code lda}, {@code ldc} (floats), the {@link Epilogue} (bias,
 * activation, residual) applied as each output tile is stored, exactly as {@link Sgemm} applies it.
 *
 * <p>M > 1, the SpMM (XNNPACK's design): A is transposed, per block of {@code mb} rows ({@code mb} = 16, 32 or 64
 * with 16-float vectors: 1, 2 or 4 vectors), into a K-major scratch {@code At[block][p][r] = A[m0 + r, p]} (rows past
 * M are 0), allocated from the context. Output column j of a row block is then {@code mb/VL} vector accumulators
 * in registers: for each nonzero (p, w) of column j, {@code acc += broadcast(w) * At[p][0..mb)}. Columns are done
 * {@link #NB} at a time into a per-thread tile [NB][mb], which is transposed (vector gathers) into a row-major
 * [mb][NB] tile and stored through the GEMM's tile store with the epilogue. Tasks are (row block, NB columns)
 * units, row block major, split over {@link KernelContext#parallelFor}.
 *
 * <p>M = 1, the sparse GEMV: {@code y[j] = sum w * x[p]} gathering x (copied once into a per-thread array) by the
 * nonzeros' int16 row indices; four columns are interleaved so that four independent chains are in flight.
 *
 * <p>Each output element is one fused multiply-add chain over its column's nonzeros in increasing k (2:4: over the
 * slots in order, empty slots adding 0 x A[4g]), whatever M, the row block size, the tasks and the thread count: a row
 * of A gives the same bits alone (GEMV) or inside a batch (SpMM). {@link SpmmReference} is the scalar twin.
 */
public final class Spmm {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Output columns per tile. */
    static final int NB = VL;
    /** Rows of A transposed per task unit of the transpose: p chunk length. */
    private static final int T_CHUNK = 128;
    /** Below this many multiply-adds a product runs on the calling thread. */
    static long parallelWork = 1L << 19;

    /** gather indices: [nv][c] = c * nv * VL (column c of a [NB][nv*VL] tile, lane r added as the offset). */
    private static final int[][] GATHER = new int[5][];

    static {
        for (int nv : new int[] {1, 2, 4}) {
            GATHER[nv] = new int[VL];
            for (int c = 0; c < VL; c++) {
                GATHER[nv][c] = c * nv * VL;
            }
        }
    }

    /** Per-thread tiles. */
    private static final class Scratch {
        final float[] yt = new float[NB * 4 * VL];
        final float[] tile = new float[4 * VL * NB];
        final float[] acc = new float[NB];
        float[] x = new float[0];

        float[] x(int k) {
            if (x.length < k) {
                x = new float[k];
            }
            return x;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private Spmm() {}

    /** The vectors per row block the SpMM uses for {@code m} rows (1, 2 or 4). */
    static int vectorsPerBlock(int m) {
        return m > 2 * VL ? 4 : m > VL ? 2 : 1;
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
        MemorySegment at = ctx.allocate(DType.FLOAT, Shape.of((long) blocks * k * mb)).data();
        int kChunks = (k + T_CHUNK - 1) / T_CHUNK;
        int tUnits = blocks * kChunks;
        run(ctx, threads == 1 ? 1 : Math.min(tUnits, 4 * threads), tUnits, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                int blk = u / kChunks;
                int p0 = (u % kChunks) * T_CHUNK;
                transpose(a, aOff, lda, m, blk * mb, mb, p0, Math.min(k, p0 + T_CHUNK), at, (long) blk * k * mb);
            }
        });
        int nChunks = (n + NB - 1) / NB;
        int units = blocks * nChunks;
        run(ctx, threads == 1 ? 1 : Math.min(units, 4 * threads), units, (u0, u1) -> {
            Scratch s = SCRATCH.get();
            for (int u = u0; u < u1; u++) {
                int blk = u / nChunks;
                int j0 = (u % nChunks) * NB;
                int nb = Math.min(NB, n - j0);
                int m0 = blk * mb;
                long base = (long) blk * k * mb * 4;
                for (int j = 0; j < nb; j++) {
                    if (b.format() == SparseB.Format.CSR) {
                        columnCsr(nv, b, j0 + j, at, base, s.yt, j * mb);
                    } else {
                        columnTwoFour(nv, b, j0 + j, at, base, s.yt, j * mb);
                    }
                }
                int rows = Math.min(mb, m - m0);
                int[] idx = GATHER[nv];
                for (int r = 0; r < rows; r++) {
                    FloatVector.fromArray(S, s.yt, r, idx, 0).intoArray(s.tile, r * NB);
                }
                SgemmKernel.store(s.tile, 0, NB, rows, nb, 1f, 0f, true, e, c, cOff + (long) m0 * ldc + j0, ldc, m0, j0);
            }
        });
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

    /** At[base + p*mb + r] = A[m0 + r, p] for p in [p0, p1), r < mb (0 for rows at or past m). */
    private static void transpose(MemorySegment a, long aOff, int lda, int m, int m0, int mb, int p0, int p1,
                                  MemorySegment at, long base) {
        int rows = Math.min(mb, m - m0);
        for (int r = 0; r < rows; r++) {
            long src = aOff + (long) (m0 + r) * lda;
            for (int p = p0; p < p1; p++) {
                at.setAtIndex(Tensor.F32, base + (long) p * mb + r, a.getAtIndex(Tensor.F32, src + p));
            }
        }
        for (int r = rows; r < mb; r++) {
            for (int p = p0; p < p1; p++) {
                at.setAtIndex(Tensor.F32, base + (long) p * mb + r, 0f);
            }
        }
    }

    // ---------------------------------------------------------------- SpMM columns

    /** yt[to .. + nv*VL) = column j of the row block whose transposed A starts at byte {@code base}: CSR. */
    private static void columnCsr(int nv, SparseB b, int j, MemorySegment at, long base, float[] yt, int to) {
        int[] start = b.start();
        short[] rows = b.rows();
        float[] values = b.values();
        int i0 = start[j];
        int i1 = start[j + 1];
        switch (nv) {
            case 4 -> csr4(rows, values, i0, i1, at, base, yt, to);
            case 2 -> csr2(rows, values, i0, i1, at, base, yt, to);
            default -> csr1(rows, values, i0, i1, at, base, yt, to);
        }
    }

    private static void csr4(short[] rows, float[] values, int i0, int i1, MemorySegment at, long base, float[] yt, int to) {
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        long stride = 4L * VL * 4;
        long vb = VL * 4L;
        for (int i = i0; i < i1; i++) {
            FloatVector w = FloatVector.broadcast(S, values[i]);
            long o = base + rows[i] * stride;
            c0 = w.fma(FloatVector.fromMemorySegment(S, at, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, at, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, at, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, at, o + 3 * vb, LE), c3);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
        c2.intoArray(yt, to + 2 * VL);
        c3.intoArray(yt, to + 3 * VL);
    }

    private static void csr2(short[] rows, float[] values, int i0, int i1, MemorySegment at, long base, float[] yt, int to) {
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S);
        long stride = 2L * VL * 4;
        long vb = VL * 4L;
        for (int i = i0; i < i1; i++) {
            FloatVector w = FloatVector.broadcast(S, values[i]);
            long o = base + rows[i] * stride;
            c0 = w.fma(FloatVector.fromMemorySegment(S, at, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, at, o + vb, LE), c1);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
    }

    private static void csr1(short[] rows, float[] values, int i0, int i1, MemorySegment at, long base, float[] yt, int to) {
        FloatVector c0 = FloatVector.zero(S);
        long stride = VL * 4L;
        for (int i = i0; i < i1; i++) {
            c0 = FloatVector.broadcast(S, values[i]).fma(FloatVector.fromMemorySegment(S, at, base + rows[i] * stride, LE), c0);
        }
        c0.intoArray(yt, to);
    }

    /** As {@link #columnCsr} for a 2:4 weight: two slots per group of 4 rows. */
    private static void columnTwoFour(int nv, SparseB b, int j, MemorySegment at, long base, float[] yt, int to) {
        switch (nv) {
            case 4 -> twoFour4(b, j, at, base, yt, to);
            case 2 -> twoFour2(b, j, at, base, yt, to);
            default -> twoFour1(b, j, at, base, yt, to);
        }
    }

    private static void twoFour4(SparseB b, int j, MemorySegment at, long base, float[] yt, int to) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * j * groups;
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S), c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        long stride = 4L * VL * 4;
        long vb = VL * 4L;
        for (int g = 0; g < groups; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o = base + (4L * g + (nib & 3)) * stride;
            FloatVector w = FloatVector.broadcast(S, values[v]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, at, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, at, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, at, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, at, o + 3 * vb, LE), c3);
            o = base + (4L * g + ((nib >> 2) & 3)) * stride;
            w = FloatVector.broadcast(S, values[v + 1]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, at, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, at, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, at, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, at, o + 3 * vb, LE), c3);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
        c2.intoArray(yt, to + 2 * VL);
        c3.intoArray(yt, to + 3 * VL);
    }

    private static void twoFour2(SparseB b, int j, MemorySegment at, long base, float[] yt, int to) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * j * groups;
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S);
        long stride = 2L * VL * 4;
        long vb = VL * 4L;
        for (int g = 0; g < groups; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o = base + (4L * g + (nib & 3)) * stride;
            FloatVector w = FloatVector.broadcast(S, values[v]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, at, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, at, o + vb, LE), c1);
            o = base + (4L * g + ((nib >> 2) & 3)) * stride;
            w = FloatVector.broadcast(S, values[v + 1]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, at, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, at, o + vb, LE), c1);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
    }

    private static void twoFour1(SparseB b, int j, MemorySegment at, long base, float[] yt, int to) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * j * groups;
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = FloatVector.zero(S);
        long stride = VL * 4L;
        for (int g = 0; g < groups; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o0 = base + (4L * g + (nib & 3)) * stride;
            long o1 = base + (4L * g + ((nib >> 2) & 3)) * stride;
            c0 = FloatVector.broadcast(S, values[v]).fma(FloatVector.fromMemorySegment(S, at, o0, LE), c0);
            c0 = FloatVector.broadcast(S, values[v + 1]).fma(FloatVector.fromMemorySegment(S, at, o1, LE), c0);
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
            Scratch s = SCRATCH.get();
            float[] acc = s.acc;
            for (int u = u0; u < u1; u++) {
                int j0 = u * NB;
                int nb = Math.min(NB, n - j0);
                for (int j = 0; j < nb; j += 4) {
                    if (b.format() == SparseB.Format.CSR) {
                        dotsCsr(b, j0 + j, Math.min(4, nb - j), x0, acc, j);
                    } else {
                        dotsTwoFour(b, j0 + j, Math.min(4, nb - j), x0, acc, j);
                    }
                }
                SgemmKernel.store(acc, 0, NB, 1, nb, 1f, 0f, true, e, c, cOff + j0, 0, 0, j0);
            }
        });
    }

    /** acc[to + q] = sum over column j+q's nonzeros of w * x[p], q < cols (at most 4), four chains interleaved. */
    private static void dotsCsr(SparseB b, int j, int cols, float[] x, float[] acc, int to) {
        int[] start = b.start();
        short[] rows = b.rows();
        float[] values = b.values();
        if (cols < 4) {
            for (int q = 0; q < cols; q++) {
                float s = 0f;
                for (int i = start[j + q]; i < start[j + q + 1]; i++) {
                    s = Math.fma(values[i], x[rows[i]], s);
                }
                acc[to + q] = s;
            }
            return;
        }
        int a0 = start[j], a1 = start[j + 1], a2 = start[j + 2], a3 = start[j + 3];
        int len = Math.min(Math.min(a1 - a0, a2 - a1), Math.min(a3 - a2, start[j + 4] - a3));
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        for (int i = 0; i < len; i++) {
            s0 = Math.fma(values[a0 + i], x[rows[a0 + i]], s0);
            s1 = Math.fma(values[a1 + i], x[rows[a1 + i]], s1);
            s2 = Math.fma(values[a2 + i], x[rows[a2 + i]], s2);
            s3 = Math.fma(values[a3 + i], x[rows[a3 + i]], s3);
        }
        for (int i = a0 + len; i < a1; i++) {
            s0 = Math.fma(values[i], x[rows[i]], s0);
        }
        for (int i = a1 + len; i < a2; i++) {
            s1 = Math.fma(values[i], x[rows[i]], s1);
        }
        for (int i = a2 + len; i < a3; i++) {
            s2 = Math.fma(values[i], x[rows[i]], s2);
        }
        for (int i = a3 + len; i < start[j + 4]; i++) {
            s3 = Math.fma(values[i], x[rows[i]], s3);
        }
        acc[to] = s0;
        acc[to + 1] = s1;
        acc[to + 2] = s2;
        acc[to + 3] = s3;
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
