package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.PrepackCache;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The float32 convolution paths (implicit GEMM over phase planes, packed 1x1, batched images, depthwise flat /
 * stride 2 / phased loops, im2col fallback) against a scalar reference on random shapes, and the same results
 * whatever the thread count and whether the weights were prepacked at plan time. FusedConv's residual and
 * activation, fused in the store or applied after.
 */
class ConvPathsTest {
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
    }

    /** One 2-D (h > 0) or 1-D (h == 0) convolution. */
    private record Geo(int n, int c, int h, int w, int m, int kh, int kw, int group, int sh, int sw, int dh, int dw, int[] pads) {
        boolean oneD() {
            return h == 0;
        }

        long[] xDims() {
            return oneD() ? new long[] {n, c, w} : new long[] {n, c, h, w};
        }

        long[] wDims() {
            return oneD() ? new long[] {m, c / group, kw} : new long[] {m, c / group, kh, kw};
        }

        int oh() {
            return oneD() ? 1 : Math.floorDiv(h + pads[0] + pads[2] - (kh - 1) * dh - 1, sh) + 1;
        }

        int ow() {
            return oneD() ? Math.floorDiv(w + pads[0] + pads[1] - (kw - 1) * dw - 1, sw) + 1
                    : Math.floorDiv(w + pads[1] + pads[3] - (kw - 1) * dw - 1, sw) + 1;
        }

        long[] yDims() {
            return oneD() ? new long[] {n, m, ow()} : new long[] {n, m, oh(), ow()};
        }

        Attributes attrs(Object... extra) {
            List<Object> kv = new ArrayList<>(List.of("group", (long) group,
                    "strides", oneD() ? new long[] {sw} : new long[] {sh, sw},
                    "dilations", oneD() ? new long[] {dw} : new long[] {dh, dw},
                    "pads", Arrays.stream(pads).asLongStream().toArray()));
            kv.addAll(List.of(extra));
            return DenseOpsTestSupport.attrs(kv.toArray());
        }

        @Override
        public String toString() {
            return "X" + Arrays.toString(xDims()) + " W" + Arrays.toString(wDims()) + " g" + group + " s" + sh + "," + sw
                    + " d" + dh + "," + dw + " p" + Arrays.toString(pads);
        }
    }

    /** Scalar reference: Y = clamp(B + sum X*W + Z) in double. */
    private static double[] reference(Geo g, Tensor x, Tensor w, Tensor b, Tensor z, boolean clamp, double lo, double hi) {
        int oh = g.oh();
        int ow = g.ow();
        int ih = g.oneD() ? 1 : g.h();
        int kh0 = g.oneD() ? 1 : g.kh();
        int cg = g.c() / g.group();
        int mg = g.m() / g.group();
        double[] y = new double[g.n() * g.m() * oh * ow];
        int pt = g.oneD() ? 0 : g.pads()[0];
        int pl = g.oneD() ? g.pads()[0] : g.pads()[1];
        for (int n = 0; n < g.n(); n++) {
            for (int m = 0; m < g.m(); m++) {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int at = ((n * g.m() + m) * oh + oy) * ow + ox;
                        double acc = b == null ? 0 : b.getDouble(m);
                        for (int ci = 0; ci < cg; ci++) {
                            int c = m / mg * cg + ci;
                            for (int kh = 0; kh < kh0; kh++) {
                                int r = oy * g.sh() + kh * g.dh() - pt;
                                for (int kw = 0; kw < g.kw(); kw++) {
                                    int q = ox * g.sw() + kw * g.dw() - pl;
                                    if (r >= 0 && r < ih && q >= 0 && q < g.w()) {
                                        acc += x.getDouble(((long) (n * g.c() + c) * ih + r) * g.w() + q)
                                                * w.getDouble(((long) (m * cg + ci) * kh0 + kh) * g.kw() + kw);
                                    }
                                }
                            }
                        }
                        if (z != null) {
                            acc += z.getDouble(at);
                        }
                        y[at] = clamp ? Math.min(Math.max(acc, lo), hi) : acc;
                    }
                }
            }
        }
        return y;
    }

    /** Runs a node planned with (or without) its weights as plan-time constants, copying the result out of {@code ctx}. */
    private float[] run(KernelContext ctx, String op, String domain, Attributes a, boolean constants, Tensor... in) {
        DType[] types = new DType[in.length];
        Tensor[] consts = new Tensor[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i] == null ? null : in[i].dtype();
            consts[i] = constants && (i == 1 || i == 2) ? in[i] : null;
        }
        NodeSpec spec = new NodeSpec(op + "_0", op, domain, domain.isEmpty() ? 17 : 1, a, types, null, consts, 1)
                .withPrepack(new PrepackCache(arena));
        Tensor y = OpRegistry.plan(spec).kernel().run(ctx, in)[0];
        float[] out = y.toFloatArray();
        if (ctx instanceof Workspace ws) {
            ws.reset();
        }
        return out;
    }

    /**
     * Checks one geometry: Conv (or FusedConv with the given tail) planned with constant weights on one thread, with
     * runtime weights, and on three threads: all bitwise equal, and close to the reference.
     */
    private void check(Random rnd, Geo g, boolean bias, boolean residual, String act) {
        Tensor x = random(arena, rnd, DType.FLOAT, g.xDims());
        Tensor w = random(arena, rnd, DType.FLOAT, g.wDims());
        Tensor b = bias ? random(arena, rnd, DType.FLOAT, g.m()) : null;
        Tensor z = residual ? random(arena, rnd, DType.FLOAT, g.yDims()) : null;
        boolean fused = residual || act != null;
        Attributes a = act == null ? g.attrs() : act.equals("Relu") ? g.attrs("activation", "Relu")
                : g.attrs("activation", "Clip", "clip_min", -0.25f, "clip_max", 0.5f);
        String op = fused ? "FusedConv" : "Conv";
        String domain = fused ? FusedConvOps.DOMAIN : "";
        Tensor[] in = residual ? new Tensor[] {x, w, b, z} : bias ? new Tensor[] {x, w, b} : new Tensor[] {x, w};
        float[] one = run(new ArenaContext(arena), op, domain, a, true, in);
        float[] runtime = run(new ArenaContext(arena), op, domain, a, false, in);
        float[] threads = run(three, op, domain, a, true, in);
        assertArrayEquals(one, runtime, g + ": prepacked vs runtime weights");
        assertArrayEquals(one, threads, g + ": 1 vs 3 threads");
        boolean relu = "Relu".equals(act);
        double[] ref = reference(g, x, w, b, z, act != null, relu ? 0 : -0.25, relu ? Double.POSITIVE_INFINITY : 0.5);
        Tensor got = Tensor.ofFloats(arena, one, g.yDims());
        long terms = (long) g.c() / g.group() * g.kh() * g.kw();
        assertClose(op + " " + g, Shape.of(g.yDims()), ref, got, tolerance(DType.FLOAT, terms));
    }

    private static Geo geo(int n, int c, int h, int w, int m, int k, int group, int s, int d, int pad) {
        return new Geo(n, c, h, w, m, k, k, group, s, s, d, d, new int[] {pad, pad, pad, pad});
    }

    @Test
    void eachPathMatchesReference() {
        Random rnd = new Random(31);
        // Implicit GEMM over phase planes: 3x3 stride 1 and 2, 7x7 stride 2 (the ResNet stem), dilation, odd sizes.
        check(rnd, geo(1, 7, 17, 13, 13, 3, 1, 1, 1, 1), true, false, null);
        check(rnd, geo(2, 5, 15, 16, 9, 3, 1, 2, 1, 1), true, false, null);
        check(rnd, geo(1, 3, 33, 31, 8, 7, 1, 2, 1, 3), true, false, null);
        check(rnd, geo(1, 4, 13, 11, 7, 3, 1, 1, 2, 2), false, false, null);
        check(rnd, new Geo(1, 3, 9, 17, 5, 2, 3, 1, 2, 1, 1, 2, new int[] {0, 1, 2, 0}), true, false, null);
        // Large K (several hundred terms) and more channels than one tile of rows.
        check(rnd, geo(1, 64, 7, 7, 17, 3, 1, 1, 1, 1), true, false, null);
        // 1x1: packed tiles, stride 1 and 2, batched images side by side (batch 3), groups.
        check(rnd, geo(1, 17, 7, 7, 33, 1, 1, 1, 1, 0), true, false, null);
        check(rnd, geo(3, 9, 7, 5, 13, 1, 1, 1, 1, 0), true, false, null);
        // 1x1 from X with small K: several tiles packed per pass over X's rows, a ragged last group and tile
        // (39x41 = 1599 positions, 50 tiles), batch 2 image by image, split over threads.
        check(rnd, geo(2, 20, 39, 41, 19, 1, 1, 1, 1, 0), true, true, "Clip");
        check(rnd, geo(1, 3, 39, 41, 16, 1, 1, 1, 1, 0), false, false, null);
        check(rnd, geo(2, 8, 9, 11, 7, 1, 1, 2, 1, 0), false, false, null);
        check(rnd, geo(3, 6, 5, 5, 9, 1, 3, 1, 1, 0), true, false, null);
        // 1xK kernels batch 2 (images side by side, shifted taps in a row), groups of 3x3.
        check(rnd, new Geo(2, 4, 5, 13, 6, 1, 3, 1, 1, 1, 1, 1, new int[] {0, 1, 0, 1}), true, false, null);
        check(rnd, geo(2, 6, 9, 7, 8, 3, 2, 1, 1, 1), true, false, null);
        // Depthwise: flat "same" loop (3x3, 5x5, dilated), stride-2 3x3 (pads 1 and 0, odd widths), phased others,
        // channel multiplier.
        check(rnd, geo(2, 5, 7, 33, 5, 3, 5, 1, 1, 1), true, false, null);
        check(rnd, geo(1, 3, 9, 9, 3, 5, 3, 1, 1, 2), false, false, null);
        check(rnd, geo(1, 3, 11, 10, 3, 3, 3, 1, 2, 2), true, false, null);
        check(rnd, geo(1, 4, 17, 35, 4, 3, 4, 2, 1, 1), true, false, null);
        check(rnd, geo(2, 3, 16, 15, 3, 3, 3, 2, 1, 0), true, false, null);
        check(rnd, geo(1, 2, 13, 13, 2, 3, 2, 3, 1, 1), true, false, null);
        check(rnd, geo(1, 3, 8, 9, 6, 3, 3, 1, 1, 0), false, false, null);
        check(rnd, geo(1, 4, 5, 5, 8, 3, 4, 2, 1, 1), true, false, null);
        // Stride-2 3x3 into narrow rows (7 and 6 wide), fused epilogues.
        check(rnd, geo(1, 6, 14, 14, 6, 3, 6, 2, 1, 1), true, true, "Clip");
        check(rnd, new Geo(2, 5, 13, 11, 5, 3, 3, 5, 2, 2, 1, 1, new int[] {1, 1, 0, 1}), true, true, "Relu");
        // im2col fallback: a layout mostly garbage (7x7 kernel on a 7x7 input, one output column).
        check(rnd, geo(1, 5, 7, 7, 6, 7, 1, 1, 1, 0), true, false, null);
        // 1-D convolutions (height 1): GEMM, depthwise.
        check(rnd, new Geo(2, 6, 0, 33, 5, 1, 3, 1, 1, 2, 1, 1, new int[] {1, 1}), true, false, null);
        check(rnd, new Geo(1, 4, 0, 17, 4, 1, 3, 4, 1, 1, 1, 1, new int[] {1, 1}), true, false, null);
    }

    @Test
    void kBlocksPanelSplitsAndPerImageBuffers() {
        Random rnd = new Random(36);
        // K of many blocks (c*9 = 2700 terms), output channels not a multiple of the panel height, small plane:
        // the weights outweigh the input, so tasks split over panels.
        check(rnd, geo(1, 300, 7, 7, 19, 3, 1, 1, 1, 1), true, false, null);
        check(rnd, geo(1, 131, 9, 8, 45, 3, 1, 2, 1, 1), true, true, "Relu");
        // More images than tasks: each task fills its own image's phase planes (with groups, K over two blocks).
        check(rnd, geo(13, 8, 11, 9, 6, 3, 1, 1, 1, 1), true, false, null);
        check(rnd, geo(7, 70, 6, 7, 10, 3, 2, 1, 1, 1), true, true, "Clip");
        // 3x3 stride 1 on planes too big for ConvSmallPlane, K over two blocks: B rows read straight from the phase
        // planes (whole channels per block; one image and a shared buffer, two images with groups and per-task planes).
        check(rnd, geo(1, 40, 23, 21, 19, 3, 1, 1, 1, 1), true, true, "Relu");
        check(rnd, geo(2, 66, 17, 19, 18, 3, 2, 1, 1, 1), true, false, null);
        // 1x1 stride 1, one image: B tiles packed straight from X (a partial last tile; K in one and in two blocks,
        // and small K; with a residual through the register store).
        check(rnd, geo(1, 33, 20, 19, 10, 1, 1, 1, 1, 0), true, false, null);
        check(rnd, geo(1, 16, 23, 21, 40, 1, 1, 1, 1, 0), true, true, "Clip");
        check(rnd, geo(1, 5, 9, 8, 17, 1, 1, 1, 1, 0), false, true, null);
        check(rnd, geo(1, 300, 19, 20, 17, 1, 1, 1, 1, 0), true, false, null);
        check(rnd, geo(1, 40, 13, 11, 16, 1, 1, 1, 1, 0), true, true, "Relu");
        // 1x1 stride 1 on planes of at least ConvGemm.FROM_X_PLANE outputs, batch > 1: image by image from X
        // (partial last tiles per image; residual through the register store; K over two blocks).
        check(rnd, geo(3, 16, 24, 23, 10, 1, 1, 1, 1, 0), true, true, "Clip");
        check(rnd, geo(2, 300, 23, 24, 17, 1, 1, 1, 1, 0), false, false, null);
        // The same with a K of 144 (MobileNetV2's projections: groups of eight tiles, 144 KB of packed B).
        check(rnd, geo(3, 144, 23, 25, 24, 1, 1, 1, 1, 0), true, true, "Clip");
        // 1x1 with K over two blocks, batched images and strided.
        check(rnd, geo(3, 301, 5, 5, 17, 1, 1, 1, 1, 0), true, false, null);
        check(rnd, geo(13, 290, 6, 6, 9, 1, 1, 2, 1, 0), false, false, null);
    }

    @Test
    void randomGeometriesMatchReference() {
        Random rnd = new Random(32);
        int[] sizes = {1, 5, 7, 13, 17, 33};
        int ran = 0;
        for (int trial = 0; trial < 120; trial++) {
            int k = new int[] {1, 2, 3, 5}[rnd.nextInt(4)];
            int s = 1 + rnd.nextInt(3);
            int d = k > 1 && rnd.nextInt(4) == 0 ? 2 : 1;
            int c = new int[] {1, 3, 4, 6}[rnd.nextInt(4)];
            int group = switch (rnd.nextInt(3)) {
                case 0 -> c;
                case 1 -> c % 2 == 0 ? 2 : 1;
                default -> 1;
            };
            int m = group * (1 + rnd.nextInt(7));
            int[] pads = new int[4];
            for (int i = 0; i < 4; i++) {
                pads[i] = rnd.nextInt(k);
            }
            Geo g = new Geo(1 + rnd.nextInt(3), c, sizes[rnd.nextInt(sizes.length)], sizes[rnd.nextInt(sizes.length)], m,
                    k, k, group, s, s, d, d, pads);
            if (g.oh() <= 0 || g.ow() <= 0) {
                continue;
            }
            check(rnd, g, rnd.nextBoolean(), false, null);
            ran++;
        }
        assertTrue(ran > 80, "only " + ran + " random cases ran");
    }

    @Test
    void fusedResidualAndActivations() {
        Random rnd = new Random(33);
        for (String act : new String[] {null, "Relu", "Clip"}) {
            check(rnd, geo(2, 6, 9, 7, 8, 3, 1, 1, 1, 1), true, true, act);
            check(rnd, geo(1, 16, 7, 7, 24, 1, 1, 1, 1, 0), true, true, act);
            check(rnd, geo(3, 5, 7, 5, 7, 1, 1, 1, 1, 0), false, true, act);
            check(rnd, geo(1, 4, 15, 17, 4, 3, 4, 2, 1, 1), true, true, act);
            check(rnd, geo(1, 4, 6, 6, 4, 3, 4, 1, 1, 1), true, true, act);
            check(rnd, geo(1, 5, 7, 7, 6, 7, 1, 1, 1, 0), true, true, act);
            check(rnd, geo(1, 3, 9, 11, 5, 3, 1, 1, 1, 1), true, false, act);
        }
    }

    @Test
    void fusedResidualThatBroadcastsAndOtherTypes() {
        Random rnd = new Random(34);
        Geo g = geo(1, 3, 5, 6, 4, 3, 1, 1, 1, 1);
        Attributes a = g.attrs("activation", "Relu");
        Tensor x = random(arena, rnd, DType.FLOAT, g.xDims());
        Tensor w = random(arena, rnd, DType.FLOAT, g.wDims());
        Tensor b = random(arena, rnd, DType.FLOAT, 4);
        // Z of shape [4, 1, 1] broadcasts over the output: Add's semantics, applied after the convolution.
        Tensor z = random(arena, rnd, DType.FLOAT, 4, 1, 1);
        float[] y = run(new ArenaContext(arena), "FusedConv", FusedConvOps.DOMAIN, a, true, x, w, b, z);
        double[] conv = reference(g, x, w, b, null, false, 0, 0);
        int plane = g.oh() * g.ow();
        for (int i = 0; i < y.length; i++) {
            assertEquals(Math.max(0, conv[i] + z.getDouble(i / plane)), y[i], 1e-4, "element " + i);
        }
        // A residual bigger than Y: the output takes the broadcast shape, as Add's would.
        Tensor big = random(arena, rnd, DType.FLOAT, 2, 4, g.oh(), g.ow());
        Tensor out = OpRegistry.plan(new NodeSpec("f", "FusedConv", FusedConvOps.DOMAIN, 1, a,
                new DType[] {DType.FLOAT, DType.FLOAT, DType.FLOAT, DType.FLOAT}, null, null, 1))
                .kernel().run(new ArenaContext(arena), new Tensor[] {x, w, b, big})[0];
        assertEquals(Shape.of(2, 4, g.oh(), g.ow()), out.shape());
        for (int i = 0; i < out.size(); i++) {
            assertEquals(Math.max(0, conv[i % conv.length] + big.getDouble(i)), out.getDouble(i), 1e-4, "element " + i);
        }
        // double: the scalar convolution, then the tail.
        Tensor xd = random(arena, rnd, DType.DOUBLE, g.xDims());
        Tensor wd = random(arena, rnd, DType.DOUBLE, g.wDims());
        Tensor zd = random(arena, rnd, DType.DOUBLE, g.yDims());
        Attributes clip = g.attrs("activation", "Clip", "clip_min", -0.25f, "clip_max", 0.5f);
        Tensor yd = OpRegistry.plan(new NodeSpec("f", "FusedConv", FusedConvOps.DOMAIN, 1, clip,
                new DType[] {DType.DOUBLE, DType.DOUBLE, null, DType.DOUBLE}, null, null, 1))
                .kernel().run(new ArenaContext(arena), new Tensor[] {xd, wd, null, zd})[0];
        assertClose("FusedConv double", Shape.of(g.yDims()), reference(g, xd, wd, null, zd, true, -0.25, 0.5), yd, 1e-12);
    }

    @Test
    void fusedConvRefusesUnknownActivation() {
        Attributes a = attrs("activation", "Gelu");
        EngineException e = assertThrows(EngineException.class, () -> OpRegistry.plan(new NodeSpec("fc7", "FusedConv",
                FusedConvOps.DOMAIN, 1, a, new DType[] {DType.FLOAT, DType.FLOAT}, null, null, 1)));
        assertTrue(e.getMessage().contains("fc7") && e.getMessage().contains("Gelu"), e.getMessage());
    }

    @Test
    void convTransposeSameOnThreeThreads() {
        Random rnd = new Random(35);
        Tensor x = random(arena, rnd, DType.FLOAT, 2, 6, 5, 7);
        Tensor w = random(arena, rnd, DType.FLOAT, 6, 5, 3, 3);
        Tensor b = random(arena, rnd, DType.FLOAT, 10);
        Attributes a = attrs("group", 2L, "strides", new long[] {2, 2}, "pads", new long[] {1, 0, 1, 1});
        float[] one = run(new ArenaContext(arena), "ConvTranspose", "", a, false, x, w, b);
        float[] threads = run(three, "ConvTranspose", "", a, false, x, w, b);
        assertArrayEquals(one, threads);
    }
}
