package dev.gatun.engine.api;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A whole transformer (all-minilm-l6-v2, the langchain4j jar's resource) gives the same bits on 1, 2 and 3 intra-op
 * threads: the kernels' task splits (GEMM row and column ranges, the shared packed A, attention heads and query
 * tiles, normalisation rows) change who computes an output element, never the operations that compute it.
 * Several runs per session, so regions after the pool's workers went idle and woke again are covered too. Every
 * session is warmed up first: a Vector API reduction or exp gives other bits interpreted than compiled, so a cold
 * run may differ from a warm one on any thread count.
 */
class ThreadCountDeterminismTest {
    private static final int WARMUP_RUNS = 300;

    @TempDir
    Path tmp;

    @Test
    void miniLmGivesEqualBitsOnOneTwoAndThreeThreads() throws Exception {
        Path file = tmp.resolve("all-minilm-l6-v2.onnx");
        try (InputStream in = ThreadCountDeterminismTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "the all-minilm-l6-v2.onnx resource (langchain4j jar) is not on the test classpath");
            Files.copy(in, file);
        }
        try (Model model = Model.load(file); Arena arena = Arena.ofConfined()) {
            for (int[] bs : new int[][] {{1, 33}, {2, 7}}) {
                int b = bs[0];
                int s = bs[1];
                Random rnd = new Random(11L * s + b);
                long[] ids = new long[b * s];
                long[] mask = new long[b * s];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = 101 + rnd.nextInt(20000);
                    mask[i] = i % s < s - 3 ? 1 : 0;
                }
                Map<String, Tensor> inputs = Map.of(
                        "input_ids", Tensor.ofLongs(arena, ids, b, s),
                        "attention_mask", Tensor.ofLongs(arena, mask, b, s),
                        "token_type_ids", Tensor.ofLongs(arena, new long[b * s], b, s));
                MemorySegment want = null;
                for (int threads = 1; threads <= 3; threads++) {
                    try (Session session = model.newSession(SessionOptions.defaults().withThreads(threads))) {
                        for (int warm = 0; warm < WARMUP_RUNS; warm++) {
                            session.run(inputs).close();
                        }
                        for (int run = 0; run < 3; run++) {
                            if (run == 2) {
                                Thread.sleep(5);
                            }
                            try (Result r = session.run(inputs)) {
                                Tensor out = r.asMap().get("last_hidden_state");
                                assertNotNull(out, "no last_hidden_state output");
                                MemorySegment got = arena.allocate(out.data().byteSize());
                                got.copyFrom(out.data());
                                if (want == null) {
                                    want = got;
                                } else {
                                    long at = want.mismatch(got);
                                    assertEquals(-1, at, b + "x" + s + ", " + threads + " threads, run " + run
                                            + ": first differing byte " + at);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
