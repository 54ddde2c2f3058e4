package dev.gatun.engine.cpu;

import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The 2:4 SpMM for 25 to 64 rows, {@code C[M, N] = epi(A[M, K] x op(B))} with B a {@link SparseB.Format#TWO_FOUR}
 * weight: the activations in registers, the accumulators in L1, and each group's 2-of-4 selection a constant. From
 * 65 rows {@link Spmm}'s 2:4 columns in 32 KB K blocks are faster (384x1536, M = 128: 423-445 us against 542-555
 * here), on any number of threads.
 *
 * <p>Layout ({@link Layout}, built once per weight): the columns are cut into chunks of {@link #NC}; for chunk c and
 * group g (k = 4g..4g+3) the chunk's columns are sorted by their position nibble q (slot 0's position in bits 0-1,
 * slot 1's in bits 2-3, as {@link SparseB} stores them: an empty slot holds 0 at position 0), so that every run of
 * equal nibbles selects the same two of the group's four activation rows. Entry e: {@code offsets[e]} the column's
 * byte offset in the chunk's sums, {@code weights[2e], weights[2e + 1]} its two slot values;
 * {@code bounds[(c*groups + g)*17 + q]} is the first entry of nibble q (17 per chunk and group). 12 bytes per
 * column and group (the packed 2:4 weight: 8.5).
 *
 * <p>Product: A is transposed per block of {@link #MB} = 64 rows ({@code At[p][r] = A[m0 + r, p]}, rows past M zero,
 * rows K..4*groups zero) into a per-thread native buffer, as {@link Spmm} does. For a (row block, chunk) unit the
 * chunk's sums ({@code [NC][MB]} floats, 32 KB: L1 is 48 KB) are zeroed; per group the 4 x 4 vectors
 * {@code a[i][v] = At[4g + i][16v .. 16v + 16)} are loaded into registers, and each nibble's run has its own loop
 * (a switch outside it) naming its two rows: per entry and row vector v, {@code s = load(sums[l][v]);
 * s = fma(w0, a[i0][v], s); s = fma(w1, a[i1][v], s); store(s)}: 4 loads, 4 stores and 8 FMAs for 64 rows x 2
 * multiply-adds, no activation load. The sums then go to C through {@link Spmm}'s output path (16 x 16 squares
 * transposed, the epilogue inline).
 *
 * <p>Speed (one Zen 5 core, 384x1536, M = 128): the entry loop about 0.21 ns per useful 16-lane FMA (one run per
 * group: 0.19), 0.25 all in, against the column kernel's 0.35 and the dense GEMM's 0.135: 1.0-1.1x over dense there,
 * 1.15-1.25x on 1536x384 and 384x384. A run's end (the mispredicted loop exit: six runs of about 21 entries per
 * group) costs about 22 cycles, about 15% of the time (docs/PERFORMANCE-sparse.md, sixth pass).
 *
 * <p>Each output is the same FMA chain as {@link Spmm}'s 2:4 columns (slots in order, group by group, starting from
 * 0), so the result is bit-equal to them whatever M, the blocks and the threads.
 */
final class SpmmTwoFour {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    private static final long AM = SgemmKernel.ADDRESS_MASK;
    /** Row vectors per block (four 16-float vectors: 64 rows). */
    static final int RV = 4;
    /** Rows per block. */
    static final int MB = RV * 16;
    /** Columns per chunk: the chunk's sums, NC x MB floats, are 32 KB (L1 is 48 KB). */
    static final int NC = 128;
    /** Bytes between two columns' sums (a pad of 64 bytes measured no faster: 654 against 607 us). */
    static final int CS = MB * 4;
    /** Whether this kernel can run (16-float vectors). */
    static final boolean SUPPORTED = VL == 16;

    /** The pattern-sorted layout of one weight (see the class comment). */
    record Layout(int[] bounds, int[] offsets, float[] weights) {}

