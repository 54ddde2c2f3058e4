package dev.gatun.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.models.GeneratedModels;
import dev.gatun.engine.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue #3's memory line on real models: once warm, a {@link Session#run(Map, Map)} into the caller's output tensors
 * reserves no new native memory (the workspace does not grow) and allocates less than 1 KB of Java heap per run,
 * counted over every thread of the session: the caller and the intra-op pool's workers (so a parallel region that
 * builds a capturing lambda, or a worker that boxes, shows). Models: all-MiniLM-L6-v2 fp32, int8 (the langchain4j
 * jars' resources) and pruned to 80% (every MatMul weight sparse) at 1 and 2 intra-op threads, ResNet-18 and
 * MobileNetV2 (batch 1, 224x224) at 2 threads.
 *
 * <p>The heap is measured with the JDK's per-thread allocation counter over windows of runs after a warm-up long
 * enough for the JIT to compile the kernels (an interpreted Vector API loop allocates its vectors); the best window
 * counts, so a window hit by a late recompilation does not fail the test, but any per-run allocation in the executor
 * or a kernel does. The engine's pom runs this class in a JVM of its own: in the JVM shared with every other test,
 * which helpers the JIT inlines differs (measured there: about 1.4 KB per run). That JVM compiles at a tenth of the
 * usual invocation counts ({@code -XX:CompileThresholdScaling=0.1}), so that code a CNN reaches only a few times per
 * run (its classifier's GEMV store) is compiled within a warm-up of 100 runs (10-50 ms each) rather than 300 or more.
 */
class SteadyStateAllocationTest {
    private static final long LIMIT_BYTES_PER_RUN = 1024;

    @TempDir
    Path tmp;

    @ParameterizedTest(name = "all-minilm-l6-v2, {0} thread(s)")
    @ValueSource(ints = {1, 2})
    void warmMiniLmRunsAllocateNoNativeMemoryAndUnderOneKilobyteOfHeap(int threads) throws Exception {
        miniLm("all-minilm-l6-v2.onnx", threads);
    }

    @ParameterizedTest(name = "all-minilm-l6-v2-q, {0} thread(s)")
    @ValueSource(ints = {1, 2})
    void warmInt8MiniLmRunsAllocateNoNativeMemoryAndUnderOneKilobyteOfHeap(int threads) throws Exception {
        miniLm("all-minilm-l6-v2-q.onnx", threads);
    }

    @ParameterizedTest(name = "all-minilm-l6-v2 pruned to 80%, {0} thread(s)")
    @ValueSource(ints = {1, 2})
    void warmPrunedMiniLmRunsAllocateNoNativeMemoryAndUnderOneKilobyteOfHeap(int threads) throws Exception {
        // every MatMul weight sparse: the sliced sparse GEMVs at 8 rows (the SpMM's parallel regions from 25 rows
        // still build their task lambdas)
        Files.write(tmp.resolve("minilm-80.onnx"), dev.gatun.engine.models.SparseMiniLmTest.prunedMiniLm(0.8));
        miniLm("minilm-80.onnx", threads);
    }

    private void miniLm(String resource, int threads) throws Exception {
        Path file = tmp.resolve(resource);
        if (!Files.exists(file)) {
            try (InputStream in = SteadyStateAllocationTest.class.getResourceAsStream("/" + resource)) {
                assertNotNull(in, "the " + resource + " resource (langchain4j jar) is not on the test classpath");
                Files.copy(in, file);
            }
        }
        int b = 1;
        int s = 8;
        Random rnd = new Random(7);
        long[] ids = new long[b * s];
        long[] mask = new long[b * s];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 101 + rnd.nextInt(20000);
            mask[i] = i < s - 2 ? 1 : 0;
        }
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> inputs = Map.of(
                    "input_ids", Tensor.ofLongs(arena, ids, b, s),
                    "attention_mask", Tensor.ofLongs(arena, mask, b, s),
                    "token_type_ids", Tensor.ofLongs(arena, new long[b * s], b, s));
            long best = measure(file, inputs, threads, 2500, 200);
            System.out.printf("SteadyStateAllocationTest: %d bytes of heap per warm run of %s (1 x %d, %d thread(s))%n",
                    best, resource, s, threads);
        }
    }

    @ParameterizedTest(name = "{0}, 2 threads")
    @ValueSource(strings = {"resnet18.onnx", "mobilenet_v2.onnx"})
    void warmCnnRunsAllocateNoNativeMemoryAndUnderOneKilobyteOfHeap(String name) throws Exception {
        Path file = GeneratedModels.get(name);
        Random rnd = new Random(7);
        float[] image = new float[3 * 224 * 224];
        for (int i = 0; i < image.length; i++) {
            image[i] = (float) rnd.nextGaussian();
        }
        try (Arena arena = Arena.ofShared()) {
            // 1000 warm runs: code a CNN reaches once or a few times per run (its one 1x1 stride-2 layer on ConvSmallPlane,
            // MaxPool, the classifier's GEMV) can still be C1-compiled (boxing every vector: 11 KB a run for ResNet-18) at
            // run 100-400 even with this JVM's lowered compile thresholds; it allocates nothing once C2 has compiled it.
            long best = measure(file, Map.of("input", Tensor.ofFloats(arena, image, 1, 3, 224, 224)), 2, 1000, 20);
            System.out.printf("SteadyStateAllocationTest: %d bytes of heap per warm run of %s (batch 1, 2 threads)%n",
                    best, name);
        }
    }

    /**
     * Runs the model {@code warmup} times, then returns the fewest heap bytes per run that the session's threads
     * allocated over a window of {@code window} runs (at least 10 windows and up to a minute, stopping at the first
     * under the limit), after checking that the warm runs reserved no native memory and that the best window is under
     * the limit.
     */
    private static long measure(Path file, Map<String, Tensor> inputs, int threadCount, int warmup, int window) {
        var mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(mx.isThreadAllocatedMemorySupported(), "this JVM cannot count allocated bytes per thread");
        try (Model model = Model.load(file);
             Session session = model.newSession(SessionOptions.defaults().withThreads(threadCount));
             Arena arena = Arena.ofShared()) {
            Map<String, Tensor> outputs = new HashMap<>();
            try (Result first = session.run(inputs)) {
                for (Map.Entry<String, Tensor> e : first.asMap().entrySet()) {
                    outputs.put(e.getKey(), Tensor.allocate(arena, e.getValue().dtype(), e.getValue().shape()));
                }
            }
            for (int i = 0; i < warmup; i++) {
                session.run(inputs, outputs);
            }
            long workspace = session.workspaceBytes();
            long[] workers = session.intraOpThreadIds();
            assertEquals(threadCount - 1, workers.length, "intra-op worker threads");
            long[] ids = new long[workers.length + 1];
            ids[0] = Thread.currentThread().threadId();
            System.arraycopy(workers, 0, ids, 1, workers.length);
            long best = Long.MAX_VALUE;
            // At least 10 windows, and more for up to a minute, stopping at the first under the limit: on a loaded
            // machine the JIT's compile queue can lag past the warm-up (a helper saw the two-thread CNN cases fail once
            // in a run 8x slower than usual), and code not yet compiled by C2 allocates what escape analysis later
            // removes. An allocation in the executor or a kernel shows in every window, so this still fails on one.
            long deadline = System.nanoTime() + 60_000_000_000L;
            for (int w = 0; best >= LIMIT_BYTES_PER_RUN && (w < 10 || System.nanoTime() < deadline); w++) {
                long before = allocated(mx, ids);
                for (int i = 0; i < window; i++) {
                    session.run(inputs, outputs);
                }
                best = Math.min(best, (allocated(mx, ids) - before) / window);
            }
            assertEquals(workspace, session.workspaceBytes(), "the workspace grew during warm runs");
            assertTrue(best < LIMIT_BYTES_PER_RUN, "a warm run of " + file.getFileName() + " on " + threadCount
                    + " thread(s) allocated " + best + " bytes of heap (limit " + LIMIT_BYTES_PER_RUN + ")");
            return best;
        }
    }

    /** Heap bytes the threads {@code ids} have allocated so far. */
    private static long allocated(com.sun.management.ThreadMXBean mx, long[] ids) {
        long sum = 0;
        for (long a : mx.getThreadAllocatedBytes(ids)) {
            assertTrue(a >= 0, "a session thread died or cannot be measured");
            sum += a;
        }
        return sum;
    }
}
