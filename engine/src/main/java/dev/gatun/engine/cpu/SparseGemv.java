package dev.gatun.engine.cpu;

import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The sparse GEMV {@code y[j] = sum_p x[p] * op(B)[p, j]} (a one-row {@link Spmm} product) in a column-sliced,
 * permute-windowed layout ({@link Layout}, built once per {@link SparseB} on first use), with no gather and no
 * horizontal sum.
 *
 * <p>Layout: the N columns are cut into slices of VL (16) columns, lane l of a slice holding column {@code 16s + l}.
 * A slice is a run of slot pairs; each pair reads a window of {@link #WINDOW} = 2*VL (32) consecutive rows of x,
 * starting at the smallest row any of the slice's columns has still to place, rounded down to a multiple of VL;
 * in each slot of the pair every lane places its column's next nonzero if it lies in the window (value, and its row
 * within the window as a byte), else value 0 and row 0. Slots are stored slot-major (VL values; VL row bytes) and
 * each pair records its window's byte offset in x. One step, per slot: the 32 x values of the pair's window (two
 * aligned vector loads from a 64-byte aligned copy of x, shared by the pair), the slot's row bytes widened to ints,
 * one two-table lane permute ({@code IntVector.selectFrom(v1, v2)}, AVX-512 {@code vpermi2d}) picking each lane's
 * x, one FMA into the slice's sums (four accumulators, slot pairs alternating between (a, b) and (c, d), summed
 * {@code (a + b) + (c + d)}). Zen 5's {@code vgatherdps} costs about as much per element as scalar loads (0.32 ns
 * against CSR's 0.36 per nonzero), the permute-window step about 0.05 ns per slot lane (0.9 ns a pair of slots).
 *
 * <p>Padding: at 90% sparsity a column has 3.2 nonzeros per 32 rows on average and a slice about 1.7x as many slot
 * lanes as nonzeros (a fixed grid of 32-row windows: 2.2x); 2:4 about 1.0x. A padded lane adds
 * {@code 0 * x[window start]}: where that x is infinite or NaN the sum becomes NaN, as the dense product's would.
 *
 * <p>Only with 16-float vectors ({@link #SUPPORTED}: the two-table permute on 16 int lanes), and where
 * {@code Spmm.sliced} finds the padding worth it; otherwise one-row products run the CSR/2:4 dot products here
 * ({@code dotsCsr}: x gathered by the int16 indices, eight chains a column). {@link SpmmReference} is the scalar twin. Results do not depend on the thread count (slices
 * are independent).
 */
final class SparseGemv {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final VectorSpecies<Integer> IS = S.withLanes(int.class);
    private static final VectorSpecies<Byte> BS = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, VL * 8)));
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    private static final long AM = SgemmKernel.ADDRESS_MASK;
    private static final long SM = SgemmKernel.STRIDE_MASK;
    /** Rows of x one slot's permute reads from: two vectors. */
    static final int WINDOW = 2 * VL;
    /** Whether this machine's vectors suit the layout (16 float lanes). */
    static final boolean SUPPORTED = VL == 16;

    private SparseGemv() {}

    /**
     * The packed form (see the class comment): slice s owns slots [{@code start[s]}, {@code start[s+1]}) (an even
     * count); slot t's VL values at {@code values[t*VL]}, its VL rows within the window at {@code rows[t*VL]}; pair
     * {@code t/2}'s window starts at byte {@code window[t/2]} of x. {@code lanes} is the slot count times VL.
     */
    record Layout(int n, int k, int[] start, int[] window, float[] values, byte[] rows, long lanes) {
        int slices() {
            return start.length - 1;
        }
    }

    /** Packs {@code b} (CSR or 2:4: each column's nonzeros in increasing k) into a {@link Layout}. */
    static Layout pack(SparseB b) {
        int n = b.n();
        int k = b.k();
        int slices = (n + VL - 1) / VL;
        int[][] colRows = new int[VL][k];
        float[][] colValues = new float[VL][k];
        int[] cnt = new int[VL];
        int[] start = new int[slices + 1];
        for (int s = 0; s < slices; s++) {
            start[s + 1] = Math.addExact(start[s], packSlice(b, s, colRows, colValues, cnt, null, null, null, 0));
        }
        int total = start[slices];
        float[] values = new float[Math.multiplyExact(total, VL)];
        byte[] rows = new byte[total * VL];
        int[] window = new int[total / 2];
        for (int s = 0; s < slices; s++) {
            packSlice(b, s, colRows, colValues, cnt, values, rows, window, start[s]);
        }
        return new Layout(n, k, start, window, values, rows, (long) total * VL);
    }

    /**
     * Slice s: pairs of slots, each pair's window starting at the smallest row any lane still has to place, rounded
     * down to VL (aligned loads), each lane placing up to one nonzero per slot from that window (a fixed grid of
     * windows pads 2.18 slot lanes per nonzero at 90% sparsity on 384x1536, this sliding one 1.72). Returns the
     * slots; fills values, rows and window from slot t0 unless values is null (counting only).
     */
    private static int packSlice(SparseB b, int s, int[][] colRows, float[][] colValues, int[] cnt, float[] values,
                                 byte[] rows, int[] window, int t0) {
        int[] next = new int[VL];
        for (int l = 0; l < VL; l++) {
            cnt[l] = s * VL + l < b.n() ? b.column(s * VL + l, colRows[l], colValues[l]) : 0;
        }
        int t = t0;
        while (true) {
            int from = Integer.MAX_VALUE;
            for (int l = 0; l < VL; l++) {
                if (next[l] < cnt[l]) {
                    from = Math.min(from, colRows[l][next[l]]);
                }
            }
            if (from == Integer.MAX_VALUE) {
                return t - t0;
            }
            from = from / VL * VL;
            if (values != null) {
                window[t / 2] = from * 4;
            }
            for (int slot = 0; slot < 2; slot++, t++) {
                for (int l = 0; l < VL; l++) {
                    if (next[l] < cnt[l] && colRows[l][next[l]] < from + WINDOW) {
                        if (values != null) {
                            values[t * VL + l] = colValues[l][next[l]];
                            rows[t * VL + l] = (byte) (colRows[l][next[l]] - from);
                        }
                        next[l]++;
                    }
                }
            }
        }
    }

    /** Floats of x the kernel may read for depth k: the last window starts below k, at a multiple of VL. */
    static int xFloats(int k) {
        return (k + VL - 1) / VL * VL + VL;
    }

    /**
     * Slot lanes per nonzero of a K x N weight with {@code nonzeros} spread at random, an upper bound (the planner's
     * estimate): a fixed grid of windows, each of a slice's windows getting the largest of VL Poisson counts of mean
     * {@code 32 * density}, rounded up to even (the sliding windows of {@link #pack} need about 20% fewer at 90%).
     */
    static double expectedPadding(int k, int n, long nonzeros) {
        double density = (double) nonzeros / ((double) k * n);
        if (density <= 0) {
            return 1;
        }
        double lambda = WINDOW * Math.min(1, density);
        // E[max] = sum over c >= 0 of P(max > c) = 1 - F(c)^VL; +0.5 for the rounding to even
        double term = Math.exp(-lambda);
        double cdf = term;
        double expectedMax = 0;
        for (int c = 0; c < 4 * WINDOW && cdf < 1 - 1e-12; c++) {
            expectedMax += 1 - Math.pow(cdf, VL);
            term *= lambda / (c + 1);
            cdf += term;
        }
        return Math.max(1, (Math.min(expectedMax, WINDOW) + 0.5) / lambda);
    }

    /**
     * acc[to + (s - s0)*VL + l] = the sum of slice s, lane l, for slices [s0, s1): x at the absolute, 64-byte aligned
     * address {@code xAt}, readable up to the last window's end (see the class comment for the step).
     */
    static void dots(Layout lay, int s0, int s1, long xAt, float[] acc, int to) {
        int[] start = lay.start();
        int[] window = lay.window();
        float[] values = lay.values();
        byte[] rows = lay.rows();
        for (int s = s0; s < s1; s++) {
            FloatVector a = FloatVector.zero(S);
            FloatVector b = a;
            FloatVector c = a;
            FloatVector d = a;
            int t = start[s];
            int e = start[s + 1];
            for (; t + 4 <= e; t += 4) {
                int o = t * VL;
                long p = (xAt + window[t >> 1]) & AM;
                IntVector x0 = IntVector.fromMemorySegment(IS, ALL, p, LE);
                IntVector x1 = IntVector.fromMemorySegment(IS, ALL, p + 4 * VL, LE);
                a = FloatVector.fromArray(S, values, o).fma(pick(rows, o, x0, x1), a);
                b = FloatVector.fromArray(S, values, o + VL).fma(pick(rows, o + VL, x0, x1), b);
                p = (xAt + window[(t >> 1) + 1]) & AM;
                x0 = IntVector.fromMemorySegment(IS, ALL, p, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 4 * VL, LE);
                c = FloatVector.fromArray(S, values, o + 2 * VL).fma(pick(rows, o + 2 * VL, x0, x1), c);
                d = FloatVector.fromArray(S, values, o + 3 * VL).fma(pick(rows, o + 3 * VL, x0, x1), d);
            }
            if (t < e) {
                int o = t * VL;
                long p = (xAt + window[t >> 1]) & AM;
                IntVector x0 = IntVector.fromMemorySegment(IS, ALL, p, LE);
                IntVector x1 = IntVector.fromMemorySegment(IS, ALL, p + 4 * VL, LE);
                a = FloatVector.fromArray(S, values, o).fma(pick(rows, o, x0, x1), a);
                b = FloatVector.fromArray(S, values, o + VL).fma(pick(rows, o + VL, x0, x1), b);
            }
            a.add(b).add(c.add(d)).intoArray(acc, to + (s - s0) * VL);
        }
    }

    /**
     * {@link #dots} for four rows of x, at {@code xAt + r*xs} (bytes), sharing each loaded slot (values and rows)
     * between them: acc[to + r*stride + (s - s0)*VL + l] for row r. Each row's sums are those {@link #dots} gives
     * it alone, bit for bit (the same four accumulators in the same order).
     */
    static void dots4(Layout lay, int s0, int s1, long xAt, long xs, float[] acc, int to, int stride) {
        xs &= SM;
        int[] start = lay.start();
        int[] window = lay.window();
        float[] values = lay.values();
        byte[] rows = lay.rows();
        for (int s = s0; s < s1; s++) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            FloatVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0;
            FloatVector d0 = a0, d1 = a0, d2 = a0, d3 = a0;
            FloatVector v0;
            FloatVector v1;
            IntVector i0;
            IntVector i1;
            IntVector x0;
            IntVector x1;
            long p;
            int t = start[s];
            int e = start[s + 1];
            for (; t + 4 <= e; t += 4) {
                int o = t * VL;
                v0 = FloatVector.fromArray(S, values, o);
                v1 = FloatVector.fromArray(S, values, o + VL);
                i0 = (IntVector) ByteVector.fromArray(BS, rows, o).convertShape(VectorOperators.B2I, IS, 0);
                i1 = (IntVector) ByteVector.fromArray(BS, rows, o + VL).convertShape(VectorOperators.B2I, IS, 0);
                p = (xAt + window[t >> 1]) & AM;
                x0 = IntVector.fromMemorySegment(IS, ALL, p, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 4 * VL, LE);
                a0 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a0);
                b0 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b0);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + xs + 4 * VL, LE);
                a1 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a1);
                b1 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b1);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + 2 * xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 2 * xs + 4 * VL, LE);
                a2 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a2);
                b2 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b2);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + 3 * xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 3 * xs + 4 * VL, LE);
                a3 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a3);
                b3 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b3);
                v0 = FloatVector.fromArray(S, values, o + 2 * VL);
                v1 = FloatVector.fromArray(S, values, o + 2 * VL + VL);
                i0 = (IntVector) ByteVector.fromArray(BS, rows, o + 2 * VL).convertShape(VectorOperators.B2I, IS, 0);
                i1 = (IntVector) ByteVector.fromArray(BS, rows, o + 2 * VL + VL).convertShape(VectorOperators.B2I, IS, 0);
                p = (xAt + window[(t >> 1) + 1]) & AM;
                x0 = IntVector.fromMemorySegment(IS, ALL, p, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 4 * VL, LE);
                c0 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), c0);
                d0 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), d0);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + xs + 4 * VL, LE);
                c1 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), c1);
                d1 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), d1);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + 2 * xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 2 * xs + 4 * VL, LE);
                c2 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), c2);
                d2 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), d2);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + 3 * xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 3 * xs + 4 * VL, LE);
                c3 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), c3);
                d3 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), d3);
            }
            if (t < e) {
                int o = t * VL;
                v0 = FloatVector.fromArray(S, values, o);
                v1 = FloatVector.fromArray(S, values, o + VL);
                i0 = (IntVector) ByteVector.fromArray(BS, rows, o).convertShape(VectorOperators.B2I, IS, 0);
                i1 = (IntVector) ByteVector.fromArray(BS, rows, o + VL).convertShape(VectorOperators.B2I, IS, 0);
                p = (xAt + window[t >> 1]) & AM;
                x0 = IntVector.fromMemorySegment(IS, ALL, p, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 4 * VL, LE);
                a0 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a0);
                b0 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b0);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + xs + 4 * VL, LE);
                a1 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a1);
                b1 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b1);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + 2 * xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 2 * xs + 4 * VL, LE);
                a2 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a2);
                b2 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b2);
                x0 = IntVector.fromMemorySegment(IS, ALL, p + 3 * xs, LE);
                x1 = IntVector.fromMemorySegment(IS, ALL, p + 3 * xs + 4 * VL, LE);
                a3 = v0.fma(i0.selectFrom(x0, x1).reinterpretAsFloats(), a3);
                b3 = v1.fma(i1.selectFrom(x0, x1).reinterpretAsFloats(), b3);
            }
            int at = to + (s - s0) * VL;
            a0.add(b0).add(c0.add(d0)).intoArray(acc, at);
            a1.add(b1).add(c1.add(d1)).intoArray(acc, at + stride);
            a2.add(b2).add(c2.add(d2)).intoArray(acc, at + 2 * stride);
            a3.add(b3).add(c3.add(d3)).intoArray(acc, at + 3 * stride);
        }
    }

    /** Lane l: the x (as int bits) at row {@code rows[o + l]} of the window {@code (x0, x1)}. */
    private static FloatVector pick(byte[] rows, int o, IntVector x0, IntVector x1) {
        IntVector at = (IntVector) ByteVector.fromArray(BS, rows, o).convertShape(VectorOperators.B2I, IS, 0);
        return at.selectFrom(x0, x1).reinterpretAsFloats();
    }

    /** Per-thread buffers: the outputs of a task, x as an array (CSR) or native and aligned (sliced). */
    private static final class Scratch {
        private float[] acc = new float[0];
        private float[] x = new float[0];
        private MemorySegment xs = MemorySegment.NULL;

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

        /** Native (64-byte aligned) x rows of at least {@code bytes} bytes in all. */
        MemorySegment xs(long bytes) {
            if (xs.byteSize() < bytes) {
                xs = NativeMemory.allocateScratch(bytes);
            }
            return xs;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * {@code C = epi(A x op(B))} for m rows one at a time on {@code threads} threads ({@link Spmm} chose this path:
     * m = 1, or a few rows on the sliced layout, see {@code Spmm.maxSlicedRows}): the sliced layout (four rows per
     * pass over the slots) when {@code sliced}, else (m = 1 only) the CSR/2:4 dot products over a copy of x.
     */
    static void multiply(KernelContext ctx, int threads, int m, boolean sliced, MemorySegment a, long aOff, int lda,
                         SparseB b, MemorySegment c, long cOff, int ldc, Epilogue e) {
        int n = b.n();
        if (sliced) {
            SparseGemv.Layout lay = b.gemvLayout();
            int k = b.k();
            long xsB = xFloats(k) * 4L;
            MemorySegment xs = SCRATCH.get().xs(m * xsB);
            for (int r = 0; r < m; r++) {
                MemorySegment.copy(a, (aOff + (long) r * lda) * 4, xs, r * xsB, k * 4L);
            }
            long xAt = xs.address();
            int slices = lay.slices();
            SlicedTask task = SLICED.get();
            task.set(lay, m, n, xAt, xsB, e, c, cOff, ldc);
            try {
                SpmmRegion.run(ctx, threads == 1 ? 1 : Math.min(slices, 4 * threads), slices, task);
            } finally {
                task.clear();
            }
            return;
        }
        int chunks = (n + VL - 1) / VL;
        float[] x0 = SCRATCH.get().x(b.k());
        MemorySegment.copy(a, Tensor.F32, aOff * 4, x0, 0, b.k());
        DotTask task = DOTS.get();
        task.set(b, n, x0, e, c, cOff);
        try {
            SpmmRegion.run(ctx, threads == 1 ? 1 : Math.min(chunks, 4 * threads), chunks, task);
        } finally {
            task.clear();
        }
    }

    /**
     * The sliced GEMV's region: slices [u0, u1) of every row, stored with the epilogue. A reused object per calling
     * thread (fields set before the region and cleared after) instead of a capturing lambda, so that a steady-state
     * run allocates nothing.
     */
    private static final class SlicedTask implements SpmmRegion.RangeBody {
        private Layout lay;
        private int m;
        private int n;
        private long xAt;
        private long xsB;
        private Epilogue e;
        private MemorySegment c;
        private long cOff;
        private int ldc;

        void set(Layout lay, int m, int n, long xAt, long xsB, Epilogue e, MemorySegment c, long cOff, int ldc) {
            this.lay = lay;
            this.m = m;
            this.n = n;
            this.xAt = xAt;
            this.xsB = xsB;
            this.e = e;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
        }

        void clear() {
            lay = null;
            e = null;
            c = null;
        }

        @Override
        public void run(int u0, int u1) {
            int j0 = u0 * VL;
            int nb = Math.min(n, u1 * VL) - j0;
            int w = (u1 - u0) * VL;
            float[] acc = SCRATCH.get().acc(m * w);
            int r = 0;
            for (; r + 4 <= m; r += 4) {
                dots4(lay, u0, u1, xAt + r * xsB, xsB, acc, r * w, w);
            }
            for (; r < m; r++) {
                dots(lay, u0, u1, xAt + r * xsB, acc, r * w);
            }
            SgemmKernel.store(acc, 0, w, m, nb, 1f, 0f, true, e, c, cOff + j0, ldc, 0, j0);
        }
    }

    /** The one-row CSR/2:4 dot products' region: columns [16 u0, 16 u1), stored with the epilogue (as SlicedTask). */
    private static final class DotTask implements SpmmRegion.RangeBody {
        private SparseB b;
        private int n;
        private float[] x0;
        private Epilogue e;
        private MemorySegment c;
        private long cOff;

        void set(SparseB b, int n, float[] x0, Epilogue e, MemorySegment c, long cOff) {
            this.b = b;
            this.n = n;
            this.x0 = x0;
            this.e = e;
            this.c = c;
            this.cOff = cOff;
        }

        void clear() {
            b = null;
            x0 = null;
            e = null;
            c = null;
        }

        @Override
        public void run(int u0, int u1) {
            int j0 = u0 * VL;
            int nb = Math.min(n, u1 * VL) - j0;
            float[] acc = SCRATCH.get().acc(nb);
            if (b.format() == SparseB.Format.CSR) {
                dotsCsr(b, j0, nb, x0, acc, 0);
            } else {
                dotsTwoFour(b, j0, nb, x0, acc, 0);
            }
            SgemmKernel.store(acc, 0, nb, 1, nb, 1f, 0f, true, e, c, cOff + j0, 0, 0, j0);
        }
    }

    private static final ThreadLocal<SlicedTask> SLICED = ThreadLocal.withInitial(SlicedTask::new);
    private static final ThreadLocal<DotTask> DOTS = ThreadLocal.withInitial(DotTask::new);

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
