package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ConvSmallPlane} (output channels along the vectors) against {@link ConvGemm} (positions along the vectors)
 * and a double-precision reference, on random shapes with odd sizes, strides, dilations, pads, groups, partial
 * channel panels, K blocks and fused epilogues: both kernels give the same floats bit for bit, on 1 and 3 threads.
 */
class ConvSmallPlaneTest {
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
    }

    /** One 2-D convolution: batch, channels, input, output channels, kernel, group, stride, dilation, begin/end pads. */
    private record Geo(int n, int c, int ih, int iw, int m, int kh, int kw, int group, int s, int d, int pt, int pl, int pb, int pr) {
        int oh() {
            return (ih + pt + pb - (kh - 1) * d - 1) / s + 1;
        }

        int ow() {
            return (iw + pl + pr - (kw - 1) * d - 1) / s + 1;
        }

        PhaseLayout layout() {
            return new PhaseLayout(ih, iw, oh(), ow(), kh, kw, s, s, d, d, pt, pl);
        }

        int kdim() {
            return c / group * kh * kw;
        }
    }

    private MemorySegment random(Random rnd, long count) {
        MemorySegment seg = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
        }
        return seg;
    }

    private static double[] reference(Geo g, MemorySegment x, MemorySegment w, MemorySegment b, MemorySegment z, ConvEpilogue ep) {
        int oh = g.oh();
        int ow = g.ow();
        int cg = g.c() / g.group();
        int mg = g.m() / g.group();
        double[] y = new double[g.n() * g.m() * oh * ow];
        for (int n = 0; n < g.n(); n++) {
            for (int m = 0; m < g.m(); m++) {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int at = ((n * g.m() + m) * oh + oy) * ow + ox;
                        double acc = b.getAtIndex(Tensor.F32, m);
                        for (int ci = 0; ci < cg; ci++) {
                            int c = m / mg * cg + ci;
                            for (int ky = 0; ky < g.kh(); ky++) {
                                int r = oy * g.s() + ky * g.d() - g.pt();
                                for (int kx = 0; kx < g.kw(); kx++) {
                                    int q = ox * g.s() + kx * g.d() - g.pl();
                                    if (r >= 0 && r < g.ih() && q >= 0 && q < g.iw()) {
                                        acc += (double) x.getAtIndex(Tensor.F32, ((long) (n * g.c() + c) * g.ih() + r) * g.iw() + q)
                                                * w.getAtIndex(Tensor.F32, ((long) (m * cg + ci) * g.kh() + ky) * g.kw() + kx);
                                    }
                                }
                            }
                        }
                        if (z != null) {
                            acc += z.getAtIndex(Tensor.F32, at);
                        }
                        y[at] = ep.clamp() ? Math.min(Math.max(acc, ep.lo()), ep.hi()) : acc;
                    }
                }
            }
        }
        return y;
    }

    private float[] run(KernelContext ctx, Geo g, int mr, MemorySegment x, MemorySegment w, MemorySegment b, ConvEpilogue ep) {
        long count = (long) g.n() * g.m() * g.oh() * g.ow();
        MemorySegment y = arena.allocate(count * 4, 64);
        ConvGemm.Packed p = ConvGemm.pack(w, b, g.group(), g.m() / g.group(), g.kdim(), mr);
        ConvGemm.conv(ctx, g.layout(), g.n(), g.c(), p, g.kh() * g.kw(), x, y, ep);
        return y.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
    }

    private void check(Random rnd, Geo g, boolean residual, boolean clamp) {
        MemorySegment x = random(rnd, (long) g.n() * g.c() * g.ih() * g.iw());
        MemorySegment w = random(rnd, (long) g.m() * g.kdim());
        MemorySegment b = random(rnd, g.m());
        MemorySegment z = residual ? random(rnd, (long) g.n() * g.m() * g.oh() * g.ow()) : null;
        ConvEpilogue ep = new ConvEpilogue(z, clamp, -0.5f, 1.5f);
        float[] gemm = run(new ArenaContext(arena), g, ConvGemm.MR, x, w, b, ep);
        float[] small = run(new ArenaContext(arena), g, ConvSmallPlane.MR, x, w, b, ep);
        float[] small3 = run(three, g, ConvSmallPlane.MR, x, w, b, ep);
        three.reset();
        assertArrayEquals(gemm, small, g + ": small-plane kernel vs ConvGemm");
        assertArrayEquals(small, small3, g + ": 1 vs 3 threads");
        double[] ref = reference(g, x, w, b, z, ep);
        double tol = 1e-5 * Math.sqrt(g.kdim()) * 8;
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], small[i], tol * Math.max(1, Math.abs(ref[i])), g + " at " + i);
        }
    }

    @Test
    void matchesConvGemmAndReference() {
        Random rnd = new Random(7);
        // ResNet / MobileNetV2 small planes: 3x3 7x7 and 14x14, 1x1 7x7, stride 2 into 7x7.
        check(rnd, new Geo(1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 48, 14, 14, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(1, 160, 7, 7, 96, 1, 1, 1, 1, 1, 0, 0, 0, 0), false, false);
        check(rnd, new Geo(1, 40, 14, 14, 33, 3, 3, 1, 2, 1, 1, 1, 1, 1), true, false);
        // Widths a multiple of 7 (the per-channel vector store): 1x1 14x14 with a partial last panel, batch 2, groups.
        check(rnd, new Geo(1, 64, 14, 14, 77, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, true);
        check(rnd, new Geo(2, 96, 14, 14, 40, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, false);
        check(rnd, new Geo(1, 64, 7, 21, 48, 1, 1, 2, 1, 1, 0, 0, 0, 0), false, true);
        // Odd widths (tail tiles of 1..6 positions), channel counts off the panel width, batch, K over several blocks.
        check(rnd, new Geo(2, 300, 5, 9, 17, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, true);
        check(rnd, new Geo(1, 37, 11, 8, 71, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, false);
        check(rnd, new Geo(3, 33, 6, 13, 5, 3, 3, 1, 1, 1, 0, 2, 1, 0), true, false);
        // Groups, dilation, rectangular kernels, asymmetric pads, stride 3.
        check(rnd, new Geo(1, 36, 9, 9, 24, 3, 3, 3, 1, 2, 2, 2, 2, 2), false, true);
        check(rnd, new Geo(2, 20, 10, 7, 34, 2, 3, 2, 1, 1, 1, 0, 0, 2), true, true);
        check(rnd, new Geo(1, 16, 17, 15, 9, 3, 3, 1, 3, 1, 1, 1, 1, 1), false, false);
        // A batch whose tiles straddle images and whose partial sums outgrow one span (tiles in several spans).
        check(rnd, new Geo(8, 32, 7, 7, 520, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, true);
        // Weights many times the input (the panels-only split, each thread packing all tiles once for its tasks):
        // 3x3 over two K blocks with a partial last panel, 14x14, and 1x1 packed from X.
        check(rnd, new Geo(1, 64, 7, 7, 390, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 24, 14, 14, 420, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, false);
        check(rnd, new Geo(1, 96, 7, 7, 420, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, false);
    }

    @Test
    void suitsSmallPlanesOnly() {
        assumeTrue(ConvSmallPlane.MR != ConvGemm.MR, "vectors of 4 floats: the two kernels have the same panel width");
        assertTrue(ConvSmallPlane.suits(new PhaseLayout(7, 7, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1), 4608));
        assertTrue(ConvSmallPlane.suits(new PhaseLayout(14, 14, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1), 2304));
        assertFalse(ConvSmallPlane.suits(new PhaseLayout(56, 56, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1), 576), "big plane");
        assertFalse(ConvSmallPlane.suits(new PhaseLayout(7, 7, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0), 8), "tiny K");
        assertFalse(ConvSmallPlane.suits(new PhaseLayout(14, 14, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0), 96), "small K (1x1 expansion)");
        assertTrue(ConvSmallPlane.suits(new PhaseLayout(14, 14, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0), 576), "1x1 projection");
    }
}
