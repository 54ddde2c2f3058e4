package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 2-D direct convolution with output channels along the vectors and every reduction term kept in registers:
 * {@code Y[n, m, oy, ox] = bias[m] + sum_{c, kh, kw} W[m, c, kh, kw] * Xpad[n, c, oy*sh + kh*dh, ox*sw + kw*dw]}
 * (groups: c runs over the group of m).
 *
 * <ul>
 *   <li>Input: the phase planes of X ({@link PhaseLayout}: zero padding, strides split into phases), filled once per
 *       call into the calling thread's native buffer (64-byte aligned, grown when too small, kept across runs), shared by the tasks, {@code [image][c][chanStride]}
 *       plus {@link #TP} floats of slack, read by the kernel at absolute addresses through {@link SgemmKernel#ALL}
 *       (no bounds check per broadcast: the kernel ran ~15% faster than on a heap array; the extent of every read is
 *       checked once per call). In it
 *       output (oy, ox) reads term k = (c, kh, kw) at {@code buf[img + koff[k] + oy*wq + ox]},
 *       {@code koff[k] = c*chanStride + tapOff[kh*KW + kw]}: consecutive outputs of a row read consecutive floats, for
 *       any stride, dilation or padding.</li>
 *   <li>Weights: packed once as {@link ConvGemm.Packed} in panels of {@link #MR} output channels,
 *       {@code a[panel][k][MR]} (zero rows past M), the same packing as {@link ConvSmallPlane}'s.</li>
 *   <li>Register tile: {@link #TP} consecutive outputs of one output row x {@link #MR} channels (two vectors): 28
 *       accumulators that start at the bias and take all of K in registers. Per k: two weight vectors, TP broadcasts
 *       from the phase buffer, 28 fused multiply-adds. The last tile of a row whose width is not a multiple of TP
 *       computes lanes past the row (reading the garbage columns or the next row) that are never stored. Planes 7
 *       wide (TP / 2) take two rows per tile instead ({@link #kernelPair}).</li>
 *   <li>Chains: each output is its bias plus one fused multiply-add per k in increasing k, the chain of
 *       {@link ConvGemm} and {@link ConvSmallPlane}: all three give equal results bit for bit, whatever the thread
 *       count or the split.</li>
 *   <li>Store: a span of whole output rows of one image (at most {@link #SPAN_POSITIONS} outputs) is computed for one
 *       panel into a per-thread array {@code [position][MR]}, then written to Y in NCHW per channel, VL positions at a
 *       time by a gather ({@link ConvSmallPlane#storeRows}), with the {@link ConvEpilogue} on the way.</li>
 *   <li>Tasks: (group, panel range, row range over the images of the call). Weights over {@link #PANELS_FIRST} times
 *       the input split over panels first (each weight read by one task), otherwise over rows first (each input row
 *       read by few tasks).</li>
 * </ul>
 */
public final class ConvDirect {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Output channels per tile: two vectors (the packing of {@link ConvSmallPlane}). */
    public static final int MR = 2 * VL;
    /** Output positions per tile: consecutive outputs of one row. */
    static final int TP = 14;
    /** Most outputs per span (a store unit): the span's partial tile array is SPAN_POSITIONS x MR floats. */
    static final int SPAN_POSITIONS = 448;
    /** Fewest reduction terms for {@link #suits}: the 7x7 stem has 147 (3 channels). */
    static final int MIN_K = 144;
    /** Weights over this many times the call's input split the tasks over panels first. */
    static final int PANELS_FIRST = 4;
    /** Most floats of phase planes one call holds; larger batches run in chunks of images. */
    static final long BUFFER_BUDGET = 1L << 21;

    private static final ThreadLocal<float[]> PLANE = ThreadLocal.withInitial(() -> new float[0]);
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ThreadLocal<MemorySegment> BUFFER = ThreadLocal.withInitial(() -> MemorySegment.NULL);
    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);

    private ConvDirect() {}

    /**
     * Whether a convolution of this layout runs here rather than in {@link ConvGemm} or {@link ConvSmallPlane}
     * (measured per ResNet-18 layer, see docs/PERFORMANCE-cnn.md).
     */
    public static boolean suits(PhaseLayout lay, int group, int kdim) {
        if (MODE.equals("off")) {
            return false;
        }
        boolean fits = MR == ConvSmallPlane.MR && group == 1 && lay.ow >= TP / 2;
        return fits && (MODE.equals("all") || kdim >= MIN_K && lay.kh0 * lay.kw0 > 1 && lay.ow * 5 >= rowLanes(lay.ow) * 4);
    }

    /** Tile positions computed per output row of width {@code ow} (at least ow: tail tiles compute past the row). */
    static int rowLanes(int ow) {
        return 2 * ow == TP ? ow : Math.ceilDiv(ow, TP) * TP;
    }

    /**
     * {@code -Dgatun.conv.direct=off} never picks this kernel, {@code all} picks it for every layout it fits; for A/B
     * measurements against the other kernels.
     */
    private static final String MODE = System.getProperty("gatun.conv.direct", "auto");

    /**
     * Y [n, G*mg, oh, ow] = epilogue(conv(X [n, C, ih, iw], packed W) + bias); {@code pw} packed in panels of
     * {@link #MR} channels.
     *
     * @param taps kernel taps KH*KW (kdim / (C/G))
     */
    public static void conv(KernelContext ctx, PhaseLayout lay, int n, int c, ConvGemm.Packed pw, int taps, MemorySegment x,
                            MemorySegment y, ConvEpilogue ep) {
        if (pw.mr() != MR) {
            throw new IllegalArgumentException("weights packed in panels of " + pw.mr() + ", need " + MR);
        }
        int group = pw.group();
        int cg = c / group;
        int kdim = pw.kdim();
        // koff[k] for k < kdim, then the largest of them.
        int[] koff = lay.table("direct-koff", cg, taps, 0, 0, 0, (l, ng, nt, u1, u2, u3) -> {
            int[] o = new int[ng * nt + 1];
            for (int ci = 0; ci < ng; ci++) {
                for (int t = 0; t < nt; t++) {
                    o[ci * nt + t] = ci * l.chanStride + l.tapOff[t];
                    o[ng * nt] = Math.max(o[ng * nt], o[ci * nt + t]);
                }
            }
            return o;
        });
        if (koff.length != kdim + 1) {
            throw new IllegalArgumentException("kdim " + kdim + " is not C/G " + cg + " x taps " + taps);
        }
        float lo = ep.clamp() ? ep.lo() : Float.NEGATIVE_INFINITY;
        float hi = ep.clamp() ? ep.hi() : Float.POSITIVE_INFINITY;
        MemorySegment res = ep.residual();
        boolean vectorStore = y.isNative() && (res == null || res.isNative());
        int imgFloats = Math.multiplyExact(c, lay.chanStride);
        int chunk = (int) Math.clamp(BUFFER_BUDGET / Math.max(imgFloats, 1), 1, n);
        int target = ctx.threads() <= 1 ? 1 : 4 * ctx.threads();
        int spanRows = Math.max(1, Math.min(lay.oh, SPAN_POSITIONS / lay.ow));
        Regions regions = REGIONS.get();
        for (int n0 = 0; n0 < n; n0 += chunk) {
            int imgs = Math.min(chunk, n - n0);
            long bufFloats = (long) imgs * imgFloats + TP;
            MemorySegment buf = buffer(bufFloats * 4);
            buf.asSlice((bufFloats - TP) * 4).fill((byte) 0);
            // The farthest float a tile reads: the last image and group, the last row's last tile, the largest koff.
            long last = (long) (imgs - 1) * imgFloats + (long) (group - 1) * cg * lay.chanStride + (long) (lay.oh - 1) * lay.wq
                    + (2 * lay.ow == TP ? TP / 2 : (lay.ow - 1) / TP * TP + TP) - 1 + koff[kdim];
            if (last >= bufFloats || !buf.isNative()) {
                throw new IllegalStateException("ConvDirect: tiles would read float " + last + " of a buffer of " + bufFloats);
            }
            int planes = imgs * c;
            int fillTasks = Math.min(planes, ctx.threads() <= 1 ? 1 : 2 * ctx.threads());
            Fill fill = regions.fill;
            fill.set(lay, x, buf, planes, fillTasks, n0, c, imgFloats);
            try {
                ctx.parallelFor(fillTasks, fill);
            } finally {
                fill.clear();
            }
            int rows = imgs * lay.oh;
            boolean panelsFirst = (long) pw.panels() * MR * kdim > (long) PANELS_FIRST * imgs * imgFloats;
            int mSplit;
            int rSplit;
            if (panelsFirst) {
                mSplit = Math.min(pw.panels(), Math.ceilDiv(target, group));
                rSplit = Math.min(rows, Math.ceilDiv(target, group * mSplit));
            } else {
                rSplit = Math.min(rows, Math.ceilDiv(target, group));
                mSplit = Math.min(pw.panels(), Math.ceilDiv(target, group * rSplit));
            }
            Tasks region = regions.tasks;
            region.set(lay, pw, buf, y, res, koff, vectorStore, mSplit, rSplit, rows, spanRows, n0, cg, imgFloats, kdim, lo, hi);
            try {
                ctx.parallelFor(group * mSplit * rSplit, region);
            } finally {
                region.clear();
            }
        }
    }

    /**
     * The calling thread's phase buffer, at least {@code bytes} long: native memory from an automatic arena, allocated
     * again only when a call needs more than any before it on this thread (so a warm run allocates none).
     */
    private static MemorySegment buffer(long bytes) {
        MemorySegment b = BUFFER.get();
        if (b.byteSize() < bytes) {
            b = Arena.ofAuto().allocate(bytes, 64);
            BUFFER.set(b);
        }
        return b;
    }

    /** The reused region objects of the calling thread, so that a warm run allocates nothing. */
    private static final class Regions {
        final Fill fill = new Fill();
        final Tasks tasks = new Tasks();
    }

    private static final ThreadLocal<Regions> REGIONS = ThreadLocal.withInitial(Regions::new);

    /** The fill: task t writes planes [planes * t / tasks, planes * (t + 1) / tasks) of the chunk into the buffer. */
    private static final class Fill implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private MemorySegment x;
        private MemorySegment buf;
        private int planes, tasks, first, c, imgFloats;

        void set(PhaseLayout lay, MemorySegment x, MemorySegment buf, int planes, int tasks, int first, int c, int imgFloats) {
            this.lay = lay;
            this.x = x;
            this.buf = buf;
            this.planes = planes;
            this.tasks = tasks;
            this.first = first;
            this.c = c;
            this.imgFloats = imgFloats;
        }

        void clear() {
            lay = null;
            x = null;
            buf = null;
        }

        @Override
        public void accept(int t) {
            float[] plane = PhaseLayout.scratch(PLANE, lay.chanStride);
            for (int i = planes * t / tasks, end = planes * (t + 1) / tasks; i < end; i++) {
                int img = i / c;
                int ch = i % c;
                lay.fillPlane(x, ((long) (first + img) * c + ch) * lay.ih * lay.iw, plane, 0, 0f);
                MemorySegment.copy(plane, 0, buf, ValueLayout.JAVA_FLOAT, ((long) img * imgFloats + (long) ch * lay.chanStride) * 4, lay.chanStride);
            }
        }
    }

    /** The tiles: task t is (group, panel range, row range); rows run over all images of the chunk. */
    private static final class Tasks implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private ConvGemm.Packed pw;
        private MemorySegment buf;
        private MemorySegment y, res;
        private int[] koff;
        private boolean vectorStore;
        private int mSplit, rSplit, rows, spanRows, first, cg, imgFloats, kdim;
        private float lo, hi;

        void set(PhaseLayout lay, ConvGemm.Packed pw, MemorySegment buf, MemorySegment y, MemorySegment res, int[] koff, boolean vectorStore,
                 int mSplit, int rSplit, int rows, int spanRows, int first, int cg, int imgFloats, int kdim, float lo, float hi) {
            this.lay = lay;
            this.pw = pw;
            this.buf = buf;
            this.y = y;
            this.res = res;
            this.koff = koff;
            this.vectorStore = vectorStore;
            this.mSplit = mSplit;
            this.rSplit = rSplit;
            this.rows = rows;
            this.spanRows = spanRows;
            this.first = first;
            this.cg = cg;
            this.imgFloats = imgFloats;
            this.kdim = kdim;
            this.lo = lo;
            this.hi = hi;
        }

        void clear() {
            lay = null;
            pw = null;
            buf = null;
            y = null;
            res = null;
            koff = null;
        }

        @Override
        public void accept(int t) {
            int perGroup = mSplit * rSplit;
            int grp = t / perGroup;
            int ms = t % perGroup / rSplit;
            int rs = t % rSplit;
            int panels = pw.panels();
            int q0 = panels * ms / mSplit;
            int q1 = panels * (ms + 1) / mSplit;
            int r0 = (int) ((long) rows * rs / rSplit);
            int r1 = (int) ((long) rows * (rs + 1) / rSplit);
            int oh = lay.oh;
            int ow = lay.ow;
            int wq = lay.wq;
            int plane = oh * ow;
            int mg = pw.mg();
            int m = pw.group() * mg;
            float[] acc = PhaseLayout.scratch(ACC, (spanRows * ow + TP) * MR + VL * MR);
            float[] a = pw.a();
            float[] bias = pw.bias();
            for (int ra = r0; ra < r1; ) {
                int img = ra / oh;
                int oy0 = ra - img * oh;
                int oy1 = Math.min(Math.min(oh, oy0 + spanRows), oy0 + r1 - ra);
                int count = (oy1 - oy0) * ow;
                long xImg = buf.address() + 4 * ((long) img * imgFloats + (long) grp * cg * lay.chanStride);
                for (int q = q0; q < q1; q++) {
                    int panel = grp * panels + q;
                    int ao = panel * kdim * MR;
                    if (2 * ow == TP) {
                        for (int oy = oy0; oy < oy1; oy += 2) {
                            kernelPair(a, ao, xImg + 4L * oy * wq, oy + 1 < oy1 ? 4L * wq : 0, koff, kdim, bias, panel * MR, acc,
                                    (oy - oy0) * ow * MR);
                        }
                    } else {
                        for (int oy = oy0; oy < oy1; oy++) {
                            int to = (oy - oy0) * ow;
                            for (int ox = 0; ox < ow; ox += TP) {
                                kernel(a, ao, xImg + 4L * (oy * wq + ox), koff, kdim, bias, panel * MR, acc, (to + ox) * MR);
                            }
                        }
                    }
                    int rowsOut = Math.min(MR, mg - q * MR);
                    long at = ((long) (first + img) * m + (long) grp * mg + q * MR) * plane + (long) oy0 * ow;
                    if (vectorStore) {
                        ConvSmallPlane.storeRows(acc, 0, count, rowsOut, y, at, plane, res, lo, hi);
                    } else {
                        ConvSmallPlane.store(acc, 0, count, rowsOut, y, at, plane, res, lo, hi);
                    }
                }
                ra += oy1 - oy0;
            }
        }
    }

    /**
     * The TP x MR micro-kernel over all of K: {@code acc[to + p*MR + r] = bias[bo + r] + sum_{k < kdim} a[ao + k*MR + r]
     * * X[xa + 4*(koff[k] + p)]} (X at absolute byte address xa, read through {@link SgemmKernel#ALL}), one fused
     * multiply-add chain per element in increasing k: 28 accumulators, per k two weight vectors and TP broadcasts.
     */
    static void kernel(float[] a, int ao, long xa, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
        FloatVector c000 = b0;
        FloatVector c001 = b1;
        FloatVector c010 = b0;
        FloatVector c011 = b1;
        FloatVector c020 = b0;
        FloatVector c021 = b1;
        FloatVector c030 = b0;
        FloatVector c031 = b1;
        FloatVector c040 = b0;
        FloatVector c041 = b1;
        FloatVector c050 = b0;
        FloatVector c051 = b1;
        FloatVector c060 = b0;
        FloatVector c061 = b1;
        FloatVector c070 = b0;
        FloatVector c071 = b1;
        FloatVector c080 = b0;
        FloatVector c081 = b1;
        FloatVector c090 = b0;
        FloatVector c091 = b1;
        FloatVector c100 = b0;
        FloatVector c101 = b1;
        FloatVector c110 = b0;
        FloatVector c111 = b1;
        FloatVector c120 = b0;
        FloatVector c121 = b1;
        FloatVector c130 = b0;
        FloatVector c131 = b1;
        MemorySegment all = SgemmKernel.ALL;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long o = 4L * koff[k];
            long i = xa + o;
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 4));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 12));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 20));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, i + 28));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, i + 32));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, i + 36));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, i + 40));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, i + 44));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, i + 48));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, i + 52));
            c130 = w0.fma(v, c130);
            c131 = w1.fma(v, c131);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
        c070.intoArray(acc, to + 7 * MR);
        c071.intoArray(acc, to + 7 * MR + VL);
        c080.intoArray(acc, to + 8 * MR);
        c081.intoArray(acc, to + 8 * MR + VL);
        c090.intoArray(acc, to + 9 * MR);
        c091.intoArray(acc, to + 9 * MR + VL);
        c100.intoArray(acc, to + 10 * MR);
        c101.intoArray(acc, to + 10 * MR + VL);
        c110.intoArray(acc, to + 11 * MR);
        c111.intoArray(acc, to + 11 * MR + VL);
        c120.intoArray(acc, to + 12 * MR);
        c121.intoArray(acc, to + 12 * MR + VL);
        c130.intoArray(acc, to + 13 * MR);
        c131.intoArray(acc, to + 13 * MR + VL);
    }

    /**
     * {@link #kernel} for planes 7 outputs wide (TP / 2): the tile is two output rows, positions 0..6 of the row at
     * {@code xa} and 0..6 of the row {@code rowBytes} further (the next output row; 0 repeats the row for a last odd
     * one, whose copy lands past the span and is never stored).
     */
    static void kernelPair(float[] a, int ao, long xa, long rowBytes, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
        FloatVector c000 = b0;
        FloatVector c001 = b1;
        FloatVector c010 = b0;
        FloatVector c011 = b1;
        FloatVector c020 = b0;
        FloatVector c021 = b1;
        FloatVector c030 = b0;
        FloatVector c031 = b1;
        FloatVector c040 = b0;
        FloatVector c041 = b1;
        FloatVector c050 = b0;
        FloatVector c051 = b1;
        FloatVector c060 = b0;
        FloatVector c061 = b1;
        FloatVector c070 = b0;
        FloatVector c071 = b1;
        FloatVector c080 = b0;
        FloatVector c081 = b1;
        FloatVector c090 = b0;
        FloatVector c091 = b1;
        FloatVector c100 = b0;
        FloatVector c101 = b1;
        FloatVector c110 = b0;
        FloatVector c111 = b1;
        FloatVector c120 = b0;
        FloatVector c121 = b1;
        FloatVector c130 = b0;
        FloatVector c131 = b1;
        MemorySegment all = SgemmKernel.ALL;
        long xb = xa + rowBytes;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long o = 4L * koff[k];
            long i = xa + o;
            long j = xb + o;
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 4));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 12));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 20));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, j + 0));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, j + 4));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, j + 8));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, j + 12));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, j + 16));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, j + 20));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, j + 24));
            c130 = w0.fma(v, c130);
            c131 = w1.fma(v, c131);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
        c070.intoArray(acc, to + 7 * MR);
        c071.intoArray(acc, to + 7 * MR + VL);
        c080.intoArray(acc, to + 8 * MR);
        c081.intoArray(acc, to + 8 * MR + VL);
        c090.intoArray(acc, to + 9 * MR);
        c091.intoArray(acc, to + 9 * MR + VL);
        c100.intoArray(acc, to + 10 * MR);
        c101.intoArray(acc, to + 10 * MR + VL);
        c110.intoArray(acc, to + 11 * MR);
        c111.intoArray(acc, to + 11 * MR + VL);
        c120.intoArray(acc, to + 12 * MR);
        c121.intoArray(acc, to + 12 * MR + VL);
        c130.intoArray(acc, to + 13 * MR);
        c131.intoArray(acc, to + 13 * MR + VL);
    }
}
