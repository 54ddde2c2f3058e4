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
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The sparse/dense calibration loop behind docs/PERFORMANCE-sparse.md and the constants of
 * {@code ops/SparsePlanner}: on a loaded machine JMH's wall-clock iterations swing too much, so this measures
 * <b>thread CPU time</b> in one JVM, dense ({@link Sgemm}, weight prepacked) and sparse ({@link Spmm}) interleaved
 * round by round on the same pruned weights, and prints medians (us per product) and the ratio dense/sparse.
 *
 * <p>Usage: {@code java ... dev.gatun.bench.SparseCalibration [--shapes 384x1536,...] [--m 1,32,128]
 * [--sparsity 50,70,80,90,95,2:4] [--rounds 7] [--copies C] [--threads T] [--pollute]}; with T > 1 times are
 * wall-clock, and the fastest rounds are printed too. {@code --copies} keeps C copies of every weight (dense and sparse) and cycles through them, so that a
 * product reads its weight from DRAM rather than cache (GEMV). {@code --pollute} first reads heap memory segments
 * (scalar and vector loads, 200k times), as a model's loader does, so that the JDK's shared segment-access code
 * carries the type profile it has inside a real model (docs/ARCHITECTURE.md "GEMM memory access").
 * {@code -Dsparse.epilogue=gelu} gives every product a column bias and Gelu (a BERT FFN up-projection),
 * {@code -Dsparse.epilogue=bias} a column bias alone.
 * {@code -Dspmm.KNOB=VALUE} sets one of {@code Spmm}'s tuning fields for an A/B (kBlockBytes, minWorkPerBlock,
 * maxVectors, maxGemvPadding, parallelGemvWork, maxSlicedBytes, maxSlicedRows).
 */
public final class SparseCalibration {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    /** Times only the sparse kernel (-Dsparse.only=true: for profiling it). */
    private static final boolean SPARSE_ONLY = Boolean.getBoolean("sparse.only");
    /** The products' epilogue (-Dsparse.epilogue=gelu: a column bias and Gelu, as a BERT FFN up-projection has). */
    private static final String EPILOGUE = System.getProperty("sparse.epilogue", "none");

    private SparseCalibration() {}

