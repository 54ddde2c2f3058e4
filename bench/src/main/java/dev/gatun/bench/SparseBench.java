package dev.gatun.bench;

import dev.gatun.engine.cpu.Epilogue;
import dev.gatun.engine.cpu.PackedB;
import dev.gatun.engine.cpu.Sgemm;
import dev.gatun.engine.cpu.SparseB;
import dev.gatun.engine.cpu.Spmm;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
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
 * Sparse weights ({@link Spmm}) against our dense GEMM/GEMV ({@link Sgemm} with the weight prepacked, what a MatMul
 * with a constant weight runs) on the same magnitude-pruned weights: {@code Y[M, N] = X[M, K] x W[K, N]}.
 * Shapes {@code KxN}: the BERT-base/MiniLM linear layers 384x1536 (FFN up), 1536x384 (FFN down), 384x384 (attention
 * projections) and a ResNet 3x3x256 -> 256 convolution as a GEMM over its im2col (2304x256), at M = 1 (GEMV),
 * 32 and 128 tokens (or output pixels). {@code sparsity}: the percentage of weights pruned (unstructured, smallest
 * magnitudes), or {@code 2:4} (2 largest of every 4 along K kept, the 2:4 packed layout); unstructured weights run
 * in CSR. Times are per product (us/op); the ratio dense/sparse at one shape and M is the speedup, and the
 * sparsity where it crosses 1 the crossover (docs/PERFORMANCE-sparse.md).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
public class SparseBench {
    /** Activations and the dense weight of one shape. */
    @State(Scope.Benchmark)
    public static class Shape {
        /** K x N of the weight. */
        @Param({"384x1536", "1536x384", "384x384", "2304x256"})
        public String kn;

        /** Rows of X (tokens, or output pixels for the convolution). */
        @Param({"1", "32", "128"})
        public int m;

        /**
         * Intra-op threads. Two matter for the GEMV: the dense one reads its weight from DRAM (bandwidth-bound, one
         * core nearly saturates it), the sparse one is compute-bound and splits its columns over both cores.
         */
        @Param({"1", "2"})
        public int threads;

        int k;
        int n;
        Arena arena;
        Tensor x;
        Tensor w;
        Tensor y;
        Workspace ws;

        @Setup(Level.Trial)
        public void setUp() {
            String[] p = kn.split("x");
            k = Integer.parseInt(p[0]);
            n = Integer.parseInt(p[1]);
            arena = Arena.ofShared();
            x = BenchSupport.random(arena, 1, m, k);
            w = BenchSupport.random(arena, 2, k, n);
            y = BenchSupport.random(arena, 3, m, n);
            ws = BenchSupport.workspace(arena, threads);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            ws.close();
            arena.close();
        }
    }

    /** The dense weight packed for Sgemm. */
    @State(Scope.Benchmark)
    public static class Dense {
        PackedB packed;

        @Setup(Level.Trial)
        public void setUp(Shape s) {
            packed = PackedB.pack(s.arena, false, s.k, s.n, s.w.data(), 0, s.n);
        }
    }

    /** The weight pruned and packed sparse. */
    @State(Scope.Benchmark)
    public static class Sparse {
        /** Percent pruned (unstructured, CSR), or 2:4. */
        @Param({"50", "70", "80", "90", "95", "2:4"})
        public String sparsity;

        SparseB packed;

        @Setup(Level.Trial)
        public void setUp(Shape s) {
            MemorySegment pruned = s.arena.allocate((long) s.k * s.n * 4, 64);
            pruned.copyFrom(s.w.data());
            if (sparsity.equals("2:4")) {
                pruneTwoFour(pruned, s.k, s.n);
                packed = SparseB.pack(SparseB.Format.TWO_FOUR, false, s.k, s.n, pruned, 0, s.n);
            } else {
                prune(pruned, (long) s.k * s.n, Integer.parseInt(sparsity) / 100.0);
                packed = SparseB.pack(SparseB.Format.CSR, false, s.k, s.n, pruned, 0, s.n);
            }
        }
    }

    /** Zeros the {@code sparsity} fraction of smallest-magnitude elements. */
    static void prune(MemorySegment w, long count, double sparsity) {
        float[] mags = new float[(int) count];
        for (int i = 0; i < count; i++) {
            mags[i] = Math.abs(w.getAtIndex(Tensor.F32, i));
        }
        float[] sorted = mags.clone();
        Arrays.sort(sorted);
        int cut = (int) Math.round(sparsity * count);
        float threshold = cut == 0 ? -1f : sorted[cut - 1];
        for (int i = 0; i < count; i++) {
            if (mags[i] <= threshold) {
                w.setAtIndex(Tensor.F32, i, 0f);
            }
        }
    }

    /** Keeps the 2 largest magnitudes of every 4 consecutive rows of each column of W[k, n]. */
    static void pruneTwoFour(MemorySegment w, int k, int n) {
        for (int j = 0; j < n; j++) {
            for (int g = 0; g + 4 <= k; g += 4) {
                for (int drop = 0; drop < 2; drop++) {
                    int at = -1;
                    float best = Float.MAX_VALUE;
                    for (int p = g; p < g + 4; p++) {
                        float v = Math.abs(w.getAtIndex(Tensor.F32, (long) p * n + j));
                        if (v != 0f && v < best) {
                            best = v;
                            at = p;
                        }
                    }
                    w.setAtIndex(Tensor.F32, (long) at * n + j, 0f);
                }
            }
        }
    }

    @Benchmark
    public Tensor dense(Shape s, Dense d) {
        Sgemm.sgemm(s.ws, false, s.m, 1f, s.x.data(), 0, s.k, d.packed, 0f, s.y.data(), 0, s.n, Epilogue.NONE);
        s.ws.reset();
        return s.y;
    }

    @Benchmark
    public Tensor sparse(Shape s, Sparse sp) {
        Spmm.multiply(s.ws, s.m, s.x.data(), 0, s.k, sp.packed, s.y.data(), 0, s.n, Epilogue.NONE);
        s.ws.reset();
        return s.y;
    }
}
