package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link NchwcDepthwise#conv} against its scalar twin (bit for bit, every lane) and against {@link Nchwc#reference}
 * (relative 1e-5) on random depthwise shapes: channel counts with pad lanes, odd planes, 3x3 / 5x5 / 1x3 kernels,
 * strides 1-3, symmetric and asymmetric pads, dilation 2, batches 1-3, the epilogues; 1 and 3 threads give the same
 * floats; pad lanes hold ep(0 + residual pad lane). {@link NchwcDepthwiseAllocationTest} checks that warm calls
 * allocate no heap.
 */
class NchwcDepthwiseTest {
    private static final ValueLayout.OfFloat F = Tensor.F32;
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
        arena.close();
    }

    /** A depthwise geometry from the input plane, kernel, strides, dilations and the four pads. */
    private static Nchwc.Geometry geometry(int n, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                                           int pt, int pl, int pb, int pr) {
        int oh = (h + pt + pb - (kh - 1) * dh - 1) / sh + 1;
        int ow = (w + pl + pr - (kw - 1) * dw - 1) / sw + 1;
        return new Nchwc.Geometry(n, c, c, c, h, w, kh, kw, oh, ow, sh, sw, dh, dw, pt, pl);
    }

    private MemorySegment random(Random rnd, long count) {
        MemorySegment seg = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(F, i, (float) rnd.nextGaussian());
        }
        return seg;
    }

    private MemorySegment output(Nchwc.Geometry g) {
        MemorySegment y = arena.allocate(g.outputFloats() * 4, 64);
        y.fill((byte) 0x7f);
        return y;
    }

    private void check(Random rnd, Nchwc.Geometry g, boolean bias, int epilogue) {
        MemorySegment x = random(rnd, g.inputFloats());
        MemorySegment w = random(rnd, (long) g.c() * g.kh() * g.kw());
        MemorySegment b = bias ? random(rnd, g.c()) : null;
        MemorySegment z = epilogue == 2 ? random(rnd, g.outputFloats()) : null;
        ConvEpilogue ep = switch (epilogue) {
            case 0 -> ConvEpilogue.NONE;
            case 1 -> ConvEpilogue.clamp(0f, 6f);
            default -> ConvEpilogue.clamp(-0.5f, 1.5f).withResidual(z);
        };
        NchwcDepthwise.Packed p = NchwcDepthwise.pack(arena, w, b, g.c(), g.kh(), g.kw());
        MemorySegment one = output(g);
        MemorySegment threaded = output(g);
        MemorySegment scalar = output(g);
        MemorySegment ref = output(g);
        NchwcDepthwise.conv(new ArenaContext(arena), p, g, x, one, ep);
        NchwcDepthwise.conv(three, p, g, x, threaded, ep);
        three.reset();
        NchwcDepthwise.convScalar(p, g, x, scalar, ep);
        Nchwc.reference(g, false, x, w, b, ref, ep);
        float[] vy = one.toArray(ValueLayout.JAVA_FLOAT);
        assertArrayEquals(scalar.toArray(ValueLayout.JAVA_FLOAT), vy, g + " " + ep + ": conv vs convScalar");
        assertArrayEquals(vy, threaded.toArray(ValueLayout.JAVA_FLOAT), g + ": 1 vs 3 threads");
        int cb = Nchwc.blocks(g.c());
        for (int n = 0; n < g.n(); n++) {
            for (int c = 0; c < cb * Nchwc.BLOCK; c++) {
                for (int oy = 0; oy < g.oh(); oy++) {
                    for (int ox = 0; ox < g.ow(); ox++) {
                        long i = Nchwc.index(n, c, oy, ox, cb, g.oh(), g.ow());
                        float r = ref.getAtIndex(F, i);
                        float v = vy[(int) i];
                        if (c < g.c()) {
                            if (!(Math.abs(r - v) <= 1e-5f * Math.max(1f, Math.abs(r)))) {
                                fail(g + " at " + n + "," + c + "," + oy + "," + ox + ": " + v + ", reference " + r);
                            }
                        } else {
                            float pad = ep.apply(0f, z == null ? 0f : z.getAtIndex(F, i));
                            if (!Float.isFinite(v) || v != pad) {
                                fail(g + ": pad lane " + c + " at " + n + "," + oy + "," + ox + " is " + v + ", not " + pad);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void mobileNetShapes() {
        Random rnd = new Random(1);
        check(rnd, geometry(1, 32, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), true, 1);
        check(rnd, geometry(1, 96, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), true, 1);
        check(rnd, geometry(1, 144, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), true, 2);
        check(rnd, geometry(1, 144, 56, 56, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), true, 1);
        check(rnd, geometry(1, 576, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1), true, 1);
        check(rnd, geometry(1, 960, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), true, 1);
    }

    @Test
    void padLanesAndOddPlanes() {
        Random rnd = new Random(2);
        int[] channels = {16, 24, 48, 104};
        int[][] planes = {{1, 1}, {7, 7}, {13, 11}, {14, 14}, {17, 15}, {3, 16}};
        for (int c : channels) {
            for (int[] hw : planes) {
                for (int s = 1; s <= 2; s++) {
                    int epilogue = rnd.nextInt(3);
                    check(rnd, geometry(1 + rnd.nextInt(3), c, hw[0], hw[1], 3, 3, s, s, 1, 1, 1, 1, 1, 1),
                            rnd.nextBoolean(), epilogue);
                }
            }
        }
    }

    @Test
    void otherKernelsStridesPadsDilations() {
        Random rnd = new Random(3);
        // kernel, strides, dilations, pads (top, left, bottom, right)
        int[][] cases = {
            {5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
            {1, 3, 1, 1, 1, 1, 0, 1, 0, 1},
            {3, 3, 3, 3, 1, 1, 1, 1, 1, 1},
            {3, 3, 1, 1, 2, 2, 2, 2, 2, 2},
            {3, 3, 1, 1, 1, 1, 0, 0, 0, 0},
            {3, 3, 2, 2, 1, 1, 0, 1, 1, 0},
            {3, 3, 1, 2, 1, 1, 2, 0, 1, 2},
            {5, 5, 2, 2, 1, 1, 2, 2, 1, 1},
            {3, 3, 2, 1, 1, 1, 1, 1, 1, 1},
        };
        int[] channels = {16, 24, 48, 104};
        int[][] planes = {{7, 7}, {13, 11}, {14, 14}, {1, 1}};
        int i = 0;
        for (int[] k : cases) {
            for (int[] hw : planes) {
                int c = channels[i++ % channels.length];
                Nchwc.Geometry g = geometry(1 + rnd.nextInt(3), c, hw[0], hw[1], k[0], k[1], k[2], k[3], k[4], k[5],
                        k[6], k[7], k[8], k[9]);
                if (g.oh() > 0 && g.ow() > 0) {
                    check(rnd, g, rnd.nextBoolean(), rnd.nextInt(3));
                }
            }
        }
    }
}