    private SpmmTwoFour() {}

    /** Builds {@code b}'s layout (2:4 only). */
    static Layout pack(SparseB b) {
        int n = b.n();
        int groups = b.groups();
        int chunks = (n + NC - 1) / NC;
        float[] values = b.values();
        int[] bounds = new int[chunks * groups * 17];
        int[] offsets = new int[groups * n];
        float[] weights = new float[2 * groups * n];
        int[] next = new int[16];
        int e = 0;
        for (int c = 0; c < chunks; c++) {
            int j0 = c * NC;
            int j1 = Math.min(n, j0 + NC);
            for (int g = 0; g < groups; g++) {
                java.util.Arrays.fill(next, 0);
                for (int j = j0; j < j1; j++) {
                    next[b.nibble(j, g)]++;
                }
                int hb = (c * groups + g) * 17;
                bounds[hb] = e;
                for (int q = 0; q < 16; q++) {
                    bounds[hb + q + 1] = bounds[hb + q] + next[q];
                    next[q] = bounds[hb + q];
                }
                for (int j = j0; j < j1; j++) {
                    int at = next[b.nibble(j, g)]++;
                    offsets[at] = (j - j0) * CS;
                    weights[2 * at] = values[2 * (j * groups + g)];
                    weights[2 * at + 1] = values[2 * (j * groups + g) + 1];
                }
                e = bounds[hb + 16];
            }
        }
        return new Layout(bounds, offsets, weights);
    }

    /** Per-thread native buffers: a row block's transposed A and a chunk's sums. */
    private static final class Scratch {
        private MemorySegment at = MemorySegment.NULL;
        private final MemorySegment sums = NativeMemory.allocateScratch((long) NC * CS);

        long at(long bytes) {
            if (at.byteSize() < bytes) {
                at = NativeMemory.allocateScratch(bytes);
            }
            return at.address();
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code C = epi(A x op(B))} for a 2:4 weight on {@code threads} threads of {@code ctx}: A at float
     * {@code aOff} of {@code a} ({@code aAt} its absolute address when native, else -1), C at {@code cOff}
     * ({@code cAt} its absolute address when it is stored straight into, else -1); {@code e} null or not identity.
     */
    static void multiply(KernelContext ctx, int threads, int m, MemorySegment a, long aOff, long aAt, int lda,
                         SparseB b, MemorySegment c, long cOff, long cAt, int ldc, Epilogue e) {
        Layout layout = b.twoFourLayout();
        int n = b.n();
        int groups = b.groups();
        int blocks = (m + MB - 1) / MB;
        int chunks = (n + NC - 1) / NC;
        int units = blocks * chunks;
        SpmmRegion r = SpmmRegion.of(a, aOff, aAt, lda, m, b, c, cOff, cAt, ldc, e, MB / VL);
        r.layout = layout;
        r.groups = groups;
        r.chunks = chunks;
        try {
            SpmmRegion.run(ctx, threads == 1 ? 1 : Math.min(units, 4 * threads), units, r, SpmmTwoFour::units);
        } finally {
            r.clear();
        }
    }

