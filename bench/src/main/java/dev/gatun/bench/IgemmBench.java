package dev.gatun.bench;

import dev.gatun.engine.cpu.Igemm;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.Kernel;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
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
 * Integer GEMM ({@link Igemm}: u8 activations x s8 weights -> int32, zero points applied) for each kernel:
 * {@code native} (the best C kernel this CPU runs: AMX-INT8, else VNNI), {@code amx}, {@code avx512-vnni},
 * {@code avx-vnni} (that C kernel, or an error where it does not run) and {@code portable} (Vector API).
 * <ul>
 *   <li>{@code igemm}: {@code C[M,N] = A[M,K] x B[K,N]} at 1024^3 (the headline) and 128x384x1536 (a
 *       MiniLM feed-forward product at batch 1x128), weights packed once, 1 or 2 threads. Secondary results
 *       {@code gflop} (read: GOP/s, 2 ops per multiply-add) and {@code peakPct} (% of the VNNI peak, 918 GOP/s
 *       per core: 2 vpdpbusd zmm per cycle x 64 multiply-adds x 3.59 GHz).</li>
 *   <li>{@code gemv}: {@code y[1,4096] = x[1,4096] x W[4096,4096]} with int8 weights (16 MiB) against the same
 *       product in float32 (the MatMul op, 64 MiB of weights). {@code copies} weight matrices are used in turn:
 *       with 4 (64 MiB of int8, twice the L3) every run streams its weights from DRAM, as the float32 one does;
 *       with 1 the int8 weights can stay in L3. Secondary results {@code gb} (GB/s of weight bytes) and
 *       {@code peakPct} (% of 33 GB/s DRAM bandwidth).</li>
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
public class IgemmBench {
    /** The VNNI peak of one core of the reference machine, GOP/s. */
    static final double PEAK_GOPS_1T = 918;

    static MemorySegment bytes(Arena arena, long seed, long n) {
        MemorySegment s = arena.allocate(n, 64);
        SplittableRandom r = new SplittableRandom(seed);
        for (long i = 0; i < n; i++) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
        }
        return s;
    }

    static Igemm.Kernel kernel(String name) {
        Igemm.Kernel forced = switch (name) {
            case "portable" -> Igemm.Kernel.PORTABLE;
            case "amx" -> Igemm.Kernel.AMX_INT8;
            case "avx512-vnni" -> Igemm.Kernel.AVX512_VNNI;
            case "avx-vnni" -> Igemm.Kernel.AVX_VNNI;
            default -> null;
        };
        if (forced != null) {
            if (Igemm.unavailableReason(forced) != null) {
                throw new IllegalStateException("the " + forced + " kernel does not run here: " + Igemm.unavailableReason(forced));
            }
            return forced;
        }
        Igemm.Kernel k = Igemm.bestNative();
        if (k == null) {
            throw new IllegalStateException("no native integer kernel here: " + Igemm.nativeUnavailableReason());
        }
        return k;
    }

    /** One GEMM shape, packed for one kernel, on a workspace of {@code threads} threads. */
    @State(Scope.Benchmark)
    public static class Gemm {
        @Param({"1024x1024x1024", "128x384x1536"})
        public String mnk;

        @Param({"native", "portable"})
        public String kernel;

        @Param({"1", "2"})
        public int threads;

        int m;
        int n;
        int k;
        Arena arena;
        Workspace ws;
        MemorySegment a;
        MemorySegment c;
        Igemm.Weights w;

        @Setup(Level.Trial)
        public void setUp() {
            String[] p = mnk.split("x");
            m = Integer.parseInt(p[0]);
            n = Integer.parseInt(p[1]);
            k = Integer.parseInt(p[2]);
            arena = Arena.ofShared();
            ws = BenchSupport.workspace(arena, threads);
            a = bytes(arena, 1, (long) m * k);
            c = arena.allocate(4L * m * n, 64);
            w = Igemm.pack(kernel(kernel), arena, bytes(arena, 2, (long) k * n), 0, n, 1, false, k, n, new int[] {0});
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            ws.close();
            arena.close();
        }
    }

    @Benchmark
    public MemorySegment igemm(Gemm g, Rates.Flops r) {
        Igemm.gemm(g.ws, g.m, new Igemm.Lhs(g.a, 0, g.k, false, 7, null), g.w, Igemm.Output.int32(g.c, 0, g.n));
        g.ws.reset();
        r.add(2.0 * g.m * g.n * g.k, PEAK_GOPS_1T * g.threads);
        return g.c;
    }

    /** 1 x 4096 x 4096 with {@code copies} int8 weight matrices and one float32 one. */
    @State(Scope.Benchmark)
    public static class Gemv {
        static final int K = 4096;
        static final int N = 4096;

        @Param({"native", "portable"})
        public String kernel;

        @Param({"1", "2"})
        public int threads;

        @Param({"4", "1"})
        public int copies;

        Arena arena;
        Workspace ws;
        MemorySegment x;
        MemorySegment y;
        MemorySegment colScale;
        Igemm.Weights[] w;
        Kernel fp32;
        Tensor[] fp32Inputs;
        int next;

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofShared();
            ws = BenchSupport.workspace(arena, threads);
            x = bytes(arena, 1, K);
            y = arena.allocate(4L * N, 64);
            colScale = arena.allocate(4L * N, 64);
            for (int j = 0; j < N; j++) {
                colScale.setAtIndex(ValueLayout.JAVA_FLOAT, j, 0.01f);
            }
            w = new Igemm.Weights[copies];
            for (int i = 0; i < copies; i++) {
                w[i] = Igemm.pack(kernel(kernel), arena, bytes(arena, 2 + i, (long) K * N), 0, N, 1, false, K, N, new int[] {0});
            }
            fp32Inputs = new Tensor[] {BenchSupport.random(arena, 1, 1, K), BenchSupport.random(arena, 2, K, N)};
            fp32 = BenchSupport.plan(arena, "", "MatMul", 13, BenchSupport.attrs(), fp32Inputs, false, true);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            ws.close();
            arena.close();
        }
    }

    @Benchmark
    public MemorySegment gemvInt8(Gemv g, Rates.Bytes r) {
        Igemm.Weights w = g.w[g.next];
        g.next = (g.next + 1) % g.w.length;
        Igemm.gemm(g.ws, 1, new Igemm.Lhs(g.x, 0, Gemv.K, false, 3, null), w,
                new Igemm.Output(Igemm.Mode.FLOAT, g.y, 0, Gemv.N, 0.02f, g.colScale, null));
        g.ws.reset();
        r.add((double) Gemv.K * Gemv.N, BenchSupport.DRAM_GBPS);
        return g.y;
    }

    @Benchmark
    public Tensor[] gemvFp32(Gemv g, Rates.Bytes r) {
        Tensor[] out = g.fp32.run(g.ws, g.fp32Inputs);
        g.ws.reset();
        r.add(4.0 * Gemv.K * Gemv.N, BenchSupport.DRAM_GBPS);
        return out;
    }
}
