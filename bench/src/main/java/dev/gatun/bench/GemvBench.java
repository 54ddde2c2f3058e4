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
 * FP32 GEMV as MatMul {@code y[1,N] = x[1,K] x W[K,N]}, W constant. {@code kn}: 4096x4096 (64 MiB: twice the L3,
 * so every run streams it from DRAM) and the classifier shapes of ResNet-18 (512x1000, 2 MB) and MobileNetV2
 * (1280x1000, 5 MB); {@code copies} weight matrices are used in turn (each its own planned kernel) so that small ones
 * also come from DRAM, as in a whole model whose weights exceed the L3. {@code gemv}: Gatun's MatMul (W packed at plan
 * time); {@code ort}: ONNX Runtime's MatMul on the first copy, same thread count. Secondary results: {@code gb} (GB/s
 * of weight traffic) and {@code peakPct} (% of 33 GB/s, the machine's sustained DRAM bandwidth).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class GemvBench {
    @Param({"1", "2"})
    public int threads;

    /** K x N. */
    @Param({"4096x4096"})
    public String kn;

    /** Weight copies used in turn (16 copies of 2-5 MB exceed the L3). */
    @Param({"1"})
    public int copies;

    int k;
    int n;
    int next;

    Arena arena;
    Workspace ws;
    Kernel[] kernels;
    Tensor[][] inputs;
    OrtMatMul ortMatMul;

    @Setup(Level.Trial)
    public void setUp() throws OrtException {
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        String[] d = kn.split("x");
        k = Integer.parseInt(d[0]);
        n = Integer.parseInt(d[1]);
        Tensor x = BenchSupport.random(arena, 1, 1, k);
        kernels = new Kernel[copies];
        inputs = new Tensor[copies][];
        for (int i = 0; i < copies; i++) {
            inputs[i] = new Tensor[] {x, BenchSupport.random(arena, 2 + i, k, n)};
            kernels[i] = BenchSupport.plan(arena, "", "MatMul", 13, BenchSupport.attrs(), inputs[i], false, true);
        }
        ortMatMul = new OrtMatMul(inputs[0][0], inputs[0][1], threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        ortMatMul.close();
        ws.close();
        arena.close();
    }

    @Benchmark
    public Tensor[] gemv(Rates.Bytes r) {
        int i = next;
        next = i + 1 == copies ? 0 : i + 1;
        Tensor[] out = kernels[i].run(ws, inputs[i]);
        ws.reset();
        r.add(4.0 * k * n, BenchSupport.DRAM_GBPS);
        return out;
    }

    @Benchmark
    public void ort(Rates.Bytes r) throws OrtException {
        ortMatMul.run();
        r.add(4.0 * k * n, BenchSupport.DRAM_GBPS);
    }
}
