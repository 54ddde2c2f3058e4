package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * {@link ConvDirect#convPool} (a MaxPool applied to the convolution's rows as they are computed) against its
 * reference, {@link ConvDirect#conv} followed by a scalar MaxPool over the stored output (positions outside the
 * plane ignored), on random shapes with odd planes, channel counts off the panel width, batches 1 to 3, pads 0 to 3,
 * 2x2/2, 3x3/2, 3x3/1 and 3x2/(1, 3) windows, with and without a clamp: equal bit for bit, on 1 and 3 threads.
 */
class ConvDirectPoolTest {
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
    }

    /** Convolution (batch, channels, input, output channels, square kernel, stride, pad) then the pooling window. */
    private record Geo(int n, int c, int ih, int iw, int m, int k, int s, int p, int pkh, int pkw, int psh, int psw, int ppt, int ppl,
                       int ppb, int ppr) {
        int oh() {
            return (ih + 2 * p - k) / s + 1;
        }

        int ow() {
            return (iw + 2 * p - k) / s + 1;
        }

        ConvDirectPool.Window window() {
            return new ConvDirectPool.Window(pkh, pkw, psh, psw, ppt, ppl, (oh() + ppt + ppb - pkh) / psh + 1, (ow() + ppl + ppr - pkw) / psw + 1);
        }

        PhaseLayout layout() {
            return new PhaseLayout(ih, iw, oh(), ow(), k, k, s, s, 1, 1, p, p);
        }
    }

    private MemorySegment random(Random rnd, long count) {
        MemorySegment seg = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
        }
        return seg;
    }

    /** Scalar MaxPool of {@code y} [n, m, oh, ow] with the window (positions outside the plane ignored). */
    private static float[] pool(Geo g, float[] y) {
        ConvDirectPool.Window w = g.window();
        int oh = g.oh();
        int ow = g.ow();
        float[] out = new float[g.n() * g.m() * w.oh() * w.ow()];
        for (int plane = 0; plane < g.n() * g.m(); plane++) {
            for (int py = 0; py < w.oh(); py++) {
                for (int px = 0; px < w.ow(); px++) {
                    float v = Float.NEGATIVE_INFINITY;
                    for (int i = 0; i < w.kh(); i++) {
                        for (int j = 0; j < w.kw(); j++) {
                            int r = py * w.sh() + i - w.pt();
                            int q = px * w.sw() + j - w.pl();
                            if (r >= 0 && r < oh && q >= 0 && q < ow) {
                                v = Math.max(v, y[(plane * oh + r) * ow + q]);
                            }
                        }
                    }
                    out[(plane * w.oh() + py) * w.ow() + px] = v;
                }
            }
        }
        return out;
    }

    private float[] fused(KernelContext ctx, Geo g, ConvGemm.Packed pw, MemorySegment x, ConvEpilogue ep) {
        ConvDirectPool.Window w = g.window();
        MemorySegment y = arena.allocate((long) g.n() * g.m() * w.oh() * w.ow() * 4, 64);
        ConvDirect.convPool(ctx, g.layout(), g.n(), g.c(), pw, g.k() * g.k(), x, y, ep, w);
        return y.toArray(ValueLayout.JAVA_FLOAT);
    }

    private void check(Random rnd, Geo g, boolean clamp) {
        assertTrue(ConvDirectPool.fits(g.layout(), 1, g.m(), g.window()), g + " fits");
        MemorySegment x = random(rnd, (long) g.n() * g.c() * g.ih() * g.iw());
        MemorySegment w = random(rnd, (long) g.m() * g.c() * g.k() * g.k());
        MemorySegment b = random(rnd, g.m());
        ConvEpilogue ep = clamp ? ConvEpilogue.clamp(0f, 1.25f) : ConvEpilogue.NONE;
        ConvGemm.Packed pw = ConvGemm.pack(w, b, 1, g.m(), g.c() * g.k() * g.k(), ConvDirect.MR);
        MemorySegment y = arena.allocate((long) g.n() * g.m() * g.oh() * g.ow() * 4, 64);
        ConvDirect.conv(new ArenaContext(arena), g.layout(), g.n(), g.c(), pw, g.k() * g.k(), x, y, ep);
        float[] want = pool(g, y.toArray(ValueLayout.JAVA_FLOAT));
        assertArrayEquals(want, fused(new ArenaContext(arena), g, pw, x, ep), g + ": 1 thread");
        assertArrayEquals(want, fused(three, g, pw, x, ep), g + ": 3 threads");
        three.reset();
    }

    @Test
    void matchesConvThenMaxPool() {
        assumeTrue(ConvDirect.TRANSPOSE && ConvDirect.MR == ConvSmallPlane.MR);
        Random rnd = new Random(23);
        // The ResNet stem, reduced: 7x7/2 pad 3, then 3x3/2 pad 1 (conv 23x23 and 16x16: odd and even planes).
        check(rnd, new Geo(1, 3, 45, 45, 64, 7, 2, 3, 3, 3, 2, 2, 1, 1, 1, 1), true);
        check(rnd, new Geo(3, 3, 32, 32, 40, 7, 2, 3, 3, 3, 2, 2, 1, 1, 1, 1), false);
        // 2x2/2 pad 0 over an odd plane (the last row and column dropped), 3x3/2 pad 0, M off the panel width.
        check(rnd, new Geo(3, 16, 27, 25, 33, 3, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0), true);
        check(rnd, new Geo(1, 17, 13, 29, 17, 3, 1, 0, 3, 3, 2, 2, 0, 0, 0, 0), false);
        // Stride 1 pooling (rows shared by three pooled rows), a window 3 x 2 with column stride 3 (the scalar
        // horizontal pass), asymmetric pool pads, wide rows over several tiles.
        check(rnd, new Geo(2, 5, 20, 41, 70, 3, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1), true);
        check(rnd, new Geo(2, 9, 19, 37, 32, 3, 1, 1, 3, 2, 1, 3, 0, 1, 2, 0), false);
        check(rnd, new Geo(1, 3, 61, 57, 31, 7, 2, 3, 3, 3, 2, 2, 1, 0, 0, 1), true);
        // Pads 2 (windows with a single column or row inside), pads 3 (windows wholly in the pads give -inf).
        check(rnd, new Geo(2, 16, 28, 27, 40, 3, 1, 1, 3, 3, 2, 2, 2, 2, 2, 2), true);
        check(rnd, new Geo(1, 16, 14, 29, 32, 3, 1, 1, 3, 3, 2, 2, 3, 3, 3, 3), false);
    }
}
