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
 * LayerNormalization (opset 17, axis -1, epsilon 1e-12, constant scale and bias) over MiniLM's hidden size 384,
 * for {@code rows} = 128 (batch 1x128) and 4096 (32x128) tokens, on 1 or 2 intra-op threads; time per run in us.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class LayerNormBench {
    static final int HIDDEN = 384;

    @Param({"128", "4096"})
    public int rows;

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
        inputs = new Tensor[] {BenchSupport.random(arena, 1, rows, HIDDEN), BenchSupport.random(arena, 2, HIDDEN),
            BenchSupport.random(arena, 3, HIDDEN)};
        kernel = BenchSupport.plan(arena, "", "LayerNormalization", 17, BenchSupport.attrs("axis", -1L, "epsilon", 1e-12f),
                inputs, false, true, true);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    @Benchmark
    public Tensor[] layerNorm() {
        Tensor[] out = kernel.run(ws, inputs);
        ws.reset();
        return out;
    }
}
