package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 depthwise 2-D convolution (one input channel per group, {@code mg} output channels per group; 1-D is height
 * 1): {@code Y[n, m, oy, ox] = bias[m] + sum_t W[m, t] * X[n, m / mg, oy*sh + kh*dh - pt, ox*sw + kw*dw - pl]}.
 *
 * <p>Each input plane is copied once to a per-thread heap buffer, then every output vector (16 positions) accumulates
 * all taps in registers, the {@link ConvEpilogue} is applied and the vector stored: memory bound, each element read
 * and written about once. Three shapes of the loop:
 * <ul>
 *   <li>stride 1 with an output the input's size ("same" padding): positions numbered flat over the whole plane,
 *       {@code p = oy*iw + ox}; the plane sits between zero rows, so tap (kh, kw) is the buffer shifted by
 *       {@code (kh*dh - pt)*iw + kw*dw - pl}; a column shift wraps into the neighbouring row at the edges, so the
 *       taps of each kernel column are summed apart and added under a mask of the positions whose column is inside.
 *       No per-row work at all;</li>
 *   <li>3x3 stride 2 (dilation 1): per output row, each kernel row loads two vector pairs of the input row and picks
 *       its even/odd elements ({@code selectFrom}) for the three taps; edge columns masked as above; output rows
 *       of at most half a vector (7x7 planes) two to a vector;</li>
 *   <li>anything else: the plane rewritten into phase planes ({@link PhaseLayout}), every tap a contiguous run.</li>
 * </ul>
 * 3x3 kernels have their nine weights hoisted into registers. Threads split the (image, group) planes.
 */
public final class DepthwiseConv {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> OUT = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> WEIGHTS = ThreadLocal.withInitial(() -> new float[0]);
    private static final FloatVector EVEN = indices(0);
    private static final FloatVector ODD = indices(1);

    private DepthwiseConv() {}

    private static FloatVector indices(int first) {
        float[] f = new float[VL];
        for (int i = 0; i < VL; i++) {
            f[i] = 2 * i + first;
        }
        return FloatVector.fromArray(S, f, 0);
    }

    /**
     * Y [n, group*mg, oh, ow] from X [n, group, ih, iw], W [group*mg, 1, KH, KW] (taps floats per output channel),
     * bias [group*mg] or null.
     */
    public static void conv(KernelContext ctx, PhaseLayout lay, int n, int group, int mg, int taps, MemorySegment x,
                            MemorySegment w, MemorySegment bias, MemorySegment y, ConvEpilogue ep) {
        int planes = n * group;
        long work = (long) planes * mg * lay.oh * lay.ow * taps;
        int tasks = ConvGemm.tasks(ctx, planes, work, 1 << 15);
        Loop loop = lay.table("depthwise", 0, 0, 0, 0, 0, (l, u1, u2, u3, u4, u5) ->
                l.sh == 1 && l.sw == 1 && l.oh == l.ih && l.ow == l.iw ? new Flat(l)
                : l.sh == 2 && l.sw == 2 && l.kh0 == 3 && l.kw0 == 3 && l.dh == 1 && l.dw == 1 ? new Stride2(l)
                : new Phased(l));
        Tasks region = REGION.get();
        region.set(lay, loop, x, w, bias, y, ep, planes, tasks, group, mg, taps);
        try {
            ctx.parallelFor(tasks, region);
        } finally {
            region.set(null, null, null, null, null, null, null, 0, 0, 0, 0, 0);
        }
    }

    /**
     * The tasks of {@link #conv}: task t runs planes [planes * t / tasks, planes * (t + 1) / tasks). A reused object
     * (one per calling thread, fields set before the region and cleared after) instead of a capturing lambda, so
     * that a warm run allocates nothing.
     */
    private static final class Tasks implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private Loop loop;
        private MemorySegment x, w, bias, y;
        private ConvEpilogue ep;
        private int planes, tasks, group, mg, taps;

        void set(PhaseLayout lay, Loop loop, MemorySegment x, MemorySegment w, MemorySegment bias, MemorySegment y, ConvEpilogue ep,
                 int planes, int tasks, int group, int mg, int taps) {
            this.lay = lay;
            this.loop = loop;
            this.x = x;
            this.w = w;
            this.bias = bias;
            this.y = y;
            this.ep = ep;
            this.planes = planes;
            this.tasks = tasks;
            this.group = group;
            this.mg = mg;
            this.taps = taps;
        }

