package dev.gatun.bench;

import ai.onnxruntime.OrtException;
import dev.gatun.engine.cpu.Sgemm;
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
 * FP32 GEMM {@code C[M,N] = A[M,K] x B[K,N]} at 1024^3 (the headline) and the MiniLM (BERT) linear layers
 * at batch 1x128 (M = 128: attention projections 128x384x384, feed-forward 128x1536x384 and 128x384x1536) and
 * 32x128 (M = 4096). {@code sgemm}: {@link Sgemm} called directly on one thread (B packed on every call).
 * {@code matmul}: the MatMul op planned through the registry with B constant (as a weight is, so the weight is
 * packed at plan time), on 1 or 2 intra-op threads. {@code ort}: ONNX Runtime (MLAS) running the same MatMul with
 * B an initializer, same thread counts. Secondary results: {@code gflop} (GFLOP/s) and {@code peakPct} (% of
 * 230 GFLOP/s on one thread, 455 on two).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
public class GemmBench {
    /** The operands of one shape. */
    @State(Scope.Benchmark)
    public static class Operands {
        /** M x N x K. */
        @Param({"1024x1024x1024", "128x384x1536", "128x1536x384", "128x384x384", "4096x384x1536", "4096x1536x384",
            "4096x384x384"})
        public String mnk;

        int m;
        int n;
        int k;
        Arena arena;
        Tensor a;
        Tensor b;
        Tensor c;

        @Setup(Level.Trial)
        public void setUp() {
            String[] p = mnk.split("x");
            m = Integer.parseInt(p[0]);
            n = Integer.parseInt(p[1]);
            k = Integer.parseInt(p[2]);
            arena = Arena.ofShared();
            a = BenchSupport.random(arena, 1, m, k);
            b = BenchSupport.random(arena, 2, k, n);
            c = BenchSupport.random(arena, 3, m, n);
        }

        double flops() {
            return 2.0 * m * n * k;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** The MatMul op on a workspace with {@code threads} intra-op threads. */
    @State(Scope.Benchmark)
    public static class Op {
        @Param({"1", "2"})
        public int threads;

        Workspace ws;
        Kernel kernel;
        Tensor[] inputs;

        @Setup(Level.Trial)
        public void setUp(Operands o) {
            ws = BenchSupport.workspace(o.arena, threads);
            inputs = new Tensor[] {o.a, o.b};
            kernel = BenchSupport.plan(o.arena, "", "MatMul", 13, BenchSupport.attrs(), inputs, false, true);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            ws.close();
        }
    }

    /** ONNX Runtime's MatMul on the same operands with {@code threads} intra-op threads. */
    @State(Scope.Benchmark)
    public static class Ort {
        @Param({"1", "2"})
        public int threads;

        OrtMatMul matmul;

        @Setup(Level.Trial)
        public void setUp(Operands o) throws OrtException {
            matmul = new OrtMatMul(o.a, o.b, threads);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws OrtException {
            matmul.close();
        }
    }

    @Benchmark
    public Tensor sgemm(Operands o, Rates.Flops r) {
        Sgemm.sgemm(false, false, o.m, o.n, o.k, 1f, o.a.data(), 0, o.k, o.b.data(), 0, o.n, 0f, o.c.data(), 0, o.n);
        r.add(o.flops(), BenchSupport.PEAK_GFLOPS_1T);
        return o.c;
    }

    @Benchmark
    public Tensor[] matmul(Operands o, Op op, Rates.Flops r) {
        Tensor[] out = op.kernel.run(op.ws, op.inputs);
        op.ws.reset();
        r.add(o.flops(), BenchSupport.peakGflops(op.threads));
        return out;
    }

    @Benchmark
    public void ort(Operands o, Ort ort, Rates.Flops r) throws OrtException {
        ort.matmul.run();
        r.add(o.flops(), BenchSupport.peakGflops(ort.threads));
    }
}
