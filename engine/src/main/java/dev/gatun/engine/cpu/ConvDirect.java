package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 2-D direct convolution with output channels along the vectors and every reduction term kept in registers:
 * {@code Y[n, m, oy, ox] = bias[m] + sum_{c, kh, kw} W[m, c, kh, kw] * Xpad[n, c, oy*sh + kh*dh, ox*sw + kw*dw]}
 * (groups: c runs over the group of m).
 *
 * <ul>
 *   <li>Input: the phase planes of X ({@link PhaseLayout}: zero padding, strides split into phases), filled once per
 *       call (stride 1: rows copied straight from X) into the calling thread's native buffer (64-byte aligned, grown
 *       when too small, kept across runs) shared by the tasks, {@code [image][c][chanStride]} plus {@link #TP} floats
 *       of slack, read by the kernel at absolute addresses through {@link SgemmKernel#ALL} (no bounds check per
 *       broadcast: the kernel ran ~15% faster than on a heap array; the farthest read is checked once per call). In
 *       it output (oy, ox) reads term k = (c, kh, kw) at {@code buf[img + koff[k] + oy*wq + ox]},
 *       {@code koff[k] = c*chanStride + tapOff[kh*KW + kw]}: consecutive outputs of a row read consecutive floats, for
 *       any stride, dilation or padding.</li>
 *   <li>Weights: packed once as {@link ConvGemm.Packed} in panels of {@link #MR} output channels,
 *       {@code a[panel][k][MR]} (zero rows past M), the same packing as {@link ConvSmallPlane}'s.</li>
 *   <li>Register tile: {@link #TP} consecutive outputs of one output row x {@link #MR} channels (two vectors): 28
 *       accumulators that start at the bias and take all of K in registers. Per k: two weight vectors, TP broadcasts
 *       from the phase buffer, 28 fused multiply-adds. The last tile of a row whose width is not a multiple of TP
 *       computes lanes past the row (reading the garbage columns or the next row) that are never stored. Planes 7
 *       wide (TP / 2) take two rows per tile instead ({@link ConvDirectKernels#kernelPair}), consecutive in the rows
 *       of all the chunk's images (an image's last row pairs with the next image's first; an odd last row runs
 *       alone in {@link ConvDirectKernels#kernelRow7}).</li>
 *   <li>Chains: each output is its bias plus one fused multiply-add per k in increasing k, the chain of
 *       {@link ConvGemm} and {@link ConvSmallPlane}: all three give equal results bit for bit, whatever the thread
 *       count or the split.</li>
 *   <li>Store: a span of whole output rows of one image (at most {@link #SPAN_POSITIONS} outputs) is computed for one
 *       panel into a per-thread array, then written to Y in NCHW per channel with the {@link ConvEpilogue} on the way.
 *       With VL = 16 each tile is transposed in registers ({@link ConvDirectKernels#transpose}: 16 x 16 blocks, 128
 *       two-vector selections per tile) into {@code [channel][position]}, and the store copies runs of VL positions; otherwise
 *       the array is {@code [position][MR]} and the store gathers ({@link ConvSmallPlane#storeRows}). The gathers cost
 *       the 7x7 stem as much as a third of its FMA time.</li>
 *   <li>Tasks: (group, panel range, row range over the images of the call), split over the panels first (each task's
 *       weights stay in its core's L2), then over the rows; over several images, the split that reads least beyond
 *       the caches ({@link #leastTraffic}).</li>
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
    /** Most floats of phase planes one call holds; larger batches run in chunks of images. */
    static final long BUFFER_BUDGET = 1L << 21;

    private static final ThreadLocal<float[]> PLANE = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<MemorySegment> BUFFER = ThreadLocal.withInitial(() -> MemorySegment.NULL);
    /** Per thread: the span of a task (shared with {@link ConvDirectPool}'s rings). */
    static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[16 * MR]);
    /** Whether tiles are transposed in registers (16 x 16 blocks: VL = 16) rather than gathered by the store. */
    static final boolean TRANSPOSE = VL == 16;
    /** Per thread: X's plane on the heap, with slack for the stride-2 fill's last vectors. */
    private static final ThreadLocal<float[]> XPLANE = ThreadLocal.withInitial(() -> new float[0]);

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
        return fits && (MODE.equals("all") || fromX(lay, group)
                || kdim >= MIN_K && lay.kh0 * lay.kw0 > 1 && lay.ow * 5 >= rowLanes(lay.ow) * 4);
    }

    /**
     * Whether a layout is a 1x1 stride-2 unpadded convolution into 7-wide rows (ResNet-18's last downsample), which
     * runs straight from X ({@link ConvDirectKernels#kernelPairS2}: positions two floats apart, rows paired across
     * images), with no phase planes. Batch 8, 256->512 14->7: one thread 640 -> 458 us against ConvGemm's fill and
     * GEMM; in the model at two threads 0.51 -> 0.30-0.35 ms. Wider rows (a 14-position stride-2 kernel, rows 14 and
     * 28 wide) ran 1.3x faster alone but no faster in the model at two threads (28 wide: slower, X read from memory in
     * 64 strided streams), so they keep ConvGemm.
     */
    static boolean fromX(PhaseLayout lay, int group) {
        return TRANSPOSE && MR == ConvSmallPlane.MR && group == 1 && lay.kh0 == 1 && lay.kw0 == 1 && lay.sh == 2 && lay.sw == 2
                && lay.pt == 0 && lay.pl == 0 && 2 * lay.ow == TP && 2 * lay.ow - 1 <= lay.iw
                && 2 * lay.oh - 1 <= lay.ih;
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
        conv(ctx, lay, n, c, pw, taps, x, y, ep, TRANSPOSE);
    }

    /** {@link #conv}, the tiles transposed in registers ({@link #TRANSPOSE} only) or gathered by the store. */
    static void conv(KernelContext ctx, PhaseLayout lay, int n, int c, ConvGemm.Packed pw, int taps, MemorySegment x,
                     MemorySegment y, ConvEpilogue ep, boolean transposed) {
        run(ctx, lay, n, c, pw, taps, x, y, ep, transposed, null);
    }

    /**
     * Y [n, M, pool.oh, pool.ow] = MaxPool(epilogue(conv(X) + bias)) with the pooling window {@code pool} applied to
     * the convolution's rows as they are computed ({@link ConvDirectPool}); the epilogue clamps (no residual). Only
     * where {@link ConvDirectPool#fits} says so.
     */
    public static void convPool(KernelContext ctx, PhaseLayout lay, int n, int c, ConvGemm.Packed pw, int taps, MemorySegment x,
                                MemorySegment y, ConvEpilogue ep, ConvDirectPool.Window pool) {
        if (!ConvDirectPool.fits(lay, pw.group(), pw.group() * pw.mg(), pool) || ep.residual() != null) {
            throw new IllegalArgumentException("ConvDirect: the fused pooling does not fit this layout or epilogue");
        }
        run(ctx, lay, n, c, pw, taps, x, y, ep, true, pool);
    }

    private static void run(KernelContext ctx, PhaseLayout lay, int n, int c, ConvGemm.Packed pw, int taps, MemorySegment x,
                            MemorySegment y, ConvEpilogue ep, boolean transposed, ConvDirectPool.Window pool) {
        if (transposed && !TRANSPOSE) {
            throw new IllegalArgumentException("the register transpose needs vectors of 16 floats");
        }
        if (pw.mr() != MR) {
            throw new IllegalArgumentException("weights packed in panels of " + pw.mr() + ", need " + MR);
        }
        int group = pw.group();
        int cg = c / group;
        int kdim = pw.kdim();
        boolean direct = pool == null && transposed && fromX(lay, group) && x.isNative()
                && (long) n * c * lay.ih * lay.iw < Integer.MAX_VALUE;
        // koff[k] for k < kdim, then the largest of them (from X: k is the channel, a plane of X apart).
        int[] koff = direct ? lay.table("direct-s2-koff", cg, 0, 0, 0, 0, (l, ng, u0, u1, u2, u3) -> {
            int[] o = new int[ng + 1];
            for (int ci = 0; ci < ng; ci++) {
                o[ci] = ci * l.ih * l.iw;
            }
            o[ng] = (ng - 1) * l.ih * l.iw;
            return o;
        }) : lay.table("direct-koff", cg, taps, 0, 0, 0, (l, ng, nt, u1, u2, u3) -> {
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
        int target = ctx.threads() <= 1 ? 1 : 4 * ctx.threads();
        int spanRows = Math.max(1, Math.min(lay.oh, SPAN_POSITIONS / lay.ow));
        Regions regions = REGIONS.get();
        if (direct) {
            int imgX = Math.multiplyExact(c, lay.ih * lay.iw);
            long last = (long) (n - 1) * imgX + koff[kdim] + 2L * (lay.oh - 1) * lay.iw + 2L * (rowLanes(lay.ow) - 1);
            if (last >= x.byteSize() / 4) {
                throw new IllegalStateException("ConvDirect: tiles would read float " + last + " of an input of " + x.byteSize() / 4);
            }
            int rows = n * lay.oh;
            int mSplit = Math.min(pw.panels(), target);
            int rSplit = Math.min(rows, Math.ceilDiv(target, mSplit));
            Tasks region = regions.tasks;
            region.set(lay, pw, x, y, res, koff, vectorStore, mSplit, rSplit, rows, spanRows, 0, cg, imgX, kdim, lo, hi);
            region.transposed = true;
            region.from(2 * lay.iw, true);
            try {
                ctx.parallelFor(mSplit * rSplit, region);
            } finally {
                region.clear();
            }
            return;
        }
        int imgFloats = Math.multiplyExact(c, lay.chanStride);
        int chunk = (int) Math.clamp(BUFFER_BUDGET / Math.max(imgFloats, 1), 1, n);
        for (int n0 = 0; n0 < n; n0 += chunk) {
            int imgs = Math.min(chunk, n - n0);
            long bufFloats = (long) imgs * imgFloats + TP;
            MemorySegment buf = buffer(bufFloats * 4);
            for (long i = bufFloats - TP; i < bufFloats; i++) {
                buf.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0f);
            }
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
            int rows = imgs * (pool == null ? lay.oh : pool.oh());
            // Panels first, then rows: each task's panels stay in L2 while it runs them over its rows. (Rows first when
            // the weights were under 4x the input, each task reading every panel: two threads, batch 1, 128@28 387 ->
            // 451-455 GFLOP/s, stride-2 64->128 252 -> 367, stem 340 -> 377; batch 8 and 7x7 layers unchanged.)
            // Several images: the split that reads least beyond the caches (leastTraffic).
            int mSplit = Math.min(pw.panels(), Math.ceilDiv(target, group));
            if (imgs > 1 && group == 1 && target > 1) {
                mSplit = leastTraffic(pw.panels(), target, (long) imgs * imgFloats * 4, (long) pw.a().length * 4);
            }
            int rSplit = Math.min(rows, Math.ceilDiv(target, group * mSplit));
            if (pool != null) {
                ConvDirectPool.Tasks pooled = regions.pooled;
                pooled.set(lay, pool, pw, buf, y, koff, mSplit, rSplit, rows, n0, imgFloats, lo, hi);
                try {
                    ctx.parallelFor(mSplit * rSplit, pooled);
                } finally {
                    pooled.clear();
                }
                continue;
            }
            Tasks region = regions.tasks;
            region.set(lay, pw, buf, y, res, koff, vectorStore, mSplit, rSplit, rows, spanRows, n0, cg, imgFloats, kdim, lo, hi);
            region.transposed = transposed;
            region.from(lay.wq, false);
            try {
                ctx.parallelFor(group * mSplit * rSplit, region);
            } finally {
                region.clear();
            }
        }
    }

    /**
     * The panel split of a call over several images: the count of panel ranges (each task of a range then covers
     * {@code target / ranges} of the rows) that reads the least from beyond the core's caches, every task reading its
     * rows' phase planes once and its panels once: {@code ranges * inputBytes + rowRanges * weightBytes}. Panels
     * first suits a single image (its planes stay in cache; see above), but at batch 8 a task per panel read the
     * whole batch's planes 8 times: ResNet-18's 14x14 and stride-2 layers then slowed by up to 40% whenever the host
     * contended for L3. Batch 8, two threads, both splits alternating run by run in one JVM: 0.954 in such a spell
     * (70.9 -> 67.6 ms), 1.000 and 1.005 outside one.
     */
    static int leastTraffic(int panels, int target, long inputBytes, long weightBytes) {
        int best = 1;
        long bestCost = Long.MAX_VALUE;
        for (int ms = 1; ms <= Math.min(panels, target); ms++) {
            long cost = ms * inputBytes + Math.ceilDiv(target, ms) * weightBytes;
            if (cost < bestCost) {
                bestCost = cost;
                best = ms;
            }
        }
        return best;
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
        final ConvDirectPool.Tasks pooled = new ConvDirectPool.Tasks();
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
            float[] plane = PhaseLayout.scratch(PLANE, lay.chanStride + 2 * VL);
            for (int i = planes * t / tasks, end = planes * (t + 1) / tasks; i < end; i++) {
                int img = i / c;
                int ch = i % c;
                long src = ((long) (first + img) * c + ch) * lay.ih * lay.iw;
                long dst = (long) img * imgFloats + (long) ch * lay.chanStride;
                if (lay.sh == 1 && lay.sw == 1) {
                    padded(lay, x, src, buf, dst);
                } else if (lay.sw == 2) {
                    halved(lay, x, src, plane);
                    MemorySegment.copy(plane, 0, buf, ValueLayout.JAVA_FLOAT, dst * 4, lay.chanStride);
                } else {
                    lay.fillPlane(x, src, plane, 0, 0f);
                    MemorySegment.copy(plane, 0, buf, ValueLayout.JAVA_FLOAT, dst * 4, lay.chanStride);
                }
            }
        }
    }

    /**
     * The single phase plane of a stride-1 layout ({@link PhaseLayout#fillPlane}'s result) written straight from X to
     * {@code buf} at float {@code dst}: hq rows of wq floats, input row {@code y - pt} at column {@code pl}, zeros
     * around it.
     */
    private static void padded(PhaseLayout lay, MemorySegment x, long src, MemorySegment buf, long dst) {
        int wq = lay.wq;
        int xlo = Math.clamp(lay.pl, 0, wq);
        int xhi = Math.clamp((long) lay.iw + lay.pl, xlo, wq);
        int q0 = xlo - lay.pl;
        for (int yq = 0; yq < lay.hq; yq++) {
            long d = dst + (long) yq * wq;
            int r = yq - lay.pt;
            boolean inside = r >= 0 && r < lay.ih && xhi > xlo;
            int from = inside ? xlo : wq;
            for (int i = 0; i < from; i++) {
                buf.setAtIndex(ValueLayout.JAVA_FLOAT, d + i, 0f);
            }
            if (inside) {
                MemorySegment.copy(x, ValueLayout.JAVA_FLOAT, (src + (long) r * lay.iw + q0) * 4, buf, ValueLayout.JAVA_FLOAT, (d + xlo) * 4,
                        xhi - xlo);
                for (int i = xhi; i < wq; i++) {
                    buf.setAtIndex(ValueLayout.JAVA_FLOAT, d + i, 0f);
                }
            }
        }
    }

    /**
     * {@link PhaseLayout#fillPlane}'s phase planes for a column stride of 2, into {@code out[0 .. chanStride)}: per
     * slot (row phase a, column phase b) hq rows of wq floats, phase row y holding input row {@code y*sh + a - pt} at
     * columns {@code 2*i + b - pl}, zeros outside the input. X's plane is first copied to a heap array with slack;
     * each row's columns are then picked VL at a time by an even-lane selection from two vector loads, the last
     * vector writing past the row: what it writes there is overwritten by the row's zero tail and the rows after it,
     * or lands in {@code out}'s 2*VL floats of slack (the fill of {@code PhaseLayout} does these columns one by one).
     */
    private static void halved(PhaseLayout lay, MemorySegment x, long src, float[] out) {
        int wq = lay.wq;
        int planeFloats = lay.hq * wq;
        float[] in = PhaseLayout.scratch(XPLANE, lay.ih * lay.iw + 4 * VL);
        MemorySegment.copy(x, ValueLayout.JAVA_FLOAT, src * 4, in, 0, lay.ih * lay.iw);
        for (int s = 0; s < lay.slotA.length; s++) {
            int a = lay.slotA[s];
            int b = lay.slotB[s];
            int xlo = Math.clamp(Math.ceilDiv(lay.pl - b, 2), 0, wq);
            int xhi = Math.clamp(Math.floorDiv(lay.iw - 1 - b + lay.pl, 2) + 1, xlo, wq);
            int q0 = xlo * 2 + b - lay.pl;
            int n = xhi - xlo;
            for (int yq = 0; yq < lay.hq; yq++) {
                int d = s * planeFloats + yq * wq;
                int r = yq * lay.sh + a - lay.pt;
                if (r < 0 || r >= lay.ih || n <= 0) {
                    java.util.Arrays.fill(out, d, d + wq, 0f);
                    continue;
                }
                java.util.Arrays.fill(out, d, d + xlo, 0f);
                int from = r * lay.iw + q0;
                for (int i = 0; i < n; i += VL) {
                    FloatVector v0 = FloatVector.fromArray(S, in, from + 2 * i);
                    FloatVector v1 = FloatVector.fromArray(S, in, from + 2 * i + VL);
                    ConvDirectKernels.EVEN.selectFrom(v0, v1).intoArray(out, d + xlo + i);
                }
                java.util.Arrays.fill(out, d + xhi, d + wq, 0f);
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
        private boolean vectorStore, transposed;
        private int mSplit, rSplit, rows, spanRows, first, cg, imgFloats, kdim;
        private float lo, hi;

        /** Floats between output rows' first inputs (wq; straight from X, 2*iw). */
        private int rowFloats;
        /** Positions two floats apart, straight from X ({@link ConvDirectKernels#kernelPairS2}; 7-wide rows only). */
        private boolean s2;

        void from(int rowFloats, boolean s2) {
            this.rowFloats = rowFloats;
            this.s2 = s2;
        }

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
            if (2 * lay.ow == TP) {
                acceptPairs(t);
                return;
            }
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
            int plane = oh * ow;
            int mg = pw.mg();
            int m = pw.group() * mg;
            // Transposed: acc[channel][stride] (span positions plus slack for the last tile's lanes); otherwise
            // acc[position][MR] written by the kernels directly.
            int stride = spanRows * ow + TP + VL;
            float[] acc = PhaseLayout.scratch(ACC, transposed ? MR * stride : (spanRows * ow + TP) * MR + VL * MR);
            float[] tile = TILE.get();
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
                    for (int oy = oy0; oy < oy1; oy++) {
                        for (int ox = 0; ox < ow; ox += TP) {
                            int pos = (oy - oy0) * ow + ox;
                            long xa = xImg + 4L * ((long) oy * rowFloats + ox);
                            if (transposed) {
                                ConvDirectKernels.kernel(a, ao, xa, koff, kdim, bias, panel * MR, tile, 0);
                                ConvDirectKernels.transpose(tile, 0, acc, pos, stride);
                                ConvDirectKernels.transpose(tile, VL, acc, VL * stride + pos, stride);
                            } else {
                                ConvDirectKernels.kernel(a, ao, xa, koff, kdim, bias, panel * MR, acc, pos * MR);
                            }
                        }
                    }
                    int rowsOut = Math.min(MR, mg - q * MR);
                    long at = ((long) (first + img) * m + (long) grp * mg + q * MR) * plane + (long) oy0 * ow;
                    if (transposed) {
                        storeRuns(acc, 0, stride, count, rowsOut, y, at, plane, res, lo, hi, vectorStore);
                    } else if (vectorStore) {
                        ConvSmallPlane.storeRows(acc, 0, count, rowsOut, y, at, plane, res, lo, hi);
                    } else {
                        ConvSmallPlane.store(acc, 0, count, rowsOut, y, at, plane, res, lo, hi);
                    }
                }
                ra += oy1 - oy0;
            }
        }
        /**
         * Task t on a plane 7 outputs wide: {@link ConvDirectKernels#kernelPair} tiles of two consecutive rows of the
         * chunk's row sequence (rows run over the images, so the last row of an image pairs with the next image's first
         * instead of computing a copy of itself: 7 rows a plane left an eighth of the FMAs unused). The task's rows
         * start at an even row of the chunk, spans hold up to {@code 2 * spanRows} rows, and each image's part of a
         * span is stored as in {@link #accept}. An odd last row of a span runs alone ({@link ConvDirectKernels#kernelRow7}).
         */
        private void acceptPairs(int t) {
            int perGroup = mSplit * rSplit;
            int grp = t / perGroup;
            int ms = t % perGroup / rSplit;
            int rs = t % rSplit;
            int panels = pw.panels();
            int q0 = panels * ms / mSplit;
            int q1 = panels * (ms + 1) / mSplit;
            int pairs = Math.ceilDiv(rows, 2);
            int r0 = (int) (2L * (pairs * (long) rs / rSplit));
            int r1 = (int) Math.min(rows, 2L * (pairs * (long) (rs + 1) / rSplit));
            int oh = lay.oh;
            int ow = lay.ow;
            int plane = oh * ow;
            int mg = pw.mg();
            int m = pw.group() * mg;
            int span = 2 * spanRows;
            int stride = span * ow + TP + VL;
            float[] acc = PhaseLayout.scratch(ACC, transposed ? MR * stride : (span * ow + TP) * MR + VL * MR);
            float[] tile = TILE.get();
            float[] a = pw.a();
            float[] bias = pw.bias();
            long base = buf.address() + 4L * grp * cg * lay.chanStride;
            for (int ra = r0; ra < r1; ra += span) {
                int rb = Math.min(r1, ra + span);
                for (int q = q0; q < q1; q++) {
                    int panel = grp * panels + q;
                    int ao = panel * kdim * MR;
                    for (int r = ra; r < rb; ) {
                        int pos = (r - ra) * ow;
                        boolean two = r + 1 < rb;
                        long xa = base + 4L * ((long) (r / oh) * imgFloats + (long) (r % oh) * rowFloats);
                        long next = two ? base + 4L * ((long) ((r + 1) / oh) * imgFloats + (long) ((r + 1) % oh) * rowFloats) - xa : 0;
                        r += two ? 2 : 1;
                        // Transposed: the kernel writes the tile, then two 16 x 16 transposes put it in the span;
                        // otherwise the kernel writes the span's [position][MR] rows directly.
                        float[] out = transposed ? tile : acc;
                        int at = transposed ? 0 : pos * MR;
                        if (s2 && two) {
                            ConvDirectKernels.kernelPairS2(a, ao, xa, next, koff, kdim, bias, panel * MR, out, at);
                        } else if (s2) {
                            ConvDirectKernels.kernelRow7S2(a, ao, xa, koff, kdim, bias, panel * MR, out, at);
                        } else if (two) {
                            ConvDirectKernels.kernelPair(a, ao, xa, next, koff, kdim, bias, panel * MR, out, at);
                        } else {
                            ConvDirectKernels.kernelRow7(a, ao, xa, koff, kdim, bias, panel * MR, out, at);
                        }
                        if (transposed) {
                            ConvDirectKernels.transpose(tile, 0, acc, pos, stride);
                            ConvDirectKernels.transpose(tile, VL, acc, VL * stride + pos, stride);
                        }
                    }
                    int rowsOut = Math.min(MR, mg - q * MR);
                    for (int r = ra; r < rb; ) {
                        int img = r / oh;
                        int oy0 = r - img * oh;
                        int oy1 = Math.min(oh, oy0 + rb - r);
                        int count = (oy1 - oy0) * ow;
                        int from = (r - ra) * ow;
                        long at = ((long) (first + img) * m + (long) grp * mg + q * MR) * plane + (long) oy0 * ow;
                        if (transposed) {
                            storeRuns(acc, from, stride, count, rowsOut, y, at, plane, res, lo, hi, vectorStore);
                        } else if (vectorStore) {
                            ConvSmallPlane.storeRows(acc, from * MR, count, rowsOut, y, at, plane, res, lo, hi);
                        } else {
                            ConvSmallPlane.store(acc, from * MR, count, rowsOut, y, at, plane, res, lo, hi);
                        }
                        r += oy1 - oy0;
                    }
                }
            }
        }
    }

    /**
     * {@code y[at + r*plane + j] = clamp(acc[from + r*stride + j] + res[same], lo, hi)} for r &lt; rows, j &lt; count: per channel
     * a contiguous run of the transposed span, VL floats at a time (the last under a mask). Y and the residual (native)
     * are written and read through {@link SgemmKernel#ALL} at absolute addresses, their bounds checked here once;
     * element by element through their segments when not {@code vector} (heap memory).
     */
    static void storeRuns(float[] acc, int from, int stride, int count, int rows, MemorySegment y, long at, long plane, MemorySegment res,
                          float lo, float hi, boolean vector) {
        if (!vector) {
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < count; j++) {
                    long i = at + r * plane + j;
                    float v = acc[from + r * stride + j] + (res == null ? 0f : res.getAtIndex(Tensor.F32, i));
                    y.setAtIndex(Tensor.F32, i, ConvEpilogue.clamp(v, lo, hi));
                }
            }
            return;
        }
        long end = (at + (rows - 1) * plane + count) * 4;
        if (at < 0 || end > y.byteSize() || res != null && end > res.byteSize()) {
            throw new IndexOutOfBoundsException("ConvDirect store: bytes up to " + end + " outside the output or residual");
        }
        MemorySegment all = SgemmKernel.ALL;
        long yAddr = y.address();
        long rAddr = res == null ? 0 : res.address();
        FloatVector vlo = FloatVector.broadcast(S, lo);
        FloatVector vhi = FloatVector.broadcast(S, hi);
        for (int r = 0; r < rows; r++) {
            long row = (at + r * plane) * 4;
            int row0 = from + r * stride;
            int j = 0;
            for (; j <= count - VL; j += VL) {
                FloatVector v = FloatVector.fromArray(S, acc, row0 + j);
                if (res != null) {
                    v = v.add(FloatVector.fromMemorySegment(S, all, rAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN));
                }
                FloatVector k0 = v;
                k0 = k0.blend(vlo, k0.compare(VectorOperators.LT, vlo));
                k0 = k0.blend(vhi, k0.compare(VectorOperators.GT, vhi));
                k0.intoMemorySegment(all, yAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN);
            }
            if (j < count) {
                VectorMask<Float> mask = S.indexInRange(j, count);
                FloatVector v = FloatVector.fromArray(S, acc, row0 + j, mask);
                if (res != null) {
                    v = v.add(FloatVector.fromMemorySegment(S, all, rAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN, mask));
                }
                FloatVector k1 = v;
                k1 = k1.blend(vlo, k1.compare(VectorOperators.LT, vlo));
                k1 = k1.blend(vhi, k1.compare(VectorOperators.GT, vhi));
                k1.intoMemorySegment(all, yAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN, mask);
            }
        }
    }
}
