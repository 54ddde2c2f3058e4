package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link NchwcPool#maxPool} against its scalar twin and a plain NCHW reference (windows clipped to the input, -inf
 * when empty) on odd planes, kernels, strides, dilations and pads, one and three threads.
 */
class NchwcPoolTest {
    /** A session's context: the workspace with {@code threads} intra-op threads (its pool). */
    private static final Workspace ONE = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 1);
    private static final Workspace THREE = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    private static KernelContext ctx(int threads) {
        return threads == 1 ? ONE : THREE;
    }

    @Test
    void maxPoolEqualsTheReference() {
        Random r = new Random(11);
        // planes, h, w, kh, kw, sh, sw, dh, dw, padTop, padLeft, padBottom, padRight
        int[][] cases = {{4, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, {3, 7, 9, 2, 3, 1, 2, 1, 1, 0, 1, 1, 0},
                {2, 13, 11, 3, 3, 3, 2, 2, 1, 2, 0, 2, 2}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {5, 6, 5, 4, 4, 1, 1, 1, 1, 3, 3, 3, 3}};
        for (int[] c : cases) {
            int planes = c[0], h = c[1], w = c[2], kh = c[3], kw = c[4], sh = c[5], sw = c[6], dh = c[7], dw = c[8];
            int oh = (h + c[9] + c[11] - ((kh - 1) * dh + 1)) / sh + 1;
            int ow = (w + c[10] + c[12] - ((kw - 1) * dw + 1)) / sw + 1;
            NchwcPool.Window g = new NchwcPool.Window(planes, h, w, oh, ow, kh, kw, sh, sw, dh, dw, c[9], c[10]);
            try (Arena a = Arena.ofShared()) {
                MemorySegment x = a.allocate((long) planes * h * w * 64, 64);
                for (long i = 0; i < x.byteSize() / 4; i++) {
                    x.setAtIndex(Tensor.F32, i, r.nextFloat() * 2 - 1);
                }
                MemorySegment twin = a.allocate((long) planes * oh * ow * 64, 64);
                NchwcPool.maxPoolScalar(g, x, twin);
                for (int p = 0; p < planes; p++) {
                    for (int oy = 0; oy < oh; oy++) {
                        for (int ox = 0; ox < ow; ox++) {
                            for (int l = 0; l < 16; l++) {
                                float m = Float.NEGATIVE_INFINITY;
                                for (int iy = 0; iy < h; iy++) {
                                    for (int ix = 0; ix < w; ix++) {
                                        int ty = iy - (oy * sh - c[9]);
                                        int tx = ix - (ox * sw - c[10]);
                                        if (ty >= 0 && tx >= 0 && ty % dh == 0 && tx % dw == 0 && ty / dh < kh && tx / dw < kw) {
                                            m = Math.max(m, x.getAtIndex(Tensor.F32, (((long) p * h + iy) * w + ix) * 16 + l));
                                        }
                                    }
                                }
                                assertEquals(m, twin.getAtIndex(Tensor.F32, (((long) p * oh + oy) * ow + ox) * 16 + l));
                            }
                        }
                    }
                }
                for (int threads : new int[] {1, 3}) {
                    MemorySegment y = a.allocate(twin.byteSize(), 64);
                    NchwcPool.maxPool(ctx(threads), g, x, y);
                    assertEquals(-1, twin.mismatch(y), java.util.Arrays.toString(c) + " on " + threads + " threads");
                }
            }
        }
    }
}
