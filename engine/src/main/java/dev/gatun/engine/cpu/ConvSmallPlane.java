package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 2-D convolution for small output planes (7x7 and 14x14 at batch 1): the same implicit GEMM as
 * {@link ConvGemm}, {@code Y_g[M/G, P] = W_g[M/G, K] x B[K, P]} over a phase-plane copy of the input
 * ({@link PhaseLayout}), with the micro-kernel transposed: output channels along the vectors, positions broadcast.
 *
 * <p>Why: {@link ConvGemm} puts {@code 2 * VL} consecutive "wide" positions in a tile, so a 7x7 plane (63 wide
 * positions, 49 real) fills 64 lanes of which 49 are useful, and a 14x14 3x3 plane 196 of 224. Here a tile is a run
 * of at most {@link #TP} real outputs of one output row, each broadcast from the phase buffer
 * ({@code B[k][p] = buf[koff[k] + wide(p)]}), against {@link #MR} output channels loaded as two vectors from weights
 * packed {@code a[panel][k][MR]} (contiguous per k). Planes whose width is a multiple of 7 (7, 14, 28, 56, 112) waste
 * no lane; other widths compute the tail tile's missing positions from garbage buffer elements and never store them.
 *
 * <ul>
 *   <li>Accumulators: {@code acc[j][v]}, j &lt; TP positions, v &lt; 2 vectors of VL channels (14 zmm on AVX-512).</li>
 *   <li>Order per task: panel, then K block (at most {@link #KC} rows: the block of weights, KC x MR floats, stays in
 *       L1 while the task's tiles stream over it), then tile; partial sums wait in a per-thread array between blocks.</li>
 *   <li>Chains: every output starts at its bias and adds {@code w[k] * x[k]} by one fused multiply-add per k in
 *       increasing k: the same chain as {@link ConvGemm}, so the two paths give equal results bit for bit, whatever
 *       the thread count or tiling.</li>
 *   <li>Tasks split over (image, group, panel range, tile range), panels first: each weight is read by one task.
 *       Each thread fills the phase planes of an (image, group) into its own buffer when its first task for them
 *       starts: one parallel region per convolution, no barrier between the fill and the GEMM.</li>
 *   <li>The store transposes the tiles (positions x channels) to NCHW, applying the {@link ConvEpilogue}: when output
 *       rows are whole tiles (width a multiple of 7), per channel over the task's run of positions, VL at a time by a
 *       gather from the tiles and one vector store; else element by element.</li>
 * </ul>
 */
public final class ConvSmallPlane {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Output channels per tile: two vectors. */
    public static final int MR = 2 * VL;
    /** Output positions per tile (one run of an output row). */
    static final int TP = 7;
    /** Depth of a K block: KC x MR floats of weights (16 KB on AVX-512). */
    static final int KC = 128;

    private static final ThreadLocal<float[]> BUFFER = ThreadLocal.withInitial(() -> new float[0]);
    private static final ThreadLocal<float[]> ACC = ThreadLocal.withInitial(() -> new float[0]);
    /** Convolutions run so far: tells a thread whether its buffer already holds a job's planes for this call. */
    private static final java.util.concurrent.atomic.AtomicLong CALLS = new java.util.concurrent.atomic.AtomicLong();
    /** Per thread: the call and job whose planes {@link #BUFFER} holds. */
    private static final ThreadLocal<long[]> FILLED = ThreadLocal.withInitial(() -> new long[] {-1, -1});
    /** Gather indices of VL consecutive positions of one channel in a tile run: {@code j * MR}. */
    private static final int[] GATHER = java.util.stream.IntStream.range(0, VL).map(j -> j * MR).toArray();

    private ConvSmallPlane() {}

    /**
     * Whether a convolution of this layout is better served by this kernel than by {@link ConvGemm}'s position
     * tiles: when those tiles would leave at least a tenth of their lanes unused on a plane of at most 256 outputs,
     * and there is enough K (at least 32 terms) for the transposed store to be a small share.
     */
    public static boolean suits(PhaseLayout lay, int kdim) {
        long real = (long) lay.oh * lay.ow;
        long lanes = (long) Math.ceilDiv(lay.wide(), ConvGemm.NR) * ConvGemm.NR;
        return MR != ConvGemm.MR && real <= 256 && kdim >= 32 && real * 10 < lanes * 9;
    }

    /**
     * Y [n, G*mg, oh, ow] = epilogue(conv(X [n, C, ih, iw], packed W) + bias); {@code pw} packed with panels of
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
        int mg = pw.mg();
        int m = group * mg;
        int kdim = pw.kdim();
        int chanStride = lay.chanStride;
        int runs = Math.ceilDiv(lay.ow, TP);
        int tiles = lay.oh * runs;
        int blocks = Math.ceilDiv(kdim, KC);
        long plane = (long) lay.oh * lay.ow;
        int[] koff = lay.memo(PhaseLayout.key("small-koff", cg, taps), () -> {
            int[] o = new int[cg * taps];
            for (int ci = 0; ci < cg; ci++) {
                for (int t = 0; t < taps; t++) {
                    o[ci * taps + t] = ci * chanStride + lay.tapOff[t];
                }
            }
            return o;
        });
        float lo = ep.clamp() ? ep.lo() : Float.NEGATIVE_INFINITY;
        float hi = ep.clamp() ? ep.hi() : Float.POSITIVE_INFINITY;
        MemorySegment res = ep.residual();
        // Whole rows of tiles cover consecutive outputs: the store can run per channel over a task's range.
        boolean rowStore = lay.ow % TP == 0 && y.isNative() && (res == null || res.isNative());
        // Each thread fills the phase planes of a job (image, group) into its own buffer the first time one of its
        // tasks needs them in this call: one parallel region per convolution, no barrier between fill and GEMM.
        long call = CALLS.incrementAndGet();
        int jobFloats = Math.addExact(Math.multiplyExact(cg, chanStride), TP + VL);
        int jobs = n * group;
        int target = ctx.threads() <= 1 ? 1 : 4 * ctx.threads();
        int mSplit = Math.min(pw.panels(), Math.ceilDiv(target, jobs));
        int tSplit = Math.min(tiles, Math.ceilDiv(target, jobs * mSplit));
        int perJob = mSplit * tSplit;
        ctx.parallelFor(jobs * perJob, t -> {
            int job = t / perJob;
            int ms = t % perJob / tSplit;
            int ts = t % tSplit;
            int img = job / group;
            int grp = job % group;
            int q0 = pw.panels() * ms / mSplit;
            int q1 = pw.panels() * (ms + 1) / mSplit;
            int t0 = tiles * ts / tSplit;
            int t1 = tiles * (ts + 1) / tSplit;
            float[] buf = PhaseLayout.scratch(BUFFER, jobFloats);
            long[] filled = FILLED.get();
            if (filled[0] != call || filled[1] != job) {
                for (int ci = 0; ci < cg; ci++) {
                    lay.fillPlane(x, ((long) img * c + (long) grp * cg + ci) * lay.ih * lay.iw, buf, ci * chanStride, 0f);
                }
                filled[0] = call;
                filled[1] = job;
            }
            long yImg = (long) img * m;
            float[] acc = PhaseLayout.scratch(ACC, (t1 - t0) * TP * MR + VL * MR);
            for (int q = q0; q < q1; q++) {
                int panel = grp * pw.panels() + q;
                int rows = Math.min(MR, mg - q * MR);
                long ch0 = (long) grp * mg + q * MR;
                for (int kb = 0; kb < blocks; kb++) {
                    int k0 = kdim * kb / blocks;
                    int kc = kdim * (kb + 1) / blocks - k0;
                    int ao = (panel * kdim + k0) * MR;
                    for (int tile = t0; tile < t1; tile++) {
                        int oy = tile / runs;
                        int ox0 = tile % runs * TP;
                        int to = (tile - t0) * TP * MR;
                        if (kb == 0) {
                            initTile(pw.bias(), panel * MR, acc, to);
                        }
                        kernel(pw.a(), ao, buf, oy * lay.wq + ox0, koff, k0, kc, acc, to);
                        if (kb == blocks - 1 && !rowStore) {
                            store(acc, to, Math.min(TP, lay.ow - ox0), rows, y, (yImg + ch0) * plane + (long) oy * lay.ow + ox0,
                                    plane, res, lo, hi);
                        }
                    }
                }
                if (rowStore) {
                    storeRows(acc, (t1 - t0) * TP, rows, y, (yImg + ch0) * plane + (long) t0 * TP, plane, res, lo, hi);
                }
            }
        });
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
     * {@code y[at + r*plane + j] = clamp(acc[j*MR + r] + res[same], lo, hi)} for r &lt; rows, j &lt; count: a run of
     * consecutive outputs per channel, VL positions at a time gathered from the tiles (stride MR) and stored as one
     * vector. Y and the residual (native) are written and read through {@link SgemmKernel#ALL} at absolute
     * addresses, their bounds checked here once (see there why not through their own segments). {@code acc} holds
     * {@code VL * MR} floats of slack past the last position for the masked tail.
     */
    private static void storeRows(float[] acc, int count, int rows, MemorySegment y, long at, long plane, MemorySegment res,
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
                FloatVector v = FloatVector.fromArray(S, acc, j * MR + r, GATHER, 0);
                if (res != null) {
                    v = v.add(FloatVector.fromMemorySegment(S, all, rAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN));
                }
                v.max(vlo).min(vhi).intoMemorySegment(all, yAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN);
            }
            if (j < count) {
                VectorMask<Float> mask = S.indexInRange(j, count);
                FloatVector v = FloatVector.fromArray(S, acc, j * MR + r, GATHER, 0, mask);
                if (res != null) {
                    v = v.add(FloatVector.fromMemorySegment(S, all, rAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN, mask));
                }
                v.max(vlo).min(vhi).intoMemorySegment(all, yAddr + row + 4L * j, ByteOrder.LITTLE_ENDIAN, mask);
            }
        }
    }

    /**
     * {@code y[at + r*plane + j] = clamp(tile[to + j*MR + r] + res[same], lo, hi)} for r &lt; rows, j &lt; count
     * (no residual when {@code res} is null; the infinities as bounds when there is no clamp).
     */
    private static void store(float[] tile, int to, int count, int rows, MemorySegment y, long at, long plane, MemorySegment res,
                              float lo, float hi) {
        for (int r = 0; r < rows; r++) {
            long row = at + r * plane;
            for (int j = 0; j < count; j++) {
                float v = tile[to + j * MR + r];
                if (res != null) {
                    v += res.getAtIndex(dev.gatun.engine.tensor.Tensor.F32, row + j);
                }
                y.setAtIndex(dev.gatun.engine.tensor.Tensor.F32, row + j, Math.min(Math.max(v, lo), hi));
            }
        }
    }

    /**
     * The TP x MR micro-kernel over one K block:
     * {@code tile[to + j*MR + r] += sum_{k < kc} a[ao + k*MR + r] * b[bo + koff[k0 + k] + j]}, one fused multiply-add
     * chain per element in increasing k. Kept small and branch-free so that both JIT tiers compile it.
     */
    private static void kernel(float[] a, int ao, float[] b, int bo, int[] koff, int k0, int kc, float[] tile, int to) {
        FloatVector c00 = FloatVector.fromArray(S, tile, to);
        FloatVector c01 = FloatVector.fromArray(S, tile, to + VL);
        FloatVector c10 = FloatVector.fromArray(S, tile, to + MR);
        FloatVector c11 = FloatVector.fromArray(S, tile, to + MR + VL);
        FloatVector c20 = FloatVector.fromArray(S, tile, to + 2 * MR);
        FloatVector c21 = FloatVector.fromArray(S, tile, to + 2 * MR + VL);
        FloatVector c30 = FloatVector.fromArray(S, tile, to + 3 * MR);
        FloatVector c31 = FloatVector.fromArray(S, tile, to + 3 * MR + VL);
        FloatVector c40 = FloatVector.fromArray(S, tile, to + 4 * MR);
        FloatVector c41 = FloatVector.fromArray(S, tile, to + 4 * MR + VL);
        FloatVector c50 = FloatVector.fromArray(S, tile, to + 5 * MR);
        FloatVector c51 = FloatVector.fromArray(S, tile, to + 5 * MR + VL);
        FloatVector c60 = FloatVector.fromArray(S, tile, to + 6 * MR);
        FloatVector c61 = FloatVector.fromArray(S, tile, to + 6 * MR + VL);
        for (int k = 0; k < kc; k++) {
            int ak = ao + k * MR;
            int bk = bo + koff[k0 + k];
            FloatVector w0 = FloatVector.fromArray(S, a, ak);
            FloatVector w1 = FloatVector.fromArray(S, a, ak + VL);
            FloatVector xv;
            xv = FloatVector.broadcast(S, b[bk]);
            c00 = w0.fma(xv, c00);
            c01 = w1.fma(xv, c01);
            xv = FloatVector.broadcast(S, b[bk + 1]);
            c10 = w0.fma(xv, c10);
            c11 = w1.fma(xv, c11);
            xv = FloatVector.broadcast(S, b[bk + 2]);
            c20 = w0.fma(xv, c20);
            c21 = w1.fma(xv, c21);
            xv = FloatVector.broadcast(S, b[bk + 3]);
            c30 = w0.fma(xv, c30);
            c31 = w1.fma(xv, c31);
            xv = FloatVector.broadcast(S, b[bk + 4]);
            c40 = w0.fma(xv, c40);
            c41 = w1.fma(xv, c41);
            xv = FloatVector.broadcast(S, b[bk + 5]);
            c50 = w0.fma(xv, c50);
            c51 = w1.fma(xv, c51);
            xv = FloatVector.broadcast(S, b[bk + 6]);
            c60 = w0.fma(xv, c60);
            c61 = w1.fma(xv, c61);
        }
        c00.intoArray(tile, to);
        c01.intoArray(tile, to + VL);
        c10.intoArray(tile, to + MR);
        c11.intoArray(tile, to + MR + VL);
        c20.intoArray(tile, to + 2 * MR);
        c21.intoArray(tile, to + 2 * MR + VL);
        c30.intoArray(tile, to + 3 * MR);
        c31.intoArray(tile, to + 3 * MR + VL);
        c40.intoArray(tile, to + 4 * MR);
        c41.intoArray(tile, to + 4 * MR + VL);
        c50.intoArray(tile, to + 5 * MR);
        c51.intoArray(tile, to + 5 * MR + VL);
        c60.intoArray(tile, to + 6 * MR);
        c61.intoArray(tile, to + 6 * MR + VL);
    }
}
