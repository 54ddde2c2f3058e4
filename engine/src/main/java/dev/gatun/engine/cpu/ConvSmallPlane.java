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
 * Float32 2-D convolution for small output planes (7x7 and 14x14, any batch): the same implicit GEMM as
 * {@link ConvGemm}, {@code Y_g[M/G, P] = W_g[M/G, K] x B[K, P]} over a phase-plane copy of the input
 * ({@link PhaseLayout}), with the micro-kernel transposed: output channels along the vectors, positions broadcast.
 *
 * <p>Why: {@link ConvGemm} puts {@code 2 * VL} consecutive "wide" positions in a tile, so a 7x7 plane (63 wide
 * positions, 49 real) fills 64 lanes of which 49 are useful, and a 14x14 3x3 plane 196 of 224. Here a tile is
 * {@link #TP} consecutive real outputs of the plane (in row-major order, across output rows), against {@link #MR}
 * output channels loaded as two vectors from weights packed {@code a[panel][k][MR]} (contiguous per k).
 *
 * <ul>
 *   <li>Packed B: per K block, each tile's rows are copied from the phase buffer
 *       ({@code B[k][p] = buf[koff[k] + wide(p)]}) into {@code bp[tile][k][TS]}, one vector per run of the tile's
 *       positions that lies in one output row (one run for 14-wide planes, two for 7-wide); the micro-kernel then
 *       reads both operands linearly. Lanes past the plane's last output hold garbage and are never stored.</li>
 *   <li>Accumulators: {@code acc[j][v]}, j &lt; TP positions, v &lt; 2 vectors of VL channels (28 zmm on AVX-512).</li>
 *   <li>Order per task: K block (at most {@link #KC} rows), then panel (its KC x MR weights in L1-L2), then tile;
 *       the packed block is shared by all panels of the task, partial sums wait in a per-thread array between
 *       blocks.</li>
 *   <li>Chains: every output starts at its bias and adds {@code w[k] * x[k]} by one fused multiply-add per k in
 *       increasing k: the same chain as {@link ConvGemm}, so the two paths give equal results bit for bit, whatever
 *       the thread count or tiling.</li>
 *   <li>Tasks split over (group, panel range, tile range), panels first but at least {@link #MIN_PANELS} panels a
 *       task, then tiles: the packed tiles serve several panels, each weight is read by few tasks. Where the weights
 *       outweigh the phase planes {@link #STREAMING} times (batch 1, deep layers), over panels only: each weight is
 *       read from memory by one task, and each thread packs all the tiles for every K block once, for all its tasks.
 *       Each thread fills the phase planes of a group (every image of the batch chunk) into its own buffer when its
 *       first task for them starts: one parallel region per convolution, no barrier between the fill and the GEMM.</li>
 *   <li>The store transposes the tiles (positions x channels) to NCHW, applying the {@link ConvEpilogue}: per channel
 *       over the task's run of positions, VL at a time by a gather from the tiles and one vector store.</li>
 * </ul>
 */
public final class ConvSmallPlane {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Output channels per tile: two vectors. */
    public static final int MR = 2 * VL;
    /** Output positions per tile: consecutive outputs of the plane. */
    static final int TP = 14;
    /** Floats per k of a packed B tile: TP rounded up to 16. */
    static final int TS = 16;
    /**
     * Depth of a K block: KC x MR floats of weights (64 KB on AVX-512, from L2 for the tiles after the first). Long
     * blocks stream the weights in long sequential runs: at batch 1 ResNet's 7x7 layers read 9.4 MB of weights from
     * memory per layer, and blocks of 128 (16 KB, in L1) left them a third slower than with their weights in cache.
     */
    static final int KC = 512;
    /** Fewest reduction terms (C/G*KH*KW) for which {@link #suits} picks this kernel. */
    static final int MIN_K = 256;
    /** Fewest weight panels per task (when there are that many), so that packing B stays a small share. */
    static final int MIN_PANELS = 4;
    /** Weights over this many times a pass's phase planes split over panels only (see {@link #conv}). */
    static final int STREAMING = 8;
    /** Most floats of phase planes one pass holds; larger batches run in chunks of images. */
    static final long BUFFER_BUDGET = 1L << 21;
    /** Most floats of partial sums a task keeps across K blocks (512 KB): its tiles go in spans below it. */
    static final int ACC_FLOATS = 1 << 17;

    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> BPACK = ThreadLocal.withInitial(() -> new float[0]);
    /** Passes run so far: tells a thread whether its buffer already holds a group's planes for this pass. */
    private static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();
    /** Per thread: the call and group whose planes {@link #BUFFER} holds. */
    private static final ThreadLocal<long[]> FILLED = ThreadLocal.withInitial(() -> new long[] {-1, -1});
    /** Per thread: the call and group whose tiles {@link #BPACK} holds packed for every K block (see {@link #conv}). */
    private static final ThreadLocal<long[]> PACKED = ThreadLocal.withInitial(() -> new long[] {-1, -1});
    /** Gather indices of VL consecutive positions of one channel in a tile run: {@code j * MR}. */
    private static final int[] GATHER = java.util.stream.IntStream.range(0, VL).map(j -> j * MR).toArray();

    private ConvSmallPlane() {}

    /**
     * Whether a convolution of this layout is better served by this kernel than by {@link ConvGemm}'s position
     * tiles: when those tiles would leave at least a tenth of their lanes unused on a plane of at most 256 outputs,
     * and there is enough K (at least {@link #MIN_K} terms) for the partial-sum round trip and the transposed store
     * to be a small share. Below that {@code ConvGemm}'s tiles, which store from the registers, win even with idle
     * lanes: MobileNetV2's 1x1 expansions 64->384 and 96->576 at 14x14 ran 1.4-1.6x faster there, 160->960 at 7x7
     * 7%; at K 256 and over (its projections, 320->1280, ResNet's 3x3 layers) this kernel stays ahead by 5-15%.
     */
    public static boolean suits(PhaseLayout lay, int kdim) {
        long real = (long) lay.oh * lay.ow;
        long lanes = (long) Math.ceilDiv(lay.wide(), ConvGemm.NR) * ConvGemm.NR;
        return MR != ConvGemm.MR && real <= 256 && kdim >= MIN_K && real * 10 < lanes * 9;
    }

    /**
     * Where a tile's positions come from: tile t's runs are {@code [first[t], first[t+1])}, run i copying phase
     * buffer positions {@code src[i] ..} (image {@code img} at {@code img * imgFloats}, then wide index
     * {@code oy*wq + ox}) to lanes {@code lane[i]..}, {@code len[i]} positions; a run ends at its output row's end, the
     * tile's or the last image's.
     */
    private record Runs(int[] first, int[] lane, int[] src, int[] len) {
        static Runs of(PhaseLayout lay, int imgs, int imgFloats) {
            int plane = lay.oh * lay.ow;
            int total = imgs * plane;
            int tiles = Math.ceilDiv(total, TP);
            int[] first = new int[tiles + 1];
            int[] lane = new int[tiles * (TP + 1)];
            int[] src = new int[tiles * (TP + 1)];
            int[] lens = new int[tiles * (TP + 1)];
            int n = 0;
            for (int t = 0; t < tiles; t++) {
                first[t] = n;
                for (int l = 0, p = t * TP; l < TP && p < total; ) {
                    int img = p / plane;
                    int oy = (p - img * plane) / lay.ow;
                    int ox = p - img * plane - oy * lay.ow;
                    int len = Math.min(Math.min(lay.ow - ox, TP - l), total - p);
                    lane[n] = l;
                    src[n] = img * imgFloats + oy * lay.wq + ox;
                    lens[n] = len;
                    n++;
                    l += len;
                    p += len;
                }
            }
            first[tiles] = n;
            return new Runs(first, lane, src, lens);
        }
    }

    /**
     * Y [n, G*mg, oh, ow] = epilogue(conv(X [n, C, ih, iw], packed W) + bias); {@code pw} packed with panels of
     * {@link #MR} channels. The positions of all images of the batch (in chunks of at most {@link #BUFFER_BUDGET}
     * floats of phase planes) are one run of tiles, so that each weight is read once per chunk, not once per image.
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
        int mg = pw.mg();
        int m = group * mg;
        int kdim = pw.kdim();
        int chanStride = lay.chanStride;
        int plane = lay.oh * lay.ow;
        int blocks = Math.ceilDiv(kdim, KC);
        int[] koff = lay.table("small-koff", cg, taps, 0, 0, 0, (l, ng, nt, u1, u2, u3) -> {
            int[] o = new int[ng * nt];
            for (int ci = 0; ci < ng; ci++) {
                for (int t = 0; t < nt; t++) {
                    o[ci * nt + t] = ci * l.chanStride + l.tapOff[t];
                }
            }
            return o;
        });
        float lo = ep.clamp() ? ep.lo() : Float.NEGATIVE_INFINITY;
        float hi = ep.clamp() ? ep.hi() : Float.POSITIVE_INFINITY;
        MemorySegment res = ep.residual();
        boolean vectorStore = y.isNative() && (res == null || res.isNative());
        int imgFloats = Math.multiplyExact(cg, chanStride);
        int chunk = (int) Math.clamp(BUFFER_BUDGET / Math.max(imgFloats, 1), 1, n);
        int target = ctx.threads() <= 1 ? 1 : 4 * ctx.threads();
        for (int n0 = 0; n0 < n; n0 += chunk) {
            int imgs = Math.min(chunk, n - n0);
            int first = n0;
            int total = imgs * plane;
            int tiles = Math.ceilDiv(total, TP);
            Runs runs = lay.table("small-runs", imgs, imgFloats, 0, 0, 0, (l, ni, nf, u1, u2, u3) -> Runs.of(l, ni, nf));
            // Each thread fills the phase planes of a group (all images of the chunk) into its own buffer the first
            // time one of its tasks needs them in this call: one parallel region per chunk, no barrier between fill
            // and GEMM. Slack past the last plane: a run's vector copy reads TS floats from any position of a plane.
            // A 1x1 stride-1 convolution without groups: X itself is the phase buffer ([image][c][plane], the same
            // offsets from X's image `first`), so the tiles are packed straight from it and there is no fill.
            boolean fromX = taps == 1 && group == 1 && lay.identity() && x.isNative()
                    && x.byteSize() >= (long) (first + imgs) * c * plane * 4;
            long xAddr = fromX ? x.address() + 4L * first * c * plane : 0;
            long call = CALLS.incrementAndGet();
            int jobFloats = Math.addExact(Math.multiplyExact(imgs, imgFloats), TS + VL);
            // At least MIN_PANELS panels per task where there are that many: the tiles a task packs serve all its
            // panels (one panel per task spent up to a fifth more CPU in all on two threads); tiles split the rest.
            // Weights over STREAMING times the chunk's phase planes (batch 1, deep layers: they come from memory): panels
            // only, so that each weight is read by one task; as every such task needs all the tiles, each thread packs
            // them for every K block once, when its first task starts, and its tasks share that (packing per task, 8
            // tasks on two threads spent 15-19% more CPU than one task per thread on ResNet's 7x7 and 14x14 layers).
            boolean streaming = (long) pw.panels() * MR * kdim > (long) STREAMING * imgs * imgFloats;
            int mSplit = Math.min(streaming ? pw.panels() : Math.max(1, pw.panels() / MIN_PANELS), Math.ceilDiv(target, group));
            int tSplit = Math.min(tiles, Math.ceilDiv(target, group * mSplit));
            int perJob = mSplit * tSplit;
            boolean packOnce = streaming && mSplit > 1 && tSplit == 1;
            Tasks region = REGION.get();
            region.set(lay, pw, x, y, res, koff, runs, vectorStore, fromX, xAddr, call, perJob, tSplit, mSplit, tiles, jobFloats, imgs, cg, c, first, imgFloats,
                    chanStride, blocks, kdim, total, plane, mg, m, lo, hi);
            region.packOnce = packOnce;
            try {
                ctx.parallelFor(group * perJob, region);
            } finally {
                region.clear();
            }
        }
    }

    /**
     * The tasks of {@link #conv}: task t is (group, panel range, tile range). A reused object (one per calling thread,
     * fields set before the region and cleared after) instead of a capturing lambda, so that a warm run allocates
     * nothing.
     */
    private static final class Tasks implements java.util.function.IntConsumer {
        private PhaseLayout lay;
        private ConvGemm.Packed pw;
        private MemorySegment x, y, res;
        private int[] koff;
        private Runs runs;
        private boolean vectorStore, fromX;
        /** Every task covers all the tiles: each thread packs them for all K blocks once (slot (kb, tile)). */
        private boolean packOnce;
        private long xAddr, call;
        private int perJob, tSplit, mSplit, tiles, jobFloats, imgs, cg, c, first, imgFloats, chanStride, blocks, kdim, total, plane,
                mg, m;
        private float lo, hi;

        void set(PhaseLayout lay, ConvGemm.Packed pw, MemorySegment x, MemorySegment y, MemorySegment res, int[] koff, Runs runs,
                 boolean vectorStore, boolean fromX, long xAddr, long call, int perJob, int tSplit, int mSplit, int tiles, int jobFloats, int imgs, int cg, int c,
                 int first, int imgFloats, int chanStride, int blocks, int kdim, int total, int plane, int mg, int m, float lo, float hi) {
            this.lay = lay;
            this.pw = pw;
            this.x = x;
            this.y = y;
            this.res = res;
            this.koff = koff;
            this.runs = runs;
            this.vectorStore = vectorStore;
            this.fromX = fromX;
            this.xAddr = xAddr;
            this.call = call;
            this.perJob = perJob;
            this.tSplit = tSplit;
            this.mSplit = mSplit;
            this.tiles = tiles;
            this.jobFloats = jobFloats;
            this.imgs = imgs;
            this.cg = cg;
            this.c = c;
            this.first = first;
            this.imgFloats = imgFloats;
            this.chanStride = chanStride;
            this.blocks = blocks;
            this.kdim = kdim;
            this.total = total;
            this.plane = plane;
            this.mg = mg;
            this.m = m;
            this.lo = lo;
            this.hi = hi;
        }

        void clear() {
            lay = null;
            pw = null;
            x = null;
            y = null;
            res = null;
            koff = null;
            runs = null;
        }

        @Override
        public void accept(int t) {
            int grp = t / perJob;
            int ms = t % perJob / tSplit;
            int ts = t % tSplit;
            int q0 = pw.panels() * ms / mSplit;
            int q1 = pw.panels() * (ms + 1) / mSplit;
            int t0 = tiles * ts / tSplit;
            int t1 = tiles * (ts + 1) / tSplit;
            float[] buf = fromX ? null : PhaseLayout.scratch(BUFFER, jobFloats);
            long[] filled = FILLED.get();
            if (!fromX && (filled[0] != call || filled[1] != grp)) {
                for (int img = 0; img < imgs; img++) {
                    for (int ci = 0; ci < cg; ci++) {
                        lay.fillPlane(x, ((long) (first + img) * c + (long) grp * cg + ci) * lay.ih * lay.iw, buf,
                                img * imgFloats + ci * chanStride, 0f);
                    }
                }
                filled[0] = call;
                filled[1] = grp;
            }
            float[] whole = null;
            if (packOnce) {
                whole = PhaseLayout.scratch(BPACK, Math.addExact(Math.multiplyExact(blocks * tiles, KC * TS), TS));
                long[] packed = PACKED.get();
                if (packed[0] != call || packed[1] != grp) {
                    for (int kb = 0; kb < blocks; kb++) {
                        int k0 = kdim * kb / blocks;
                        int kc = kdim * (kb + 1) / blocks - k0;
                        for (int tile = 0; tile < tiles; tile++) {
                            if (fromX) {
                                packTileX(xAddr, koff, k0, kc, runs, tile, whole, (kb * tiles + tile) * KC * TS);
                            } else {
                                packTile(buf, koff, k0, kc, runs, tile, whole, (kb * tiles + tile) * KC * TS);
                            }
                        }
                    }
                    packed[0] = call;
                    packed[1] = grp;
                }
            }
            // Tiles in spans whose partial sums (all panels of the task) fit ACC_FLOATS.
            int span = Math.max(1, ACC_FLOATS / ((q1 - q0) * TP * MR));
            for (int c0 = t0; c0 < t1; c0 += span) {
                int nt = Math.min(span, t1 - c0);
                int panelFloats = nt * TP * MR;
                float[] acc = PhaseLayout.scratch(ACC, (q1 - q0) * panelFloats + VL * MR);
                float[] bp = whole != null ? whole : PhaseLayout.scratch(BPACK, nt * KC * TS + TS);
                for (int kb = 0; kb < blocks; kb++) {
                    int k0 = kdim * kb / blocks;
                    int kc = kdim * (kb + 1) / blocks - k0;
                    for (int i = 0; i < nt && whole == null; i++) {
                        if (fromX) {
                            packTileX(xAddr, koff, k0, kc, runs, c0 + i, bp, i * kc * TS);
                        } else {
                            packTile(buf, koff, k0, kc, runs, c0 + i, bp, i * kc * TS);
                        }
                    }
                    for (int q = q0; q < q1; q++) {
                        int panel = grp * pw.panels() + q;
                        int ao = (panel * kdim + k0) * MR;
                        for (int i = 0; i < nt; i++) {
                            int to = (q - q0) * panelFloats + i * TP * MR;
                            if (kb == 0) {
                                initTile(pw.bias(), panel * MR, acc, to);
                            }
                            kernel(pw.a(), ao, bp, whole != null ? (kb * tiles + c0 + i) * KC * TS : i * kc * TS, kc, acc, to);
                        }
                    }
                }
                // Store per image: the span's positions [pa, pb) are consecutive within each image's planes.
                int pa = c0 * TP;
                int pb = Math.min((c0 + nt) * TP, total);
                for (int p = pa; p < pb; ) {
                    int img = p / plane;
                    int pe = Math.min(pb, (img + 1) * plane);
                    for (int q = q0; q < q1; q++) {
                        int rows = Math.min(MR, mg - q * MR);
                        long at = ((long) (first + img) * m + (long) grp * mg + q * MR) * plane + p - img * plane;
                        int from = (q - q0) * panelFloats + (p - pa) * MR;
                        if (vectorStore) {
                            storeRows(acc, from, pe - p, rows, y, at, plane, res, lo, hi);
                        } else {
                            store(acc, from, pe - p, rows, y, at, plane, res, lo, hi);
                        }
                    }
                    p = pe;
                }
            }
        }
    }

    private static final ThreadLocal<Tasks> REGION = ThreadLocal.withInitial(Tasks::new);

    /**
     * Packs rows [k0, k0 + kc) of tile {@code tile}'s B into {@code bp[at + k*TS + lane]}: per k and run, one vector
     * copy of VL floats from the phase buffer ({@code buf[koff[k0 + k] + src]}) to the run's first lane. A copy
     * writes past its run (into the next run's lanes or the next k's row), which a later copy overwrites: runs and
     * rows go in increasing order, and the last copy of the tile writes at most VL floats past it.
     */
    private static void packTile(float[] buf, int[] koff, int k0, int kc, Runs runs, int tile, float[] bp, int at) {
        int r0 = runs.first()[tile];
        int r1 = runs.first()[tile + 1];
        if (VL >= TP && r1 - r0 == 1) {
            // One run (14-wide planes, or a 7-wide plane's last tile): one vector per k.
            int src = runs.src()[r0];
            int d = at + runs.lane()[r0];
            for (int k = 0; k < kc; k++) {
                FloatVector.fromArray(S, buf, koff[k0 + k] + src).intoArray(bp, d + k * TS);
            }
            return;
        }
        if (VL >= TP && r1 - r0 == 2) {
            // Two runs (7-wide planes): two vectors per k, the second overwriting the first's tail.
            int src0 = runs.src()[r0];
            int src1 = runs.src()[r0 + 1];
            int d0 = at + runs.lane()[r0];
            int d1 = at + runs.lane()[r0 + 1];
            for (int k = 0; k < kc; k++) {
                int s = koff[k0 + k];
                FloatVector.fromArray(S, buf, s + src0).intoArray(bp, d0 + k * TS);
                FloatVector.fromArray(S, buf, s + src1).intoArray(bp, d1 + k * TS);
            }
            return;
        }
        for (int k = 0; k < kc; k++) {
            int s = koff[k0 + k];
            int d = at + k * TS;
            for (int r = r0; r < r1; r++) {
                int lane = runs.lane()[r];
                int len = (r + 1 < r1 ? runs.lane()[r + 1] : TP) - lane;
                for (int v = 0; v < len; v += VL) {
                    FloatVector.fromArray(S, buf, s + runs.src()[r] + v).intoArray(bp, d + lane + v);
                }
            }
        }
    }

    /**
     * {@link #packTile} reading X (native, absolute float address {@code xAddr} of the buffer's position 0) instead of
     * the phase buffer: each run's vector is loaded under a mask of its length, so that no load reaches past X; the
     * copies go in the same order (rows, then runs), so a later one overwrites what an earlier one wrote past its run.
     */
    private static void packTileX(long xAddr, int[] koff, int k0, int kc, Runs runs, int tile, float[] bp, int at) {
        MemorySegment all = SgemmKernel.ALL;
        int r0 = runs.first()[tile];
        int r1 = runs.first()[tile + 1];
        if (VL >= TP && r1 - r0 == 1) {
            long src = xAddr + 4L * runs.src()[r0];
            int d = at + runs.lane()[r0];
            VectorMask<Float> m = S.indexInRange(0, runs.len()[r0]);
            for (int k = 0; k < kc; k++) {
                FloatVector.fromMemorySegment(S, all, src + 4L * koff[k0 + k], ByteOrder.LITTLE_ENDIAN, m).intoArray(bp, d + k * TS);
            }
            return;
        }
        if (VL >= TP && r1 - r0 == 2) {
            long src0 = xAddr + 4L * runs.src()[r0];
            long src1 = xAddr + 4L * runs.src()[r0 + 1];
            int d0 = at + runs.lane()[r0];
            int d1 = at + runs.lane()[r0 + 1];
            VectorMask<Float> m0 = S.indexInRange(0, runs.len()[r0]);
            VectorMask<Float> m1 = S.indexInRange(0, runs.len()[r0 + 1]);
            for (int k = 0; k < kc; k++) {
                long o = 4L * koff[k0 + k];
                FloatVector.fromMemorySegment(S, all, src0 + o, ByteOrder.LITTLE_ENDIAN, m0).intoArray(bp, d0 + k * TS);
                FloatVector.fromMemorySegment(S, all, src1 + o, ByteOrder.LITTLE_ENDIAN, m1).intoArray(bp, d1 + k * TS);
            }
            return;
        }
        for (int k = 0; k < kc; k++) {
            long o = 4L * koff[k0 + k];
            int d = at + k * TS;
            for (int r = r0; r < r1; r++) {
                int lane = runs.lane()[r];
                int len = runs.len()[r];
                for (int v = 0; v < len; v += VL) {
                    VectorMask<Float> m = S.indexInRange(v, len);
                    FloatVector.fromMemorySegment(S, all, xAddr + 4L * (runs.src()[r] + v) + o, ByteOrder.LITTLE_ENDIAN, m)
                            .intoArray(bp, d + lane + v);
                }
            }
        }
    }

    /** Sets the TP x MR tile at {@code to} to the bias of its channels, {@code bias[bo + r]} for every position. */
    private static void initTile(float[] bias, int bo, float[] tile, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
        for (int j = 0; j < TP; j++) {
            b0.intoArray(tile, to + j * MR);
            b1.intoArray(tile, to + j * MR + VL);
        }
    }

    /**
     * {@code y[at + r*plane + j] = clamp(acc[from + j*MR + r] + res[same], lo, hi)} for r &lt; rows, j &lt; count: a run of
     * consecutive outputs per channel, VL positions at a time gathered from the tiles (stride MR) and stored as one
     * vector. Y and the residual (native) are written and read through {@link SgemmKernel#ALL} at absolute
     * addresses, their bounds checked here once (see there why not through their own segments). {@code acc} holds
     * {@code VL * MR} floats of slack past the last position for the masked tail.
     */
    static void storeRows(float[] acc, int from, int count, int rows, MemorySegment y, long at, long plane, MemorySegment res,
                                  float lo, float hi) {
        long end = (at + (rows - 1) * plane + count) * 4;
        if (at < 0 || end > y.byteSize() || res != null && end > res.byteSize()) {
            throw new IndexOutOfBoundsException("ConvSmallPlane store: bytes up to " + end + " outside the output or residual");
        }
        MemorySegment all = SgemmKernel.ALL;
        long yAddr = y.address();
        long rAddr = res == null ? 0 : res.address();
        FloatVector vlo = FloatVector.broadcast(S, lo);
        FloatVector vhi = FloatVector.broadcast(S, hi);
        for (int r = 0; r < rows; r++) {
            long row = (at + r * plane) * 4;
            int j = 0;
            for (; j <= count - VL; j += VL) {
                FloatVector v = FloatVector.fromArray(S, acc, from + j * MR + r, GATHER, 0);
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
                FloatVector v = FloatVector.fromArray(S, acc, from + j * MR + r, GATHER, 0, mask);
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

    /**
     * {@code y[at + r*plane + j] = clamp(tile[to + j*MR + r] + res[same], lo, hi)} for r &lt; rows, j &lt; count
     * (no residual when {@code res} is null; the infinities as bounds when there is no clamp).
     */
    static void store(float[] tile, int to, int count, int rows, MemorySegment y, long at, long plane, MemorySegment res,
                              float lo, float hi) {
        for (int r = 0; r < rows; r++) {
            long row = at + r * plane;
            for (int j = 0; j < count; j++) {
                float v = tile[to + j * MR + r];
                if (res != null) {
                    v += res.getAtIndex(Tensor.F32, row + j);
                }
                y.setAtIndex(Tensor.F32, row + j, ConvEpilogue.clamp(v, lo, hi));
            }
        }
    }


    /**
     * The TP x MR micro-kernel over one K block:
     * {@code tile[to + j*MR + r] += sum_{k < kc} a[ao + k*MR + r] * b[bo + k*TS + j]}, one fused multiply-add chain
     * per element in increasing k: 28 accumulators, per k two weight vectors and TP broadcasts. Both operands are
     * contiguous and indexed linearly by k alone, so the JIT hoists every bounds check out of the loop (the former
     * kernel broadcast from the phase buffer through an offset table: two checks, spills and table loads per k).
     */
    private static void kernel(float[] a, int ao, float[] b, int bo, int kc, float[] tile, int to) {
        FloatVector c000 = FloatVector.fromArray(S, tile, to + 0 * MR);
        FloatVector c001 = FloatVector.fromArray(S, tile, to + 0 * MR + VL);
        FloatVector c010 = FloatVector.fromArray(S, tile, to + 1 * MR);
        FloatVector c011 = FloatVector.fromArray(S, tile, to + 1 * MR + VL);
        FloatVector c020 = FloatVector.fromArray(S, tile, to + 2 * MR);
        FloatVector c021 = FloatVector.fromArray(S, tile, to + 2 * MR + VL);
        FloatVector c030 = FloatVector.fromArray(S, tile, to + 3 * MR);
        FloatVector c031 = FloatVector.fromArray(S, tile, to + 3 * MR + VL);
        FloatVector c040 = FloatVector.fromArray(S, tile, to + 4 * MR);
        FloatVector c041 = FloatVector.fromArray(S, tile, to + 4 * MR + VL);
        FloatVector c050 = FloatVector.fromArray(S, tile, to + 5 * MR);
        FloatVector c051 = FloatVector.fromArray(S, tile, to + 5 * MR + VL);
        FloatVector c060 = FloatVector.fromArray(S, tile, to + 6 * MR);
        FloatVector c061 = FloatVector.fromArray(S, tile, to + 6 * MR + VL);
        FloatVector c070 = FloatVector.fromArray(S, tile, to + 7 * MR);
        FloatVector c071 = FloatVector.fromArray(S, tile, to + 7 * MR + VL);
        FloatVector c080 = FloatVector.fromArray(S, tile, to + 8 * MR);
        FloatVector c081 = FloatVector.fromArray(S, tile, to + 8 * MR + VL);
        FloatVector c090 = FloatVector.fromArray(S, tile, to + 9 * MR);
        FloatVector c091 = FloatVector.fromArray(S, tile, to + 9 * MR + VL);
        FloatVector c100 = FloatVector.fromArray(S, tile, to + 10 * MR);
        FloatVector c101 = FloatVector.fromArray(S, tile, to + 10 * MR + VL);
        FloatVector c110 = FloatVector.fromArray(S, tile, to + 11 * MR);
        FloatVector c111 = FloatVector.fromArray(S, tile, to + 11 * MR + VL);
        FloatVector c120 = FloatVector.fromArray(S, tile, to + 12 * MR);
        FloatVector c121 = FloatVector.fromArray(S, tile, to + 12 * MR + VL);
        FloatVector c130 = FloatVector.fromArray(S, tile, to + 13 * MR);
        FloatVector c131 = FloatVector.fromArray(S, tile, to + 13 * MR + VL);
        for (int k = 0; k < kc; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            int bk = bo + k * TS;
            FloatVector x;
            x = FloatVector.broadcast(S, b[bk + 0]);
            c000 = w0.fma(x, c000);
            c001 = w1.fma(x, c001);
            x = FloatVector.broadcast(S, b[bk + 1]);
            c010 = w0.fma(x, c010);
            c011 = w1.fma(x, c011);
            x = FloatVector.broadcast(S, b[bk + 2]);
            c020 = w0.fma(x, c020);
            c021 = w1.fma(x, c021);
            x = FloatVector.broadcast(S, b[bk + 3]);
            c030 = w0.fma(x, c030);
            c031 = w1.fma(x, c031);
            x = FloatVector.broadcast(S, b[bk + 4]);
            c040 = w0.fma(x, c040);
            c041 = w1.fma(x, c041);
            x = FloatVector.broadcast(S, b[bk + 5]);
            c050 = w0.fma(x, c050);
            c051 = w1.fma(x, c051);
            x = FloatVector.broadcast(S, b[bk + 6]);
            c060 = w0.fma(x, c060);
            c061 = w1.fma(x, c061);
            x = FloatVector.broadcast(S, b[bk + 7]);
            c070 = w0.fma(x, c070);
            c071 = w1.fma(x, c071);
            x = FloatVector.broadcast(S, b[bk + 8]);
            c080 = w0.fma(x, c080);
            c081 = w1.fma(x, c081);
            x = FloatVector.broadcast(S, b[bk + 9]);
            c090 = w0.fma(x, c090);
            c091 = w1.fma(x, c091);
            x = FloatVector.broadcast(S, b[bk + 10]);
            c100 = w0.fma(x, c100);
            c101 = w1.fma(x, c101);
            x = FloatVector.broadcast(S, b[bk + 11]);
            c110 = w0.fma(x, c110);
            c111 = w1.fma(x, c111);
            x = FloatVector.broadcast(S, b[bk + 12]);
            c120 = w0.fma(x, c120);
            c121 = w1.fma(x, c121);
            x = FloatVector.broadcast(S, b[bk + 13]);
            c130 = w0.fma(x, c130);
            c131 = w1.fma(x, c131);
        }
        c000.intoArray(tile, to + 0 * MR);
        c001.intoArray(tile, to + 0 * MR + VL);
        c010.intoArray(tile, to + 1 * MR);
        c011.intoArray(tile, to + 1 * MR + VL);
        c020.intoArray(tile, to + 2 * MR);
        c021.intoArray(tile, to + 2 * MR + VL);
        c030.intoArray(tile, to + 3 * MR);
        c031.intoArray(tile, to + 3 * MR + VL);
        c040.intoArray(tile, to + 4 * MR);
        c041.intoArray(tile, to + 4 * MR + VL);
        c050.intoArray(tile, to + 5 * MR);
        c051.intoArray(tile, to + 5 * MR + VL);
        c060.intoArray(tile, to + 6 * MR);
        c061.intoArray(tile, to + 6 * MR + VL);
        c070.intoArray(tile, to + 7 * MR);
        c071.intoArray(tile, to + 7 * MR + VL);
        c080.intoArray(tile, to + 8 * MR);
        c081.intoArray(tile, to + 8 * MR + VL);
        c090.intoArray(tile, to + 9 * MR);
        c091.intoArray(tile, to + 9 * MR + VL);
        c100.intoArray(tile, to + 10 * MR);
        c101.intoArray(tile, to + 10 * MR + VL);
        c110.intoArray(tile, to + 11 * MR);
        c111.intoArray(tile, to + 11 * MR + VL);
        c120.intoArray(tile, to + 12 * MR);
        c121.intoArray(tile, to + 12 * MR + VL);
        c130.intoArray(tile, to + 13 * MR);
        c131.intoArray(tile, to + 13 * MR + VL);
    }
}
