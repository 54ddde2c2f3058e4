package dev.gatun.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Waits until no thread of this process is busy, so that one engine's idle threads do not take a core from the
 * other engine's next measured run. ONNX Runtime's intra-op workers spin after each parallel section before they
 * block (bench's sessions stop that when a run returns, {@code OrtRunner.open}); Gatun's workers spin up to 1 ms between
 * the regions of a run but park as the run ends ({@code IntraOpPool.rest}). On a 2-core
 * machine a spinning worker halves the cores of whatever runs next.
 *
 * <p>The process's CPU time comes from {@code clock_gettime(CLOCK_PROCESS_CPUTIME_ID)} (nanosecond resolution;
 * the JVM's own process CPU time is tick-based on Linux). Where that is unavailable (not Linux), a fixed pause.
 */
final class ProcessIdle {
    /** A window is idle when the process used less than this share of one core in it. */
    static final double IDLE_SHARE = 0.2;
    /** Never wait longer than this. */
    static final long MAX_WAIT_NANOS = 100_000_000L;
    /** The pause where the CPU clock cannot be read. */
    static final long FALLBACK_PAUSE_MILLIS = 20;

    private static final int CLOCK_PROCESS_CPUTIME_ID = 2;
    private static final MethodHandle CLOCK_GETTIME = clockGettime();
    private static final MemorySegment TIMESPEC = CLOCK_GETTIME == null ? null : Arena.global().allocate(16, 8);

    private ProcessIdle() {}

    private static MethodHandle clockGettime() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return null;
        }
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("clock_gettime")
                    .map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                            ValueLayout.ADDRESS)))
                    .orElse(null);
        } catch (RuntimeException | Error e) {
            return null;
        }
    }

    /** The process's CPU time in nanoseconds, or -1 when it cannot be read. */
    static synchronized long cpuNanos() {
        if (CLOCK_GETTIME == null) {
            return -1;
        }
        try {
            int rc = (int) CLOCK_GETTIME.invokeExact(CLOCK_PROCESS_CPUTIME_ID, TIMESPEC);
            if (rc != 0) {
                return -1;
            }
            return TIMESPEC.get(ValueLayout.JAVA_LONG, 0) * 1_000_000_000L + TIMESPEC.get(ValueLayout.JAVA_LONG, 8);
        } catch (Throwable t) {
            return -1;
        }
    }

    /**
     * Sleeps about 1 ms at a time until a window in which the process used less than {@link #IDLE_SHARE} of a core
     * (the calling thread sleeps, so that is every other thread), at most {@link #MAX_WAIT_NANOS}.
     */
    static void await() throws InterruptedException {
        long start = System.nanoTime();
        long cpu = cpuNanos();
        if (cpu < 0) {
            Thread.sleep(FALLBACK_PAUSE_MILLIS);
            return;
        }
        long wall = start;
        while (wall - start < MAX_WAIT_NANOS) {
            Thread.sleep(1);
            long cpuNow = cpuNanos();
            long wallNow = System.nanoTime();
            boolean idle = cpuNow - cpu < IDLE_SHARE * (wallNow - wall);
            cpu = cpuNow;
            wall = wallNow;
            if (idle) {
                return;
            }
        }
    }
}
