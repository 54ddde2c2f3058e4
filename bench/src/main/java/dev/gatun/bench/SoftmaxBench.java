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
 * Softmax (opset 13, axis -1) over MiniLM's attention scores [batch*12 heads, 128, 128]: {@code heads} = 12
 * (batch 1) and 384 (batch 32), on 1 or 2 intra-op threads; time per run in us.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class SoftmaxBench {
    static final int SEQ = 128;

    @Param({"12", "384"})
    public int heads;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    Workspace ws;
    Kernel kernel;
    Tensor[] inputs;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        inputs = new Tensor[] {BenchSupport.random(arena, 1, heads, SEQ, SEQ)};
        kernel = BenchSupport.plan(arena, "", "Softmax", 13, BenchSupport.attrs("axis", -1L), inputs);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    @Benchmark
    public Tensor[] softmax() {
        Tensor[] out = kernel.run(ws, inputs);
        ws.reset();
        return out;
    }
}
