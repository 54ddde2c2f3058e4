package dev.gatun.bench;

import ai.onnxruntime.OrtException;
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
 * FP32 GEMV as MatMul {@code y[1,4096] = x[1,4096] x W[4096,4096]}, W constant (64 MiB: twice the L3, so every
 * run streams it from DRAM). {@code gemv}: Gatun's MatMul (W packed at plan time); {@code ort}: ONNX Runtime's
 * MatMul with W an initializer, same thread count. Secondary results: {@code gb} (GB/s of weight traffic, 64 MiB
 * per run) and {@code peakPct} (% of 33 GB/s, the machine's sustained DRAM bandwidth).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class GemvBench {
    static final int K = 4096;
    static final int N = 4096;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    Workspace ws;
    Kernel kernel;
    Tensor[] inputs;
    OrtMatMul ortMatMul;

    @Setup(Level.Trial)
    public void setUp() throws OrtException {
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        inputs = new Tensor[] {BenchSupport.random(arena, 1, 1, K), BenchSupport.random(arena, 2, K, N)};
        kernel = BenchSupport.plan(arena, "", "MatMul", 13, BenchSupport.attrs(), inputs, false, true);
        ortMatMul = new OrtMatMul(inputs[0], inputs[1], threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        ortMatMul.close();
        ws.close();
        arena.close();
    }

    @Benchmark
    public Tensor[] gemv(Rates.Bytes r) {
        Tensor[] out = kernel.run(ws, inputs);
        ws.reset();
        r.add(4.0 * K * N, BenchSupport.DRAM_GBPS);
        return out;
    }

    @Benchmark
    public void ort(Rates.Bytes r) throws OrtException {
        ortMatMul.run();
        r.add(4.0 * K * N, BenchSupport.DRAM_GBPS);
    }
}
