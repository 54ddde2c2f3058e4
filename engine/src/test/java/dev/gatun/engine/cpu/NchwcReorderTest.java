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
 * {@link NchwcReorder} against the layout's index formula ({@link Nchwc#index}) on shapes with partial blocks and
 * positions that are not a multiple of 16, on one and three threads; the blocked global average pool against a sum
 * in double.
 */
class NchwcReorderTest {
    private static final int[][] SHAPES = {{1, 16, 16}, {1, 3, 50}, {2, 24, 49}, {1, 32, 33}, {3, 40, 7}, {1, 1, 1},
            {2, 17, 256}, {1, 64, 196}, {1, 1280, 49}};

    /** A session's context: the workspace with {@code threads} intra-op threads (its pool). */
    private static final Workspace ONE = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 1);
    private static final Workspace THREE = new Workspace(Arena.ofShared(), Long.MAX_VALUE, 3);

    private static KernelContext ctx(int threads) {
        return threads == 1 ? ONE : THREE;
    }

    private static MemorySegment random(Arena a, long n, Random r) {
        MemorySegment s = a.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(Tensor.F32, i, r.nextFloat() * 2 - 1);
        }
        return s;
    }

    @Test
    void reordersMoveEveryValueAndZeroThePadLanes() {
        Random r = new Random(7);
        for (int threads : new int[] {1, 3}) {
            for (int[] s : SHAPES) {
                int n = s[0], c = s[1], p = s[2], cb = Nchwc.blocks(c);
                try (Arena a = Arena.ofShared()) {
                    MemorySegment x = random(a, (long) n * c * p, r);
                    MemorySegment y = random(a, (long) n * cb * p * 16, r);
                    NchwcReorder.toBlocked(ctx(threads), x, y, n, c, p);
                    for (int i = 0; i < n; i++) {
                        for (int ch = 0; ch < cb * 16; ch++) {
                            for (int q = 0; q < p; q++) {
                                float want = ch < c ? x.getAtIndex(Tensor.F32, ((long) i * c + ch) * p + q) : 0f;
                                assertEquals(want, y.getAtIndex(Tensor.F32, Nchwc.index(i, ch, 0, q, cb, 1, p)),
                                        "to " + java.util.Arrays.toString(s) + " at " + i + "," + ch + "," + q);
                            }
                        }
                    }
                    MemorySegment back = random(a, (long) n * c * p, r);
                    NchwcReorder.fromBlocked(ctx(threads), y, back, n, c, p);
                    assertEquals(-1, x.mismatch(back), "round trip " + java.util.Arrays.toString(s));
                }
            }
        }
    }

    @Test
    void globalAveragePoolOfBlockedPlanes() {
        Random r = new Random(8);
        for (int threads : new int[] {1, 3}) {
            for (int[] s : SHAPES) {
                int n = s[0], c = s[1], p = s[2], cb = Nchwc.blocks(c);
                try (Arena a = Arena.ofShared()) {
                    MemorySegment x = random(a, (long) n * cb * p * 16, r);
                    MemorySegment y = random(a, (long) n * c, r);
                    NchwcReorder.globalAveragePool(ctx(threads), x, y, n, c, p);
                    for (int i = 0; i < n; i++) {
                        for (int ch = 0; ch < c; ch++) {
                            double sum = 0;
                            for (int q = 0; q < p; q++) {
                                sum += x.getAtIndex(Tensor.F32, Nchwc.index(i, ch, 0, q, cb, 1, p));
                            }
                            assertEquals(sum / p, y.getAtIndex(Tensor.F32, (long) i * c + ch), 1e-5,
                                    "pool " + java.util.Arrays.toString(s) + " at " + i + "," + ch);
                        }
                    }
                }
            }
        }
    }

    @Test
    void tooSmallBuffersAreRefused() {
        try (Arena a = Arena.ofShared()) {
            MemorySegment x = a.allocate(4 * 3 * 10);
            MemorySegment y = a.allocate(4 * 16 * 9);
            assertThrows(IllegalArgumentException.class, () -> NchwcReorder.toBlocked(ctx(1), x, y, 1, 3, 10));
        }
    }
}
