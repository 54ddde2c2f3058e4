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

    @Test
    void regionsAfterRestAndLongIdleStillRunEveryTask() throws InterruptedException {
        try (IntraOpPool pool = new IntraOpPool(2, "test")) {
            for (int round = 0; round < 200; round++) {
                if (round % 50 == 7) {
                    Thread.sleep(3 * IntraOpPool.IDLE_SPIN_NANOS / 1_000_000);
                }
                if (round % 3 == 0) {
                    pool.rest();
                }
                int n = 2 + round % 9;
                AtomicLongArray hits = new AtomicLongArray(n);
                pool.parallelFor(n, i -> hits.incrementAndGet(i));
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "round " + round + " task " + i);
                }
            }
        }
    }

    @Test
    void theWorkerTakesPartInARegion() {
        try (IntraOpPool pool = new IntraOpPool(2, "test")) {
            java.util.Set<Thread> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
            for (int round = 0; round < 10_000 && seen.size() < 2; round++) {
                pool.parallelFor(2, i -> {
                    seen.add(Thread.currentThread());
                    long end = System.nanoTime() + 200_000;
                    while (System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                });
            }
            assertEquals(2, seen.size(), "the worker never ran a task");
        }
    }

    @Test
    void twoCallersAtOnceBothGetEveryTask() throws Exception {
        try (IntraOpPool pool = new IntraOpPool(2, "test")) {
            AtomicLong sum = new AtomicLong();
            Runnable caller = () -> {
                for (int round = 0; round < 2000; round++) {
                    pool.parallelFor(7, i -> sum.addAndGet(i + 1));
                }
            };
            Thread other = new Thread(caller);
            other.start();
            caller.run();
            other.join();
            assertEquals(2L * 2000 * 28, sum.get());
        }
    }

    @Test
    void aClosedPoolRunsRegionsOnTheCaller() {
        IntraOpPool pool = new IntraOpPool(3, "test");
        pool.close();
        AtomicLong sum = new AtomicLong();
        pool.parallelFor(10, sum::addAndGet);
        assertEquals(45, sum.get());
    }
}
