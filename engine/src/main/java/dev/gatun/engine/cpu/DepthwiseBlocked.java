package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 depthwise 3x3 convolution, one output channel per group, stride 1 or 2, dilation 1, at most one padding
 * row / column before the plane, in blocks of 16 channels with one channel per vector lane (the layout of MLAS's
 * NCHWc kernels, made here per layer and per block): {@code Y[n, c, oy, ox] = bias[c] + sum W[c, kh, kw] *
 * X[n, c, oy*s + kh - pt, ox*s + kw - pl]}. 16-lane vectors only ({@link #suits}).
 *
 * <p>Per (image, block of 16 channels): a ring of three input rows in a per-thread array, each row transposed to
 * {@code [pl + column][16 channels]} (16 x 16 in-register transposes of the 16 planes' rows; columns outside the
 * plane zero, rows outside it a shared zero row). Output position (oy, ox) is then nine aligned vector loads at
 * columns {@code ox*s + kw} of the three rows and nine FMAs with the block's weight vectors {@code W[c0.., kh, kw]}
 * (stride 2 just steps two columns), into a per-thread position-major buffer {@code [position][16]}; every 16
 * positions done are transposed back into the 16 NCHW output planes with the {@link ConvEpilogue} applied (residual,
 * clamp); a last partial group is stored as the plane's last 16 positions, overlapping the group before. The
 * buffer holds about two output rows (at least 128 positions): when the next row does not fit, the positions not yet
 * stored and the 16 before them move to its start. Input rows are read 16 columns at a time past their end (the extra columns land beyond
 * the row in the ring and are zeroed again where a tap reads them); a read that would leave X goes element by
 * element. Threads split the (image, block) pairs.
 */
public final class DepthwiseBlocked {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    private static final ThreadLocal<float[]> RING = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> OUT = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> TMP = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> WEIGHTS = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<Tasks> REGION = ThreadLocal.withInitial(Tasks::new);

    /** The two-vector permutes of the four transpose stages (as in {@link SquareTranspose}), as constant shuffles. */
    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED;
    private static final IntVector IL0 = shuffle(0, false), IH0 = shuffle(0, true);
    private static final IntVector IL1 = shuffle(1, false), IH1 = shuffle(1, true);
    private static final IntVector IL2 = shuffle(2, false), IH2 = shuffle(2, true);
    private static final IntVector IL3 = shuffle(3, false), IH3 = shuffle(3, true);

    private DepthwiseBlocked() {}

    /**
     * Stage {@code st}'s permute of rows x, y d = 8 >> st apart: lane indices into x (below VL) and y (from VL); the
     * low output interleaves the even d-float chunks of x and y, the high output the odd ones.
     */
    private static IntVector shuffle(int st, boolean high) {
        int d = 8 >> st;
        int[] idx = new int[VL];
        for (int l = 0; l < VL; l++) {
            int c = l / d;
            idx[l] = ((c & 1) == 0 ? 0 : VL) + (c / 2) * 2 * d + (high ? d : 0) + l % d;
        }
        return IntVector.fromArray(IS, idx, 0);
    }

    /** Whether {@link #conv} runs this geometry: see the class comment ({@code mg} output channels per group). */
    public static boolean suits(PhaseLayout lay, int group, int mg) {
        int size = lay.oh * lay.ow;
        return VL == 16 && mg == 1 && group % VL == 0 && lay.kh0 == 3 && lay.kw0 == 3 && lay.dh == 1 && lay.dw == 1
                && lay.sh == lay.sw && (lay.sh == 1 || lay.sh == 2) && lay.pt <= 1 && lay.pl <= 1 && size >= VL;
    }

    /**
     * Y [n, group, oh, ow] from X [n, group, ih, iw], W [group, 1, 3, 3], bias [group] or null; X, Y and the
     * residual native. Requires {@link #suits}.
     */
    public static void conv(KernelContext ctx, PhaseLayout lay, int n, int group, MemorySegment x, MemorySegment w,
                            MemorySegment bias, MemorySegment y, ConvEpilogue ep) {
        long in = (long) n * group * lay.ih * lay.iw * 4;
        long out = (long) n * group * lay.oh * lay.ow * 4;
        MemorySegment res = ep.residual();
        if (x.byteSize() < in || y.byteSize() < out || res != null && res.byteSize() < out) {
            throw new IndexOutOfBoundsException("DepthwiseBlocked: X, Y or the residual smaller than their shapes");
        }
        int units = n * (group / VL);
        int tasks = ConvGemm.tasks(ctx, units, out / 4 * 9, 1 << 15);
        Tasks region = REGION.get();
        region.set(lay, x, w, bias, y, ep, group, units, tasks);
        try {
            ctx.parallelFor(tasks, region);
        } finally {
            region.set(null, null, null, null, null, null, 0, 0, 0);
        }
    }

    /** The tasks of {@link #conv} (a reused object, so that a warm run allocates nothing): task t runs its units. */
    private static final class Tasks implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private MemorySegment x, w, bias, y;
        private ConvEpilogue ep;
        private int group, units, tasks;

        void set(PhaseLayout lay, MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y, ConvEpilogue ep,
                 int group, int units, int tasks) {
            this.lay = lay;
            this.x = x;
            this.w = w;
            this.bias = bias;
            this.y = y;
            this.ep = ep;
            this.group = group;
            this.units = units;
            this.tasks = tasks;
        }

        @Override
        public void accept(int t) {
            Geometry g = lay.table("depthwise16", 0, 0, 0, 0, 0, (l, u1, u2, u3, u4, u5) -> new Geometry(l));
            float[] ring = PhaseLayout.scratch(RING, g.ringFloats);
            Arrays.fill(ring, 0, g.ringFloats, 0f);
            float[] buf = PhaseLayout.scratch(OUT, g.cap * VL);
            float[] wt = PhaseLayout.scratch(WEIGHTS, 10 * VL);
            float[] tmp = PhaseLayout.scratch(TMP, VL * VL);
            int blocks = group / VL;
            for (int u = units * t / tasks, end = units * (t + 1) / tasks; u < end; u++) {
                int img = u / blocks;
                int c0 = u % blocks * VL;
                block(g, x, w, bias, y, ep, (long) img * group + c0, c0, ring, buf, wt, tmp);
            }
        }
    }

    /** Sizes derived from the layout, built once per layout (cached in its tables). */
    private record Geometry(int ih, int iw, int oh, int ow, int s, int pt, int pl, int chunks, int cols, int zeroFrom,
                            int zeroTo, int ringFloats, int cap) {
        Geometry(PhaseLayout l) {
            this(l.ih, l.iw, l.oh, l.ow, l.sh, l.pt, l.pl, (l.iw + VL - 1) / VL,
                    Math.max(l.pl + (l.iw + VL - 1) / VL * VL, (l.ow - 1) * l.sh + 3),
                    l.pl + l.iw, Math.min((l.ow - 1) * l.sh + 2, l.pl + (l.iw + VL - 1) / VL * VL - 1),
                    4 * Math.max(l.pl + (l.iw + VL - 1) / VL * VL, (l.ow - 1) * l.sh + 3) * VL,
                    (Math.max(2 * l.ow + 2 * VL, 8 * VL) + VL - 1) / VL * VL);
        }
    }

    /**
     * One (image, block): planes {@code plane .. plane + 15} of X and Y (plane index {@code image*group + c0}),
     * channels c0.. of W and bias.
     */
    private static void block(Geometry g, MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y,
                              ConvEpilogue ep, long plane, int c0, float[] ring, float[] buf, float[] wt,
                              float[] tmp) {
        // wt: the weights at [tap][lane] (taps 0..8), then the bias at 9*VL.
        for (int j = 0; j < VL; j++) {
            for (int t = 0; t < 9; t++) {
                wt[t * VL + j] = w.getAtIndex(Tensor.F32, (long) (c0 + j) * 9 + t);
            }
            wt[9 * VL + j] = bias == null ? 0f : bias.getAtIndex(Tensor.F32, c0 + j);
        }
        int ih = g.ih(), iw = g.iw(), oh = g.oh(), ow = g.ow(), s = g.s();
        int rowFloats = g.cols() * VL;
        int zeroRow = 3 * rowFloats;
        int size = oh * ow;
        int cap = g.cap();
        long inPlane = 4L * ih * iw;
        long outPlane = 4L * size;
        long xAt = x.address() + plane * inPlane;
        long xEnd = x.address() + x.byteSize();
        long yAt = y.address() + plane * outPlane;
        MemorySegment res = ep.residual();
        long rAt = res == null ? 0 : res.address() + plane * outPlane;
        float lo = ep.clamp() ? ep.lo() : Float.NEGATIVE_INFINITY;
        float hi = ep.clamp() ? ep.hi() : Float.POSITIVE_INFINITY;
        int loaded = -1;
        int next = 0;
        int base = 0;
        int rowOut = ow * VL;
        for (int oy = 0; oy < oh; oy++) {
            int top = oy * s - g.pt();
            for (int last = Math.min(top + 2, ih - 1); loaded < last; ) {
                loaded++;
                loadRow(g, xAt + 4L * loaded * iw, inPlane, xEnd, ring, loaded % 3 * rowFloats);
            }
            int q0 = top < 0 || top >= ih ? zeroRow : top % 3 * rowFloats;
            int q1 = top + 1 >= ih ? zeroRow : (top + 1) % 3 * rowFloats;
            int q2 = top + 2 >= ih ? zeroRow : (top + 2) % 3 * rowFloats;
            if (oy * ow - base + ow > cap) {
                // Keep the 16 positions before the next group too: the last group may reach back over them.
                int keep = Math.max(base, next - VL);
                System.arraycopy(buf, (keep - base) * VL, buf, 0, (oy * ow - keep) * VL);
                base = keep;
            }
            int o = (oy * ow - base) * VL;
            if (s == 1) {
                rowStride1(ring, buf, wt, q0, q1, q2, o, rowOut);
            } else {
                rowStride2(ring, buf, wt, q0, q1, q2, o, rowOut);
            }
            for (int done = (oy + 1) * ow; next + VL <= done; next += VL) {
                storeGroup(buf, (next - base) * VL, tmp, yAt + 4L * next, rAt == 0 ? 0 : rAt + 4L * next, outPlane, lo, hi);
            }
        }
        if (next < size) {
            int p = size - VL;
            storeGroup(buf, (p - base) * VL, tmp, yAt + 4L * p, rAt == 0 ? 0 : rAt + 4L * p, outPlane, lo, hi);
        }
    }

    /**
     * One output row, stride 1: {@code n/VL} positions into {@code buf[o..]} from the ring rows at q0, q1, q2
     * (kernel rows 0-2), weights and bias from {@code wt} ([tap][lane], bias at 9*VL). A method of its own so that the
     * JIT compiles this loop alone (every index the loop variable times a constant).
     */
    private static void rowStride1(float[] ring, float[] buf, float[] wt, int q0, int q1, int q2, int o, int n) {
        FloatVector w0 = FloatVector.fromArray(S, wt, 0);
        FloatVector w1 = FloatVector.fromArray(S, wt, VL);
        FloatVector w2 = FloatVector.fromArray(S, wt, 2 * VL);
        FloatVector w3 = FloatVector.fromArray(S, wt, 3 * VL);
        FloatVector w4 = FloatVector.fromArray(S, wt, 4 * VL);
        FloatVector w5 = FloatVector.fromArray(S, wt, 5 * VL);
        FloatVector w6 = FloatVector.fromArray(S, wt, 6 * VL);
        FloatVector w7 = FloatVector.fromArray(S, wt, 7 * VL);
        FloatVector w8 = FloatVector.fromArray(S, wt, 8 * VL);
        FloatVector bv = FloatVector.fromArray(S, wt, 9 * VL);
        for (int i = 0; i < n; i += VL) {
            FloatVector a = FloatVector.fromArray(S, ring, q0 + i).fma(w0, bv);
            FloatVector b = FloatVector.fromArray(S, ring, q1 + i).mul(w3);
            FloatVector c = FloatVector.fromArray(S, ring, q2 + i).mul(w6);
            a = FloatVector.fromArray(S, ring, q0 + i + VL).fma(w1, a);
            b = FloatVector.fromArray(S, ring, q1 + i + VL).fma(w4, b);
            c = FloatVector.fromArray(S, ring, q2 + i + VL).fma(w7, c);
            a = FloatVector.fromArray(S, ring, q0 + i + 2 * VL).fma(w2, a);
            b = FloatVector.fromArray(S, ring, q1 + i + 2 * VL).fma(w5, b);
            c = FloatVector.fromArray(S, ring, q2 + i + 2 * VL).fma(w8, c);
            a.add(b).add(c).intoArray(buf, o + i);
        }
    }

    /** {@link #rowStride1} for stride 2: output i reads ring columns 2i.. (no lane selection). */
    private static void rowStride2(float[] ring, float[] buf, float[] wt, int q0, int q1, int q2, int o, int n) {
        FloatVector w0 = FloatVector.fromArray(S, wt, 0);
        FloatVector w1 = FloatVector.fromArray(S, wt, VL);
        FloatVector w2 = FloatVector.fromArray(S, wt, 2 * VL);
        FloatVector w3 = FloatVector.fromArray(S, wt, 3 * VL);
        FloatVector w4 = FloatVector.fromArray(S, wt, 4 * VL);
        FloatVector w5 = FloatVector.fromArray(S, wt, 5 * VL);
        FloatVector w6 = FloatVector.fromArray(S, wt, 6 * VL);
        FloatVector w7 = FloatVector.fromArray(S, wt, 7 * VL);
        FloatVector w8 = FloatVector.fromArray(S, wt, 8 * VL);
        FloatVector bv = FloatVector.fromArray(S, wt, 9 * VL);
        for (int i = 0; i < n; i += VL) {
            FloatVector a = FloatVector.fromArray(S, ring, q0 + 2 * i).fma(w0, bv);
            FloatVector b = FloatVector.fromArray(S, ring, q1 + 2 * i).mul(w3);
            FloatVector c = FloatVector.fromArray(S, ring, q2 + 2 * i).mul(w6);
            a = FloatVector.fromArray(S, ring, q0 + 2 * i + VL).fma(w1, a);
            b = FloatVector.fromArray(S, ring, q1 + 2 * i + VL).fma(w4, b);
            c = FloatVector.fromArray(S, ring, q2 + 2 * i + VL).fma(w7, c);
            a = FloatVector.fromArray(S, ring, q0 + 2 * i + 2 * VL).fma(w2, a);
            b = FloatVector.fromArray(S, ring, q1 + 2 * i + 2 * VL).fma(w5, b);
            c = FloatVector.fromArray(S, ring, q2 + 2 * i + 2 * VL).fma(w8, c);
            a.add(b).add(c).intoArray(buf, o + i);
        }
    }

    /**
     * Input row {@code r} of the block's 16 planes (row r of plane j at {@code src + j*inPlane}, bytes) into the ring
     * row at {@code to}: column col of plane j at {@code to + (pl + col)*VL + j}.
     */
    private static void loadRow(Geometry g, long src, long inPlane, long xEnd, float[] ring, int to) {
        int at = to + g.pl() * VL;
        for (int k = 0; k < g.chunks(); k++, src += 4L * VL, at += VL * VL) {
            if (src + (VL - 1) * inPlane + 4L * VL <= xEnd) {
                squareIn(src, inPlane, ring, at);
            } else {
                int n = Math.min(VL, g.iw() - k * VL);
                for (int j = 0; j < VL; j++) {
                    for (int i = 0; i < n; i++) {
                        ring[at + i * VL + j] = ALL.get(Tensor.F32, src + j * inPlane + 4L * i);
                    }
                }
            }
        }
        for (int col = g.zeroFrom(); col <= g.zeroTo(); col++) {
            Arrays.fill(ring, to + col * VL, to + (col + 1) * VL, 0f);
        }
    }

    /** The 16 x 16 square of rows at absolute addresses {@code src + i*ss} transposed into {@code dst[dof + l*VL + i]}. */
    private static void squareIn(long src, long ss, float[] dst, int dof) {
        IntVector r0 = IntVector.fromMemorySegment(IS, ALL, src + 0 * ss, LE);
        IntVector r1 = IntVector.fromMemorySegment(IS, ALL, src + 1 * ss, LE);
        IntVector r2 = IntVector.fromMemorySegment(IS, ALL, src + 2 * ss, LE);
        IntVector r3 = IntVector.fromMemorySegment(IS, ALL, src + 3 * ss, LE);
        IntVector r4 = IntVector.fromMemorySegment(IS, ALL, src + 4 * ss, LE);
        IntVector r5 = IntVector.fromMemorySegment(IS, ALL, src + 5 * ss, LE);
        IntVector r6 = IntVector.fromMemorySegment(IS, ALL, src + 6 * ss, LE);
        IntVector r7 = IntVector.fromMemorySegment(IS, ALL, src + 7 * ss, LE);
        IntVector r8 = IntVector.fromMemorySegment(IS, ALL, src + 8 * ss, LE);
        IntVector r9 = IntVector.fromMemorySegment(IS, ALL, src + 9 * ss, LE);
        IntVector r10 = IntVector.fromMemorySegment(IS, ALL, src + 10 * ss, LE);
        IntVector r11 = IntVector.fromMemorySegment(IS, ALL, src + 11 * ss, LE);
        IntVector r12 = IntVector.fromMemorySegment(IS, ALL, src + 12 * ss, LE);
        IntVector r13 = IntVector.fromMemorySegment(IS, ALL, src + 13 * ss, LE);
        IntVector r14 = IntVector.fromMemorySegment(IS, ALL, src + 14 * ss, LE);
        IntVector r15 = IntVector.fromMemorySegment(IS, ALL, src + 15 * ss, LE);
        IntVector a0 = IL0.selectFrom(r0, r8), a8 = IH0.selectFrom(r0, r8);
        IntVector a1 = IL0.selectFrom(r1, r9), a9 = IH0.selectFrom(r1, r9);
        IntVector a2 = IL0.selectFrom(r2, r10), a10 = IH0.selectFrom(r2, r10);
        IntVector a3 = IL0.selectFrom(r3, r11), a11 = IH0.selectFrom(r3, r11);
        IntVector a4 = IL0.selectFrom(r4, r12), a12 = IH0.selectFrom(r4, r12);
        IntVector a5 = IL0.selectFrom(r5, r13), a13 = IH0.selectFrom(r5, r13);
        IntVector a6 = IL0.selectFrom(r6, r14), a14 = IH0.selectFrom(r6, r14);
        IntVector a7 = IL0.selectFrom(r7, r15), a15 = IH0.selectFrom(r7, r15);
        IntVector b0 = IL1.selectFrom(a0, a4), b4 = IH1.selectFrom(a0, a4);
        IntVector b1 = IL1.selectFrom(a1, a5), b5 = IH1.selectFrom(a1, a5);
        IntVector b2 = IL1.selectFrom(a2, a6), b6 = IH1.selectFrom(a2, a6);
        IntVector b3 = IL1.selectFrom(a3, a7), b7 = IH1.selectFrom(a3, a7);
        IntVector b8 = IL1.selectFrom(a8, a12), b12 = IH1.selectFrom(a8, a12);
        IntVector b9 = IL1.selectFrom(a9, a13), b13 = IH1.selectFrom(a9, a13);
        IntVector b10 = IL1.selectFrom(a10, a14), b14 = IH1.selectFrom(a10, a14);
        IntVector b11 = IL1.selectFrom(a11, a15), b15 = IH1.selectFrom(a11, a15);
        IntVector c0 = IL2.selectFrom(b0, b2), c2 = IH2.selectFrom(b0, b2);
        IntVector c1 = IL2.selectFrom(b1, b3), c3 = IH2.selectFrom(b1, b3);
        IntVector c4 = IL2.selectFrom(b4, b6), c6 = IH2.selectFrom(b4, b6);
        IntVector c5 = IL2.selectFrom(b5, b7), c7 = IH2.selectFrom(b5, b7);
        IntVector c8 = IL2.selectFrom(b8, b10), c10 = IH2.selectFrom(b8, b10);
        IntVector c9 = IL2.selectFrom(b9, b11), c11 = IH2.selectFrom(b9, b11);
        IntVector c12 = IL2.selectFrom(b12, b14), c14 = IH2.selectFrom(b12, b14);
        IntVector c13 = IL2.selectFrom(b13, b15), c15 = IH2.selectFrom(b13, b15);
        IntVector d0 = IL3.selectFrom(c0, c1), d1 = IH3.selectFrom(c0, c1);
        IntVector d2 = IL3.selectFrom(c2, c3), d3 = IH3.selectFrom(c2, c3);
        IntVector d4 = IL3.selectFrom(c4, c5), d5 = IH3.selectFrom(c4, c5);
        IntVector d6 = IL3.selectFrom(c6, c7), d7 = IH3.selectFrom(c6, c7);
        IntVector d8 = IL3.selectFrom(c8, c9), d9 = IH3.selectFrom(c8, c9);
        IntVector d10 = IL3.selectFrom(c10, c11), d11 = IH3.selectFrom(c10, c11);
        IntVector d12 = IL3.selectFrom(c12, c13), d13 = IH3.selectFrom(c12, c13);
        IntVector d14 = IL3.selectFrom(c14, c15), d15 = IH3.selectFrom(c14, c15);
        d0.reinterpretAsFloats().intoArray(dst, dof + 0 * VL);
        d1.reinterpretAsFloats().intoArray(dst, dof + 1 * VL);
        d2.reinterpretAsFloats().intoArray(dst, dof + 2 * VL);
        d3.reinterpretAsFloats().intoArray(dst, dof + 3 * VL);
        d4.reinterpretAsFloats().intoArray(dst, dof + 4 * VL);
        d5.reinterpretAsFloats().intoArray(dst, dof + 5 * VL);
        d6.reinterpretAsFloats().intoArray(dst, dof + 6 * VL);
        d7.reinterpretAsFloats().intoArray(dst, dof + 7 * VL);
        d8.reinterpretAsFloats().intoArray(dst, dof + 8 * VL);
        d9.reinterpretAsFloats().intoArray(dst, dof + 9 * VL);
        d10.reinterpretAsFloats().intoArray(dst, dof + 10 * VL);
        d11.reinterpretAsFloats().intoArray(dst, dof + 11 * VL);
        d12.reinterpretAsFloats().intoArray(dst, dof + 12 * VL);
        d13.reinterpretAsFloats().intoArray(dst, dof + 13 * VL);
        d14.reinterpretAsFloats().intoArray(dst, dof + 14 * VL);
        d15.reinterpretAsFloats().intoArray(dst, dof + 15 * VL);
    }

    /**
     * Positions p.. p+15 of the position-major buffer (at {@code so}, 16 channels each) transposed (through
     * {@code tmp}, 256 floats) into the 16 output planes at {@code dst + j*ds} (bytes), adding the residual at
     * {@code res + j*ds} unless {@code res} is 0, clamped to [lo, hi] (infinite bounds: no clamp; NaN stays NaN).
     */
    private static void storeGroup(float[] src, int so, float[] tmp, long dst, long res, long ds, float lo, float hi) {
        square(src, so, tmp, 0);
        FloatVector lov = FloatVector.broadcast(S, lo);
        FloatVector hiv = FloatVector.broadcast(S, hi);
        if (res == 0) {
            for (int j = 0; j < VL; j++) {
                FloatVector.fromArray(S, tmp, j * VL).max(lov).min(hiv).intoMemorySegment(ALL, dst + j * ds, LE);
            }
        } else {
            for (int j = 0; j < VL; j++) {
                FloatVector.fromArray(S, tmp, j * VL).add(FloatVector.fromMemorySegment(S, ALL, res + j * ds, LE))
                        .max(lov).min(hiv).intoMemorySegment(ALL, dst + j * ds, LE);
            }
        }
    }

    /** The 16 x 16 square {@code src[so + i*VL + l]} transposed into {@code dst[dof + l*VL + i]}. */
    private static void square(float[] src, int so, float[] dst, int dof) {
        IntVector r0 = FloatVector.fromArray(S, src, so + 0 * VL).reinterpretAsInts();
        IntVector r1 = FloatVector.fromArray(S, src, so + 1 * VL).reinterpretAsInts();
        IntVector r2 = FloatVector.fromArray(S, src, so + 2 * VL).reinterpretAsInts();
        IntVector r3 = FloatVector.fromArray(S, src, so + 3 * VL).reinterpretAsInts();
        IntVector r4 = FloatVector.fromArray(S, src, so + 4 * VL).reinterpretAsInts();
        IntVector r5 = FloatVector.fromArray(S, src, so + 5 * VL).reinterpretAsInts();
        IntVector r6 = FloatVector.fromArray(S, src, so + 6 * VL).reinterpretAsInts();
        IntVector r7 = FloatVector.fromArray(S, src, so + 7 * VL).reinterpretAsInts();
        IntVector r8 = FloatVector.fromArray(S, src, so + 8 * VL).reinterpretAsInts();
        IntVector r9 = FloatVector.fromArray(S, src, so + 9 * VL).reinterpretAsInts();
        IntVector r10 = FloatVector.fromArray(S, src, so + 10 * VL).reinterpretAsInts();
        IntVector r11 = FloatVector.fromArray(S, src, so + 11 * VL).reinterpretAsInts();
        IntVector r12 = FloatVector.fromArray(S, src, so + 12 * VL).reinterpretAsInts();
        IntVector r13 = FloatVector.fromArray(S, src, so + 13 * VL).reinterpretAsInts();
        IntVector r14 = FloatVector.fromArray(S, src, so + 14 * VL).reinterpretAsInts();
        IntVector r15 = FloatVector.fromArray(S, src, so + 15 * VL).reinterpretAsInts();
        IntVector a0 = IL0.selectFrom(r0, r8), a8 = IH0.selectFrom(r0, r8);
        IntVector a1 = IL0.selectFrom(r1, r9), a9 = IH0.selectFrom(r1, r9);
        IntVector a2 = IL0.selectFrom(r2, r10), a10 = IH0.selectFrom(r2, r10);
        IntVector a3 = IL0.selectFrom(r3, r11), a11 = IH0.selectFrom(r3, r11);
        IntVector a4 = IL0.selectFrom(r4, r12), a12 = IH0.selectFrom(r4, r12);
        IntVector a5 = IL0.selectFrom(r5, r13), a13 = IH0.selectFrom(r5, r13);
        IntVector a6 = IL0.selectFrom(r6, r14), a14 = IH0.selectFrom(r6, r14);
        IntVector a7 = IL0.selectFrom(r7, r15), a15 = IH0.selectFrom(r7, r15);
        IntVector b0 = IL1.selectFrom(a0, a4), b4 = IH1.selectFrom(a0, a4);
        IntVector b1 = IL1.selectFrom(a1, a5), b5 = IH1.selectFrom(a1, a5);
        IntVector b2 = IL1.selectFrom(a2, a6), b6 = IH1.selectFrom(a2, a6);
        IntVector b3 = IL1.selectFrom(a3, a7), b7 = IH1.selectFrom(a3, a7);
        IntVector b8 = IL1.selectFrom(a8, a12), b12 = IH1.selectFrom(a8, a12);
        IntVector b9 = IL1.selectFrom(a9, a13), b13 = IH1.selectFrom(a9, a13);
        IntVector b10 = IL1.selectFrom(a10, a14), b14 = IH1.selectFrom(a10, a14);
        IntVector b11 = IL1.selectFrom(a11, a15), b15 = IH1.selectFrom(a11, a15);
        IntVector c0 = IL2.selectFrom(b0, b2), c2 = IH2.selectFrom(b0, b2);
        IntVector c1 = IL2.selectFrom(b1, b3), c3 = IH2.selectFrom(b1, b3);
        IntVector c4 = IL2.selectFrom(b4, b6), c6 = IH2.selectFrom(b4, b6);
        IntVector c5 = IL2.selectFrom(b5, b7), c7 = IH2.selectFrom(b5, b7);
        IntVector c8 = IL2.selectFrom(b8, b10), c10 = IH2.selectFrom(b8, b10);
        IntVector c9 = IL2.selectFrom(b9, b11), c11 = IH2.selectFrom(b9, b11);
        IntVector c12 = IL2.selectFrom(b12, b14), c14 = IH2.selectFrom(b12, b14);
        IntVector c13 = IL2.selectFrom(b13, b15), c15 = IH2.selectFrom(b13, b15);
        IntVector d0 = IL3.selectFrom(c0, c1), d1 = IH3.selectFrom(c0, c1);
        IntVector d2 = IL3.selectFrom(c2, c3), d3 = IH3.selectFrom(c2, c3);
        IntVector d4 = IL3.selectFrom(c4, c5), d5 = IH3.selectFrom(c4, c5);
        IntVector d6 = IL3.selectFrom(c6, c7), d7 = IH3.selectFrom(c6, c7);
        IntVector d8 = IL3.selectFrom(c8, c9), d9 = IH3.selectFrom(c8, c9);
        IntVector d10 = IL3.selectFrom(c10, c11), d11 = IH3.selectFrom(c10, c11);
        IntVector d12 = IL3.selectFrom(c12, c13), d13 = IH3.selectFrom(c12, c13);
        IntVector d14 = IL3.selectFrom(c14, c15), d15 = IH3.selectFrom(c14, c15);
        d0.reinterpretAsFloats().intoArray(dst, dof + 0 * VL);
        d1.reinterpretAsFloats().intoArray(dst, dof + 1 * VL);
        d2.reinterpretAsFloats().intoArray(dst, dof + 2 * VL);
        d3.reinterpretAsFloats().intoArray(dst, dof + 3 * VL);
        d4.reinterpretAsFloats().intoArray(dst, dof + 4 * VL);
        d5.reinterpretAsFloats().intoArray(dst, dof + 5 * VL);
        d6.reinterpretAsFloats().intoArray(dst, dof + 6 * VL);
        d7.reinterpretAsFloats().intoArray(dst, dof + 7 * VL);
        d8.reinterpretAsFloats().intoArray(dst, dof + 8 * VL);
        d9.reinterpretAsFloats().intoArray(dst, dof + 9 * VL);
        d10.reinterpretAsFloats().intoArray(dst, dof + 10 * VL);
        d11.reinterpretAsFloats().intoArray(dst, dof + 11 * VL);
        d12.reinterpretAsFloats().intoArray(dst, dof + 12 * VL);
        d13.reinterpretAsFloats().intoArray(dst, dof + 13 * VL);
        d14.reinterpretAsFloats().intoArray(dst, dof + 14 * VL);
        d15.reinterpretAsFloats().intoArray(dst, dof + 15 * VL);
    }
}