    public static void main(String[] args) throws ReflectiveOperationException {
        for (String knob : new String[] {"kBlockBytes", "minWorkPerBlock", "maxVectors", "maxGemvPadding", "parallelGemvWork", "maxSlicedBytes", "maxSlicedRows", "sortedTwoFourRows", "twoFourKBlockBytes"}) {
            String v = System.getProperty("spmm." + knob);
            if (v != null) {
                java.lang.reflect.Field f = Spmm.class.getDeclaredField(knob);
                f.setAccessible(true);
                if (f.getType() == double.class) {
                    f.setDouble(null, Double.parseDouble(v));
                } else if (f.getType() == long.class) {
                    f.setLong(null, Long.parseLong(v));
                } else {
                    f.setInt(null, Integer.parseInt(v));
                }
            }
        }
        List<String> shapes = List.of("384x1536", "1536x384", "384x384", "2304x256");
        List<Integer> ms = List.of(1, 32, 128);
        List<String> sparsities = List.of("50", "70", "80", "90", "95", "2:4");
        int rounds = 7;
        int copies = 1;
        int threads = 1;
        boolean pollute = false;
        for (int i = 0; i < args.length; i += 2) {
            if (args[i].equals("--pollute")) {
                pollute = true;
                i--;
                continue;
            }
            String v = args[i + 1];
            switch (args[i]) {
                case "--shapes" -> shapes = List.of(v.split(","));
                case "--m" -> ms = Arrays.stream(v.split(",")).map(Integer::parseInt).toList();
                case "--sparsity" -> sparsities = List.of(v.split(","));
                case "--rounds" -> rounds = Integer.parseInt(v);
                case "--copies" -> copies = Integer.parseInt(v);
                case "--threads" -> threads = Integer.parseInt(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (pollute) {
            System.out.println("heap-segment reads: checksum " + pollute());
        }
        System.out.println("KxN, M, sparsity: dense us / sparse us = dense/sparse (median of " + rounds + " rounds, "
                + (threads > 1 ? "wall-clock" : "thread CPU time") + ")");
        for (String kn : shapes) {
            String[] p = kn.split("x");
            int k = Integer.parseInt(p[0]);
            int n = Integer.parseInt(p[1]);
            for (int m : ms) {
                try (Arena arena = Arena.ofShared()) {
                    Workspace ws = BenchSupport.workspace(arena, threads);
                    measure(arena, ws, k, n, m, sparsities, rounds, copies, threads > 1);
                    ws.close();
                }
            }
        }
    }

    private static void measure(Arena arena, Workspace ws, int k, int n, int m, List<String> sparsities, int rounds,
                                int copies, boolean wall) {
        Tensor x = BenchSupport.random(arena, 1, m, k);
        Tensor y = BenchSupport.random(arena, 3, m, n);
        Tensor w = BenchSupport.random(arena, 2, k, n);
        PackedB[] dense = new PackedB[copies];
        for (int c = 0; c < copies; c++) {
            dense[c] = PackedB.pack(arena, false, k, n, w.data(), 0, n);
        }
        Epilogue epi = switch (EPILOGUE) {
            case "gelu" -> Epilogue.of(Epilogue.Activation.GELU).withBias(BenchSupport.random(arena, 4, n).data(), 0);
            case "bias" -> Epilogue.NONE.withBias(BenchSupport.random(arena, 4, n).data(), 0);
            default -> Epilogue.NONE;
        };
        long flops = 2L * m * k * n;
        int reps = (int) Math.max(1, Math.min(5000, 3e9 / flops));
        for (String sp : sparsities) {
            MemorySegment pruned = arena.allocate((long) k * n * 4, 64);
            pruned.copyFrom(w.data());
            SparseB[] sparse = new SparseB[copies];
            for (int c = 0; c < copies; c++) {
                if (sp.equals("2:4")) {
                    if (c == 0) {
                        SparseBench.pruneTwoFour(pruned, k, n);
                    }
                    sparse[c] = SparseB.pack(SparseB.Format.TWO_FOUR, false, k, n, pruned, 0, n);
                } else {
                    if (c == 0) {
                        SparseBench.prune(pruned, (long) k * n, Integer.parseInt(sp) / 100.0);
                    }
                    sparse[c] = SparseB.pack(SparseB.Format.CSR, false, k, n, pruned, 0, n);
                }
            }
            double[] d = new double[rounds];
            double[] s = new double[rounds];
            double[] r = new double[rounds];
            for (int round = -3; round < rounds; round++) {
                long t0 = time(wall);
                for (int i = 0; i < (SPARSE_ONLY ? 0 : reps); i++) {
                    Sgemm.sgemm(ws, false, m, 1f, x.data(), 0, k, dense[i % copies], 0f, y.data(), 0, n, epi);
                    ws.reset();
                }
                long t1 = time(wall);
                for (int i = 0; i < reps; i++) {
                    Spmm.multiply(ws, m, x.data(), 0, k, sparse[i % copies], y.data(), 0, n, epi);
                    ws.reset();
                }
                long t2 = time(wall);
                if (round >= 0) {
                    d[round] = (t1 - t0) / 1e3 / reps;
                    s[round] = (t2 - t1) / 1e3 / reps;
                    r[round] = d[round] / s[round];
                }
            }
            System.out.printf(Locale.ROOT, "%dx%d, %d, %s: %.1f / %.1f = %.2fx", k, n, m, sp, median(d), median(s), median(r));
            if (wall) {
                // wall-clock on a shared machine: the fastest round is the least disturbed one
                System.out.printf(Locale.ROOT, " (fastest rounds %.1f / %.1f = %.2fx)", min(d), min(s), min(d) / min(s));
            }
            System.out.println();
        }
    }

    /**
     * Scalar and vector loads through heap segments ({@code MemorySegment.ofArray}), 200k of each, so that the JDK's
     * shared access code has seen heap segments as it has in a whole model's JVM; returns a checksum (kept live).
     */
    private static double pollute() {
        float[] heap = new float[4096];
        Arrays.fill(heap, 1f);
        MemorySegment seg = MemorySegment.ofArray(heap);
        double sum = 0;
        for (int i = 0; i < 200_000; i++) {
            int at = (i * 16) % (heap.length - 16);
            sum += seg.getAtIndex(Tensor.F32, at);
            sum += FloatVector.fromMemorySegment(FloatVector.SPECIES_PREFERRED, seg, at * 4L, ByteOrder.LITTLE_ENDIAN).reduceLanes(VectorOperators.ADD);
            FloatVector.broadcast(FloatVector.SPECIES_PREFERRED, 2f).intoMemorySegment(seg, at * 4L, ByteOrder.LITTLE_ENDIAN);
            seg.setAtIndex(Tensor.F32, at + 1, 1f);
        }
        return sum;
    }

    /** Thread CPU time, or with several threads (workers' time not in it) wall-clock time. */
    private static long time(boolean wall) {
        return wall ? System.nanoTime() : MX.getCurrentThreadCpuTime();
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }
}
