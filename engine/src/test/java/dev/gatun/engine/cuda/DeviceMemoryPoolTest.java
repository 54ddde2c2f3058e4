package dev.gatun.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The caching pool's bookkeeping with a counting allocator (no GPU needed). */
class DeviceMemoryPoolTest {
    static final class Fake implements DeviceMemoryPool.Allocator {
        long next = 1 << 20;
        int mallocs;
        final Set<Long> live = new HashSet<>();

        @Override
        public long malloc(long bytes) {
            mallocs++;
            long a = next;
            next += bytes + 4096;
            live.add(a);
            return a;
        }

        @Override
        public void free(long address) {
            assertTrue(live.remove(address), "freed once");
        }
    }

    @Test
    void aSteadyStateRunCallsNoMalloc() {
        Fake f = new Fake();
        DeviceMemoryPool pool = new DeviceMemoryPool(f);
        Random rnd = new Random(7);
        long[] sizes = new long[40];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = 1 + rnd.nextInt(3 << 20);
        }
        for (int run = 0; run < 5; run++) {
            List<DeviceMemoryPool.Block> held = new ArrayList<>();
            for (int i = 0; i < sizes.length; i++) {
                DeviceMemoryPool.Block b = pool.allocate(sizes[i]);
                assertTrue(b.size() >= sizes[i]);
                held.add(b);
                if (i % 3 == 2) {
                    pool.release(held.remove(0));
                }
            }
            held.forEach(pool::release);
            if (run == 0) {
                f.mallocs = 0;
            } else {
                assertEquals(0, f.mallocs, "run " + run + " reused every block");
            }
            assertEquals(0, pool.inUseBytes());
        }
        assertTrue(pool.hits() > 0);
        pool.close();
        assertTrue(f.live.isEmpty(), "close frees every block");
    }

    @Test
    void liveBlocksNeverOverlapAndSizesRound() {
        Fake f = new Fake();
        DeviceMemoryPool pool = new DeviceMemoryPool(f);
        DeviceMemoryPool.Block a = pool.allocate(100);
        DeviceMemoryPool.Block b = pool.allocate(100);
        assertNotEquals(a.address(), b.address());
        assertEquals(512, a.size());
        assertEquals(2L << 20, DeviceMemoryPool.round((1 << 20) + 1));
        pool.release(a);
        assertEquals(a.address(), pool.allocate(300).address(), "a free block of the same class is reused");
        DeviceMemoryPool.Block big = pool.allocate(10 << 20);
        pool.release(big);
        assertNotEquals(big.address(), pool.allocate(1 << 20).address(), "a block far larger than asked is not handed out");
        pool.close();
    }
}
