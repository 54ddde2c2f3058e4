package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 2-D convolution as an implicit GEMM over a phase-plane copy of the input ({@link PhaseLayout}); 1-D
 * convolutions are the case of height 1.
 *
 * <p>Per image (or per batch, see below) and group: {@code Y_g[M/G, P] = W_g[M/G, K] x B[K, P]} with
 * {@code K = (C/G) * KH * KW}, row {@code k = c*T + t} of B being the phase buffer shifted by
 * {@code c*chanStride + tapOff[t]} and P the "wide" output positions. B is never materialised: the micro-kernel
 * loads its rows straight from the phase buffer through the offset table {@code koff[k]}.
 *
 * <ul>
 *   <li>Weights are packed once ({@link #pack}, prepacked at plan time for constant weights) into panels of
 *       {@link #MR} output channels, {@code a[panel][k][r]}, zero rows past M/G; the bias is packed alike.</li>
 *   <li>K is cut into blocks of at most {@link #KC} (fixed by K alone). Per block, a tile's B rows are packed into a
 *       contiguous {@code KC x NR} array (32 KB, in L1) that every weight panel of the task streams over; 1x1
 *       convolutions have B packed in that layout by the fill already. 3x3 stride-1 layouts are not packed: their
 *       blocks hold whole channels and the kernel reads each plane row once per three taps, shifted by 0, 1 and 2
 *       (a tile's source rows are a third of its packed rows); per block they run panel by panel over the tiles of
 *       a span (the panel's weights stay in L1, and each channel's outputs are stored as one sequential run);
 *       single-block layers with packed tiles (the stem) pack {@link #PACK_GROUP} tiles, then go panel by panel.</li>
 *   <li>The {@link #MR} x {@link #NR} micro-kernel (8 x 2 vectors: 16 accumulators) runs one K block; partial sums
 *       wait in a per-thread array between blocks (started at the bias), so every output is one fixed-order chain
 *       whatever the thread count or tiling.</li>
 *   <li>The last block's store applies the {@link ConvEpilogue} (residual add, clamp) and drops garbage positions.</li>
 *   <li>Pointwise-like convolutions (one slot, no vertical shift) put all images of the batch side by side in the
 *       buffer ({@code [c][image][plane]}), so that small planes (7x7) fill whole tiles at batch &gt; 1.</li>
 *   <li>Threads: the phase fill splits over channels, the GEMM over (image, group, tile range, panel range), panels
 *       first when the weights outweigh a job's input (small planes: each weight is read by one task). With at
 *       least as many jobs as tasks (batch &gt; 1), each task fills its own image's planes just before using them.</li>
 * </ul>
 * Buffers are heap arrays owned by the calling thread and reused across runs (the micro-kernel reads heap
 * arrays ~10% faster than native segments).
 */
public final class ConvGemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Output channels per micro-tile. */
    public static final int MR = 8;
    /** Output positions per micro-tile: two vectors. */
    public static final int NR = 2 * VL;
    /** All lanes of one vector, as mask bits. */
    private static final long LANES = (1L << VL) - 1;
    /** Fewest outputs per plane for which a batch of 1x1 stride-1 convolutions runs image by image from X (not side by side). */
    static final long FROM_X_PLANE = 16L * NR;
    /** Most floats of phase buffer one call holds; images beyond it are processed in chunks. */
    static final long BUFFER_BUDGET = 1L << 23;

    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> STAGE = ThreadLocal.withInitial(() -> new float[0]);
    /**
     * Packing B tiles from X: each X row is read in runs of up to this many floats (several tiles at once, so that
     * the K rows are read in sequential runs of lines, not 128 bytes per row per tile; at batch 8 MobileNetV2's
     * 32->16 1x1 at 112x112 streams 12.8 MB of X), while the tiles packed together take at most
     * {@link #B_GROUP_FLOATS} floats of B (128 KB, in L2: each tile's K x NR block is then read from L2 by every
     * weight panel). Only with several images in X: at batch 1 X mostly sits in L2 and groups made it 5-8% slower.
     * Group size at batch 8, one thread, CPU time per layer (16 KB / 64 KB / 128 KB / 256 KB of B): 144->24 at
     * 56x56 2.24-2.62 / 1.48-1.62 / 1.35-1.37 / 1.47-1.55 ms, 96->24 1.16-1.21 / 0.79-0.86 / 0.77-0.81 / 0.84-0.87,
     * 32->16 at 112x112 1.83-1.89 / 1.27 / 1.20-1.22 / 1.36-1.44, 192->32 at 28x28 0.50-0.51 / 0.48 / 0.46.
     */
    static final int RUN_FLOATS = 256;
    static final int B_GROUP_FLOATS = 32768;
    private static final ThreadLocal<float[]> BPACK = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> LOCAL = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);
    /** Depth of a K block: a packed B tile of KC x NR floats (32 KB) stays in L1 while the panels stream over it. */
    static final int KC = 256;
    /** Most MR x NR tiles of partial sums a task keeps across K blocks (1 KB each). */
    static final int ACC_TILES = 128;

    private ConvGemm() {}

    /**
     * Weights packed for a micro-kernel in panels of {@code mr} output channels ({@link #MR} here, {@link ConvSmallPlane#MR}
     * there): {@code a[((g*panels + q)*kdim + k)*mr + r]}, zero rows past mg; bias {@code [(g*panels + q)*mr + r]}.
     */
    public record Packed(float[] a, float[] bias, int group, int mg, int kdim, int panels, int mr) {}

    /** Packs W [M, C/G, KH, KW] (kdim = C/G*KH*KW floats per output channel) and the bias (may be null) for this kernel. */
    public static Packed pack(MemorySegment w, MemorySegment bias, int group, int mg, int kdim) {
        return pack(w, bias, group, mg, kdim, MR);
    }

    /** Packs W and the bias (may be null) in panels of {@code mr} output channels. */
    public static Packed pack(MemorySegment w, MemorySegment bias, int group, int mg, int kdim, int mr) {
        int panels = Math.ceilDiv(mg, mr);
        float[] a = new float[Math.multiplyExact(group * panels * mr, kdim)];
        float[] b = new float[group * panels * mr];
        float[] row = new float[kdim];
        for (int g = 0; g < group; g++) {
            for (int m = 0; m < mg; m++) {
                int q = g * panels + m / mr;
                int r = m % mr;
                MemorySegment.copy(w, Tensor.F32, ((long) g * mg + m) * kdim * 4, row, 0, kdim);
                int base = q * kdim * mr + r;
                for (int k = 0; k < kdim; k++) {
                    a[base + k * mr] = row[k];
                }
                b[q * mr + r] = bias == null ? 0f : bias.getAtIndex(Tensor.F32, (long) g * mg + m);
            }
        }
        return new Packed(a, b, group, mg, kdim, panels, mr);
    }

    /**
     * Y [n, G*mg, oh, ow] = epilogue(conv(X [n, C, ih, iw], packed W) + bias).
     *
     * @param taps kernel taps KH*KW (kdim / (C/G))
     */
    public static void conv(KernelContext ctx, PhaseLayout lay, int n, int c, Packed pw, int taps, MemorySegment x,
                            MemorySegment y, ConvEpilogue ep) {
        if (pw.mr() == ConvSmallPlane.MR && pw.mr() != MR) {
            ConvSmallPlane.conv(ctx, lay, n, c, pw, taps, x, y, ep);
            return;
        }
        if (pw.mr() != MR) {
            throw new IllegalArgumentException("weights packed in panels of " + pw.mr() + ", need " + MR);
        }
        int group = pw.group();
        int cg = c / group;
        int m = group * pw.mg();
        // Images side by side when taps never shift rows: no garbage rows between them. Not for 1x1 stride-1 planes of
        // at least FROM_X_PLANE outputs: their tiles are full per image, and each task packs its image's B tiles
        // straight from X (below) instead of a fill pass copying the whole batch into the buffer first.
        boolean perImageFromX = taps == 1 && lay.identity() && (long) lay.oh * lay.ow >= FROM_X_PLANE;
        boolean batched = n > 1 && lay.slotA.length == 1 && lay.hq == lay.oh && !perImageFromX;
        int imgFloats = lay.chanStride;
        int perImage = Math.multiplyExact(c, imgFloats);
        int chunk = (int) Math.clamp(BUFFER_BUDGET / Math.max(perImage, 1), 1, n);
        int slack = lay.wq + NR;
        // 1x1 kernels (any stride, no padding): B rows are whole planes far apart; pack them into tile panels
        // [job][tile][c][NR] so that the kernel streams one contiguous panel per tile.
        boolean packed = taps == 1 && lay.slotA.length == 1 && lay.wq == lay.ow && lay.hq == lay.oh;
        for (int n0 = 0; n0 < n; n0 += chunk) {
            int imgs = Math.min(chunk, n - n0);
            int jobs = batched ? group : imgs * group;
            int wide = batched ? imgs * imgFloats : lay.wide();
            int tiles = Math.ceilDiv(wide, NR);
            int jobFloats = Math.multiplyExact(tiles * NR, cg);
            // Unpacked buffer layout: batched [c][image][plane], else [image][c][plane].
            int chanStride = batched ? imgs * imgFloats : imgFloats;
            int imgStride = batched ? imgFloats : perImage;
            int first = n0;
            int kdim = pw.kdim();
            // Tasks: weights much larger than a job's input (small planes, many channels) split over the panels first, so
            // that each weight is read by one task; otherwise over the tiles first (each task packs its own B tiles once;
            // split over panels, every task would pack all tiles again: 28x28 3x3 layers ran 17% slower on 2 threads).
            int target = ctx.threads() <= 1 ? 1 : 4 * ctx.threads();
            boolean panelsFirst = (long) pw.panels() * MR * kdim > 4L * cg * chanStride;
            int pSplit;
            int mSplit;
            if (panelsFirst) {
                mSplit = Math.min(pw.panels(), Math.ceilDiv(target, jobs));
                pSplit = Math.min(tiles, Math.ceilDiv(target, jobs * mSplit));
            } else {
                pSplit = Math.min(tiles, Math.ceilDiv(target, jobs));
                mSplit = Math.min(pw.panels(), Math.ceilDiv(target, jobs * pSplit));
            }
            int perJob = pSplit * mSplit;
            // Enough jobs for every task to be a whole job (batch > 1): each task fills its own image's planes into a
            // per-thread buffer just before using them, so that they are still in cache.
            boolean local = !packed && !batched && perJob == 1 && jobs > 1;
            // A 1x1 stride-1 convolution whose tasks own disjoint tiles (of one image, or whole images): B is X itself
            // ([C][P] rows per image); each task packs its tiles straight from X, with no fill pass. (Tasks sharing
            // tiles over panel ranges would each pack them again: the fill packs them once instead.)
            boolean fromX = packed && !batched && lay.identity() && (imgs == 1 || perImageFromX) && mSplit == 1;
            float[] buf = local || fromX ? null : PhaseLayout.scratch(BUFFER, packed ? Math.addExact(Math.multiplyExact(jobs, jobFloats), NR)
                    : Math.addExact(Math.multiplyExact(imgs, perImage), slack));
            int planes = imgs * c;
            int fillTasks = local || fromX ? 0 : tasks(ctx, planes, (long) planes * imgFloats, 1 << 16);
            Regions regions = REGIONS.get();
            Fill fill = regions.fill;
            fill.set(lay, x, buf, packed, batched, planes, fillTasks, c, cg, group, first, jobFloats, imgFloats, imgStride, chanStride);
            try {
                ctx.parallelFor(fillTasks, fill);
            } finally {
                fill.clear();
            }
            int[] koff = lay.table("koff", packed ? 1 : 0, chanStride, cg, taps, 0, (l, pk, cs, ng, nt, unused) -> {
                int[] o = new int[ng * nt];
                for (int ci = 0; ci < ng; ci++) {
                    for (int t = 0; t < nt; t++) {
                        o[ci * nt + t] = pk != 0 ? ci * NR : ci * cs + l.tapOff[t];
                    }
                }
                return o;
            });
            Segments segs = lay.table("segments", batched ? 1 : 0, imgFloats, wide, tiles, m,
                    (l, bt, img, wd, tl, mm) -> new Segments(l, bt != 0, img, wd, tl, (long) mm * l.oh * l.ow));
            long total = y.byteSize() / 4;
            // Register-to-Y stores go through SgemmKernel.ALL at absolute addresses (see there why not through Y's own
            // segment); every tile they store is inside Y (checked per tile against total) and the residual, as large.
            MemorySegment res = ep.residual();
            boolean abs = y.isNative() && (res == null || res.isNative() && res.byteSize() >= y.byteSize());
            MemorySegment ys = abs ? SgemmKernel.ALL : y;
            long yAddr = abs ? y.address() : 0;
            MemorySegment rs = abs ? SgemmKernel.ALL : res;
            long rDelta = abs && res != null ? res.address() - yAddr : 0;
            int blocks = Math.ceilDiv(kdim, KC);
            // 3x3 stride 1 (ResNet's main layers): the kernel reads B's rows straight from the phase buffer, whole
            // channels per K block (a channel's 9 rows are 3 rows of the plane, shifted by 0, 1, 2), no tile packing.
            boolean rows3 = !packed && blocks > 1 && taps == 9 && lay.kh0 == 3 && lay.kw0 == 3 && lay.sh == 1 && lay.sw == 1
                    && lay.dh == 1 && lay.dw == 1;
            int[] rowOff = !rows3 ? null : lay.table("rows3", chanStride, cg, 0, 0, 0, (l, cs, ng, u1, u2, u3) -> {
                int[] o = new int[3 * ng];
                for (int i = 0; i < o.length; i++) {
                    o[i] = i / 3 * cs + i % 3 * l.wq;
                }
                return o;
            });
            float[] shared = buf;
            // The clamp as bounds (none: the infinities, which leave every value, NaN and -0 included, as it is).
            float lo = ep.clamp() ? ep.lo() : Float.NEGATIVE_INFINITY;
            float hi = ep.clamp() ? ep.hi() : Float.POSITIVE_INFINITY;
            Tasks region = regions.tasks;
            region.set(lay, pw, x, y, ep, shared, koff, segs, ys, rs, packed, batched, local, fromX, perJob, pSplit, mSplit, group, cg, c, m,
                    first, tiles, wide, jobFloats, imgFloats, imgStride, chanStride, slack, kdim, blocks, total, yAddr, rDelta, lo, hi);
            region.rows3(rows3, rowOff);
            try {
                ctx.parallelFor(jobs * perJob, region);
            } finally {
                region.clear();
            }
        }
    }

    /**
     * The fill of {@link #conv}: task t writes planes [planes * t / fillTasks, planes * (t + 1) / fillTasks) of the
     * chunk into the shared buffer. A reused object (one per calling thread, fields set before the region and
     * cleared after) instead of a capturing lambda, so that a warm run allocates nothing; likewise {@link Tasks}.
     */
    private static final class Fill implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private MemorySegment x;
        private float[] buf;
        private boolean packed, batched;
        private int planes, fillTasks, c, cg, group, first, jobFloats, imgFloats, imgStride, chanStride;

        void set(PhaseLayout lay, MemorySegment x, float[] buf, boolean packed, boolean batched, int planes, int fillTasks, int c,
                 int cg, int group, int first, int jobFloats, int imgFloats, int imgStride, int chanStride) {
            this.lay = lay;
            this.x = x;
            this.buf = buf;
            this.packed = packed;
            this.batched = batched;
            this.planes = planes;
            this.fillTasks = fillTasks;
            this.c = c;
            this.cg = cg;
            this.group = group;
            this.first = first;
            this.jobFloats = jobFloats;
            this.imgFloats = imgFloats;
            this.imgStride = imgStride;
            this.chanStride = chanStride;
        }

        void clear() {
            lay = null;
            x = null;
            buf = null;
        }

        @Override
        public void accept(int t) {
            for (int i = planes * t / fillTasks, end = planes * (t + 1) / fillTasks; i < end; i++) {
                int img = i / c;
                int ch = i % c;
                long src = ((long) (first + img) * c + ch) * lay.ih * lay.iw;
                if (packed) {
                    int grp = ch / cg;
                    int job = batched ? grp : img * group + grp;
                    packPlane(lay, x, src, buf, job * jobFloats + ch % cg * NR, cg, batched ? img * imgFloats : 0);
                } else {
                    lay.fillPlane(x, src, buf, img * imgStride + ch * chanStride, 0f);
                }
            }
        }
    }

    /** The tiles of {@link #conv}: task t is (job, tile range, panel range); reused like {@link Fill}. */
    private static final class Tasks implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private Packed pw;
        private MemorySegment x, y, ys, rs;
        private ConvEpilogue ep;
        private float[] shared;
        private int[] koff;
        private Segments segs;
        private boolean packed, batched, local, fromX;
        private int perJob, pSplit, mSplit, group, cg, c, m, first, tiles, wide, jobFloats, imgFloats, imgStride, chanStride, slack,
                kdim, blocks;
        private long total, yAddr, rDelta;
        private float lo, hi;
        private boolean rows3;
        private int[] rowOff;

        /** 3x3 stride-1 blocks of whole channels read straight from the phase buffer, with their row offsets. */
        void rows3(boolean rows3, int[] rowOff) {
            this.rows3 = rows3;
            this.rowOff = rowOff;
        }

        void set(PhaseLayout lay, Packed pw, MemorySegment x, MemorySegment y, ConvEpilogue ep, float[] shared, int[] koff,
                 Segments segs, MemorySegment ys, MemorySegment rs, boolean packed, boolean batched, boolean local, boolean fromX,
                 int perJob, int pSplit, int mSplit, int group, int cg, int c, int m, int first, int tiles, int wide, int jobFloats,
                 int imgFloats, int imgStride, int chanStride, int slack, int kdim, int blocks, long total, long yAddr, long rDelta,
                 float lo, float hi) {
            this.lay = lay;
            this.pw = pw;
            this.x = x;
            this.y = y;
            this.ep = ep;
            this.shared = shared;
            this.koff = koff;
            this.segs = segs;
            this.ys = ys;
            this.rs = rs;
            this.packed = packed;
            this.batched = batched;
            this.local = local;
            this.fromX = fromX;
            this.perJob = perJob;
            this.pSplit = pSplit;
            this.mSplit = mSplit;
            this.group = group;
            this.cg = cg;
            this.c = c;
            this.m = m;
            this.first = first;
            this.tiles = tiles;
            this.wide = wide;
            this.jobFloats = jobFloats;
            this.imgFloats = imgFloats;
            this.imgStride = imgStride;
            this.chanStride = chanStride;
            this.slack = slack;
            this.kdim = kdim;
            this.blocks = blocks;
            this.total = total;
            this.yAddr = yAddr;
            this.rDelta = rDelta;
            this.lo = lo;
            this.hi = hi;
        }

        void clear() {
            lay = null;
            pw = null;
            x = null;
            y = null;
            ys = null;
            rs = null;
            ep = null;
            shared = null;
            koff = null;
            segs = null;
            rowOff = null;
        }

        @Override
        public void accept(int t) {
            int job = t / perJob;
            int ps = t % perJob / mSplit;
            int ms = t % mSplit;
            int grp = job % group;
            int img = job / group;
            int bBase = packed ? job * jobFloats : batched ? grp * cg * chanStride : img * imgStride + grp * cg * chanStride;
            float[] phase = shared;
            if (local) {
                phase = PhaseLayout.scratch(LOCAL, Math.addExact(cg * chanStride, slack));
                for (int ci = 0; ci < cg; ci++) {
                    lay.fillPlane(x, ((long) (first + img) * c + grp * cg + ci) * lay.ih * lay.iw, phase, ci * chanStride, 0f);
                }
                bBase = 0;
            }
            int tileStride = packed ? cg * NR : NR;
            long yImg = batched ? (long) first * m : (long) (first + img) * m;
            long plane = (long) lay.oh * lay.ow;
            int q0 = pw.panels() * ms / mSplit;
            int q1 = pw.panels() * (ms + 1) / mSplit;
            int p0 = tiles * ps / pSplit;
            int p1 = tiles * (ps + 1) / pSplit;
            // Partial sums of the tiles of one chunk across K blocks: at most ACC_TILES tiles of MR x NR.
            int span = blocks == 1 ? p1 - p0 : Math.max(1, ACC_TILES / (q1 - q0));
            // One K block of packed tiles (ResNet's stem): PACK_GROUP tiles packed, then panel by panel over them, so that
            // each channel's outputs go to Y as one sequential run per group (in the model: stem 1.48 -> 1.44 ms).
            boolean group1 = blocks == 1 && !packed && !fromX;
            // From X with little K and several images in X: several tiles packed per pass over X's rows (see
            // RUN_FLOATS), tile g's B at g*kc*NR.
            boolean images = fromX && x.byteSize() > 4L * c * imgFloats;
            int gang = images ? Math.max(1, Math.min(RUN_FLOATS / NR, B_GROUP_FLOATS / (Math.min(kdim, KC) * NR))) : 1;
            float[] bp = packed && !fromX ? null : PhaseLayout.scratch(BPACK, (group1 ? PACK_GROUP : gang) * KC * NR);
            float[] acc = PhaseLayout.scratch(ACC, Math.max(1, blocks == 1 ? 1 : Math.min(span, p1 - p0) * (q1 - q0)) * MR * NR + VL);
            for (int pc = p0; pc < p1; pc += span) {
                int pe = Math.min(p1, pc + span);
                for (int kb = 0; kb < blocks; kb++) {
                    int c0 = cg * kb / blocks;
                    int k0 = rows3 ? 9 * c0 : kdim * kb / blocks;
                    int kc = rows3 ? 9 * (cg * (kb + 1) / blocks) - k0 : kdim * (kb + 1) / blocks - k0;
                    boolean last = kb == blocks - 1;
                    if (rows3) {
                        // Panel by panel over the span's tiles (the panel's block of weights stays in L1; Y is written
                        // as a few sequential runs, one per channel): 56x56 layers ~3% faster than tile by tile.
                        for (int q = q0; q < q1; q++) {
                            int panel = grp * pw.panels() + q;
                            int rows = Math.min(MR, pw.mg() - q * MR);
                            long ch0 = grp * pw.mg() + q * MR;
                            int ao = (panel * kdim + k0) * MR;
                            long base = (yImg + ch0) * plane;
                            for (int p = pc; p < pe; p++) {
                                int co = ((q - q0) * (pe - pc) + p - pc) * MR * NR;
                                if (kb == 0) {
                                    initTile(pw.bias(), panel * MR, acc, co);
                                }
                                ConvGemmKernels.kernelRows3(pw.a(), ao, phase, bBase + p * NR + c0 * chanStride, rowOff, kc / 3, acc, co);
                                if (last && base + segs.minOff[p] >= 0 && base + (rows - 1) * plane + segs.maxOff[p] + NR <= total) {
                                    storeDirect(acc, co, y, base, plane, rows, segs, p, ep);
                                } else if (last) {
                                    store(lay, batched, imgFloats, acc, co, rows, p * NR, Math.min(NR, wide - p * NR), y, yImg, m, ch0, ep);
                                }
                            }
                        }
                        continue;
                    }
                    if (group1) {
                        for (int g0 = pc; g0 < pe; g0 += PACK_GROUP) {
                            int g1 = Math.min(pe, g0 + PACK_GROUP);
                            for (int p = g0; p < g1; p++) {
                                packTile(phase, bBase + p * NR, koff, k0, kc, bp, (p - g0) * kc * NR);
                            }
                            for (int q = q0; q < q1; q++) {
                                for (int p = g0; p < g1; p++) {
                                    step(bp, (p - g0) * kc * NR, p, q, grp, q0, pc, pe, kb, k0, kc, last, yImg, plane, acc);
                                }
                            }
                        }
                        continue;
                    }
                    for (int p = pc; p < pe; p++) {
                        float[] b;
                        int bo;
                        if (fromX) {
                            int g = (p - pc) % gang;
                            if (g == 0) {
                                packFromX(x, ((long) (first + img) * c + (long) grp * cg) * imgFloats, imgFloats, p * NR,
                                        Math.min(gang, pe - p), k0, kc, bp);
                            }
                            b = bp;
                            bo = g * kc * NR;
                        } else if (packed) {
                            b = phase;
                            bo = bBase + p * tileStride + k0 * NR;
                        } else {
                            packTile(phase, bBase + p * NR, koff, k0, kc, bp, 0);
                            b = bp;
                            bo = 0;
                        }
                        for (int q = q0; q < q1; q++) {
                            step(b, bo, p, q, grp, q0, pc, pe, kb, k0, kc, last, yImg, plane, acc);
                        }
                    }
                }
            }
        }

        /**
         * Panel q on tile p for K block kb (rows k0 .. k0 + kc of B at {@code b[bo ..]}): a whole-K full tile from the
         * registers to Y, else the tile's partial sums in {@code acc} (started at the bias in block 0), stored with
         * the epilogue after the last block.
         */
        private void step(float[] b, int bo, int p, int q, int grp, int q0, int pc, int pe, int kb, int k0, int kc, boolean last,
                          long yImg, long plane, float[] acc) {
            int panel = grp * pw.panels() + q;
            int rows = Math.min(MR, pw.mg() - q * MR);
            long ch0 = grp * pw.mg() + q * MR;
            int ao = (panel * kdim + k0) * MR;
            int co = blocks == 1 ? 0 : ((q - q0) * (pe - pc) + p - pc) * MR * NR;
            long direct = -1;
            if (last) {
                // Row 0's plane; the tile goes straight to Y when every masked vector it stores lies inside Y.
                long base = (yImg + ch0) * plane;
                direct = base + segs.minOff[p] >= 0 && base + (rows - 1) * plane + segs.maxOff[p] + NR <= total
                        ? base : -1;
            }
            if (blocks == 1 && direct >= 0 && rows == MR && segs.whole[p]) {
                // One K block, a full tile, one run of outputs: registers straight to Y.
                long at = direct + segs.off[segs.first[p]];
                if (ep.residual() == null) {
                    ConvGemmKernels.kernelStore(pw.a(), ao, b, bo, kc, pw.bias(), panel * MR, ys, yAddr + at * 4, plane, lo, hi);
                } else {
                    ConvGemmKernels.kernelStoreResidual(pw.a(), ao, b, bo, kc, pw.bias(), panel * MR, ys, yAddr + at * 4, plane, lo, hi,
                            rs, rDelta);
                }
                return;
            }
            if (kb == 0) {
                initTile(pw.bias(), panel * MR, acc, co);
            }
            ConvGemmKernels.kernel(pw.a(), ao, b, bo, kc, acc, co);
            if (last && direct >= 0) {
                storeDirect(acc, co, y, direct, plane, rows, segs, p, ep);
            } else if (last) {
                store(lay, batched, imgFloats, acc, co, rows, p * NR, Math.min(NR, wide - p * NR), y, yImg, m, ch0, ep);
            }
        }
    }

    /** Tiles packed together for a single-block layer (the stem), so that each panel then runs over all of them. */
    static final int PACK_GROUP = 8;

    /** A calling thread's region objects (a convolution run on a worker uses that worker's own). */
    private static final class Regions {
        final Fill fill = new Fill();
        final Tasks tasks = new Tasks();
    }

    private static final ThreadLocal<Regions> REGIONS = ThreadLocal.withInitial(Regions::new);

    /**
     * Copies columns [j0, j0 + tiles*NR) of rows [k0, k0 + kc) of the row-major {@code [K][P]} matrix at float index
     * {@code base} of {@code x}, tile t (columns j0 + t*NR ..) to {@code bp[(t*kc + k - k0)*NR + j]}, row by row over
     * all the tiles; columns past P are left as they were (never stored).
     */
    private static void packFromX(MemorySegment x, long base, int pCount, int j0, int tiles, int k0, int kc, float[] bp) {
        for (int k = 0; k < kc; k++) {
            long row = (base + (long) (k0 + k) * pCount + j0) * 4;
            for (int t = 0; t < tiles; t++) {
                long src = row + 4L * t * NR;
                int n = Math.min(NR, pCount - j0 - t * NR);
                int dst = (t * kc + k) * NR;
                if (n == NR) {
                    FloatVector.fromMemorySegment(S, x, src, LE).intoArray(bp, dst);
                    FloatVector.fromMemorySegment(S, x, src + 4L * VL, LE).intoArray(bp, dst + VL);
                } else if (n > 0) {
                    MemorySegment.copy(x, Tensor.F32, src, bp, dst, n);
                }
            }
        }
    }

    /** Copies rows [k0, k0 + kc) of B's tile at {@code at} ({@code b[at + koff[k] + j]}, j &lt; NR) to {@code bp[(k - k0)*NR + j]}. */
    private static void packTile(float[] b, int at, int[] koff, int k0, int kc, float[] bp, int to) {
        for (int k = 0; k < kc; k++) {
            int src = at + koff[k0 + k];
            FloatVector.fromArray(S, b, src).intoArray(bp, to + k * NR);
            FloatVector.fromArray(S, b, src + VL).intoArray(bp, to + k * NR + VL);
        }
    }

    /**
     * Writes the positions of one input plane, subsampled by the layout (1x1 kernel), into the tile panels of its job:
     * position {@code v = first + i} goes to {@code buf[dst + (v / NR) * cg * NR + v % NR]} ({@code dst} is the job's
     * base plus the channel's row).
     */
    private static void packPlane(PhaseLayout lay, MemorySegment x, long src, float[] buf, int dst, int cg, int first) {
        int count = lay.oh * lay.ow;
        float[] stage = PhaseLayout.scratch(STAGE, count);
        lay.fillPlane(x, src, stage, 0, 0f);
        for (int i = 0; i < count; ) {
            int v = first + i;
            int lane = v % NR;
            int run = Math.min(NR - lane, count - i);
            System.arraycopy(stage, i, buf, dst + v / NR * cg * NR + lane, run);
            i += run;
        }
    }

    /** Tasks for {@code items} pieces of work costing {@code cost} in all: one below {@code minCost}. */
    static int tasks(KernelContext ctx, int items, long cost, long minCost) {
        if (ctx.threads() <= 1 || cost < minCost) {
            return 1;
        }
        return Math.min(items, 4 * ctx.threads());
    }


    /**
     * Stores the valid part of a tile: lanes [0, len) are wide positions j0.. of the job; a position maps to
     * (image, oy, ox) and is kept when oy &lt; oh and ox &lt; ow.
     */
    private static void store(PhaseLayout lay, boolean batched, int imgFloats, float[] tile, int to, int rows, int j0, int len,
                              MemorySegment y, long yImg, int m, long ch0, ConvEpilogue ep) {
        int wq = lay.wq;
        long plane = (long) lay.oh * lay.ow;
        int p = j0;
        int end = j0 + len;
        while (p < end) {
            int img = batched ? p / imgFloats : 0;
            int rem = batched ? p - img * imgFloats : p;
            int oy = rem / wq;
            int ox = rem - oy * wq;
            int run = Math.min(wq - ox, end - p);
            int valid = oy < lay.oh ? Math.min(run, lay.ow - ox) : 0;
            if (valid > 0) {
                long dst = ((yImg + (long) img * m + ch0) * plane + (long) oy * lay.ow + ox);
                for (int r = 0; r < rows; r++) {
                    storeRun(tile, to + r * NR + p - j0, valid, y, dst + r * plane, ep);
                }
            }
            p += run;
        }
    }

    /**
     * Where each tile's lanes go in Y: per tile a list of runs of lanes [lo, hi) that are consecutive valid outputs,
     * stored as one vector store at {@code plane0 + off} (off already minus the run's first lane) under a lane mask.
     * Offsets are relative to the first channel plane of the job's image (batched: of image 0).
     */
    static final class Segments {
        final int[] first;
        final int[] lo;
        final int[] hi;
        final long[] off;
        final long[] minOff;
        final long[] maxOff;
        /** Whether all NR lanes of the tile are one run of consecutive outputs. */
        final boolean[] whole;

        Segments(PhaseLayout lay, boolean batched, int imgFloats, int wide, int tiles, long imgStride) {
            first = new int[tiles + 1];
            minOff = new long[tiles];
            maxOff = new long[tiles];
            int[] l = new int[tiles * 4];
            int[] h = new int[tiles * 4];
            long[] o = new long[tiles * 4];
            int count = 0;
            int wq = lay.wq;
            for (int t = 0; t < tiles; t++) {
                first[t] = count;
                int j0 = t * NR;
                int end = Math.min(j0 + NR, wide);
                long mn = Long.MAX_VALUE;
                long mx = Long.MIN_VALUE;
                for (int p = j0; p < end; ) {
                    int img = batched ? p / imgFloats : 0;
                    int rem = batched ? p - img * imgFloats : p;
                    int oy = rem / wq;
                    int ox = rem - oy * wq;
                    int run = Math.min(wq - ox, end - p);
                    if (batched) {
                        run = Math.min(run, (img + 1) * imgFloats - p);
                    }
                    int valid = oy < lay.oh ? Math.min(run, lay.ow - ox) : 0;
                    long at = img * imgStride + (long) oy * lay.ow + ox - (p - j0);
                    if (valid > 0 && count > first[t] && h[count - 1] == p - j0 && o[count - 1] == at) {
                        // The next output row continues this run in Y (no garbage columns between rows, wq == ow):
                        // one run, so that 1x1 tiles across row ends still take the register store.
                        h[count - 1] = p - j0 + valid;
                    } else if (valid > 0) {
                        if (count == l.length) {
                            l = java.util.Arrays.copyOf(l, 2 * count);
                            h = java.util.Arrays.copyOf(h, 2 * count);
                            o = java.util.Arrays.copyOf(o, 2 * count);
                        }
                        l[count] = p - j0;
                        h[count] = p - j0 + valid;
                        o[count] = at;
                        mn = Math.min(mn, o[count]);
                        mx = Math.max(mx, o[count]);
                        count++;
                    }
                    p += run;
                }
                minOff[t] = count == first[t] ? 0 : mn;
                maxOff[t] = count == first[t] ? 0 : mx;
            }
            first[tiles] = count;
            whole = new boolean[tiles];
            for (int t = 0; t < tiles; t++) {
                whole[t] = first[t + 1] == first[t] + 1 && l[first[t]] == 0 && h[first[t]] == NR;
            }
            lo = l;
            hi = h;
            off = o;
        }
    }

    /** {@code y[dst + i] = epilogue(tile[from + i])} for i &lt; count. */
    private static void storeRun(float[] tile, int from, int count, MemorySegment y, long dst, ConvEpilogue ep) {
        MemorySegment res = ep.residual();
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        for (int i = 0; i < count; i += VL) {
            long at = (dst + i) * 4;
            if (count - i >= VL) {
                FloatVector v = FloatVector.fromArray(S, tile, from + i);
                if (res != null) {
                    v = v.add(FloatVector.fromMemorySegment(S, res, at, LE));
                }
                if (clamp) {
                    v = v.blend(lo, v.compare(VectorOperators.LT, lo));
                    v = v.blend(hi, v.compare(VectorOperators.GT, hi));
                }
                v.intoMemorySegment(y, at, LE);
            } else if (at + S.vectorByteSize() > y.byteSize()) {
                // The tensor's last elements: a masked vector would reach past the segment (a slow path).
                for (int j = i; j < count; j++) {
                    long e = dst + j;
                    y.setAtIndex(Tensor.F32, e, ep.apply(tile[from + j], res == null ? 0f : res.getAtIndex(Tensor.F32, e)));
                }
            } else {
                VectorMask<Float> mask = S.indexInRange(i, count);
                FloatVector v = FloatVector.fromArray(S, tile, from + i, mask);
                if (res != null) {
                    v = v.add(FloatVector.fromMemorySegment(S, res, at, LE, mask));
                }
                if (clamp) {
                    v = v.blend(lo, v.compare(VectorOperators.LT, lo));
                    v = v.blend(hi, v.compare(VectorOperators.GT, hi));
                }
                v.intoMemorySegment(y, at, LE, mask);
            }
        }
    }

    /** Sets the MR x NR tile at {@code to} to the bias of its rows, {@code bias[bo + r]}. */
    private static void initTile(float[] bias, int bo, float[] tile, int to) {
        for (int r = 0; r < MR; r++) {
            FloatVector v = FloatVector.broadcast(S, bias[bo + r]);
            v.intoArray(tile, to + r * NR);
            v.intoArray(tile, to + r * NR + VL);
        }
    }

    /**
     * Stores a finished tile with the epilogue straight to Y: row r (r &lt; rows) at {@code direct + r*plane} plus the
     * offsets of tile {@code t}'s {@link Segments}, each run of valid outputs one masked store per vector.
     */
    private static void storeDirect(float[] tile, int to, MemorySegment y, long direct, long plane, int rows, Segments segs,
                                    int t, ConvEpilogue ep) {
        MemorySegment res = ep.residual();
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        int s0 = segs.first[t];
        int s1 = segs.first[t + 1];
        for (int r = 0; r < rows; r++) {
            long row = direct + r * plane;
            for (int sg = s0; sg < s1; sg++) {
                long at = (row + segs.off[sg]) * 4;
                long bits = (1L << segs.hi[sg]) - (1L << segs.lo[sg]);
                for (int v = 0; v < 2; v++, at += 4L * VL) {
                    long lanes = bits >>> (v * VL) & LANES;
                    if (lanes == 0) {
                        continue;
                    }
                    FloatVector x = FloatVector.fromArray(S, tile, to + r * NR + v * VL);
                    if (lanes == LANES) {
                        if (res != null) {
                            x = x.add(FloatVector.fromMemorySegment(S, res, at, LE));
                        }
                        if (clamp) {
                            x = x.blend(lo, x.compare(VectorOperators.LT, lo));
                            x = x.blend(hi, x.compare(VectorOperators.GT, hi));
                        }
                        x.intoMemorySegment(y, at, LE);
                    } else {
                        VectorMask<Float> mk = VectorMask.fromLong(S, lanes);
                        if (res != null) {
                            x = x.add(FloatVector.fromMemorySegment(S, res, at, LE, mk));
                        }
                        if (clamp) {
                            x = x.blend(lo, x.compare(VectorOperators.LT, lo));
                            x = x.blend(hi, x.compare(VectorOperators.GT, hi));
                        }
                        x.intoMemorySegment(y, at, LE, mk);
                    }
                }
            }
        }
    }
}
