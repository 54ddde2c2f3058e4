package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Measures what a piece of code made the process hold at its peak: the Java heap (the sum of every heap pool's
 * peak usage, reset before; an upper bound of the true peak) and the resident set (Linux's VmHWM, reset through
 * {@code /proc/self/clear_refs}), which counts native memory the engine allocates through FFM arenas, touched
 * when they are zero-filled, as well as heap growth. Both are reported as growth over the state before.
 * (A copy of the engine tests' class of the same name: test classes are not shared between modules.)
 */
final class MemoryWatch {
    /** The bound every bomb test must stay under. */
    public static final long LIMIT = 256L << 20;

    /** Peak growth during a run, in bytes ({@code rss} is -1 where the kernel does not expose it). */
    public record Peak(long heap, long rss) {
        @Override
        public String toString() {
            return "peak heap +" + (heap >> 20) + " MiB, peak RSS +" + (rss < 0 ? "?" : (rss >> 20) + " MiB");
        }
    }

    private MemoryWatch() {}

    /** Runs {@code body} and returns the peak growth of heap and resident memory during it. */
    public static Peak measure(Runnable body) {
        System.gc();
        long heapBefore = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) {
                heapBefore += p.getUsage().getUsed();
                p.resetPeakUsage();
            }
        }
        long rssBefore = resetRss();
        body.run();
        long heapPeak = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP) {
                heapPeak += p.getPeakUsage().getUsed();
            }
        }
        long hwm = rssBefore < 0 ? -1 : status("VmHWM:");
        return new Peak(Math.max(0, heapPeak - heapBefore), hwm < 0 ? -1 : Math.max(0, hwm - rssBefore));
    }

    /** Runs {@code body} and asserts that neither heap nor resident memory grew by {@link #LIMIT} or more. */
    public static Peak assertBelowLimit(String what, Runnable body) {
        Peak p = measure(body);
        assertTrue(p.heap() < LIMIT, what + ": " + p);
        assertTrue(p.rss() < LIMIT, what + ": " + p);
        System.out.println("[memory] " + what + ": " + p);
        return p;
    }

    /** Resets the peak resident set to the current one; returns the current one, or -1 without /proc. */
    private static long resetRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return status("VmRSS:");
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long status(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
