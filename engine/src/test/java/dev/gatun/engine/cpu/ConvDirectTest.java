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
 * {@link ConvDirect} (output channels along the vectors, all of K in registers) against its scalar twin (the same
 * fused multiply-add chain per output, in float), {@link ConvGemm} and a double-precision reference, on random
 * shapes with odd channel counts, planes, strides, dilations, pads, groups, batches and fused epilogues: the kernel,
 * its twin and ConvGemm give the same floats bit for bit, on 1 and 3 threads.
 */
class ConvDirectTest {
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

    /**
     * The scalar twin: each output starts at its bias and adds {@code w * x} by one {@link Math#fma} per term in
     * increasing k = (c, kh, kw), skipping no term (padding reads 0), then the epilogue.
     */
    private static float[] twin(Geo g, MemorySegment x, MemorySegment w, MemorySegment b, MemorySegment z, ConvEpilogue ep) {
        int oh = g.oh();
        int ow = g.ow();
        int cg = g.c() / g.group();
        int mg = g.m() / g.group();
        float[] y = new float[g.n() * g.m() * oh * ow];
        for (int n = 0; n < g.n(); n++) {
            for (int m = 0; m < g.m(); m++) {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int at = ((n * g.m() + m) * oh + oy) * ow + ox;
                        float acc = b.getAtIndex(Tensor.F32, m);
                        for (int ci = 0; ci < cg; ci++) {
                            int c = m / mg * cg + ci;
                            for (int ky = 0; ky < g.kh(); ky++) {
                                int r = oy * g.s() + ky * g.d() - g.pt();
                                for (int kx = 0; kx < g.kw(); kx++) {
                                    int q = ox * g.s() + kx * g.d() - g.pl();
                                    boolean in = r >= 0 && r < g.ih() && q >= 0 && q < g.iw();
                                    float xv = in ? x.getAtIndex(Tensor.F32, ((long) (n * g.c() + c) * g.ih() + r) * g.iw() + q) : 0f;
                                    acc = Math.fma(w.getAtIndex(Tensor.F32, ((long) (m * cg + ci) * g.kh() + ky) * g.kw() + kx), xv, acc);
                                }
                            }
                        }
                        y[at] = ep.apply(acc, z == null ? 0f : z.getAtIndex(Tensor.F32, at));
                    }
                }
            }
        }
        return y;
    }

    private float[] run(KernelContext ctx, Geo g, boolean direct, MemorySegment x, MemorySegment w, MemorySegment b, ConvEpilogue ep) {
        return run(ctx, g, direct, ConvDirect.TRANSPOSE, x, w, b, ep);
    }

    private float[] run(KernelContext ctx, Geo g, boolean direct, boolean transposed, MemorySegment x, MemorySegment w, MemorySegment b,
                        ConvEpilogue ep) {
        long count = (long) g.n() * g.m() * g.oh() * g.ow();
        MemorySegment y = arena.allocate(count * 4, 64);
        if (direct) {
            ConvGemm.Packed p = ConvGemm.pack(w, b, g.group(), g.m() / g.group(), g.kdim(), ConvDirect.MR);
            ConvDirect.conv(ctx, g.layout(), g.n(), g.c(), p, g.kh() * g.kw(), x, y, ep, transposed);
        } else {
            ConvGemm.Packed p = ConvGemm.pack(w, b, g.group(), g.m() / g.group(), g.kdim(), ConvGemm.MR);
            ConvGemm.conv(ctx, g.layout(), g.n(), g.c(), p, g.kh() * g.kw(), x, y, ep);
        }
        return y.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
    }

    private void check(Random rnd, Geo g, boolean residual, boolean clamp) {
        MemorySegment x = random(rnd, (long) g.n() * g.c() * g.ih() * g.iw());
        MemorySegment w = random(rnd, (long) g.m() * g.kdim());
        MemorySegment b = random(rnd, g.m());
        MemorySegment z = residual ? random(rnd, (long) g.n() * g.m() * g.oh() * g.ow()) : null;
        ConvEpilogue ep = new ConvEpilogue(z, clamp, -0.5f, 1.5f);
        float[] direct = run(new ArenaContext(arena), g, true, x, w, b, ep);
        float[] direct3 = run(three, g, true, x, w, b, ep);
        three.reset();
        assertArrayEquals(twin(g, x, w, b, z, ep), direct, g + ": direct kernel vs its scalar twin");
        if (ConvDirect.TRANSPOSE) {
            assertArrayEquals(direct, run(new ArenaContext(arena), g, true, false, x, w, b, ep), g + ": gathering store");
        }
        assertArrayEquals(direct, direct3, g + ": 1 vs 3 threads");
        assertArrayEquals(run(new ArenaContext(arena), g, false, x, w, b, ep), direct, g + ": direct kernel vs ConvGemm");
        double[] ref = reference(g, x, w, b, z, ep);
        double tol = 1e-5 * Math.sqrt(g.kdim()) * 8;
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], direct[i], tol * Math.max(1, Math.abs(ref[i])), g + " at " + i);
        }
    }

    @Test
    void batchSplitReadsLeast() {
        // ResNet-18 at batch 8, eight tasks: 14x14 256->256 (input 2.1 MB, weights 2.4 MB), 7x7 512->512 (1.3 / 9.4 MB),
        // 56x56 64->64 (6.9 MB / 147 KB), 3x3/2 128->256 (3.7 / 1.2 MB).
        assertEquals(4, ConvDirect.leastTraffic(8, 8, 2_100_000, 2_400_000));
        assertEquals(8, ConvDirect.leastTraffic(16, 8, 1_300_000, 9_400_000));
        assertEquals(1, ConvDirect.leastTraffic(2, 8, 6_900_000, 147_000));
        assertEquals(2, ConvDirect.leastTraffic(8, 8, 3_700_000, 1_200_000));
        assertEquals(1, ConvDirect.leastTraffic(1, 8, 100, 1_000_000_000));
    }

    @Test
    void matchesTwinConvGemmAndReference() {
        assumeTrue(ConvDirect.MR == ConvSmallPlane.MR);
        Random rnd = new Random(11);
        // ResNet-18 shapes, reduced: 3x3 stride 1 and 2, the 7x7/2 stem, the 1x1/2 downsample.
        check(rnd, new Geo(1, 16, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 16, 28, 28, 32, 3, 3, 1, 2, 1, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(1, 3, 32, 32, 64, 7, 7, 1, 2, 1, 3, 3, 3, 3), false, true);
        check(rnd, new Geo(1, 32, 14, 14, 64, 1, 1, 1, 2, 1, 0, 0, 0, 0), false, false);
        // 1x1/2 downsamples: rows of 28 and 14 (phase planes), 7 wide straight from X (kernelPairS2, pairs across
        // images, an odd last row), odd input sizes, residual and clamp.
        check(rnd, new Geo(2, 24, 56, 56, 40, 1, 1, 1, 2, 1, 0, 0, 0, 0), true, true);
        check(rnd, new Geo(3, 17, 27, 28, 33, 1, 1, 1, 2, 1, 0, 0, 0, 0), true, false);
        check(rnd, new Geo(5, 16, 13, 13, 64, 1, 1, 1, 2, 1, 0, 0, 0, 0), false, true);
        check(rnd, new Geo(1, 8, 14, 14, 70, 1, 1, 1, 2, 1, 0, 0, 0, 0), true, true);
        // Odd channel counts (3, 17, 33), M off the panel width, planes 1x1, 5x7, 7x7, 13x11, batch 1-3.
        check(rnd, new Geo(2, 17, 7, 7, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, false);
        check(rnd, new Geo(3, 33, 5, 7, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 3, 13, 11, 40, 3, 3, 1, 1, 1, 0, 2, 1, 0), false, false);
        check(rnd, new Geo(2, 33, 1, 1, 50, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, true);
        check(rnd, new Geo(2, 17, 13, 11, 71, 3, 3, 1, 2, 1, 1, 1, 1, 1), true, true);
        // Row widths off the tile (tail tiles of 1..13 positions), a span of several rows, dilation, rectangular kernels,
        // asymmetric pads, stride 3, groups.
        check(rnd, new Geo(1, 9, 40, 31, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(1, 12, 11, 19, 36, 3, 3, 1, 1, 2, 2, 2, 2, 2), true, false);
        check(rnd, new Geo(2, 20, 10, 17, 34, 2, 3, 2, 1, 1, 1, 0, 0, 2), true, true);
        check(rnd, new Geo(1, 16, 17, 15, 9, 3, 3, 1, 3, 1, 1, 1, 1, 1), false, false);
        // Planes 7 wide (two rows per tile, the last of an odd plane alone): stride 2 into 7x7, 1x1 at batch 2, 7x5.
        check(rnd, new Geo(1, 20, 14, 14, 40, 3, 3, 1, 2, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(2, 40, 7, 7, 50, 1, 1, 1, 1, 1, 0, 0, 0, 0), true, false);
        check(rnd, new Geo(3, 9, 5, 7, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, true);
        // Pairs across images (an image's last row with the next one's first): batch 8 of 7x7 (spans of two images,
        // task splits at even rows), batch 5 of 3x7 (15 rows: the chunk's last row alone).
        check(rnd, new Geo(8, 24, 7, 7, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(5, 10, 3, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1), false, true);
        // Stride 2 over wide rows (the vector fill's selections and its overrunning last vector), dilation 2, odd pads.
        check(rnd, new Geo(1, 5, 37, 70, 20, 3, 3, 1, 2, 1, 1, 2, 0, 1), true, true);
        check(rnd, new Geo(2, 4, 30, 45, 33, 5, 5, 1, 2, 2, 2, 2, 2, 2), false, false);
        // Weights many times the input (the panels-first split).
        check(rnd, new Geo(1, 64, 7, 7, 200, 3, 3, 1, 1, 1, 1, 1, 1, 1), true, true);
    }
}
