package dev.gatun.bench;

import dev.gatun.engine.cpu.IntraOpPool;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Per-region overhead of the intra-op pool: one {@link IntraOpPool#parallelFor} of {@code tasks} tasks whose body
 * burns {@code work} tokens ({@link Blackhole#consumeCPU}; 0 = an empty body, 100 ~ a few hundred ns), on
 * {@code threads} threads, back to back as a run's regions are. Time per region in ns; an empty body on 2 threads
 * measures the hand-off alone (publish, worker wake-up, completion), {@code regions} regions per call
 * with {@code gapNanos} of caller-only work between them (a run's serial nodes between its parallel ones).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class IntraOpPoolBench {
    @Param({"2"})
    public int threads;

    @Param({"2", "8"})
    public int tasks;

    @Param({"0", "100"})
    public int work;

    @Param({"0", "20000"})
    public long gapNanos;

    IntraOpPool pool;

    @Setup(Level.Trial)
    public void setUp() {
        pool = new IntraOpPool(threads, "bench");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
    }

    @Benchmark
    public void region() {
        if (gapNanos > 0) {
            long end = System.nanoTime() + gapNanos;
            while (System.nanoTime() < end) {
                Thread.onSpinWait();
            }
        }
        int w = work;
        pool.parallelFor(tasks, i -> Blackhole.consumeCPU(w));
    }
}
