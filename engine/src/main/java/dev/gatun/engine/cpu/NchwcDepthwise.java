package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 depthwise 2-D convolution in the blocked layout NCHWc ({@link Nchwc}: 16 channels a block, one channel a
 * vector lane): {@code Y[n, c, oy, ox] = ep(B[c] + sum_{ky,kx} X[n, c, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw] *
 * W[c, 0, ky, kx])}, input outside the plane contributing nothing.
 *
 * <p>Layout: X [N, CB, H, W, 16], Y and the residual [N, CB, OH, OW, 16]; the packed weights {@code [CB][KH*KW][16]}
 * and bias {@code [CB][16]} hold zeros in the pad lanes, so a pad lane of Y is {@code ep(0 + residual pad lane)}
 * (finite when X's pad lanes are, as the layout guarantees). One output position of a block is one vector: it starts
 * from the bias vector and takes one fused multiply-add per tap, in the order ky, then kx, a tap outside the plane
 * reading zeros (the padded input of ONNX's definition; it changes the sum at most by the sign of a zero, against
 * {@link Nchwc#reference} which skips those taps), then the {@link ConvEpilogue} (add the residual, clamp) and one
 * store. 3x3 kernels with dilation 1 sum each kernel row apart (row 0 from the bias, rows 1 and 2 from their first
 * product, then {@code (row0 + row1) + row2}): three FMA chains of three, not one of nine (960@7, mostly border
 * positions: 26 -> 18 us a call). The clamp is a compare and a blend per bound ({@code v < lo ? lo : hi < v ? hi :
 * v}: NaN stays NaN; a -0 stays -0 where {@link ConvEpilogue#apply}'s Math.max gives +0): the Vector API's
 * {@code max} / {@code min} keep Java's NaN and signed-zero rules with six instructions each on AVX-512, 12 of the
 * ~60 vector instructions per output pair in the stride-1 loop; the blends took 32@112 from 75 to 56 us a call and
 * 144@56 from 90 to 67. The upper bound's mask is {@code v.compare(GT, hi)}: written {@code hi.lt(v)} (the
 * loop-invariant vector the receiver), C2 left one 80-byte array a call allocated in {@link #interior3x3} (JVMs that
 * ran only a 56- or 112-wide stride-2 layer). {@link #convScalar} sums in the same order per lane with {@link Math#fma} and clamps the
 * same way: the two agree bit for bit.
 *
 * <p>Loops: positions whose every tap is inside the plane (the interior rectangle {@code [oyLo, oyHi) x [oxLo,
 * oxHi)}, from the pads, strides and kernel extent) run, for 3x3 kernels with dilation 1, with nine weight vectors
 * and the bias hoisted into registers, two output positions a step, no branches:
 * <ul>
 *   <li>stride 1, output the input's size, pads 1, planes 7 wide or more: the interior rows as one flat span
 *       ({@link #spanS1}: position q = oy*W + ox, taps at q - W - 1 + ky*W + kx; the pair shares its input
 *       columns, 12 loads for 18 FMAs), the two edge columns, which that formula gets wrong, computed again
 *       after ({@link #edgeColumns}), and the top and bottom rows through {@link #edgeRow} (the kernel row
 *       outside folded into a constant): only the four corners take {@link #border3x3}, A/B 0.80x (384@14) to
 *       0.95x (32@112) against all edges through it;</li>
 *   <li>other stride 1 with interior rows of 24 positions or more: {@link #spanS1} a row at a time;</li>
 *   <li>the rest (stride 2, narrow rows): {@link #interior3x3}, nine loads a position; with stride 2 and pads 1
 *       the top row and the left column also through {@link #edgeRow} and {@link #edgeColumns} (A/B 0.91x on
 *       576@14 to 0.97x on 96@112).</li>
 * </ul>
 * The border rows and columns of those kernels run through {@link #border3x3} (the same nine taps, each tap's address
 * chosen per position: the input or a block of zeros), every position of other kernels through {@link #general} (a
 * row of sums in a heap array, one pass over it per tap, addresses chosen likewise). Vector memory access is at
 * absolute addresses through {@link SgemmKernel#ALL} (bounds checked once per call; see there why), X, Y, the
 * residual and the packed weights native; otherwise, or where the preferred species is not 16 floats, {@link #conv}
 * runs {@link #convScalar}. Y must not overlap X or the residual.
 *
 * <p>Threads: the units are (image, channel block, band of output rows); the bands are as many as make about
 * {@code 4 * threads} units. Each output is computed the same way whatever the split, so results do not depend on
 * the thread count.
 */
public final class NchwcDepthwise {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int B = Nchwc.BLOCK;
    /** Bytes of one position's block: 16 floats. */
    private static final long V = 4L * B;
    private static final boolean VECTOR = S.length() == B;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    /** Vector FMAs below which a call runs on the calling thread alone. */
    private static final long PARALLEL_MIN_FMAS = 1 << 13;
    /**
     * Interior row width from which stride 1 (where the flat span does not apply) runs {@link #spanS1} a row at a
     * time rather than {@link #interior3x3}: CPU time a call, A/B interleaved in one JVM, 0.83x on 32@112 and 0.89x
     * on 144@56, 1.0x on 192@28, but 1.18x on 384@14 and 1.26x on 960@7 (its loop costs more to enter: C2 checks
     * the bounds of all its addresses before the loop).
     */
    private static final int WIDE = 24;
    /**
     * Plane width from which a "same" stride-1 3x3 interior runs as one flat span ({@link #unit}): CPU time a call,
     * A/B interleaved in one JVM, against a span per row (wide rows) or {@link #interior3x3}: 32@112 0.93x, 144@56
     * 0.88x, 192@28 0.83x, 384@14 0.93x, 576@14 0.91x; 960@7 1.04x with max/min clamps, 0.97x with blends (its two
     * recomputed columns are 2 of 7).
     */
    private static final int FLAT_MIN = 7;
    private static final ThreadLocal<Tasks> REGION = ThreadLocal.withInitial(Tasks::new);
    /** The sums of one output row in {@link #general}. */
    private static final ThreadLocal<float[]> ROW = ThreadLocal.withInitial(() -> new float[0]);
    /** One position's block of zeros: what a tap outside the plane reads. */
    private static final MemorySegment ZERO = Arena.global().allocate(V, 64);

    private NchwcDepthwise() {}

    /** Weights [CB][KH*KW][16] and bias [CB][16] repacked (zeros in pad lanes); c channels, kernel kh x kw. */
    public record Packed(MemorySegment weights, MemorySegment bias, int c, int kh, int kw) {}

    /** Packs ONNX depthwise weights w [C, 1, KH, KW] and bias [C] (or null), allocating in arena. */
    public static Packed pack(Arena arena, MemorySegment w, MemorySegment bias, int c, int kh, int kw) {
        int cb = Nchwc.blocks(c);
        int taps = kh * kw;
        if (w.byteSize() < 4L * c * taps || bias != null && bias.byteSize() < 4L * c) {
            throw new IllegalArgumentException("NchwcDepthwise.pack: weights or bias smaller than C " + c + " x " + kh
                    + " x " + kw);
        }
        MemorySegment pw = arena.allocate(V * cb * taps, 64);
        MemorySegment pb = arena.allocate(V * cb, 64);
        pw.fill((byte) 0);
        pb.fill((byte) 0);
        for (int ch = 0; ch < c; ch++) {
            long lane = (long) ch / B * taps * B + ch % B;
            for (int t = 0; t < taps; t++) {
                pw.setAtIndex(F, lane + (long) t * B, w.getAtIndex(F, (long) ch * taps + t));
            }
            if (bias != null) {
                pb.setAtIndex(F, ch, bias.getAtIndex(F, ch));
            }
        }
        return new Packed(pw, pb, c, kh, kw);
    }

    /** y (blocked [N, CB, OH, OW, 16]) = ep(depthwise conv of blocked x), every lane written; g.depthwise(). */
    public static void conv(KernelContext ctx, Packed p, Nchwc.Geometry g, MemorySegment x, MemorySegment y,
                            ConvEpilogue ep) {
        check(p, g, x, y, ep);
        MemorySegment res = ep.residual();
        if (!VECTOR || !x.isNative() || !y.isNative() || res != null && !res.isNative() || !p.weights().isNative()
                || !p.bias().isNative()) {
            convScalar(p, g, x, y, ep);
            return;
        }
        int planes = g.n() * Nchwc.blocks(g.c());
        int threads = ctx.threads();
        long fmas = (long) planes * g.oh() * g.ow() * g.kh() * g.kw();
        int bands = 1;
        int units = planes;
        int tasks = 1;
        if (threads > 1 && fmas >= PARALLEL_MIN_FMAS && g.oh() > 0) {
            bands = Math.min(g.oh(), Math.max(1, (4 * threads + planes - 1) / planes));
            units = planes * bands;
            tasks = units <= 8 * threads ? units : 4 * threads;
        }
        Tasks region = REGION.get();
        region.set(p, g, x, y, ep, bands, units, tasks);
        try {
            ctx.parallelFor(tasks, region);
        } finally {
            region.set(null, null, null, null, null, 0, 0, 0);
        }
    }

    /** The scalar twin of conv (same per-output float summation order, so bit-equal in tests). */
    static void convScalar(Packed p, Nchwc.Geometry g, MemorySegment x, MemorySegment y, ConvEpilogue ep) {
        check(p, g, x, y, ep);
        int cb = Nchwc.blocks(g.c());
        boolean rows3x3 = rows3x3(g);
        MemorySegment res = ep.residual();
        for (int n = 0; n < g.n(); n++) {
            for (int blk = 0; blk < cb; blk++) {
                long xPlane = (long) (n * cb + blk) * g.h() * g.w() * B;
                long yPlane = (long) (n * cb + blk) * g.oh() * g.ow() * B;
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        for (int lane = 0; lane < B; lane++) {
                            float s = p.bias().getAtIndex(F, (long) blk * B + lane);
                            if (rows3x3) {
                                s = sum3x3(p, g, x, xPlane, blk, oy, ox, lane, s);
                            } else {
                                s = sumGeneral(p, g, x, xPlane, blk, oy, ox, lane, s);
                            }
                            long yi = yPlane + ((long) oy * g.ow() + ox) * B + lane;
                            if (res != null) {
                                s += res.getAtIndex(F, yi);
                            }
                            if (ep.clamp()) {
                                s = s < ep.lo() ? ep.lo() : ep.hi() < s ? ep.hi() : s;
                            }
                            y.setAtIndex(F, yi, s);
                        }
                    }
                }
            }
        }
    }

    /** One lane of an output of any kernel: one FMA chain from the bias, ky then kx; taps outside read 0. */
    private static float sumGeneral(Packed p, Nchwc.Geometry g, MemorySegment x, long xPlane, int blk, int oy, int ox,
                                    int lane, float s) {
        int taps = g.kh() * g.kw();
        for (int ky = 0; ky < g.kh(); ky++) {
            int iy = oy * g.strideH() - g.padTop() + ky * g.dilationH();
            for (int kx = 0; kx < g.kw(); kx++) {
                int ix = ox * g.strideW() - g.padLeft() + kx * g.dilationW();
                boolean inside = iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w();
                float xv = inside ? x.getAtIndex(F, xPlane + ((long) iy * g.w() + ix) * B + lane) : 0f;
                float wv = p.weights().getAtIndex(F, ((long) blk * taps + ky * g.kw() + kx) * B + lane);
                s = Math.fma(xv, wv, s);
            }
        }
        return s;
    }

    /** Whether conv runs the 3x3 dilation-1 loops, which sum each kernel row apart. */
    private static boolean rows3x3(Nchwc.Geometry g) {
        return g.kh() == 3 && g.kw() == 3 && g.dilationH() == 1 && g.dilationW() == 1;
    }

    /**
     * One lane of a 3x3 dilation-1 output in the vector loops' order: the bias and kernel row 0 in one FMA chain,
     * rows 1 and 2 each from a product, then {@code (row0 + row1) + row2}; taps outside the plane read 0.
     */
    private static float sum3x3(Packed p, Nchwc.Geometry g, MemorySegment x, long xPlane, int blk, int oy, int ox,
                                int lane, float bias) {
        float row0 = row3(p, g, x, xPlane, blk, oy, ox, lane, 0, bias);
        float row1 = row3(p, g, x, xPlane, blk, oy, ox, lane, 1, 0f);
        float row2 = row3(p, g, x, xPlane, blk, oy, ox, lane, 2, 0f);
        return row0 + row1 + row2;
    }

    /** Kernel row ky of {@link #sum3x3}: from {@code s} (the bias) for row 0, from the first product otherwise. */
    private static float row3(Packed p, Nchwc.Geometry g, MemorySegment x, long xPlane, int blk, int oy, int ox,
                              int lane, int ky, float s) {
        int iy = oy * g.strideH() - g.padTop() + ky;
        for (int kx = 0; kx < 3; kx++) {
            int ix = ox * g.strideW() - g.padLeft() + kx;
            boolean inside = iy >= 0 && iy < g.h() && ix >= 0 && ix < g.w();
            float xv = inside ? x.getAtIndex(F, xPlane + ((long) iy * g.w() + ix) * B + lane) : 0f;
            float wv = p.weights().getAtIndex(F, ((long) blk * 9 + ky * 3 + kx) * B + lane);
            s = ky > 0 && kx == 0 ? xv * wv : Math.fma(xv, wv, s);
        }
        return s;
    }

    /** Checks that the packing, the geometry and the segments agree, and their sizes. */
    private static void check(Packed p, Nchwc.Geometry g, MemorySegment x, MemorySegment y, ConvEpilogue ep) {
        if (!g.depthwise() || g.c() != p.c() || g.kh() != p.kh() || g.kw() != p.kw()) {
            throw new IllegalArgumentException("NchwcDepthwise: geometry " + g + " is not depthwise with C " + p.c()
                    + " and kernel " + p.kh() + "x" + p.kw());
        }
        if (g.strideH() < 1 || g.strideW() < 1 || g.dilationH() < 1 || g.dilationW() < 1) {
            throw new IllegalArgumentException("NchwcDepthwise: strides and dilations must be positive: " + g);
        }
        int cb = Nchwc.blocks(g.c());
        long out = g.outputFloats() * 4;
        MemorySegment res = ep.residual();
        if (x.byteSize() < g.inputFloats() * 4 || y.byteSize() < out || res != null && res.byteSize() < out
                || p.weights().byteSize() < V * cb * g.kh() * g.kw() || p.bias().byteSize() < V * cb) {
            throw new IndexOutOfBoundsException("NchwcDepthwise: X, Y, the residual or the packed weights smaller "
                    + "than geometry " + g + " needs");
        }
    }

    /**
     * The tasks of {@link #conv}: unit u is plane {@code u / bands} (image * CB + block) and its band
     * {@code u % bands} of output rows; task t runs units [units * t / tasks, units * (t + 1) / tasks). A reused
     * object (one per calling thread, fields set before the region and cleared after) instead of a capturing
     * lambda, so that a warm run allocates nothing.
     */
    private static final class Tasks implements IntConsumer {
        private Packed p;
        private Nchwc.Geometry g;
        private MemorySegment x, y;
        private ConvEpilogue ep;
        private int bands, units, tasks;

        void set(Packed p, Nchwc.Geometry g, MemorySegment x, MemorySegment y, ConvEpilogue ep, int bands, int units,
                 int tasks) {
            this.p = p;
            this.g = g;
            this.x = x;
            this.y = y;
            this.ep = ep;
            this.bands = bands;
            this.units = units;
            this.tasks = tasks;
        }

        @Override
        public void accept(int t) {
            int oh = g.oh();
            for (int u = (int) ((long) units * t / tasks), end = (int) ((long) units * (t + 1) / tasks); u < end; u++) {
                int plane = u / bands;
                int band = u % bands;
                unit(p, g, x, y, ep, plane, oh * band / bands, oh * (band + 1) / bands);
            }
        }
    }

    /** Output rows [oy0, oy1) of one plane (image * CB + block). */
    private static void unit(Packed p, Nchwc.Geometry g, MemorySegment x, MemorySegment y, ConvEpilogue ep, int plane,
                             int oy0, int oy1) {
        int cb = Nchwc.blocks(g.c());
        int blk = plane % cb;
        long xPlane = x.address() + V * plane * g.h() * g.w();
        long yOff = V * plane * g.oh() * g.ow();
        long yPlane = y.address() + yOff;
        MemorySegment res = ep.residual();
        long rPlane = res == null ? 0 : res.address() + yOff;
        long wAddr = p.weights().address() + V * blk * g.kh() * g.kw();
        long bAddr = p.bias().address() + V * blk;
        // The interior: output positions whose every tap lies inside the plane.
        int oyLo = Math.min(g.oh(), Math.max(0, ceilDiv(g.padTop(), g.strideH())));
        int oyHi = Math.max(oyLo, Math.min(g.oh(),
                Math.floorDiv(g.h() - 1 + g.padTop() - (g.kh() - 1) * g.dilationH(), g.strideH()) + 1));
        int oxLo = Math.min(g.ow(), Math.max(0, ceilDiv(g.padLeft(), g.strideW())));
        int oxHi = Math.max(oxLo, Math.min(g.ow(),
                Math.floorDiv(g.w() - 1 + g.padLeft() - (g.kw() - 1) * g.dilationW(), g.strideW()) + 1));
        if (!rows3x3(g)) {
            general(g, xPlane, yPlane, rPlane, wAddr, bAddr, oy0, oy1, 0, g.ow(), ep);
            return;
        }
        int in0 = Math.min(oy1, Math.max(oy0, oyLo));
        int in1 = Math.max(in0, Math.min(oy1, oyHi));
        int w = g.w();
        if (in0 < in1 && w >= FLAT_MIN && g.strideH() == 1 && g.strideW() == 1 && g.padTop() == 1 && g.padLeft() == 1
                && g.oh() == g.h() && g.ow() == w) {
            // "Same" stride 1: the interior rows numbered flat, q = oy*W + ox, input tap at q - W - 1 + ky*W + kx,
            // all inside the plane for q in [in0*W + 1, (in1 - 1)*W + W - 1). The positions of columns 0 and W - 1
            // in that range read a neighbouring row's column: computed wrong, then again by edgeColumns. The top
            // and bottom rows (when in this band) go through edgeRow, their corners through border3x3.
            int q0 = in0 * w + 1;
            int q1 = (in1 - 1) * w + w - 1;
            int qe = q0 + ((q1 - q0) & ~1);
            spanS1(xPlane - V * (w + 1), V * w, yPlane, rPlane, wAddr, bAddr, q0, qe, ep);
            if (qe < q1) {
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in1 - 1, in1, w - 2, w - 1, ep);
            }
            edgeColumns(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, true, ep);
            if (oy0 < in0) {
                edgeRow(g, xPlane, yPlane, rPlane, wAddr, bAddr, true, 1, w - 1, ep);
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, 0, 1, 0, 1, ep);
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, 0, 1, w - 1, w, ep);
            }
            if (in1 < oy1) {
                edgeRow(g, xPlane, yPlane, rPlane, wAddr, bAddr, false, 1, w - 1, ep);
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in1, oy1, 0, 1, ep);
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in1, oy1, w - 1, w, ep);
            }
            return;
        }
        // Stride 2, pads 1: the top row and the left column through edgeRow / edgeColumns, as in the flat case.
        boolean edges2 = g.strideH() == 2 && g.strideW() == 2 && g.padTop() == 1 && g.padLeft() == 1 && oxLo == 1
                && oxHi > 1 && g.h() >= 2;
        if (edges2 && oy0 < in0) {
            border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, 0, 1, 0, 1, ep);
            edgeRow(g, xPlane, yPlane, rPlane, wAddr, bAddr, true, 1, oxHi, ep);
            border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, 0, 1, oxHi, g.ow(), ep);
        } else {
            border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, oy0, in0, 0, g.ow(), ep);
        }
        if (in0 < in1) {
            if (edges2) {
                edgeColumns(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, false, ep);
            } else if (oxLo > 0) {
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, 0, oxLo, ep);
            }
            int pairs = oxLo + ((oxHi - oxLo) & ~1);
            if (g.strideW() == 1 && pairs - oxLo >= WIDE) {
                for (int oy = in0; oy < in1; oy++) {
                    long at = V * oy * g.ow();
                    spanS1(xPlane + V * ((long) (oy - g.padTop()) * w - g.padLeft()), V * w, yPlane + at,
                            rPlane == 0 ? 0 : rPlane + at, wAddr, bAddr, oxLo, pairs, ep);
                }
            } else {
                interior3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, oxLo, pairs, ep);
            }
            if (pairs < g.ow()) {
                border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, pairs, g.ow(), ep);
            }
        }
        border3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in1, oy1, 0, g.ow(), ep);
    }

    private static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }

    /**
     * Positions [oy0, oy1) x [ox0, ox1) of one plane, any kernel (addresses: X plane, Y plane, residual plane or 0,
     * the block's weights and bias), a row at a time through a per-thread heap row of sums: the bias, then one pass
     * over the row per tap (its weight vector loaded once; a tap outside the plane reads {@link #ZERO}), then the
     * epilogue and the stores. No vector lives across a loop iteration: a sum carried around a tap loop (in a
     * register) was boxed by C2 in some runs, up to 1 KB of heap per output vector.
     */
    private static void general(Nchwc.Geometry g, long xPlane, long yPlane, long rPlane, long wAddr, long bAddr,
                                int oy0, int oy1, int ox0, int ox1, ConvEpilogue ep) {
        int h = g.h(), w = g.w(), kw = g.kw(), ow = g.ow(), taps = g.kh() * kw;
        int sh = g.strideH(), sw = g.strideW(), dh = g.dilationH(), dw = g.dilationW();
        float[] acc = PhaseLayout.scratch(ROW, Math.max(0, ox1 - ox0) * B);
        long zero = ZERO.address();
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        for (int oy = oy0; oy < oy1; oy++) {
            for (int ox = ox0, i = 0; ox < ox1; ox++, i += B) {
                bias.intoArray(acc, i);
            }
            for (int t = 0; t < taps; t++) {
                int iy = oy * sh - g.padTop() + t / kw * dh;
                boolean rowInside = iy >= 0 && iy < h;
                long rowAt = xPlane + V * iy * w;
                int dx = t % kw * dw - g.padLeft();
                FloatVector wv = FloatVector.fromMemorySegment(S, ALL, wAddr + V * t, LE);
                for (int ox = ox0, i = 0; ox < ox1; ox++, i += B) {
                    int ix = ox * sw + dx;
                    long at = rowInside && ix >= 0 && ix < w ? rowAt + V * ix : zero;
                    FloatVector.fromMemorySegment(S, ALL, at, LE).fma(wv, FloatVector.fromArray(S, acc, i))
                            .intoArray(acc, i);
                }
            }
            long out = V * ((long) oy * ow + ox0);
            for (int ox = ox0, i = 0; ox < ox1; ox++, i += B, out += V) {
                FloatVector a = FloatVector.fromArray(S, acc, i);
                if (rPlane != 0) {
                    a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out, LE));
                }
                if (clamp) {
                    a = a.blend(lo, a.lt(lo));
                    a = a.blend(hi, a.compare(VectorOperators.GT, hi));
                }
                a.intoMemorySegment(ALL, yPlane + out, LE);
            }
        }
    }

    /**
     * Border positions [oy0, oy1) x [ox0, ox1) of one plane, 3x3 kernel, dilation 1: nine straight-line taps whose
     * addresses are picked per position, {@link #ZERO} for those outside the plane.
     */
    private static void border3x3(Nchwc.Geometry g, long xPlane, long yPlane, long rPlane, long wAddr, long bAddr,
                                  int oy0, int oy1, int ox0, int ox1, ConvEpilogue ep) {
        if (oy0 >= oy1 || ox0 >= ox1) {
            return;
        }
        FloatVector w0 = FloatVector.fromMemorySegment(S, ALL, wAddr, LE);
        FloatVector w1 = FloatVector.fromMemorySegment(S, ALL, wAddr + V, LE);
        FloatVector w2 = FloatVector.fromMemorySegment(S, ALL, wAddr + 2 * V, LE);
        FloatVector w3 = FloatVector.fromMemorySegment(S, ALL, wAddr + 3 * V, LE);
        FloatVector w4 = FloatVector.fromMemorySegment(S, ALL, wAddr + 4 * V, LE);
        FloatVector w5 = FloatVector.fromMemorySegment(S, ALL, wAddr + 5 * V, LE);
        FloatVector w6 = FloatVector.fromMemorySegment(S, ALL, wAddr + 6 * V, LE);
        FloatVector w7 = FloatVector.fromMemorySegment(S, ALL, wAddr + 7 * V, LE);
        FloatVector w8 = FloatVector.fromMemorySegment(S, ALL, wAddr + 8 * V, LE);
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        int h = g.h(), w = g.w(), ow = g.ow();
        long zero = ZERO.address();
        for (int oy = oy0; oy < oy1; oy++) {
            int iy = oy * g.strideH() - g.padTop();
            boolean y0 = iy >= 0 && iy < h, y1 = iy + 1 >= 0 && iy + 1 < h, y2 = iy + 2 >= 0 && iy + 2 < h;
            long row0 = xPlane + V * iy * w, row1 = row0 + V * w, row2 = row1 + V * w;
            for (int ox = ox0; ox < ox1; ox++) {
                int ix = ox * g.strideW() - g.padLeft();
                boolean x0 = ix >= 0 && ix < w, x1 = ix + 1 >= 0 && ix + 1 < w, x2 = ix + 2 >= 0 && ix + 2 < w;
                long c = V * ix;
                long a0 = y0 && x0 ? row0 + c : zero, a1 = y0 && x1 ? row0 + c + V : zero;
                long a2 = y0 && x2 ? row0 + c + 2 * V : zero, a3 = y1 && x0 ? row1 + c : zero;
                long a4 = y1 && x1 ? row1 + c + V : zero, a5 = y1 && x2 ? row1 + c + 2 * V : zero;
                long a6 = y2 && x0 ? row2 + c : zero, a7 = y2 && x1 ? row2 + c + V : zero;
                long a8 = y2 && x2 ? row2 + c + 2 * V : zero;
                FloatVector a = FloatVector.fromMemorySegment(S, ALL, a0, LE).fma(w0, bias);
                FloatVector b = FloatVector.fromMemorySegment(S, ALL, a3, LE).mul(w3);
                FloatVector d = FloatVector.fromMemorySegment(S, ALL, a6, LE).mul(w6);
                a = FloatVector.fromMemorySegment(S, ALL, a1, LE).fma(w1, a);
                b = FloatVector.fromMemorySegment(S, ALL, a4, LE).fma(w4, b);
                d = FloatVector.fromMemorySegment(S, ALL, a7, LE).fma(w7, d);
                a = FloatVector.fromMemorySegment(S, ALL, a2, LE).fma(w2, a);
                b = FloatVector.fromMemorySegment(S, ALL, a5, LE).fma(w5, b);
                d = FloatVector.fromMemorySegment(S, ALL, a8, LE).fma(w8, d);
                a = a.add(b).add(d);
                long at = V * ((long) oy * ow + ox);
                if (rPlane != 0) {
                    a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + at, LE));
                }
                if (clamp) {
                    a = a.blend(lo, a.lt(lo));
                    a = a.blend(hi, a.compare(VectorOperators.GT, hi));
                }
                a.intoMemorySegment(ALL, yPlane + at, LE);
            }
        }
    }

    /**
     * Interior positions [oy0, oy1) x [ox0, ox1) of one plane, 3x3 kernel, dilation 1, any strides, ox1 - ox0 even:
     * every tap inside the plane, so no bounds checks; two positions a step. Kept this small on purpose: C1 gave up
     * on a four-position version ("out of virtual registers"), which then stayed in tier 2, never reached C2, and
     * boxed every vector (10 MB of heap a call on 576@14).
     */
    private static void interior3x3(Nchwc.Geometry g, long xPlane, long yPlane, long rPlane, long wAddr, long bAddr,
                                    int oy0, int oy1, int ox0, int ox1, ConvEpilogue ep) {
        FloatVector w0 = FloatVector.fromMemorySegment(S, ALL, wAddr, LE);
        FloatVector w1 = FloatVector.fromMemorySegment(S, ALL, wAddr + V, LE);
        FloatVector w2 = FloatVector.fromMemorySegment(S, ALL, wAddr + 2 * V, LE);
        FloatVector w3 = FloatVector.fromMemorySegment(S, ALL, wAddr + 3 * V, LE);
        FloatVector w4 = FloatVector.fromMemorySegment(S, ALL, wAddr + 4 * V, LE);
        FloatVector w5 = FloatVector.fromMemorySegment(S, ALL, wAddr + 5 * V, LE);
        FloatVector w6 = FloatVector.fromMemorySegment(S, ALL, wAddr + 6 * V, LE);
        FloatVector w7 = FloatVector.fromMemorySegment(S, ALL, wAddr + 7 * V, LE);
        FloatVector w8 = FloatVector.fromMemorySegment(S, ALL, wAddr + 8 * V, LE);
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        long row = V * g.w();
        long step = V * g.strideW();
        int ow = g.ow();
        for (int oy = oy0; oy < oy1; oy++) {
            long r0 = xPlane + row * (oy * g.strideH() - g.padTop()) + V * (ox0 * g.strideW() - g.padLeft());
            long out = V * ((long) oy * ow + ox0);
            for (int ox = ox0; ox < ox1; ox += 2, r0 += 2 * step, out += 2 * V) {
                long r1 = r0 + row;
                long r2 = r1 + row;
                long q0 = r0 + step, q1 = r1 + step, q2 = r2 + step;
                FloatVector a = FloatVector.fromMemorySegment(S, ALL, r0, LE).fma(w0, bias);
                FloatVector b = FloatVector.fromMemorySegment(S, ALL, q0, LE).fma(w0, bias);
                FloatVector a1 = FloatVector.fromMemorySegment(S, ALL, r1, LE).mul(w3);
                FloatVector b1 = FloatVector.fromMemorySegment(S, ALL, q1, LE).mul(w3);
                FloatVector a2 = FloatVector.fromMemorySegment(S, ALL, r2, LE).mul(w6);
                FloatVector b2 = FloatVector.fromMemorySegment(S, ALL, q2, LE).mul(w6);
                a = FloatVector.fromMemorySegment(S, ALL, r0 + V, LE).fma(w1, a);
                b = FloatVector.fromMemorySegment(S, ALL, q0 + V, LE).fma(w1, b);
                a1 = FloatVector.fromMemorySegment(S, ALL, r1 + V, LE).fma(w4, a1);
                b1 = FloatVector.fromMemorySegment(S, ALL, q1 + V, LE).fma(w4, b1);
                a2 = FloatVector.fromMemorySegment(S, ALL, r2 + V, LE).fma(w7, a2);
                b2 = FloatVector.fromMemorySegment(S, ALL, q2 + V, LE).fma(w7, b2);
                a = FloatVector.fromMemorySegment(S, ALL, r0 + 2 * V, LE).fma(w2, a);
                b = FloatVector.fromMemorySegment(S, ALL, q0 + 2 * V, LE).fma(w2, b);
                a1 = FloatVector.fromMemorySegment(S, ALL, r1 + 2 * V, LE).fma(w5, a1);
                b1 = FloatVector.fromMemorySegment(S, ALL, q1 + 2 * V, LE).fma(w5, b1);
                a2 = FloatVector.fromMemorySegment(S, ALL, r2 + 2 * V, LE).fma(w8, a2);
                b2 = FloatVector.fromMemorySegment(S, ALL, q2 + 2 * V, LE).fma(w8, b2);
                a = a.add(a1).add(a2);
                b = b.add(b1).add(b2);
                if (rPlane != 0) {
                    a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out, LE));
                    b = b.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out + V, LE));
                }
                if (clamp) {
                    a = a.blend(lo, a.lt(lo));
                    a = a.blend(hi, a.compare(VectorOperators.GT, hi));
                    b = b.blend(lo, b.lt(lo));
                    b = b.blend(hi, b.compare(VectorOperators.GT, hi));
                }
                a.intoMemorySegment(ALL, yPlane + out, LE);
                b.intoMemorySegment(ALL, yPlane + out + V, LE);
            }
        }
    }
    /**
     * Stride-1 3x3 positions q in [q0, q1) (q1 - q0 even) of one run whose input taps lie at {@code in + V*q} plus
     * {@code (ky*row + kx)*V} and whose output (and residual) at {@code out + V*q} ({@code res + V*q}; res 0: none):
     * a row of an interior, or a whole plane's interior numbered flat (see {@link #unit}). The two positions of a
     * step share their input columns, four loads a kernel row instead of six; addresses are the loop variable times
     * a constant.
     */
    private static void spanS1(long in, long row, long out, long res, long wAddr, long bAddr, int q0, int q1,
                               ConvEpilogue ep) {
        FloatVector w0 = FloatVector.fromMemorySegment(S, ALL, wAddr, LE);
        FloatVector w1 = FloatVector.fromMemorySegment(S, ALL, wAddr + V, LE);
        FloatVector w2 = FloatVector.fromMemorySegment(S, ALL, wAddr + 2 * V, LE);
        FloatVector w3 = FloatVector.fromMemorySegment(S, ALL, wAddr + 3 * V, LE);
        FloatVector w4 = FloatVector.fromMemorySegment(S, ALL, wAddr + 4 * V, LE);
        FloatVector w5 = FloatVector.fromMemorySegment(S, ALL, wAddr + 5 * V, LE);
        FloatVector w6 = FloatVector.fromMemorySegment(S, ALL, wAddr + 6 * V, LE);
        FloatVector w7 = FloatVector.fromMemorySegment(S, ALL, wAddr + 7 * V, LE);
        FloatVector w8 = FloatVector.fromMemorySegment(S, ALL, wAddr + 8 * V, LE);
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        long in1 = in + row;
        long in2 = in1 + row;
        for (int q = q0; q < q1; q += 2) {
            long c = V * q;
            FloatVector x0 = FloatVector.fromMemorySegment(S, ALL, in + c, LE);
            FloatVector x1 = FloatVector.fromMemorySegment(S, ALL, in + c + V, LE);
            FloatVector x2 = FloatVector.fromMemorySegment(S, ALL, in + c + 2 * V, LE);
            FloatVector x3 = FloatVector.fromMemorySegment(S, ALL, in + c + 3 * V, LE);
            FloatVector a = x0.fma(w0, bias);
            FloatVector b = x1.fma(w0, bias);
            a = x1.fma(w1, a);
            b = x2.fma(w1, b);
            a = x2.fma(w2, a);
            b = x3.fma(w2, b);
            x0 = FloatVector.fromMemorySegment(S, ALL, in1 + c, LE);
            x1 = FloatVector.fromMemorySegment(S, ALL, in1 + c + V, LE);
            x2 = FloatVector.fromMemorySegment(S, ALL, in1 + c + 2 * V, LE);
            x3 = FloatVector.fromMemorySegment(S, ALL, in1 + c + 3 * V, LE);
            FloatVector a1 = x0.mul(w3);
            FloatVector b1 = x1.mul(w3);
            a1 = x1.fma(w4, a1);
            b1 = x2.fma(w4, b1);
            a1 = x2.fma(w5, a1);
            b1 = x3.fma(w5, b1);
            x0 = FloatVector.fromMemorySegment(S, ALL, in2 + c, LE);
            x1 = FloatVector.fromMemorySegment(S, ALL, in2 + c + V, LE);
            x2 = FloatVector.fromMemorySegment(S, ALL, in2 + c + 2 * V, LE);
            x3 = FloatVector.fromMemorySegment(S, ALL, in2 + c + 3 * V, LE);
            FloatVector a2 = x0.mul(w6);
            FloatVector b2 = x1.mul(w6);
            a2 = x1.fma(w7, a2);
            b2 = x2.fma(w7, b2);
            a2 = x2.fma(w8, a2);
            b2 = x3.fma(w8, b2);
            a = a.add(a1).add(a2);
            b = b.add(b1).add(b2);
            if (res != 0) {
                a = a.add(FloatVector.fromMemorySegment(S, ALL, res + c, LE));
                b = b.add(FloatVector.fromMemorySegment(S, ALL, res + c + V, LE));
            }
            if (clamp) {
                a = a.blend(lo, a.lt(lo));
                a = a.blend(hi, a.compare(VectorOperators.GT, hi));
                b = b.blend(lo, b.lt(lo));
                b = b.blend(hi, b.compare(VectorOperators.GT, hi));
            }
            a.intoMemorySegment(ALL, out + c, LE);
            b.intoMemorySegment(ALL, out + c + V, LE);
        }
    }
    /**
     * Output column 0 (and, when {@code right}, OW - 1) of rows [oy0, oy1) of a 3x3 plane with pads 1 and equal
     * strides s, every kernel row inside: the tap left of input column 0 (and the one right of input column W - 1,
     * for stride 1 "same" planes only) multiplies a zero vector, the rest load; the same operations as
     * {@link #border3x3}, so the same floats, without its per-tap address choices.
     */
    private static void edgeColumns(Nchwc.Geometry g, long xPlane, long yPlane, long rPlane, long wAddr, long bAddr,
                                    int oy0, int oy1, boolean right, ConvEpilogue ep) {
        FloatVector w0 = FloatVector.fromMemorySegment(S, ALL, wAddr, LE);
        FloatVector w1 = FloatVector.fromMemorySegment(S, ALL, wAddr + V, LE);
        FloatVector w2 = FloatVector.fromMemorySegment(S, ALL, wAddr + 2 * V, LE);
        FloatVector w3 = FloatVector.fromMemorySegment(S, ALL, wAddr + 3 * V, LE);
        FloatVector w4 = FloatVector.fromMemorySegment(S, ALL, wAddr + 4 * V, LE);
        FloatVector w5 = FloatVector.fromMemorySegment(S, ALL, wAddr + 5 * V, LE);
        FloatVector w6 = FloatVector.fromMemorySegment(S, ALL, wAddr + 6 * V, LE);
        FloatVector w7 = FloatVector.fromMemorySegment(S, ALL, wAddr + 7 * V, LE);
        FloatVector w8 = FloatVector.fromMemorySegment(S, ALL, wAddr + 8 * V, LE);
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        FloatVector z = FloatVector.zero(S);
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        int w = g.w();
        int st = g.strideH();
        long row = V * w;
        long last = V * (w - 1);
        long lastOut = V * (g.ow() - 1);
        for (int oy = oy0; oy < oy1; oy++) {
            long in0 = xPlane + row * (st * oy - 1);
            long in1 = in0 + row;
            long in2 = in1 + row;
            long at = V * (long) oy * g.ow();
            FloatVector a = z.fma(w0, bias);
            FloatVector b = z.mul(w3);
            FloatVector d = z.mul(w6);
            a = FloatVector.fromMemorySegment(S, ALL, in0, LE).fma(w1, a);
            b = FloatVector.fromMemorySegment(S, ALL, in1, LE).fma(w4, b);
            d = FloatVector.fromMemorySegment(S, ALL, in2, LE).fma(w7, d);
            a = FloatVector.fromMemorySegment(S, ALL, in0 + V, LE).fma(w2, a);
            b = FloatVector.fromMemorySegment(S, ALL, in1 + V, LE).fma(w5, b);
            d = FloatVector.fromMemorySegment(S, ALL, in2 + V, LE).fma(w8, d);
            a = a.add(b).add(d);
            if (rPlane != 0) {
                a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + at, LE));
            }
            if (clamp) {
                a = a.blend(lo, a.lt(lo));
                a = a.blend(hi, a.compare(VectorOperators.GT, hi));
            }
            a.intoMemorySegment(ALL, yPlane + at, LE);
            if (!right) {
                continue;
            }
            long c = last - V;
            a = FloatVector.fromMemorySegment(S, ALL, in0 + c, LE).fma(w0, bias);
            b = FloatVector.fromMemorySegment(S, ALL, in1 + c, LE).mul(w3);
            d = FloatVector.fromMemorySegment(S, ALL, in2 + c, LE).mul(w6);
            a = FloatVector.fromMemorySegment(S, ALL, in0 + last, LE).fma(w1, a);
            b = FloatVector.fromMemorySegment(S, ALL, in1 + last, LE).fma(w4, b);
            d = FloatVector.fromMemorySegment(S, ALL, in2 + last, LE).fma(w7, d);
            a = z.fma(w2, a);
            b = z.fma(w5, b);
            d = z.fma(w8, d);
            a = a.add(b).add(d);
            if (rPlane != 0) {
                a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + at + lastOut, LE));
            }
            if (clamp) {
                a = a.blend(lo, a.lt(lo));
                a = a.blend(hi, a.compare(VectorOperators.GT, hi));
            }
            a.intoMemorySegment(ALL, yPlane + at + lastOut, LE);
        }
    }

    /**
     * Output columns [ox0, ox1) (every tap column inside the plane) of the top row, or of the bottom row of a stride-1
     * "same" plane, of a 3x3 plane with pads 1 and equal strides, its other two kernel rows inside: the kernel row
     * outside the plane is its zero products folded once into a constant vector; the same operations as
     * {@link #border3x3}, so the same floats.
     */
    private static void edgeRow(Nchwc.Geometry g, long xPlane, long yPlane, long rPlane, long wAddr, long bAddr,
                                boolean top, int ox0, int ox1, ConvEpilogue ep) {
        FloatVector w0 = FloatVector.fromMemorySegment(S, ALL, wAddr, LE);
        FloatVector w1 = FloatVector.fromMemorySegment(S, ALL, wAddr + V, LE);
        FloatVector w2 = FloatVector.fromMemorySegment(S, ALL, wAddr + 2 * V, LE);
        FloatVector w3 = FloatVector.fromMemorySegment(S, ALL, wAddr + 3 * V, LE);
        FloatVector w4 = FloatVector.fromMemorySegment(S, ALL, wAddr + 4 * V, LE);
        FloatVector w5 = FloatVector.fromMemorySegment(S, ALL, wAddr + 5 * V, LE);
        FloatVector w6 = FloatVector.fromMemorySegment(S, ALL, wAddr + 6 * V, LE);
        FloatVector w7 = FloatVector.fromMemorySegment(S, ALL, wAddr + 7 * V, LE);
        FloatVector w8 = FloatVector.fromMemorySegment(S, ALL, wAddr + 8 * V, LE);
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        FloatVector z = FloatVector.zero(S);
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        int w = g.w();
        int st = g.strideW();
        int oy = top ? 0 : g.oh() - 1;
        long row = V * w;
        // Kernel rows on input rows s*oy - 1 .. s*oy + 1: the top row's first and the bottom row's last are outside.
        long inA = xPlane + row * (top ? 0 : st * oy - 1);
        long inB = inA + row;
        FloatVector k = top ? z.fma(w0, bias) : z.mul(w6);
        k = top ? z.fma(w1, k) : z.fma(w7, k);
        k = top ? z.fma(w2, k) : z.fma(w8, k);
        long at = V * (long) oy * g.ow();
        for (int ox = ox0; ox < ox1; ox++) {
            long c = V * (st * ox - 1);
            FloatVector a;
            FloatVector b;
            if (top) {
                a = FloatVector.fromMemorySegment(S, ALL, inA + c, LE).mul(w3);
                b = FloatVector.fromMemorySegment(S, ALL, inB + c, LE).mul(w6);
                a = FloatVector.fromMemorySegment(S, ALL, inA + c + V, LE).fma(w4, a);
                b = FloatVector.fromMemorySegment(S, ALL, inB + c + V, LE).fma(w7, b);
                a = FloatVector.fromMemorySegment(S, ALL, inA + c + 2 * V, LE).fma(w5, a);
                b = FloatVector.fromMemorySegment(S, ALL, inB + c + 2 * V, LE).fma(w8, b);
                a = k.add(a).add(b);
            } else {
                a = FloatVector.fromMemorySegment(S, ALL, inA + c, LE).fma(w0, bias);
                b = FloatVector.fromMemorySegment(S, ALL, inB + c, LE).mul(w3);
                a = FloatVector.fromMemorySegment(S, ALL, inA + c + V, LE).fma(w1, a);
                b = FloatVector.fromMemorySegment(S, ALL, inB + c + V, LE).fma(w4, b);
                a = FloatVector.fromMemorySegment(S, ALL, inA + c + 2 * V, LE).fma(w2, a);
                b = FloatVector.fromMemorySegment(S, ALL, inB + c + 2 * V, LE).fma(w5, b);
                a = a.add(b).add(k);
            }
            long o = at + V * ox;
            if (rPlane != 0) {
                a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + o, LE));
            }
            if (clamp) {
                a = a.blend(lo, a.lt(lo));
                a = a.blend(hi, a.compare(VectorOperators.GT, hi));
            }
            a.intoMemorySegment(ALL, yPlane + o, LE);
        }
    }
}
