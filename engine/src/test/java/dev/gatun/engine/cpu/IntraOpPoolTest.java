package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;

class IntraOpPoolTest {
    @Test
    void everyTaskRunsExactlyOnceAcrossManyRegions() {
        try (IntraOpPool pool = new IntraOpPool(3, "test")) {
            for (int round = 0; round < 5000; round++) {
                int n = 1 + round % 37;
                AtomicLongArray hits = new AtomicLongArray(n);
                pool.parallelFor(n, i -> hits.incrementAndGet(i));
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "round " + round + " task " + i);
                }
            }
        }
    }

    @Test
    void taskFailureIsRethrownAndThePoolStaysUsable() {
        try (IntraOpPool pool = new IntraOpPool(2, "test")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pool.parallelFor(8, i -> {
                if (i == 5) {
                    throw new IllegalArgumentException("task 5");
                }
            }));
            assertEquals("task 5", e.getMessage());
            AtomicLong sum = new AtomicLong();
            pool.parallelFor(100, sum::addAndGet);
            assertEquals(4950, sum.get());
        }
    }

    @Test
    void nestedRegionsRunInline() {
        try (IntraOpPool pool = new IntraOpPool(2, "test")) {
            AtomicLong sum = new AtomicLong();
            pool.parallelFor(4, i -> pool.parallelFor(10, j -> sum.addAndGet(j)));
            assertEquals(4 * 45, sum.get());
        }
    }
}