    /** Units [u0, u1) = (row block, chunk of NC columns), row block major: see {@link #multiply}. */
    private static void units(SpmmRegion r, int u0, int u1) {
        Layout layout = (Layout) r.layout;
        MemorySegment a = r.a;
        long aOff = r.aOff;
        long aAt = r.aAt;
        int lda = r.lda;
        int m = r.m;
        int k = r.b.k();
        int n = r.b.n();
        int groups = r.groups;
        int chunks = r.chunks;
        MemorySegment c = r.c;
        long cOff = r.cOff;
        long cAt = r.cAt;
        int ldc = r.ldc;
        Epilogue e = r.e;
        Scratch s = SCRATCH.get();
        Spmm.Scratch ss = Spmm.SCRATCH.get();
        long atAddr = s.at(4L * groups * MB * 4);
        long sums = s.sums.address();
        int done = -1;
        for (int u = u0; u < u1; u++) {
            int blk = u / chunks;
            int ch = u % chunks;
            int m0 = blk * MB;
            if (blk != done) {
                Spmm.transpose(a, aOff, aAt, lda, m, m0, MB, 0, k, atAddr);
                for (int p = k; p < 4 * groups; p++) {
                    zero(atAddr + (long) p * MB * 4, MB);
                }
                done = blk;
            }
            int j0 = ch * NC;
            int nc = Math.min(NC, n - j0);
            zero(sums, nc * MB);
            chunk(layout.bounds(), layout.offsets(), layout.weights(), ch * groups * 17, groups, atAddr, sums);
            int rows = Math.min(MB, m - m0);
            for (int q0 = 0; q0 < nc; q0 += Spmm.NB) {
                int nb = Math.min(Spmm.NB, nc - q0);
                copy(sums + (long) q0 * CS, ss.yt, nb * MB);
                Spmm.output(ss.yt, 0, MB, rows, nb, m0, j0 + q0, ss, c, cOff, cAt, ldc, e);
            }
            Spmm.heavyPass(cAt, ldc, e, m0, rows, j0, nc);
        }
    }

    /** Zeroes {@code count} floats (a multiple of VL) at the absolute address {@code at}. */
    private static void zero(long at, int count) {
        FloatVector z = FloatVector.zero(S);
        for (int i = 0; i < count; i += VL) {
            z.intoMemorySegment(ALL, at + 4L * i, LE);
        }
    }

    /** {@code dst[0 .. count) = } the floats at the absolute address {@code at} (count a multiple of VL). */
    private static void copy(long at, float[] dst, int count) {
        for (int i = 0; i < count; i += VL) {
            FloatVector.fromMemorySegment(S, ALL, at + 4L * i, LE).intoArray(dst, i);
        }
    }

