package dev.gatun.engine;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #3's memory line on a real model (all-MiniLM-L6-v2, the langchain4j jar's resource): once warm, a
 * {@link Session#run(Map, Map)} into the caller's output tensors reserves no new native memory (the workspace does
 * not grow) and allocates less than 1 KB of Java heap per run on the calling thread (one intra-op thread, so every
 * kernel runs on it). The heap is measured with the JDK's per-thread allocation counter over windows of runs after
 * a warm-up long enough for the JIT to compile the kernels (an interpreted Vector API loop allocates its vectors);
 * the best window counts, so a window hit by a late recompilation does not fail the test, but any per-run
 * allocation in the executor or a kernel does. The engine's pom runs this class in a JVM of its own: in the JVM
 * shared with every other test, which helpers the JIT inlines differs (measured there: about 1.4 KB per run).
 */
class SteadyStateAllocationTest {
    private static final int WARMUP_RUNS = 2500;
    private static final int WINDOW_RUNS = 200;
    private static final long LIMIT_BYTES_PER_RUN = 1024;

    @TempDir
    Path tmp;

    @Test
    void warmRunsAllocateNoNativeMemoryAndUnderOneKilobyteOfHeap() throws Exception {
        Path file = tmp.resolve("all-minilm-l6-v2.onnx");
        try (InputStream in = SteadyStateAllocationTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "the all-minilm-l6-v2.onnx resource (langchain4j jar) is not on the test classpath");
            Files.copy(in, file);
        }
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(threads.isThreadAllocatedMemorySupported(), "this JVM cannot count allocated bytes per thread");
        try (Model model = Model.load(file);
             Session session = model.newSession(SessionOptions.defaults().withThreads(1));
             Arena arena = Arena.ofConfined()) {
            int b = 1;
            int s = 8;
            Random rnd = new Random(7);
            long[] ids = new long[b * s];
            long[] mask = new long[b * s];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = 101 + rnd.nextInt(20000);
                mask[i] = i < s - 2 ? 1 : 0;
            }
            Map<String, Tensor> inputs = Map.of(
                    "input_ids", Tensor.ofLongs(arena, ids, b, s),
                    "attention_mask", Tensor.ofLongs(arena, mask, b, s),
                    "token_type_ids", Tensor.ofLongs(arena, new long[b * s], b, s));
            Map<String, Tensor> outputs = new HashMap<>();
            try (Result first = session.run(inputs)) {
                for (Map.Entry<String, Tensor> e : first.asMap().entrySet()) {
                    outputs.put(e.getKey(), Tensor.allocate(arena, e.getValue().dtype(), e.getValue().shape()));
                }
            }
            for (int i = 0; i < WARMUP_RUNS; i++) {
                session.run(inputs, outputs);
            }
            long workspace = session.workspaceBytes();
            long thread = Thread.currentThread().threadId();
            long best = Long.MAX_VALUE;
            // Up to 10 windows, stopping at the first under the limit: on a loaded machine the JIT's compile queue
            // can lag past the warm-up, and code not yet compiled by C2 allocates what escape analysis later removes.
            // An allocation in the executor or a kernel shows in every window, so this still fails on one.
            for (int w = 0; w < 10 && best >= LIMIT_BYTES_PER_RUN; w++) {
                long before = threads.getThreadAllocatedBytes(thread);
                for (int i = 0; i < WINDOW_RUNS; i++) {
                    session.run(inputs, outputs);
                }
                best = Math.min(best, (threads.getThreadAllocatedBytes(thread) - before) / WINDOW_RUNS);
            }
            assertEquals(workspace, session.workspaceBytes(), "the workspace grew during warm runs");
            assertTrue(best < LIMIT_BYTES_PER_RUN, "a warm run allocated " + best + " bytes of heap (limit "
                    + LIMIT_BYTES_PER_RUN + ")");
            System.out.printf("SteadyStateAllocationTest: %d bytes of heap per warm MiniLM run (1 x %d, 1 thread)%n", best, s);
        }
    }
}
