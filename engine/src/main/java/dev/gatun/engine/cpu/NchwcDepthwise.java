package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.function.IntConsumer;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 depthwise 2-D convolution in the blocked layout NCHWc ({@link Nchwc}: 16 channels a block, one channel a
 * vector lane): {@code Y[n, c, oy, ox] = ep(B[c] + sum_{ky,kx} X[n, c, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw] *
 * W[c, 0, ky, kx])}, input outside the plane contributing nothing.
 *
 * <p>Layout: X [N, CB, H, W, 16], Y and the residual [N, CB, OH, OW, 16]; the packed weights {@code [CB][KH*KW][16]}
 * and bias {@code [CB][16]} hold zeros in the pad lanes, so a pad lane of Y is {@code ep(0 + residual pad lane)}
 * (finite when X's pad lanes are, as the layout guarantees). One output position of a block is one vector: it starts
 * from the bias vector and takes one fused multiply-add per tap inside the plane, in the order ky, then kx (taps
 * outside are skipped, never added as zeros), then the {@link ConvEpilogue} (add the residual, clamp) and one store.
 * {@link #convScalar} does the same per lane with {@link Math#fma}: the two agree bit for bit.
 *
 * <p>Loops: positions whose every tap is inside the plane (the interior rectangle {@code [oyLo, oyHi) x [oxLo,
 * oxHi)}, from the pads, strides and kernel extent) run, for 3x3 kernels with dilation 1 and any strides, through
 * {@link #interior3x3}: nine weight vectors and the bias hoisted into registers, four output positions a step
 * (four independent FMA chains), each position nine vector loads and nine FMAs, no branches. Every other position
 * (the border rows and columns, and every position of other kernels) runs through {@link #general}, which walks the
 * taps with bounds checks and loads the weight vectors per tap. Vector memory access is at absolute addresses
 * through {@link SgemmKernel#ALL} (bounds checked once per call; see there why), X, Y, the residual and the packed
 * weights native; otherwise, or where the preferred species is not 16 floats, {@link #conv} runs {@link #convScalar}.
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
    private static final ThreadLocal<Tasks> REGION = ThreadLocal.withInitial(Tasks::new);

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
        int taps = g.kh() * g.kw();
        MemorySegment res = ep.residual();
        for (int n = 0; n < g.n(); n++) {
            for (int blk = 0; blk < cb; blk++) {
                long xPlane = (long) (n * cb + blk) * g.h() * g.w() * B;
                long yPlane = (long) (n * cb + blk) * g.oh() * g.ow() * B;
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        for (int lane = 0; lane < B; lane++) {
                            float s = p.bias().getAtIndex(F, (long) blk * B + lane);
                            for (int ky = 0; ky < g.kh(); ky++) {
                                int iy = oy * g.strideH() - g.padTop() + ky * g.dilationH();
                                if (iy < 0 || iy >= g.h()) {
                                    continue;
                                }
                                for (int kx = 0; kx < g.kw(); kx++) {
                                    int ix = ox * g.strideW() - g.padLeft() + kx * g.dilationW();
                                    if (ix < 0 || ix >= g.w()) {
                                        continue;
                                    }
                                    float xv = x.getAtIndex(F, xPlane + ((long) iy * g.w() + ix) * B + lane);
                                    float wv = p.weights().getAtIndex(F,
                                            ((long) blk * taps + ky * g.kw() + kx) * B + lane);
                                    s = Math.fma(xv, wv, s);
                                }
                            }
                            long yi = yPlane + ((long) oy * g.ow() + ox) * B + lane;
                            y.setAtIndex(F, yi, ep.apply(s, res == null ? 0f : res.getAtIndex(F, yi)));
                        }
                    }
                }
            }
        }
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
        boolean fast = g.kh() == 3 && g.kw() == 3 && g.dilationH() == 1 && g.dilationW() == 1 && oxHi > oxLo;
        int in0 = Math.max(oy0, oyLo);
        int in1 = Math.min(oy1, oyHi);
        if (!fast || in0 >= in1) {
            general(g, xPlane, yPlane, rPlane, wAddr, bAddr, oy0, oy1, 0, g.ow(), ep);
            return;
        }
        general(g, xPlane, yPlane, rPlane, wAddr, bAddr, oy0, in0, 0, g.ow(), ep);
        if (oxLo > 0) {
            general(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, 0, oxLo, ep);
        }
        interior3x3(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, oxLo, oxHi, ep);
        if (oxHi < g.ow()) {
            general(g, xPlane, yPlane, rPlane, wAddr, bAddr, in0, in1, oxHi, g.ow(), ep);
        }
        general(g, xPlane, yPlane, rPlane, wAddr, bAddr, in1, oy1, 0, g.ow(), ep);
    }

    private static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }

    /**
     * Positions [oy0, oy1) x [ox0, ox1) of one plane, any kernel: taps outside the plane skipped, weight vectors
     * loaded per tap (addresses: X plane, Y plane, residual plane or 0, the block's weights and bias).
     */
    private static void general(Nchwc.Geometry g, long xPlane, long yPlane, long rPlane, long wAddr, long bAddr,
                                int oy0, int oy1, int ox0, int ox1, ConvEpilogue ep) {
        int h = g.h(), w = g.w(), kh = g.kh(), kw = g.kw(), ow = g.ow();
        int sh = g.strideH(), sw = g.strideW(), dh = g.dilationH(), dw = g.dilationW();
        boolean clamp = ep.clamp();
        FloatVector lo = FloatVector.broadcast(S, ep.lo());
        FloatVector hi = FloatVector.broadcast(S, ep.hi());
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, bAddr, LE);
        for (int oy = oy0; oy < oy1; oy++) {
            for (int ox = ox0; ox < ox1; ox++) {
                FloatVector a = bias;
                for (int ky = 0; ky < kh; ky++) {
                    int iy = oy * sh - g.padTop() + ky * dh;
                    if (iy < 0 || iy >= h) {
                        continue;
                    }
                    for (int kx = 0; kx < kw; kx++) {
                        int ix = ox * sw - g.padLeft() + kx * dw;
                        if (ix < 0 || ix >= w) {
                            continue;
                        }
                        FloatVector xv = FloatVector.fromMemorySegment(S, ALL, xPlane + V * ((long) iy * w + ix), LE);
                        FloatVector wv = FloatVector.fromMemorySegment(S, ALL, wAddr + V * (ky * kw + kx), LE);
                        a = xv.fma(wv, a);
                    }
                }
                long at = V * ((long) oy * ow + ox);
                if (rPlane != 0) {
                    a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + at, LE));
                }
                if (clamp) {
                    a = a.max(lo).min(hi);
                }
                a.intoMemorySegment(ALL, yPlane + at, LE);
            }
        }
    }

    /**
     * Interior positions [oy0, oy1) x [ox0, ox1) of one plane, 3x3 kernel, dilation 1, any strides: every tap
     * inside the plane, so no bounds checks; four positions a step, then one at a time.
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
            int ox = ox0;
            for (; ox <= ox1 - 4; ox += 4, r0 += 4 * step, out += 4 * V) {
                long r1 = r0 + row;
                long r2 = r1 + row;
                long q0 = r0 + step, q1 = r1 + step, q2 = r2 + step;
                long s0 = q0 + step, s1 = q1 + step, s2 = q2 + step;
                long t0 = s0 + step, t1 = s1 + step, t2 = s2 + step;
                FloatVector a = FloatVector.fromMemorySegment(S, ALL, r0, LE).fma(w0, bias);
                FloatVector b = FloatVector.fromMemorySegment(S, ALL, q0, LE).fma(w0, bias);
                FloatVector c = FloatVector.fromMemorySegment(S, ALL, s0, LE).fma(w0, bias);
                FloatVector d = FloatVector.fromMemorySegment(S, ALL, t0, LE).fma(w0, bias);
                a = FloatVector.fromMemorySegment(S, ALL, r0 + V, LE).fma(w1, a);
                b = FloatVector.fromMemorySegment(S, ALL, q0 + V, LE).fma(w1, b);
                c = FloatVector.fromMemorySegment(S, ALL, s0 + V, LE).fma(w1, c);
                d = FloatVector.fromMemorySegment(S, ALL, t0 + V, LE).fma(w1, d);
                a = FloatVector.fromMemorySegment(S, ALL, r0 + 2 * V, LE).fma(w2, a);
                b = FloatVector.fromMemorySegment(S, ALL, q0 + 2 * V, LE).fma(w2, b);
                c = FloatVector.fromMemorySegment(S, ALL, s0 + 2 * V, LE).fma(w2, c);
                d = FloatVector.fromMemorySegment(S, ALL, t0 + 2 * V, LE).fma(w2, d);
                a = FloatVector.fromMemorySegment(S, ALL, r1, LE).fma(w3, a);
                b = FloatVector.fromMemorySegment(S, ALL, q1, LE).fma(w3, b);
                c = FloatVector.fromMemorySegment(S, ALL, s1, LE).fma(w3, c);
                d = FloatVector.fromMemorySegment(S, ALL, t1, LE).fma(w3, d);
                a = FloatVector.fromMemorySegment(S, ALL, r1 + V, LE).fma(w4, a);
                b = FloatVector.fromMemorySegment(S, ALL, q1 + V, LE).fma(w4, b);
                c = FloatVector.fromMemorySegment(S, ALL, s1 + V, LE).fma(w4, c);
                d = FloatVector.fromMemorySegment(S, ALL, t1 + V, LE).fma(w4, d);
                a = FloatVector.fromMemorySegment(S, ALL, r1 + 2 * V, LE).fma(w5, a);
                b = FloatVector.fromMemorySegment(S, ALL, q1 + 2 * V, LE).fma(w5, b);
                c = FloatVector.fromMemorySegment(S, ALL, s1 + 2 * V, LE).fma(w5, c);
                d = FloatVector.fromMemorySegment(S, ALL, t1 + 2 * V, LE).fma(w5, d);
                a = FloatVector.fromMemorySegment(S, ALL, r2, LE).fma(w6, a);
                b = FloatVector.fromMemorySegment(S, ALL, q2, LE).fma(w6, b);
                c = FloatVector.fromMemorySegment(S, ALL, s2, LE).fma(w6, c);
                d = FloatVector.fromMemorySegment(S, ALL, t2, LE).fma(w6, d);
                a = FloatVector.fromMemorySegment(S, ALL, r2 + V, LE).fma(w7, a);
                b = FloatVector.fromMemorySegment(S, ALL, q2 + V, LE).fma(w7, b);
                c = FloatVector.fromMemorySegment(S, ALL, s2 + V, LE).fma(w7, c);
                d = FloatVector.fromMemorySegment(S, ALL, t2 + V, LE).fma(w7, d);
                a = FloatVector.fromMemorySegment(S, ALL, r2 + 2 * V, LE).fma(w8, a);
                b = FloatVector.fromMemorySegment(S, ALL, q2 + 2 * V, LE).fma(w8, b);
                c = FloatVector.fromMemorySegment(S, ALL, s2 + 2 * V, LE).fma(w8, c);
                d = FloatVector.fromMemorySegment(S, ALL, t2 + 2 * V, LE).fma(w8, d);
                if (rPlane != 0) {
                    a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out, LE));
                    b = b.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out + V, LE));
                    c = c.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out + 2 * V, LE));
                    d = d.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out + 3 * V, LE));
                }
                if (clamp) {
                    a = a.max(lo).min(hi);
                    b = b.max(lo).min(hi);
                    c = c.max(lo).min(hi);
                    d = d.max(lo).min(hi);
                }
                a.intoMemorySegment(ALL, yPlane + out, LE);
                b.intoMemorySegment(ALL, yPlane + out + V, LE);
                c.intoMemorySegment(ALL, yPlane + out + 2 * V, LE);
                d.intoMemorySegment(ALL, yPlane + out + 3 * V, LE);
            }
            for (; ox < ox1; ox++, r0 += step, out += V) {
                long r1 = r0 + row;
                long r2 = r1 + row;
                FloatVector a = FloatVector.fromMemorySegment(S, ALL, r0, LE).fma(w0, bias);
                a = FloatVector.fromMemorySegment(S, ALL, r0 + V, LE).fma(w1, a);
                a = FloatVector.fromMemorySegment(S, ALL, r0 + 2 * V, LE).fma(w2, a);
                a = FloatVector.fromMemorySegment(S, ALL, r1, LE).fma(w3, a);
                a = FloatVector.fromMemorySegment(S, ALL, r1 + V, LE).fma(w4, a);
                a = FloatVector.fromMemorySegment(S, ALL, r1 + 2 * V, LE).fma(w5, a);
                a = FloatVector.fromMemorySegment(S, ALL, r2, LE).fma(w6, a);
                a = FloatVector.fromMemorySegment(S, ALL, r2 + V, LE).fma(w7, a);
                a = FloatVector.fromMemorySegment(S, ALL, r2 + 2 * V, LE).fma(w8, a);
                if (rPlane != 0) {
                    a = a.add(FloatVector.fromMemorySegment(S, ALL, rPlane + out, LE));
                }
                if (clamp) {
                    a = a.max(lo).min(hi);
                }
                a.intoMemorySegment(ALL, yPlane + out, LE);
            }
        }
    }
}
