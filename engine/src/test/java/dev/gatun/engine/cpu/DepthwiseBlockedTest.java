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
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link DepthwiseBlocked} (16 channels per vector) against its twin, {@link DepthwiseConv}'s per-plane loops, and a
 * double-precision reference: 3x3 depthwise, stride 1 and 2, pads 0 and 1 (asymmetric too), planes from 4x4 to
 * 112x112 (widths off and on a multiple of 16; the output buffer shifted many times), batch 1-3, channels 16-48, with and
 * without residual and clamp, on 1 and 3 threads; and which geometries it takes.
 */
class DepthwiseBlockedTest {
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
    }

    /** Batch, channels, input size, stride, begin and end pads. */
    private record Geo(int n, int c, int ih, int iw, int s, int pt, int pl, int pb, int pr) {
        int oh() {
            return (ih + pt + pb - 3) / s + 1;
        }

        int ow() {
            return (iw + pl + pr - 3) / s + 1;
        }

        PhaseLayout layout() {
            return new PhaseLayout(ih, iw, oh(), ow(), 3, 3, s, s, 1, 1, pt, pl);
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
        double[] y = new double[g.n() * g.c() * oh * ow];
        for (int n = 0; n < g.n(); n++) {
            for (int c = 0; c < g.c(); c++) {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        int at = ((n * g.c() + c) * oh + oy) * ow + ox;
                        double acc = b.getAtIndex(Tensor.F32, c);
                        for (int ky = 0; ky < 3; ky++) {
                            int r = oy * g.s() + ky - g.pt();
                            for (int kx = 0; kx < 3; kx++) {
                                int q = ox * g.s() + kx - g.pl();
                                if (r >= 0 && r < g.ih() && q >= 0 && q < g.iw()) {
                                    acc += (double) x.getAtIndex(Tensor.F32, ((long) (n * g.c() + c) * g.ih() + r) * g.iw() + q)
                                            * w.getAtIndex(Tensor.F32, c * 9L + ky * 3 + kx);
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

    private float[] run(KernelContext ctx, Geo g, boolean blocked, MemorySegment x, MemorySegment w, MemorySegment b, ConvEpilogue ep) {
        long count = (long) g.n() * g.c() * g.oh() * g.ow();
        MemorySegment y = arena.allocate(count * 4, 64);
        if (blocked) {
            DepthwiseBlocked.conv(ctx, g.layout(), g.n(), g.c(), x, w, b, y, ep);
        } else {
            DepthwiseConv.planes(ctx, g.layout(), g.n(), g.c(), 1, 9, x, w, b, y, ep);
        }
        return y.toArray(ValueLayout.JAVA_FLOAT);
    }

    private void check(Random rnd, Geo g, boolean residual, boolean clamp) {
        assertTrue(DepthwiseBlocked.suits(g.layout(), g.c(), 1), g + " should suit");
        // X exactly its size (no slack after it): the last rows' reads past the row end must not leave it.
        MemorySegment x = random(rnd, (long) g.n() * g.c() * g.ih() * g.iw());
        MemorySegment w = random(rnd, g.c() * 9L);
        MemorySegment b = random(rnd, g.c());
        MemorySegment z = residual ? random(rnd, (long) g.n() * g.c() * g.oh() * g.ow()) : null;
        ConvEpilogue ep = new ConvEpilogue(z, clamp, -0.5f, 1.5f);
        float[] twin = run(new ArenaContext(arena), g, false, x, w, b, ep);
        float[] one = run(new ArenaContext(arena), g, true, x, w, b, ep);
        float[] more = run(three, g, true, x, w, b, ep);
        three.reset();
        assertArrayEquals(one, more, g + ": 1 vs 3 threads");
        double[] ref = reference(g, x, w, b, z, ep);
        double tol = 1e-5 * 8;
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], one[i], tol * Math.max(1, Math.abs(ref[i])), g + " at " + i);
            assertEquals(twin[i], one[i], 2 * tol * Math.max(1, Math.abs(twin[i])), g + " vs the per-plane loops at " + i);
        }
    }

    @Test
    void matchesPlaneLoopsAndReference() {
        assumeTrue(FloatVector.SPECIES_PREFERRED.length() == 16, "16-lane vectors only");
        Random rnd = new Random(11);
        // MobileNetV2's shapes (channels cut down): 112 s1 (row by row), 112 -> 56, 56 s1/s2, 28, 14, 7.
        check(rnd, new Geo(1, 32, 112, 112, 1, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(1, 16, 112, 112, 2, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(1, 48, 56, 56, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 16, 56, 56, 2, 1, 1, 1, 1), false, false);
        check(rnd, new Geo(2, 32, 28, 28, 2, 1, 1, 1, 1), true, false);
        check(rnd, new Geo(1, 16, 14, 14, 1, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(3, 48, 14, 14, 2, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(2, 16, 7, 7, 1, 1, 1, 1, 1), true, false);
        // Odd sizes, no pads, asymmetric pads (TF-style "same" for stride 2: none before, one after).
        check(rnd, new Geo(1, 16, 13, 11, 1, 1, 1, 1, 1), false, false);
        check(rnd, new Geo(2, 32, 13, 11, 2, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 16, 13, 11, 1, 0, 0, 0, 0), false, true);
        check(rnd, new Geo(3, 16, 14, 14, 2, 0, 0, 1, 1), false, false);
        check(rnd, new Geo(1, 48, 9, 33, 2, 1, 0, 0, 1), true, false);
        check(rnd, new Geo(1, 16, 4, 4, 1, 1, 1, 1, 1), true, true);
        // End pads of 2 and 3: output rows and columns whose taps lie wholly past the plane.
        check(rnd, new Geo(1, 16, 9, 9, 1, 1, 1, 2, 2), false, true);
        check(rnd, new Geo(2, 32, 10, 17, 2, 0, 1, 3, 3), true, false);
        // Wide and narrow planes with many buffer shifts and a last partial group reaching back before a shift.
        check(rnd, new Geo(1, 16, 80, 64, 1, 1, 1, 1, 1), true, true);
        check(rnd, new Geo(1, 16, 61, 3, 1, 1, 1, 1, 1), true, false);
        check(rnd, new Geo(2, 16, 100, 100, 1, 1, 1, 1, 1), false, true);
        check(rnd, new Geo(1, 16, 121, 5, 2, 1, 1, 1, 1), false, false);
    }

    @Test
    void suitsOnlyItsGeometries() {
        assumeTrue(FloatVector.SPECIES_PREFERRED.length() == 16, "16-lane vectors only");
        PhaseLayout same = new PhaseLayout(56, 56, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1);
        assertTrue(DepthwiseBlocked.suits(same, 144, 1));
        assertFalse(DepthwiseBlocked.suits(same, 24, 1), "channels not a multiple of 16");
        assertFalse(DepthwiseBlocked.suits(same, 144, 2), "two outputs per group");
        assertFalse(DepthwiseBlocked.suits(new PhaseLayout(56, 56, 54, 54, 3, 3, 1, 1, 2, 2, 1, 1), 144, 1), "dilation");
        assertFalse(DepthwiseBlocked.suits(new PhaseLayout(56, 56, 56, 56, 5, 5, 1, 1, 1, 1, 2, 2), 144, 1), "5x5");
        assertFalse(DepthwiseBlocked.suits(new PhaseLayout(57, 57, 19, 19, 3, 3, 3, 3, 1, 1, 0, 0), 144, 1), "stride 3");
        assertFalse(DepthwiseBlocked.suits(new PhaseLayout(3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1), 16, 1), "under 16 outputs");
    }
}