        @Override
        public void accept(int t) {
            int floats = loop.bufferFloats();
            float[] buf = PhaseLayout.scratch(BUFFER, floats);
            Arrays.fill(buf, 0, floats, 0f);
            float[] wt = PhaseLayout.scratch(WEIGHTS, taps);
            float[] out = PhaseLayout.scratch(OUT, lay.oh * lay.ow + VL);
            for (int i = planes * t / tasks, end = planes * (t + 1) / tasks; i < end; i++) {
                loop.load(x, (long) i * lay.ih * lay.iw, buf);
                int grp = i % group;
                int img = i / group;
                for (int j = 0; j < mg; j++) {
                    int m = grp * mg + j;
                    MemorySegment.copy(w, Tensor.F32, (long) m * taps * 4, wt, 0, taps);
                    float b = bias == null ? 0f : bias.getAtIndex(Tensor.F32, m);
                    loop.plane(buf, out, wt, b, y, ((long) img * group * mg + m) * lay.oh * lay.ow, ep);
                }
            }
        }
    }

    private static final ThreadLocal<Tasks> REGION = ThreadLocal.withInitial(Tasks::new);

    /** One way of running the per-plane loop. */
    private abstract static class Loop {
        final PhaseLayout lay;

        Loop(PhaseLayout lay) {
            this.lay = lay;
        }

        abstract int bufferFloats();

        /** Copies input plane {@code src} (float index) into the buffer; the rest of the buffer keeps its zeros. */
        abstract void load(MemorySegment x, long src, float[] buf);

        /**
         * One output plane of {@code oh*ow} floats at float index {@code yPlane}, computed into {@code out}
         * ({@code oh*ow + VL} floats) and then stored; {@code wt} holds the channel's taps first (a per-thread
         * array, possibly longer).
         */
        abstract void plane(float[] buf, float[] out, float[] wt, float bias, MemorySegment y, long yPlane, ConvEpilogue ep);
    }

    /**
     * {@code y[at + i] = ep(out[from + i])} for i &lt; count: the plane (or row) is computed into a heap array first,
     * then stored in one pass (a vector handed to a helper that is not inlined would be boxed). Native Y and residual
     * are accessed through {@link SgemmKernel#ALL} at absolute addresses, bounds checked here once (see there why
     * not through their own segments).
     */
    private static void store(float[] out, int from, MemorySegment y, long at, int count, ConvEpilogue ep) {
        MemorySegment res = ep.residual();
        long end = (at + count) * 4;
        if (!y.isNative() || res != null && !res.isNative()) {
            storeSlow(out, from, y, at, count, ep);
            return;
        }
        if (at < 0 || end > y.byteSize() || res != null && end > res.byteSize()) {
            throw new IndexOutOfBoundsException("DepthwiseConv store: bytes up to " + end + " outside the output or residual");
        }
        MemorySegment all = SgemmKernel.ALL;
        long yAddr = y.address() + at * 4;
        long rAddr = res == null ? 0 : res.address() + at * 4;
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        int i = 0;
        for (; i <= count - VL; i += VL) {
            FloatVector v = FloatVector.fromArray(S, out, from + i);
            if (res != null) {
                v = v.add(FloatVector.fromMemorySegment(S, all, rAddr + 4L * i, LE));
            }
            if (clamp) {
                v = v.blend(lo, v.compare(VectorOperators.LT, lo));
                v = v.blend(hi, v.compare(VectorOperators.GT, hi));
            }
            v.intoMemorySegment(all, yAddr + 4L * i, LE);
        }
        if (i < count) {
            VectorMask<Float> mask = S.indexInRange(i, count);
            FloatVector v = FloatVector.fromArray(S, out, from + i);
            if (res != null) {
                v = v.add(FloatVector.fromMemorySegment(S, all, rAddr + 4L * i, LE, mask));
            }
            if (clamp) {
                v = v.blend(lo, v.compare(VectorOperators.LT, lo));
                v = v.blend(hi, v.compare(VectorOperators.GT, hi));
            }
            v.intoMemorySegment(all, yAddr + 4L * i, LE, mask);
        }
    }

    /** {@link #store} for heap segments, element by element. */
    private static void storeSlow(float[] out, int from, MemorySegment y, long at, int count, ConvEpilogue ep) {
        MemorySegment res = ep.residual();
        for (int i = 0; i < count; i++) {
            long e = at + i;
            y.setAtIndex(Tensor.F32, e, ep.apply(out[from + i], res == null ? 0f : res.getAtIndex(Tensor.F32, e)));
        }
    }

    /** Column masks: {@code m[i]} is whether column {@code i*step + shift} lies in [0, width), for i &lt; count. */
    private static boolean[] columns(int count, int period, int step, int shift, int width) {
        boolean[] m = new boolean[count + VL];
        for (int i = 0; i < count; i++) {
            int col = i % period * step + shift;
            m[i] = col >= 0 && col < width;
        }
        return m;
    }

    /** Stride 1, output plane = input plane: whole-plane vectors (see the class comment). */
    private static final class Flat extends Loop {
        final int size;
        final int base;
        final int[] off;
        /** Per kernel column: positions whose shifted column is inside, or null when the shift is 0. */
        final boolean[][] inside;
        /** The buffer's length: the largest tap offset, a plane and a vector. */
        final int floats;

        Flat(PhaseLayout lay) {
            super(lay);
            int iw = lay.iw;
            size = lay.ih * iw;
            base = lay.pt * iw + lay.pl;
            off = new int[lay.kh0 * lay.kw0];
            inside = new boolean[lay.kw0][];
            for (int kh = 0; kh < lay.kh0; kh++) {
                for (int kw = 0; kw < lay.kw0; kw++) {
                    off[kh * lay.kw0 + kw] = base + (kh * lay.dh - lay.pt) * iw + kw * lay.dw - lay.pl;
                }
            }
            for (int kw = 0; kw < lay.kw0; kw++) {
                int cs = kw * lay.dw - lay.pl;
                inside[kw] = cs == 0 ? null : columns(size, iw, 1, cs, iw);
            }
            floats = Arrays.stream(off).max().orElse(0) + size + VL;
        }

        @Override
        int bufferFloats() {
            return floats;
        }

        @Override
        void load(MemorySegment x, long src, float[] buf) {
            MemorySegment.copy(x, Tensor.F32, src * 4, buf, base, size);
        }

        @Override
        void plane(float[] buf, float[] out, float[] wt, float bias, MemorySegment y, long yPlane, ConvEpilogue ep) {
            if (lay.kh0 == 3 && lay.kw0 == 3 && inside[1] == null) {
                plane3x3(buf, out, wt, bias, y, yPlane, ep);
                return;
            }
            int kw0 = lay.kw0;
            int kh0 = lay.kh0;
            FloatVector bv = FloatVector.broadcast(S, bias);
            for (int p = 0; p < size; p += VL) {
                FloatVector acc = bv;
                for (int kw = 0; kw < kw0; kw++) {
                    FloatVector part = FloatVector.zero(S);
                    for (int kh = 0; kh < kh0; kh++) {
                        int t = kh * kw0 + kw;
                        part = FloatVector.fromArray(S, buf, p + off[t]).fma(FloatVector.broadcast(S, wt[t]), part);
                    }
                    boolean[] in = inside[kw];
                    acc = in == null ? acc.add(part) : acc.add(part, VectorMask.fromArray(S, in, p));
                }
                acc.intoArray(out, p);
            }
            store(out, 0, y, yPlane, size, ep);
        }

        /** The 3x3 case, middle column unshifted (pad 1): weights and offsets in registers. */
        private void plane3x3(float[] buf, float[] out, float[] wt, float bias, MemorySegment y, long yPlane, ConvEpilogue ep) {
            FloatVector w0 = FloatVector.broadcast(S, wt[0]);
            FloatVector w1 = FloatVector.broadcast(S, wt[1]);
            FloatVector w2 = FloatVector.broadcast(S, wt[2]);
            FloatVector w3 = FloatVector.broadcast(S, wt[3]);
            FloatVector w4 = FloatVector.broadcast(S, wt[4]);
            FloatVector w5 = FloatVector.broadcast(S, wt[5]);
            FloatVector w6 = FloatVector.broadcast(S, wt[6]);
            FloatVector w7 = FloatVector.broadcast(S, wt[7]);
            FloatVector w8 = FloatVector.broadcast(S, wt[8]);
            FloatVector bv = FloatVector.broadcast(S, bias);
            boolean[] left = inside[0];
            boolean[] right = inside[2];
            int o0 = off[0];
            int o3 = off[3];
            int o6 = off[6];
            int o1 = off[1];
            int o4 = off[4];
            int o7 = off[7];
            int o2 = off[2];
            int o5 = off[5];
            int o8 = off[8];
            for (int p = 0; p < size; p += VL) {
                FloatVector l = FloatVector.fromArray(S, buf, p + o0).mul(w0);
                l = FloatVector.fromArray(S, buf, p + o3).fma(w3, l);
                l = FloatVector.fromArray(S, buf, p + o6).fma(w6, l);
                FloatVector c = FloatVector.fromArray(S, buf, p + o1).fma(w1, bv);
                c = FloatVector.fromArray(S, buf, p + o4).fma(w4, c);
                c = FloatVector.fromArray(S, buf, p + o7).fma(w7, c);
                FloatVector r = FloatVector.fromArray(S, buf, p + o2).mul(w2);
                r = FloatVector.fromArray(S, buf, p + o5).fma(w5, r);
                r = FloatVector.fromArray(S, buf, p + o8).fma(w8, r);
                FloatVector acc = left == null ? c.add(l) : c.add(l, VectorMask.fromArray(S, left, p));
                acc = right == null ? acc.add(r) : acc.add(r, VectorMask.fromArray(S, right, p));
                acc.intoArray(out, p);
            }
            store(out, 0, y, yPlane, size, ep);
        }
    }

    /**
     * 3x3, stride 2, dilation 1: the plane flat between zero rows; output row oy, kernel row kh reads input row
     * {@code 2*oy + kh - pt} at columns {@code 2*ox + kw - pl}: the even/odd lanes of two vector pairs.
     */
    private static final class Stride2 extends Loop {
        final int size;
        final int base;
        final boolean[][] inside = new boolean[3][];
        /** Output rows of at most half a vector: two rows per vector, lane i = row i / ow, column i % ow. */
        final boolean pairs;
        /** With pairs: lane i picks element {@code 2*(i % ow)} of the first input vector (i &lt; ow) or of the second. */
        final FloatVector pairIndex;
        /** With pairs: per kernel column, the lanes whose input column is inside (lanes past 2*ow: false). */
        final boolean[][] pairInside = new boolean[3][];

        Stride2(PhaseLayout lay) {
            super(lay);
            size = lay.ih * lay.iw;
            base = lay.pt * lay.iw + lay.pl + 1;
            pairs = 2 * lay.ow <= VL;
            float[] idx = new float[VL];
            for (int i = 0; i < 2 * lay.ow && i < VL; i++) {
                idx[i] = i < lay.ow ? 2 * i : VL + 2 * (i - lay.ow);
            }
            pairIndex = FloatVector.fromArray(S, idx, 0);
            for (int kw = 0; kw < 3; kw++) {
                pairInside[kw] = columns(2 * lay.ow, lay.ow, 2, kw - lay.pl, lay.iw);
            }
            for (int kw = 0; kw < 3; kw++) {
                boolean[] m = columns(lay.ow, Integer.MAX_VALUE, 2, kw - lay.pl, lay.iw);
                boolean all = true;
                for (int i = 0; i < lay.ow; i++) {
                    all &= m[i];
                }
                inside[kw] = all ? null : m;
            }
        }

        @Override
        int bufferFloats() {
            // The last output row's kernel rows reach input row 2*(oh-1) + 2 - pt; vectors run 2*VL past a row.
            // With pairs, an odd last row's partner (never stored) reads two rows further.
            int rows = Math.max(lay.ih, 2 * lay.oh + 3 - lay.pt);
            return base + rows * lay.iw + 2 * lay.ow + 4 * VL + 4;
        }

        @Override
        void load(MemorySegment x, long src, float[] buf) {
            MemorySegment.copy(x, Tensor.F32, src * 4, buf, base, size);
        }

        @Override
        void plane(float[] buf, float[] out, float[] wt, float bias, MemorySegment y, long yPlane, ConvEpilogue ep) {
            if (pairs) {
                planePairs(buf, out, wt, bias, y, yPlane, ep);
                return;
            }
            FloatVector w0 = FloatVector.broadcast(S, wt[0]);
            FloatVector w1 = FloatVector.broadcast(S, wt[1]);
            FloatVector w2 = FloatVector.broadcast(S, wt[2]);
            FloatVector w3 = FloatVector.broadcast(S, wt[3]);
            FloatVector w4 = FloatVector.broadcast(S, wt[4]);
            FloatVector w5 = FloatVector.broadcast(S, wt[5]);
            FloatVector w6 = FloatVector.broadcast(S, wt[6]);
            FloatVector w7 = FloatVector.broadcast(S, wt[7]);
            FloatVector w8 = FloatVector.broadcast(S, wt[8]);
            FloatVector bv = FloatVector.broadcast(S, bias);
            boolean[] left = inside[0];
            boolean[] mid = inside[1];
            boolean[] right = inside[2];
            int iw = lay.iw;
            int ow = lay.ow;
            for (int oy = 0; oy < lay.oh; oy++) {
                // Element (r, c) of the plane sits at base + r*iw + c; row -pt.. are zeros before the plane.
                int row0 = base + (2 * oy - lay.pt) * iw - lay.pl;
                for (int ox = 0; ox < ow; ox += VL) {
                    int q0 = row0 + 2 * ox;
                    int q1 = q0 + iw;
                    int q2 = q1 + iw;
                    FloatVector a0 = FloatVector.fromArray(S, buf, q0);
                    FloatVector a1 = FloatVector.fromArray(S, buf, q0 + VL);
                    FloatVector a2 = FloatVector.fromArray(S, buf, q0 + 2);
                    FloatVector a3 = FloatVector.fromArray(S, buf, q0 + 2 + VL);
                    FloatVector l = EVEN.selectFrom(a0, a1).mul(w0);
                    FloatVector c = ODD.selectFrom(a0, a1).mul(w1);
                    FloatVector r = EVEN.selectFrom(a2, a3).mul(w2);
                    a0 = FloatVector.fromArray(S, buf, q1);
                    a1 = FloatVector.fromArray(S, buf, q1 + VL);
                    a2 = FloatVector.fromArray(S, buf, q1 + 2);
                    a3 = FloatVector.fromArray(S, buf, q1 + 2 + VL);
                    l = EVEN.selectFrom(a0, a1).fma(w3, l);
                    c = ODD.selectFrom(a0, a1).fma(w4, c);
                    r = EVEN.selectFrom(a2, a3).fma(w5, r);
                    a0 = FloatVector.fromArray(S, buf, q2);
                    a1 = FloatVector.fromArray(S, buf, q2 + VL);
                    a2 = FloatVector.fromArray(S, buf, q2 + 2);
                    a3 = FloatVector.fromArray(S, buf, q2 + 2 + VL);
                    l = EVEN.selectFrom(a0, a1).fma(w6, l);
                    c = ODD.selectFrom(a0, a1).fma(w7, c);
                    r = EVEN.selectFrom(a2, a3).fma(w8, r);
                    FloatVector acc = mid == null ? bv.add(c) : bv.add(c, VectorMask.fromArray(S, mid, ox));
                    acc = left == null ? acc.add(l) : acc.add(l, VectorMask.fromArray(S, left, ox));
                    acc = right == null ? acc.add(r) : acc.add(r, VectorMask.fromArray(S, right, ox));
                    acc.intoArray(out, oy * ow + ox);
                }
            }
            store(out, 0, y, yPlane, lay.oh * ow, ep);
        }

        /**
         * Two output rows per vector (2*ow &lt;= VL): for kernel row kh and column kw, vector a is input row
         * {@code 2*oy + kh - pt} from column {@code kw - pl}, vector b the same two rows down (output row oy + 1), and
         * {@link #pairIndex} picks the even elements of a into lanes [0, ow) and of b into [ow, 2*ow): one vector
         * covers outputs {@code oy*ow .. oy*ow + 2*ow - 1}, contiguous in the plane.
         */
        private void planePairs(float[] buf, float[] out, float[] wt, float bias, MemorySegment y, long yPlane, ConvEpilogue ep) {
            FloatVector w0 = FloatVector.broadcast(S, wt[0]);
            FloatVector w1 = FloatVector.broadcast(S, wt[1]);
            FloatVector w2 = FloatVector.broadcast(S, wt[2]);
            FloatVector w3 = FloatVector.broadcast(S, wt[3]);
            FloatVector w4 = FloatVector.broadcast(S, wt[4]);
            FloatVector w5 = FloatVector.broadcast(S, wt[5]);
            FloatVector w6 = FloatVector.broadcast(S, wt[6]);
            FloatVector w7 = FloatVector.broadcast(S, wt[7]);
            FloatVector w8 = FloatVector.broadcast(S, wt[8]);
            FloatVector bv = FloatVector.broadcast(S, bias);
            FloatVector idx = pairIndex;
            VectorMask<Float> left = VectorMask.fromArray(S, pairInside[0], 0);
            VectorMask<Float> mid = VectorMask.fromArray(S, pairInside[1], 0);
            VectorMask<Float> right = VectorMask.fromArray(S, pairInside[2], 0);
            int iw = lay.iw;
            int ow = lay.ow;
            int d = 2 * iw;
            for (int oy = 0; oy < lay.oh; oy += 2) {
                int q0 = base + (2 * oy - lay.pt) * iw - lay.pl;
                int q1 = q0 + iw;
                int q2 = q1 + iw;
                FloatVector l = idx.selectFrom(FloatVector.fromArray(S, buf, q0), FloatVector.fromArray(S, buf, q0 + d)).mul(w0);
                FloatVector c = idx.selectFrom(FloatVector.fromArray(S, buf, q0 + 1), FloatVector.fromArray(S, buf, q0 + 1 + d)).mul(w1);
                FloatVector r = idx.selectFrom(FloatVector.fromArray(S, buf, q0 + 2), FloatVector.fromArray(S, buf, q0 + 2 + d)).mul(w2);
                l = idx.selectFrom(FloatVector.fromArray(S, buf, q1), FloatVector.fromArray(S, buf, q1 + d)).fma(w3, l);
                c = idx.selectFrom(FloatVector.fromArray(S, buf, q1 + 1), FloatVector.fromArray(S, buf, q1 + 1 + d)).fma(w4, c);
                r = idx.selectFrom(FloatVector.fromArray(S, buf, q1 + 2), FloatVector.fromArray(S, buf, q1 + 2 + d)).fma(w5, r);
                l = idx.selectFrom(FloatVector.fromArray(S, buf, q2), FloatVector.fromArray(S, buf, q2 + d)).fma(w6, l);
                c = idx.selectFrom(FloatVector.fromArray(S, buf, q2 + 1), FloatVector.fromArray(S, buf, q2 + 1 + d)).fma(w7, c);
                r = idx.selectFrom(FloatVector.fromArray(S, buf, q2 + 2), FloatVector.fromArray(S, buf, q2 + 2 + d)).fma(w8, r);
                bv.add(c, mid).add(l, left).add(r, right).intoArray(out, oy * ow);
            }
            store(out, 0, y, yPlane, lay.oh * ow, ep);
        }
    }

    /** Any other geometry: phase planes, one output row at a time. */
    private static final class Phased extends Loop {
        Phased(PhaseLayout lay) {
            super(lay);
        }

        @Override
        int bufferFloats() {
            return lay.chanStride + lay.wq + VL;
        }

        @Override
        void load(MemorySegment x, long src, float[] buf) {
            lay.fillPlane(x, src, buf, 0, 0f);
        }

        @Override
        void plane(float[] buf, float[] out, float[] wt, float bias, MemorySegment y, long yPlane, ConvEpilogue ep) {
            int ow = lay.ow;
            int[] off = lay.tapOff;
            int taps = off.length;
            FloatVector bv = FloatVector.broadcast(S, bias);
            for (int oy = 0; oy < lay.oh; oy++) {
                int src = oy * lay.wq;
                for (int ox = 0; ox < ow; ox += VL) {
                    // Lanes past ow read inside the buffer's slack and are masked off at the store.
                    FloatVector acc = bv;
                    int at = src + ox;
                    for (int t = 0; t < taps; t++) {
                        acc = FloatVector.fromArray(S, buf, at + off[t]).fma(FloatVector.broadcast(S, wt[t]), acc);
                    }
                    acc.intoArray(out, oy * ow + ox);
                }
            }
            store(out, 0, y, yPlane, lay.oh * ow, ep);
        }
    }
}
