package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Float32 group-1 2-D convolution in the blocked layout {@link Nchwc} (16 channels a block), with output channels along
 * the vectors: {@code Y[n, m, oy, ox] = ep(B[m] + sum_{kh, kw, c} W[m, c, kh, kw] * X[n, c, oy*sh - padTop + kh*dh,
 * ox*sw - padLeft + kw*dw])}, input outside the image skipped.
 *
 * <ul>
 *   <li>Input: blocked {@code [N, CB, H, W, 16]} (term (kh, kw, c) of a position at float offset
 *       {@code (c/16)*H*W*16 + (kh*dh*W + kw*dw)*16 + c%16} from its origin), or plain {@code [N, C, H, W]}
 *       ({@code c*H*W + kh*dh*W + kw*dw}); only the C real channels are read, never X's pad lanes.</li>
 *   <li>Weights ({@link #pack}): panels of 32 output channels (two output blocks),
 *       {@code [panel][k = (kh*KW + kw)*C + c][32]}, zeros past M; the bias {@code [panels*32]}, zeros past M (pad output
 *       lanes compute 0 and store the epilogue of 0 plus the residual's pad lane).</li>
 *   <li>Tiles ({@link NchwcConvKernels}, VL = 16): 14 output positions x 32 channels, 28 accumulators over a whole range
 *       of terms, one broadcast of X per position and term, then stored into Y's blocks with the epilogue (no
 *       transposes). A 1x1 stride-1 unpadded convolution runs its plane as one line of positions (consecutive
 *       positions 64 bytes apart in blocked X); otherwise tiles run along an output row's interior (every kw tap inside
 *       the image; the kh taps outside the image are a contiguous range of terms, left out), and the border positions
 *       run one at a time ({@link NchwcConvKernels#point}), or four rows at a time down a column
 *       ({@link NchwcConvKernels#point4}). Lines shorter than 14 run tiles of 7 or 4 (shorter than 4: position by
 *       position). A line's last 7 to 11 positions run a tile of 7, then of 4; a line's last tile starts a tile's
 *       width before its end when fewer positions are left (recomputing some positions, stored once).
 *       The last panel of an odd block count runs 16-channel tiles.</li>
 *   <li>Chains: every output is its bias plus one fused multiply-add per term inside the image, in increasing k, in
 *       every kernel and in {@link #convScalar}: equal bit for bit, whatever the thread count or split. The epilogue
 *       is {@link ConvEpilogue#apply}'s: the residual added, then {@link ConvEpilogue#clamp(float, float, float)} as
 *       a compare and a blend each way (the vector max / min, with Math's semantics, cost 16->96@112 8% more time).</li>
 *   <li>Tasks: (panel range, range of units over the images), units being rows, or runs of 14 positions of a line:
 *       a panel a task (equal tasks), the units split too when there are fewer panels than twice the threads, the
 *       task count a multiple of the threads; many panels over a large input run a few panels a task. Each task runs spans of units (input about {@link #SPAN_FLOATS} floats), all its panels
 *       over one span before the next.</li>
 * </ul>
 * Vectors of other than 16 floats, heap segments and offsets past the int range run {@link #convScalar}.
 */
public final class NchwcConv {
    private static final boolean VECTOR = FloatVector.SPECIES_PREFERRED.length() == Nchwc.BLOCK;
    private static final int BLOCK = Nchwc.BLOCK;
    /** Output channels a weight panel: two blocks. */
    static final int MR = 2 * BLOCK;
    private static final int TP = NchwcConvKernels.TP;
    /** Shortest line that runs in tiles (of 4); shorter ones run position by position. */
    private static final int MIN_LINE = 4;
    /** Input floats a span of positions reads per panel (the span stays in L2 while a task's panels run over it). */
    static final int SPAN_FLOATS = 1 << 16;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private NchwcConv() {}

    /**
     * Weights repacked for the kernel and the bias: {@code weights} [ceil(m/32)][c*kh*kw][32] with term
     * k = (kh*KW + kw)*C + c, {@code bias} [ceil(m/32)*32]; both zero past m. The weights are a heap array: C2 hoists
     * the bounds check of a vector load from an array at an index affine in the loop's counter, while every load
     * through a memory segment kept a ~20-instruction check in the term loop (see {@link NchwcConvKernels}).
     */
    public record Packed(float[] weights, MemorySegment bias, int m, int c, int kh, int kw) {
        int panels() {
            return Math.ceilDiv(m, MR);
        }

        int kdim() {
            return c * kh * kw;
        }
    }

    /** Packs ONNX weights w [M, C, KH, KW] and bias [M] (or null), allocating the bias in arena. */
    public static Packed pack(Arena arena, MemorySegment w, MemorySegment bias, int m, int c, int kh, int kw) {
        int kdim = Math.multiplyExact(Math.multiplyExact(c, kh), kw);
        int panels = Math.ceilDiv(m, MR);
        float[] pw = new float[Math.multiplyExact(Math.multiplyExact(panels, kdim), MR)];
        MemorySegment pb = arena.allocate((long) panels * MR * 4, 64);
        pb.fill((byte) 0);
        for (int mo = 0; mo < m; mo++) {
            int at = mo / MR * kdim * MR + mo % MR;
            for (int ci = 0; ci < c; ci++) {
                for (int ky = 0; ky < kh; ky++) {
                    for (int kx = 0; kx < kw; kx++) {
                        int k = (ky * kw + kx) * c + ci;
                        pw[at + k * MR] = w.getAtIndex(F, (((long) mo * c + ci) * kh + ky) * kw + kx);
                    }
                }
            }
            if (bias != null) {
                pb.setAtIndex(F, mo, bias.getAtIndex(F, mo));
            }
        }
        return new Packed(pw, pb, m, c, kh, kw);
    }

    /**
     * y (blocked [N, MB, OH, OW, 16]) = ep(conv(x)), every lane written; x blocked [N, CB, H, W, 16], or plain
     * [N, C, H, W] when {@code nchwInput}. {@code g.group()} must be 1; the residual, if any, is blocked like y.
     */
    public static void conv(KernelContext ctx, Packed p, Nchwc.Geometry g, boolean nchwInput, MemorySegment x,
                            MemorySegment y, ConvEpilogue ep) {
        check(p, g);
        MemorySegment res = ep.residual();
        long xFloats = nchwInput ? (long) g.n() * g.c() * g.h() * g.w() : g.inputFloats();
        boolean fits = VECTOR && x.isNative() && y.isNative() && (res == null || res.isNative()) && p.bias().isNative() && farthestOffset(g, nchwInput) <= Integer.MAX_VALUE;
        if (!fits) {
            convScalar(p, g, nchwInput, x, y, ep);
            return;
        }
        if (g.n() == 0 || g.oh() == 0 || g.ow() == 0) {
            return;
        }
        long yBytes = g.outputFloats() * 4;
        long xa = SgemmKernel.address(x, 0, xFloats * 4, "NchwcConv input");
        long ya = SgemmKernel.address(y, 0, yBytes, "NchwcConv output");
        long ra = res == null ? 0 : SgemmKernel.address(res, 0, yBytes, "NchwcConv residual");
        long ba = SgemmKernel.address(p.bias(), 0, (long) p.panels() * MR * 4, "NchwcConv bias");
        Tasks tasks = TASKS.get();
        tasks.set(ctx.threads(), p, g, nchwInput, xa, ya, ra, ba, ep);
        try {
            ctx.parallelFor(tasks.mSplit * tasks.pSplit, tasks);
        } finally {
            tasks.clear();
        }
    }

    private static void check(Packed p, Nchwc.Geometry g) {
        if (g.group() != 1 || p.m() != g.m() || p.c() != g.c() || p.kh() != g.kh() || p.kw() != g.kw()) {
            throw new IllegalArgumentException("NchwcConv: weights " + p.m() + "x" + p.c() + "x" + p.kh() + "x" + p.kw()
                    + " do not fit " + g);
        }
    }

    /** The float offset of term k from a position's origin (see the class comment). */
    private static long termOffset(Nchwc.Geometry g, boolean nchwInput, int k) {
        int c = k % g.c();
        int tap = k / g.c();
        long plane = (long) g.h() * g.w();
        long spatial = (long) tap / g.kw() * g.dilationH() * g.w() + (long) (tap % g.kw()) * g.dilationW();
        return nchwInput ? c * plane + spatial : (c / BLOCK * plane + spatial) * BLOCK + c % BLOCK;
    }

    private static long farthestOffset(Nchwc.Geometry g, boolean nchwInput) {
        return g.c() == 0 ? 0 : termOffset(g, nchwInput, g.c() * g.kh() * g.kw() - 1);
    }

    /** The first kh (or kw) whose input index {@code o*s - pad + k*d} is at least 0, at most {@code kernel}. */
    private static int firstTap(int o, int s, int pad, int d, int kernel) {
        return Math.clamp(Math.ceilDiv(pad - (long) o * s, d), 0, kernel);
    }

    /** One past the last kh (or kw) whose input index is below {@code size}, at least {@code first}. */
    private static int endTap(int o, int s, int pad, int d, int kernel, int size, int first) {
        return (int) Math.clamp(Math.floorDiv(size - 1 - (long) o * s + pad, d) + 1, first, kernel);
    }

    /**
     * The scalar twin of {@link #conv}: the same chain per output (bias, then one fused multiply-add per term inside
     * the image in increasing k, through the packed weights) and the same epilogue, so bit-equal; every lane of y
     * written.
     */
    static void convScalar(Packed p, Nchwc.Geometry g, boolean nchwInput, MemorySegment x, MemorySegment y,
                           ConvEpilogue ep) {
        check(p, g);
        int c = g.c();
        int cb = Nchwc.blocks(c);
        int mb = Nchwc.blocks(g.m());
        int kdim = p.kdim();
        MemorySegment res = ep.residual();
        for (int n = 0; n < g.n(); n++) {
            for (int mo = 0; mo < mb * BLOCK; mo++) {
                int wq = mo / MR * kdim * MR + mo % MR;
                for (int oy = 0; oy < g.oh(); oy++) {
                    int ky0 = firstTap(oy, g.strideH(), g.padTop(), g.dilationH(), g.kh());
                    int ky1 = endTap(oy, g.strideH(), g.padTop(), g.dilationH(), g.kh(), g.h(), ky0);
                    for (int ox = 0; ox < g.ow(); ox++) {
                        int kx0 = firstTap(ox, g.strideW(), g.padLeft(), g.dilationW(), g.kw());
                        int kx1 = endTap(ox, g.strideW(), g.padLeft(), g.dilationW(), g.kw(), g.w(), kx0);
                        float s = p.bias().getAtIndex(F, mo);
                        for (int ky = ky0; ky < ky1; ky++) {
                            int iy = oy * g.strideH() - g.padTop() + ky * g.dilationH();
                            for (int kx = kx0; kx < kx1; kx++) {
                                int ix = ox * g.strideW() - g.padLeft() + kx * g.dilationW();
                                for (int ci = 0; ci < c; ci++) {
                                    long xi = nchwInput ? (((long) n * c + ci) * g.h() + iy) * g.w() + ix
                                            : Nchwc.index(n, ci, iy, ix, cb, g.h(), g.w());
                                    int k = (ky * g.kw() + kx) * c + ci;
                                    s = Math.fma(x.getAtIndex(F, xi), p.weights()[wq + k * MR], s);
                                }
                            }
                        }
                        long yi = Nchwc.index(n, mo, oy, ox, mb, g.oh(), g.ow());
                        y.setAtIndex(F, yi, ep.apply(s, res == null ? 0f : res.getAtIndex(F, yi)));
                    }
                }
            }
        }
    }

    /** Per thread: one tile's accumulators, [14][32]. */
    private static final ThreadLocal<float[]> TILE = ThreadLocal.withInitial(() -> new float[TP * MR]);
    private static final ThreadLocal<Tasks> TASKS = ThreadLocal.withInitial(Tasks::new);

    /**
     * The calling thread's reused task region (so a warm call allocates nothing): task t is (panel range, unit range);
     * units are output rows, or for a linear plane (1x1, stride 1, no pads) runs of 14 positions.
     */
    private static final class Tasks implements java.util.function.IntConsumer {
        private int[] koff = new int[0];
        private Nchwc.Geometry g;
        private boolean nchwInput, linear, residual;
        private float[] wh;
        private long xa, ya, ra, ba, xImg, pstep;
        private int mSplit, pSplit, panels, mb, kdim, unit, unitsPerImage, spanUnits, ex, oxLo, oxHi;
        private float lo, hi;
        /** Keeps {@link #touchRows}'s and {@link #touchWeights}'s loads alive. */
        private long touched;

        void set(int threads, Packed p, Nchwc.Geometry g, boolean nchwInput, long xa, long ya, long ra, long ba,
                 ConvEpilogue ep) {
            this.g = g;
            this.nchwInput = nchwInput;
            this.xa = xa;
            this.ya = ya;
            this.ra = ra;
            this.wh = p.weights();
            this.ba = ba;
            kdim = p.kdim();
            if (koff.length < kdim) {
                koff = new int[kdim];
            }
            for (int k = 0; k < kdim; k++) {
                koff[k] = (int) termOffset(g, nchwInput, k);
            }
            panels = p.panels();
            mb = Nchwc.blocks(g.m());
            ex = nchwInput ? 1 : BLOCK;
            xImg = nchwInput ? (long) g.c() * g.h() * g.w() : (long) Nchwc.blocks(g.c()) * g.h() * g.w() * BLOCK;
            linear = g.kh() == 1 && g.kw() == 1 && g.strideH() == 1 && g.strideW() == 1 && g.padTop() == 0
                    && g.padLeft() == 0 && g.oh() == g.h() && g.ow() == g.w();
            int plane = g.oh() * g.ow();
            unit = linear ? TP : g.ow();
            unitsPerImage = Math.ceilDiv(plane, unit);
            pstep = 4L * ex * (linear ? 1 : g.strideW());
            oxLo = Math.clamp(Math.ceilDiv(g.padLeft(), g.strideW()), 0, g.ow());
            oxHi = (int) Math.clamp(Math.floorDiv(g.w() - 1L + g.padLeft() - (long) (g.kw() - 1) * g.dilationW(),
                    g.strideW()) + 1, oxLo, g.ow());
            long posFloats = (long) (nchwInput ? g.c() : Nchwc.blocks(g.c()) * BLOCK) * g.strideH() * g.strideW();
            spanUnits = (int) Math.max(1, SPAN_FLOATS / Math.max(1, posFloats * unit));
            residual = ra != 0;
            lo = ep.clamp() ? ep.lo() : Float.NEGATIVE_INFINITY;
            hi = ep.clamp() ? ep.hi() : Float.POSITIVE_INFINITY;
            int target = threads <= 1 ? 1 : 4 * threads;
            long units = (long) g.n() * unitsPerImage;
            if (panels > 2 * target && xImg > SPAN_FLOATS) {
                // Many panels over a large input: a few panels a task, so that a task's panels share each span of X.
                mSplit = target;
                pSplit = 1;
            } else {
                // A task a panel (tasks of equal work; each panel's weights read by one thread); with fewer panels than
                // 2 x threads, the units split too; the task count a multiple of the threads. 96->576@14 (18 panels in 8
                // tasks of 2 or 3 before) on two threads 57.0 -> 52.2 us, 160->960@7 (30 panels) 37.5 -> 36.0.
                mSplit = panels;
                int ps = panels >= 2 * threads ? 1 : Math.ceilDiv(target, panels);
                while ((long) panels * ps % threads != 0 && ps < units) {
                    ps++;
                }
                pSplit = (int) Math.min(units, ps);
            }
        }

        void clear() {
            g = null;
            wh = null;
        }

        @Override
        public void accept(int t) {
            int ms = t / pSplit;
            int ps = t % pSplit;
            int q0 = panels * ms / mSplit;
            int q1 = panels * (ms + 1) / mSplit;
            long units = (long) g.n() * unitsPerImage;
            long ua = units * ps / pSplit;
            long ub = units * (ps + 1) / pSplit;
            int plane = g.oh() * g.ow();
            for (long u = ua; u < ub; ) {
                int img = (int) (u / unitsPerImage);
                int u0 = (int) (u % unitsPerImage);
                int u1 = (int) Math.min(unitsPerImage, Math.min(u0 + spanUnits, u0 + (ub - u)));
                int p0 = u0 * unit;
                int p1 = Math.min(plane, u1 * unit);
                if (nchwInput) {
                    touchRows(img, p0 / g.ow(), (p1 - 1) / g.ow() + 1);
                }
                for (int q = q0; q < q1; q++) {
                    if (linear && pSplit == 1 && u == ua) {
                        touchWeights(q);
                    }
                    panel(img, q, p0, p1);
                }
                u += u1 - u0;
            }
        }

        /**
         * Reads 4 bytes per 64-byte line of the plain input rows that output rows [oy0, oy1) of image img read, every
         * channel, in order, before the tiles do: a tile row reads short runs of 3 x KH input rows, which the hardware
         * prefetchers do not follow, so memory-cold input stalled on each (MobileNetV2's stem after a 64 MB flush,
         * one thread, thread CPU time: 390-415 -> 230-241 us; hot input unchanged, 141-145 -> 136-142). Each task
         * reads its own rows, so on two threads both read (NchwcConvOp's own pass over the whole input, on the calling
         * thread before the parallel region, then only duplicates this one).
         */
        private void touchRows(int img, int oy0, int oy1) {
            int iy0 = Math.max(0, oy0 * g.strideH() - g.padTop());
            int iy1 = Math.min(g.h(), (oy1 - 1) * g.strideH() - g.padTop() + (g.kh() - 1) * g.dilationH() + 1);
            if (iy0 >= iy1) {
                return;
            }
            MemorySegment all = SgemmKernel.ALL;
            long plane = (long) g.h() * g.w();
            long s = 0;
            for (int c = 0; c < g.c(); c++) {
                long from = xa + 4L * (img * xImg + c * plane + (long) iy0 * g.w());
                long to = xa + 4L * (img * xImg + c * plane + (long) iy1 * g.w()) - 4;
                for (long a = from; a < to; a += 64) {
                    s += all.get(ValueLayout.JAVA_INT_UNALIGNED, a);
                }
            }
            touched = s;
        }

        /**
         * Reads 4 bytes per 64-byte line of panel q's weights, in order, before a task's first tiles over it: in the
         * model a layer's weights come from memory (the ~14 MB of MobileNetV2's do not stay in the caches between
         * runs), and the first tile's stream of 128 bytes per term, a page at a time, ran at latency (~10 GB/s); a
         * pass of independent loads brings the panel in at bandwidth. In the model at one thread (per-node profile,
         * two pairs): 160->960@7 101-104 -> 83-84 us, 960->320@7 188 -> 154, 320->1280@7 264 -> 214; in isolation
         * with the weights in L3 it costs 4-7% (one thread, 960->320@7 125 -> 135). Only where a task has its
         * panels' whole plane (no unit split): 960->160@7 on two threads (two tasks a panel) read each panel twice,
         * 43-45 -> 48-65 us in the model; at two threads the other layers were within the noise (load 2).
         */
        private void touchWeights(int q) {
            float[] w = wh;
            int t = 0;
            for (int i = q * kdim * MR, e = i + kdim * MR; i < e; i += BLOCK) {
                t ^= Float.floatToRawIntBits(w[i]);
            }
            touched += t;
        }

        /** Outputs [p0, p1) of image img's plane, panel q. */
        private void panel(int img, int q, int p0, int p1) {
            boolean two = 2 * q + 1 < mb;
            int w = q * kdim * MR;
            long b = ba + 4L * q * MR;
            long plane = (long) g.oh() * g.ow();
            long yOff = 4L * ((long) img * mb + 2 * q) * plane * BLOCK;
            long y = ya + yOff;
            long r = residual ? ra + yOff : y;
            long ys = plane * BLOCK * 4;
            long x = xa + 4L * img * xImg;
            int c = g.c();
            if (linear) {
                if (plane >= MIN_LINE) {
                    tiles(two, w, b, x, y, r, ys, 0, (int) plane, p0, p1, 0, kdim);
                } else {
                    for (int pos = p0; pos < p1; pos++) {
                        NchwcConvKernels.point(wh, w, x + pstep * pos, koff, c, 1, 0, 1, 0, 1, b, y + 64L * pos, ys,
                                r + 64L * pos, two, residual, lo, hi);
                    }
                }
                return;
            }
            int ow = g.ow();
            int last = (p1 - 1) / ow;
            int covered = -1;
            for (int oy = p0 / ow; oy <= last; oy++) {
                int c0 = Math.max(0, p0 - oy * ow);
                int c1 = Math.min(ow, p1 - oy * ow);
                int ky0 = firstTap(oy, g.strideH(), g.padTop(), g.dilationH(), g.kh());
                int ky1 = endTap(oy, g.strideH(), g.padTop(), g.dilationH(), g.kh(), g.h(), ky0);
                long xRow = x + 4L * ex * ((long) (oy * g.strideH() - g.padTop()) * g.w() - g.padLeft());
                long yRow = y + 64L * oy * ow;
                long rRow = r + 64L * oy * ow;
                int in0 = c1;
                int in1 = c1;
                if (oxHi - oxLo >= MIN_LINE) {
                    in0 = Math.clamp(oxLo, c0, c1);
                    in1 = Math.clamp(oxHi, in0, c1);
                    if (in0 < in1) {
                        tiles(two, w, b, xRow, yRow, rRow, ys, oxLo, oxHi, in0, in1, ky0 * g.kw() * c, ky1 * g.kw() * c);
                    }
                }
                if (oy <= covered) {
                    continue;
                }
                // Four whole rows with the same kh taps: their other positions run four at a time, down the columns.
                boolean four = c0 == 0 && p1 >= (oy + 4) * ow
                        && firstTap(oy + 3, g.strideH(), g.padTop(), g.dilationH(), g.kh()) == ky0
                        && endTap(oy + 3, g.strideH(), g.padTop(), g.dilationH(), g.kh(), g.h(), ky0) == ky1;
                if (four) {
                    covered = oy + 3;
                }
                for (int ox = c0; ox < c1; ox++) {
                    if (ox == in0) {
                        ox = in1;
                        if (ox >= c1) {
                            break;
                        }
                    }
                    int kx0 = firstTap(ox, g.strideW(), g.padLeft(), g.dilationW(), g.kw());
                    int kx1 = endTap(ox, g.strideW(), g.padLeft(), g.dilationW(), g.kw(), g.w(), kx0);
                    long ra = rRow + 64L * ox;
                    if (four) {
                        NchwcConvKernels.point4(wh, w, xRow + pstep * ox, 4L * ex * g.strideH() * g.w(), koff, c, g.kw(), ky0,
                                ky1, kx0, kx1, b, yRow + 64L * ox, 64L * ow, ys, ra, two, residual, lo, hi);
                    } else {
                        NchwcConvKernels.point(wh, w, xRow + pstep * ox, koff, c, g.kw(), ky0, ky1, kx0, kx1, b, yRow + 64L * ox,
                                ys, ra, two, residual, lo, hi);
                    }
                }
            }
        }

        /**
         * Tiles over the positions [s0, s1) of a line whose positions [l0, l1) (at least 4) may all be computed:
         * position j's origin at {@code x + j*pstep}, its output at {@code y + 64j}; terms [k0, k1). Tiles are 14 wide, or
         * 7 or 4 on lines shorter than 14 or 7. Fewer than 12 positions left before l1 run a 7-wide tile (7 to 11 left)
         * and 4-wide ones (the last may start before j): a 7x7 plane, one line of 49, runs 14 + 14 + 14 + 7 instead of
         * four 14-wide tiles (the 7x7 1x1 layers of MobileNetV2 10-11% less CPU time at one thread).
         */
        private void tiles(boolean two, int w, long b, long x, long y, long r, long ys, int l0, int l1, int s0, int s1,
                           int k0, int k1) {
            float[] acc = TILE.get();
            int len = l1 - l0;
            int full = len >= TP ? TP : len >= 7 ? 7 : 4;
            for (int j = s0; j < s1; ) {
                int rest = l1 - j;
                int width = full;
                if (rest < full && rest < 12) {
                    width = rest >= 7 && full > 7 ? 7 : 4;
                }
                int start = Math.max(l0, Math.min(j, l1 - width));
                int to = Math.min(s1, start + width) - start;
                long xo = x + pstep * start;
                switch (width + (two ? 100 : 0)) {
                    case 114 -> {
                        if (pstep == BLOCK * 4) {
                            NchwcConvAdjacent.tile2(wh, w, xo, koff, k0, k1, b, acc);
                        } else {
                            NchwcConvKernels.tile2(wh, w, xo, pstep, koff, k0, k1, b, acc);
                        }
                    }
                    case 14 -> {
                        if (pstep == BLOCK * 4) {
                            NchwcConvAdjacent.tile1(wh, w, xo, koff, k0, k1, b, acc);
                        } else {
                            NchwcConvKernels.tile1(wh, w, xo, pstep, koff, k0, k1, b, acc);
                        }
                    }
                    case 107 -> NchwcConvKernels.tile2x7(wh, w, xo, pstep, koff, k0, k1, b, acc);
                    case 7 -> NchwcConvKernels.tile1x7(wh, w, xo, pstep, koff, k0, k1, b, acc);
                    case 104 -> NchwcConvKernels.tile2x4(wh, w, xo, pstep, koff, k0, k1, b, acc);
                    default -> NchwcConvKernels.tile1x4(wh, w, xo, pstep, koff, k0, k1, b, acc);
                }
                NchwcConvKernels.store(acc, j - start, to, two, y + 64L * start, ys, r + 64L * start, residual, lo, hi);
                j = start + to;
            }
        }
    }
}
