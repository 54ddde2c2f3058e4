package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link NchwcConv} against its scalar twin (bit for bit), on 1 and 3 threads (bit for bit), and against
 * {@link Nchwc#reference} (within float rounding), on shapes with odd channel counts and planes, 1x1 / 1x3 / 3x3 / 7x7
 * kernels, strides, pads, dilations, blocked or plain input, batches and epilogues; X's pad lanes hold NaN (never read),
 * Y's pad lanes must be the epilogue of 0 plus the residual's pad lane.
 */
class NchwcConvTest {
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
        arena.close();
    }

    /** Batch, channels in / out, input plane, kernel, stride, dilation, pads top/left/bottom/right, plain input. */
    private record Case(int n, int c, int m, int h, int w, int kh, int kw, int s, int d, int pt, int pl, int pb, int pr,
                        boolean nchw) {
        Nchwc.Geometry geometry() {
            int oh = (h + pt + pb - (kh - 1) * d - 1) / s + 1;
            int ow = (w + pl + pr - (kw - 1) * d - 1) / s + 1;
            return new Nchwc.Geometry(n, c, m, 1, h, w, kh, kw, oh, ow, s, s, d, d, pt, pl);
        }
    }

    private static Case same(int n, int c, int m, int hw, int k, int s, boolean nchw) {
        return new Case(n, c, m, hw, hw, k, k, s, 1, k / 2, k / 2, k / 2, k / 2, nchw);
    }

    private static List<Case> cases() {
        List<Case> l = new ArrayList<>(List.of(
                same(1, 16, 16, 14, 1, 1, false),
                same(1, 24, 40, 7, 1, 1, false),
                new Case(2, 37, 24, 13, 11, 1, 1, 1, 1, 0, 0, 0, 0, false),
                same(1, 64, 96, 56, 1, 1, false),
                same(1, 3, 32, 56, 3, 2, true),
                new Case(1, 3, 16, 13, 11, 7, 7, 2, 1, 3, 3, 3, 3, true),
                same(2, 16, 32, 14, 3, 1, false),
                new Case(1, 24, 40, 13, 11, 3, 3, 2, 1, 1, 1, 1, 1, false),
                new Case(1, 37, 16, 13, 11, 1, 3, 1, 1, 0, 1, 0, 1, false),
                new Case(1, 64, 96, 14, 14, 1, 1, 2, 1, 0, 0, 0, 0, false),
                same(3, 16, 24, 1, 1, 1, false),
                same(1, 3, 24, 7, 3, 1, true),
                same(1, 37, 40, 56, 3, 1, false),
                new Case(1, 16, 16, 7, 7, 1, 1, 1, 1, 1, 1, 1, 1, false),
                new Case(1, 16, 32, 14, 14, 3, 3, 1, 2, 2, 2, 2, 2, false),
                new Case(1, 24, 32, 30, 30, 3, 3, 2, 1, 1, 1, 0, 0, false),
                new Case(2, 16, 40, 14, 14, 1, 1, 1, 1, 0, 0, 0, 0, true),
                same(1, 24, 40, 7, 3, 1, false),
                same(2, 37, 48, 14, 3, 2, false),
                new Case(1, 16, 24, 2, 3, 1, 1, 1, 1, 0, 0, 0, 0, false),
                new Case(1, 40, 32, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, false),
                new Case(1, 16, 32, 5, 9, 3, 3, 1, 1, 1, 1, 1, 1, false),
                same(1, 16, 40, 56, 3, 1, false),
                same(2, 32, 16, 28, 1, 1, false),
                same(1, 40, 160, 7, 1, 1, false),
                same(1, 16, 48, 5, 1, 1, false),
                new Case(1, 24, 32, 3, 7, 1, 1, 1, 1, 0, 0, 0, 0, false),
                new Case(2, 16, 40, 2, 11, 1, 1, 1, 1, 0, 0, 0, 0, false),
                new Case(1, 16, 32, 4, 25, 3, 3, 1, 1, 1, 1, 1, 1, false),
                same(1, 40, 576, 14, 1, 1, false),
                same(1, 16, 800, 72, 1, 1, false)));
        Random rnd = new Random(11);
        int[] cs = {3, 16, 24, 37, 64};
        int[] ms = {16, 24, 32, 40, 96};
        int[][] planes = {{1, 1}, {7, 7}, {13, 11}, {14, 14}, {56, 56}};
        int[][] kernels = {{1, 1}, {3, 3}, {1, 3}};
        for (int i = 0; i < 24; i++) {
            int[] hw = planes[rnd.nextInt(planes.length)];
            int[] k = kernels[rnd.nextInt(kernels.length)];
            int s = 1 + rnd.nextInt(2);
            int pad = rnd.nextInt(2) * (k[1] / 2);
            int padH = rnd.nextInt(2) * (k[0] / 2);
            int c = cs[rnd.nextInt(cs.length)];
            Case cs1 = new Case(1 + rnd.nextInt(3), c, ms[rnd.nextInt(ms.length)], hw[0], hw[1], k[0], k[1], s, 1, padH, pad,
                    padH, pad, c == 3 && rnd.nextBoolean());
            if (cs1.h + cs1.pt + cs1.pb >= cs1.kh && cs1.w + cs1.pl + cs1.pr >= cs1.kw) {
                l.add(cs1);
            }
        }
        return l;
    }

    private MemorySegment floats(long count) {
        return arena.allocate(count * 4, 64);
    }

    /** Blocked input with NaN in its pad lanes, or plain. */
    private MemorySegment input(Random rnd, Nchwc.Geometry g, boolean nchw) {
        long count = nchw ? (long) g.n() * g.c() * g.h() * g.w() : g.inputFloats();
        MemorySegment x = floats(count);
        for (long i = 0; i < count; i++) {
            boolean pad = !nchw && (i / Nchwc.BLOCK / g.h() / g.w() % Nchwc.blocks(g.c())) * Nchwc.BLOCK + i % Nchwc.BLOCK >= g.c();
            x.setAtIndex(Tensor.F32, i, pad ? Float.NaN : (float) rnd.nextGaussian());
        }
        return x;
    }

    private MemorySegment random(Random rnd, long count) {
        MemorySegment s = floats(count);
        for (long i = 0; i < count; i++) {
            s.setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
        }
        return s;
    }

    private static ConvEpilogue epilogue(int kind, MemorySegment residual) {
        return switch (kind) {
            case 0 -> ConvEpilogue.NONE;
            case 1 -> ConvEpilogue.clamp(0f, 6f);
            case 2 -> ConvEpilogue.clamp(0f, 6f).withResidual(residual);
            default -> ConvEpilogue.NONE.withResidual(residual);
        };
    }

    @Test
    void matchesScalarTwinAndReference() {
        Random rnd = new Random(7);
        int index = 0;
        for (Case cs : cases()) {
            Nchwc.Geometry g = cs.geometry();
            MemorySegment x = input(rnd, g, cs.nchw());
            MemorySegment w = random(rnd, (long) g.m() * g.c() * g.kh() * g.kw());
            MemorySegment b = index % 5 == 4 ? null : random(rnd, g.m());
            MemorySegment r = random(rnd, g.outputFloats());
            ConvEpilogue ep = epilogue(index++ % 4, r);
            NchwcConv.Packed p = NchwcConv.pack(arena, w, b, g.m(), g.c(), g.kh(), g.kw());
            long out = g.outputFloats();
            MemorySegment fast = floats(out);
            MemorySegment fast3 = floats(out);
            MemorySegment scalar = floats(out);
            MemorySegment ref = floats(out);
            fast.fill((byte) 0x7f);
            fast3.fill((byte) 0x7f);
            NchwcConv.conv(new ArenaContext(arena), p, g, cs.nchw(), x, fast, ep);
            NchwcConv.conv(three, p, g, cs.nchw(), x, fast3, ep);
            three.reset();
            NchwcConv.convScalar(p, g, cs.nchw(), x, scalar, ep);
            Nchwc.reference(g, cs.nchw(), x, w, b, ref, ep);
            int mb = Nchwc.blocks(g.m());
            double tol = 1e-5 * Math.sqrt((double) g.c() * g.kh() * g.kw());
            for (long i = 0; i < out; i++) {
                float v = fast.getAtIndex(Tensor.F32, i);
                String at = cs + " " + g + " float " + i;
                assertEquals(Float.floatToRawIntBits(scalar.getAtIndex(Tensor.F32, i)), Float.floatToRawIntBits(v), at + ": vs scalar twin");
                assertEquals(Float.floatToRawIntBits(v), Float.floatToRawIntBits(fast3.getAtIndex(Tensor.F32, i)), at + ": 1 vs 3 threads");
                float e = ref.getAtIndex(Tensor.F32, i);
                assertTrue(Float.isFinite(v), at + ": not finite");
                assertEquals(e, v, tol * (1 + Math.abs(e)), at + ": vs Nchwc.reference");
                long channel = i / Nchwc.BLOCK / g.oh() / g.ow() % mb * Nchwc.BLOCK + i % Nchwc.BLOCK;
                if (channel >= g.m()) {
                    assertEquals(ep.apply(0f, r.getAtIndex(Tensor.F32, i)), v, at + ": pad lane");
                }
            }
        }
    }

    /**
     * Warm calls allocate no heap: run by {@link NchwcConvAllocationTest} in a JVM of its own (in the shared test JVM
     * the NCHW-input case once allocated 960 bytes a call after 60 s of warm calls: which helpers C2 inlines there
     * depends on what ran before).
     */
    void checkWarmCallsAllocateNoHeap() {
        Random rnd = new Random(3);
        com.sun.management.ThreadMXBean bean = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        ArenaContext ctx = new ArenaContext(arena);
        for (Case cs : List.of(same(1, 24, 144, 14, 1, 1, false), same(1, 3, 32, 28, 3, 2, true), same(1, 16, 24, 7, 3, 1, false))) {
            Nchwc.Geometry g = cs.geometry();
            MemorySegment x = input(rnd, g, cs.nchw());
            NchwcConv.Packed p = NchwcConv.pack(arena, random(rnd, (long) g.m() * g.c() * g.kh() * g.kw()), random(rnd, g.m()),
                    g.m(), g.c(), g.kh(), g.kw());
            MemorySegment y = floats(g.outputFloats());
            ConvEpilogue ep = ConvEpilogue.clamp(0f, 6f).withResidual(random(rnd, g.outputFloats()));
            // Warm until C2 has compiled every kernel the case reaches (the border ones run a few times a call; in a JVM
            // running the whole suite the compile queue can be long): rounds of 300 calls until one allocates nothing,
            // for at most 60 s. A kernel that boxes its vectors once compiled never gets there.
            int calls = 300;
            long bytes = Long.MAX_VALUE;
            long deadline = System.nanoTime() + 60_000_000_000L;
            for (int round = 0; bytes >= calls && System.nanoTime() < deadline; round++) {
                for (int i = 0; i < (round == 0 ? 3000 : calls); i++) {
                    NchwcConv.conv(ctx, p, g, cs.nchw(), x, y, ep);
                }
                long before = bean.getThreadAllocatedBytes(Thread.currentThread().threadId());
                for (int i = 0; i < calls; i++) {
                    NchwcConv.conv(ctx, p, g, cs.nchw(), x, y, ep);
                }
                bytes = bean.getThreadAllocatedBytes(Thread.currentThread().threadId()) - before;
            }
            assertTrue(bytes < calls, cs + ": " + bytes + " bytes over " + calls + " warm calls");
        }
    }
}
