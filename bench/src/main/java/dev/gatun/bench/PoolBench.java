package dev.gatun.bench;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.Kernel;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
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

/**
 * The CNNs' pooling layers at batch 1, on 1 or 2 intra-op threads; time per run in us.
 * {@code maxPool}: ResNet-18's stem MaxPool (3x3, strides 2, pads 1) over [1, 64, 112, 112];
 * {@code globalAveragePool}: the last pooling of ResNet-18 ([1, 512, 7, 7]) and MobileNetV2 ([1, 1280, 7, 7]),
 * by {@code channels}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class PoolBench {
    @Param({"1", "2"})
    public int threads;

    /** GlobalAveragePool's channels (512: ResNet-18, 1280: MobileNetV2). */
    @Param({"512", "1280"})
    public int channels;

    Arena arena;
    Workspace ws;
    Kernel maxPool;
    Tensor[] maxPoolIn;
    Kernel gap;
    Tensor[] gapIn;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        maxPoolIn = new Tensor[] {BenchSupport.random(arena, 1, 1, 64, 112, 112)};
        maxPool = BenchSupport.plan(arena, "", "MaxPool", 12, BenchSupport.attrs("kernel_shape", new long[] {3, 3},
                "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}), maxPoolIn);
        gapIn = new Tensor[] {BenchSupport.random(arena, 2, 1, channels, 7, 7)};
        gap = BenchSupport.plan(arena, "", "GlobalAveragePool", 1, BenchSupport.attrs(), gapIn);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    @Benchmark
    public Tensor[] maxPool() {
        Tensor[] out = maxPool.run(ws, maxPoolIn);
        ws.reset();
        return out;
    }

    @Benchmark
    public Tensor[] globalAveragePool() {
        Tensor[] out = gap.run(ws, gapIn);
        ws.reset();
        return out;
    }
}