    /**
     * One (row block, chunk) unit: every group of the chunk, header at {@code bounds[hb + g*17]}, the row block's
     * transposed A at {@code atAddr} ([4*groups][MB] floats), the chunk's sums at {@code sums} ([NC][MB] floats).
     */
    private static void chunk(int[] bounds, int[] off, float[] wt, int hb0, int groups, long atAddr, long sums) {
        long vb = VL * 4L;
        long rowB = MB * 4L;
        for (int g = 0; g < groups; g++) {
            long ab = (atAddr + 4L * g * rowB) & AM;
            FloatVector a00 = FloatVector.fromMemorySegment(S, ALL, ab, LE);
            FloatVector a01 = FloatVector.fromMemorySegment(S, ALL, ab + vb, LE);
            FloatVector a02 = FloatVector.fromMemorySegment(S, ALL, ab + 2 * vb, LE);
            FloatVector a03 = FloatVector.fromMemorySegment(S, ALL, ab + 3 * vb, LE);
            FloatVector a10 = FloatVector.fromMemorySegment(S, ALL, ab + rowB, LE);
            FloatVector a11 = FloatVector.fromMemorySegment(S, ALL, ab + rowB + vb, LE);
            FloatVector a12 = FloatVector.fromMemorySegment(S, ALL, ab + rowB + 2 * vb, LE);
            FloatVector a13 = FloatVector.fromMemorySegment(S, ALL, ab + rowB + 3 * vb, LE);
            FloatVector a20 = FloatVector.fromMemorySegment(S, ALL, ab + 2 * rowB, LE);
            FloatVector a21 = FloatVector.fromMemorySegment(S, ALL, ab + 2 * rowB + vb, LE);
            FloatVector a22 = FloatVector.fromMemorySegment(S, ALL, ab + 2 * rowB + 2 * vb, LE);
            FloatVector a23 = FloatVector.fromMemorySegment(S, ALL, ab + 2 * rowB + 3 * vb, LE);
            FloatVector a30 = FloatVector.fromMemorySegment(S, ALL, ab + 3 * rowB, LE);
            FloatVector a31 = FloatVector.fromMemorySegment(S, ALL, ab + 3 * rowB + vb, LE);
            FloatVector a32 = FloatVector.fromMemorySegment(S, ALL, ab + 3 * rowB + 2 * vb, LE);
            FloatVector a33 = FloatVector.fromMemorySegment(S, ALL, ab + 3 * rowB + 3 * vb, LE);
            int hb = hb0 + g * 17;
            for (int q = 0; q < 16; q++) {
                int e0 = bounds[hb + q];
                int e1 = bounds[hb + q + 1];
                if (e0 == e1) {
                    continue;
                }
                switch (q) {
                    case 0 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a00, w0.fma(a00, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a01, w0.fma(a01, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a02, w0.fma(a02, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a03, w0.fma(a03, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 1 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a00, w0.fma(a10, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a01, w0.fma(a11, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a02, w0.fma(a12, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a03, w0.fma(a13, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 2 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a00, w0.fma(a20, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a01, w0.fma(a21, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a02, w0.fma(a22, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a03, w0.fma(a23, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 3 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a00, w0.fma(a30, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a01, w0.fma(a31, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a02, w0.fma(a32, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a03, w0.fma(a33, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 4 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a10, w0.fma(a00, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a11, w0.fma(a01, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a12, w0.fma(a02, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a13, w0.fma(a03, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 5 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a10, w0.fma(a10, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a11, w0.fma(a11, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a12, w0.fma(a12, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a13, w0.fma(a13, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 6 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a10, w0.fma(a20, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a11, w0.fma(a21, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a12, w0.fma(a22, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a13, w0.fma(a23, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 7 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a10, w0.fma(a30, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a11, w0.fma(a31, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a12, w0.fma(a32, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a13, w0.fma(a33, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 8 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a20, w0.fma(a00, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a21, w0.fma(a01, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a22, w0.fma(a02, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a23, w0.fma(a03, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 9 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a20, w0.fma(a10, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a21, w0.fma(a11, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a22, w0.fma(a12, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a23, w0.fma(a13, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 10 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a20, w0.fma(a20, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a21, w0.fma(a21, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a22, w0.fma(a22, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a23, w0.fma(a23, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 11 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a20, w0.fma(a30, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a21, w0.fma(a31, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a22, w0.fma(a32, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a23, w0.fma(a33, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 12 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a30, w0.fma(a00, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a31, w0.fma(a01, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a32, w0.fma(a02, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a33, w0.fma(a03, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 13 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a30, w0.fma(a10, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a31, w0.fma(a11, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a32, w0.fma(a12, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a33, w0.fma(a13, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 14 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a30, w0.fma(a20, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a31, w0.fma(a21, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a32, w0.fma(a22, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a33, w0.fma(a23, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    case 15 -> {
                        for (int i = e0; i < e1; i++) {
                            long o = (sums + off[i]) & AM;
                            FloatVector w0 = FloatVector.broadcast(S, wt[2 * i]);
                            FloatVector w1 = FloatVector.broadcast(S, wt[2 * i + 1]);
                            w1.fma(a30, w0.fma(a30, FloatVector.fromMemorySegment(S, ALL, o, LE))).intoMemorySegment(ALL, o, LE);
                            w1.fma(a31, w0.fma(a31, FloatVector.fromMemorySegment(S, ALL, o + vb, LE))).intoMemorySegment(ALL, o + vb, LE);
                            w1.fma(a32, w0.fma(a32, FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE))).intoMemorySegment(ALL, o + 2 * vb, LE);
                            w1.fma(a33, w0.fma(a33, FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE))).intoMemorySegment(ALL, o + 3 * vb, LE);
                        }
                    }
                    default -> throw new IllegalStateException("nibble " + q);
                }
            }
        }
    }
}
