package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Warm {@link NchwcDepthwise#conv} calls allocate no heap, on the calling thread and the intra-op workers, for
 * MobileNetV2-like shapes (stride 1 and 2, 7x7 to 56x56) and a 5x5 kernel, with a residual and a clamp. Runs in a
 * JVM of its own (engine/pom.xml, as SteadyStateAllocationTest): in the shared test JVM, after some 40 other test classes,
 * 144@28 stride 1 allocated ~11 KB a call for 30 s of warm calls (not reproduced in a fresh JVM, with or without
 * CompileThresholdScaling=0.1, nor with JFR attached): which vectors C2 boxes depends on what ran before.
 */
class NchwcDepthwiseAllocationTest {
    private final Arena arena = Arena.ofShared();
    private final Workspace three = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    @AfterEach
    void close() {
        three.close();
        arena.close();
    }

    private static Nchwc.Geometry geometry(int c, int h, int k, int s, int pad) {
        int o = (h + 2 * pad - k) / s + 1;
        return new Nchwc.Geometry(1, c, c, c, h, h, k, k, o, o, s, s, 1, 1, pad, pad);
    }

    private MemorySegment random(Random rnd, long count) {
        MemorySegment seg = arena.allocate(count * 4, 64);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(Tensor.F32, i, (float) rnd.nextGaussian());
        }
        return seg;
    }

    @Test
    void warmCallsAllocateNoHeap() {
        var bean = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Random rnd = new Random(4);
        Nchwc.Geometry[] shapes = {
            geometry(144, 28, 3, 1, 1),
            geometry(96, 28, 3, 2, 1),
            geometry(144, 56, 3, 2, 1),
            geometry(960, 7, 3, 1, 1),
            geometry(40, 14, 5, 2, 2),
        };
        for (KernelContext ctx : new KernelContext[] {new ArenaContext(arena), three}) {
            for (Nchwc.Geometry g : shapes) {
                MemorySegment x = random(rnd, g.inputFloats());
                NchwcDepthwise.Packed p = NchwcDepthwise.pack(arena, random(rnd, (long) g.c() * g.kh() * g.kw()),
                        random(rnd, g.c()), g.c(), g.kh(), g.kw());
                MemorySegment y = arena.allocate(g.outputFloats() * 4, 64);
                ConvEpilogue ep = ConvEpilogue.clamp(0f, 6f).withResidual(random(rnd, g.outputFloats()));
                // Warm up until a batch of 100 calls allocates nothing (C2 compiles the loops; in a JVM that ran many
                // tests before, its compile queue is long: give it up to 30 s). Then 1000 more calls must allocate
                // less than a byte a call, so no call allocates an object (16 bytes at least); a one-off (a CI run
                // once saw 152 bytes in a batch of 100 after a clean one: a recompilation, a worker's first park)
                // passes.
                long bytes = -1;
                long until = System.nanoTime() + 30_000_000_000L;
                int batches = 0;
                while (bytes != 0 && System.nanoTime() < until) {
                    bytes = batch(bean, ctx, p, g, x, y, ep, 100);
                    batches++;
                }
                assertEquals(0, bytes, g + " on " + ctx.threads() + " threads: still allocating after " + batches
                        + " batches of 100 calls");
                bytes = batch(bean, ctx, p, g, x, y, ep, 1000);
                assertTrue(bytes < 1000, g + " on " + ctx.threads() + " threads: " + bytes
                        + " bytes allocated by 1000 warm calls");
            }
        }
    }

    /** The calling thread and the intra-op workers (named gatun-*), the threads that run the kernel's tasks. */
    private static long[] threadIds() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t == Thread.currentThread() || t.getName().startsWith("gatun"))
                .mapToLong(Thread::threadId).toArray();
    }

    /** Heap bytes those threads allocate in {@code calls} calls. */
    private static long batch(com.sun.management.ThreadMXBean bean, KernelContext ctx,
                              NchwcDepthwise.Packed p, Nchwc.Geometry g, MemorySegment x, MemorySegment y,
                              ConvEpilogue ep, int calls) {
        long[] ids = threadIds();
        long start = allocated(bean, ids);
        long before = allocated(bean, ids);
        long probe = before - start;
        for (int i = 0; i < calls; i++) {
            NchwcDepthwise.conv(ctx, p, g, x, y, ep);
        }
        return allocated(bean, ids) - before - probe;
    }

    /** Bytes those threads allocated so far (a reading itself allocates its result array: subtract a probe). */
    private static long allocated(com.sun.management.ThreadMXBean bean, long[] ids) {
        long sum = 0;
        for (long b : bean.getThreadAllocatedBytes(ids)) {
            sum += Math.max(0, b);
        }
        return sum;
    }
}
