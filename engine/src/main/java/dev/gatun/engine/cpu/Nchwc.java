package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The blocked channel layout NCHWc (16 channels a block), in which convolution chains run with the channels along
 * the vector lanes, and the scalar reference convolution in it.
 *
 * <p>Layout: a float tensor of logical shape [N, C, H, W] is stored as [N, CB, H, W, 16] with
 * {@code CB = ceil(C / 16)}: element (n, c, h, w) at float index {@code (((n * CB + c / 16) * H + h) * W + w) * 16
 * + c % 16} ({@link #index}). One position's 16 channels of a block are one 64-byte vector. The lanes
 * {@code c >= C} of the last block are pad lanes: every producer writes a finite value there (reorders write 0; a
 * convolution whose weights and bias are zero in those output channels writes its epilogue of 0 plus the residual's
 * pad lane), and no consumer lets a pad lane reach a real channel (a convolution's sum over input channels runs over
 * the C real ones only).
 *
 * <p>Convolutions in this layout are 2-D, with group 1 (W [M, C, KH, KW]) or depthwise (group = C = M,
 * W [C, 1, KH, KW]); Y [N, MB, OH, OW, 16]. The geometry is ONNX Conv's
 * (https://onnx.ai/onnx/operators/onnx__Conv.html): {@code Y[n,m,oh,ow] = B[m] + sum_{c,kh,kw}
 * X[n, c, oh*sh - padTop + kh*dh, ow*sw - padLeft + kw*dw] * W[m, c, kh, kw]}, input outside the image reading 0,
 * then the {@link ConvEpilogue} (residual of Y's blocked shape, clamp).
 */
public final class Nchwc {
    /** Channels a block: the lanes of a 512-bit float vector. */
    public static final int BLOCK = 16;

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Nchwc() {}

    /** Blocks holding {@code c} channels: ceil(c / 16). */
    public static int blocks(long c) {
        return Math.toIntExact((c + BLOCK - 1) / BLOCK);
    }

    /** Float index of (n, c, h, w) in a blocked tensor of {@code cb} blocks and planes of h x w. */
    public static long index(long n, long c, long y, long x, long cb, long h, long w) {
        return (((n * cb + c / BLOCK) * h + y) * w + x) * BLOCK + c % BLOCK;
    }

    /**
     * A 2-D convolution's sizes: batch {@code n}, input channels {@code c}, output channels {@code m},
     * {@code group} (1, or c for depthwise with c = m), input plane h x w, kernel kh x kw, output plane oh x ow,
     * strides, dilations, and the top / left pads (the bottom / right ones are implied by the output size: positions
     * past the input read 0).
     */
    public record Geometry(int n, int c, int m, int group, int h, int w, int kh, int kw, int oh, int ow,
                           int strideH, int strideW, int dilationH, int dilationW, int padTop, int padLeft) {
        public Geometry {
            if (group != 1 && !(group == c && c == m)) {
                throw new IllegalArgumentException("NCHWc convolutions are group 1 or depthwise, not group " + group
                        + " with C " + c + ", M " + m);
            }
        }

        /** Whether each output channel reads only its own input channel. */
        public boolean depthwise() {
            return group != 1 || (c == 1 && m == 1);
        }

        /** Floats in the blocked input [N, CB, H, W, 16]. */
        public long inputFloats() {
            return (long) n * blocks(c) * h * w * BLOCK;
        }

        /** Floats in the blocked output [N, MB, OH, OW, 16]. */
        public long outputFloats() {
            return (long) n * blocks(m) * oh * ow * BLOCK;
        }
    }

    /**
     * The scalar reference: the convolution of blocked (or, when {@code nchwInput}, plain [N, C, H, W]) {@code x}
     * with ONNX-layout weights {@code w} ([M, C/group, KH, KW]) and {@code bias} ([M] or null) into blocked
     * {@code y}, every lane written (pad lanes as the class comment says). Each output sums in float from the bias,
     * input channel outermost, then kh, then kw, and applies {@code ep} (residual: blocked, Y's shape).
     */
    public static void reference(Geometry g, boolean nchwInput, MemorySegment x, MemorySegment w, MemorySegment bias,
                                 MemorySegment y, ConvEpilogue ep) {
        int cb = blocks(g.c());
        int mb = blocks(g.m());
        int cg = g.depthwise() ? 1 : g.c();
        for (int n = 0; n < g.n(); n++) {
            for (int m = 0; m < mb * BLOCK; m++) {
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        float s = 0f;
                        if (m < g.m()) {
                            s = bias == null ? 0f : bias.getAtIndex(F, m);
                            for (int ci = 0; ci < cg; ci++) {
                                int c = g.depthwise() ? m : ci;
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
                                        long xi = nchwInput ? ((long) (n * g.c() + c) * g.h() + iy) * g.w() + ix
                                                : index(n, c, iy, ix, cb, g.h(), g.w());
                                        long wi = (((long) m * cg + ci) * g.kh() + ky) * g.kw() + kx;
                                        s += x.getAtIndex(F, xi) * w.getAtIndex(F, wi);
                                    }
                                }
                            }
                        }
                        long yi = index(n, m, oy, ox, mb, g.oh(), g.ow());
                        float r = ep.residual() == null ? 0f : ep.residual().getAtIndex(F, yi);
                        y.setAtIndex(F, yi, ep.apply(s, r));
                    }
                }
            }
        }
    }
}
