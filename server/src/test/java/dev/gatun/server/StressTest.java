package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Many concurrent clients against all-MiniLM-L6-v2 over loopback, every response checked against the embedding the
 * same text gets alone: with dynamic batching ({@code minilm_b}) and with a pool of unbatched sessions
 * ({@code minilm_p}); then hot reloads during load (no request may fail), then a shutdown during load (every
 * answer is a correct 200, a 503 or a refused connection: never a corrupted body or another 5xx).
 *
 * <p>The default build runs a short version (16 clients, seconds); {@code ./run-tests -pl server -Dgroups=load}
 * runs 64 clients for 2 minutes per mode ({@code -Dgatun.stress.seconds=N}). Figures go to
 * target/stress-results.txt.
 */
class StressTest {
    @TempDir
    Path dir;
    @TempDir
    Path etc;

    @Test
    void shortStressReloadAndShutdownUnderLoad() throws Exception {
        stress(16, 3);
    }

    @Test
    @Tag("load")
    void miniLm64ClientsForTwoMinutesPerMode() throws Exception {
        stress(64, Double.parseDouble(System.getProperty("gatun.stress.seconds", "120")));
    }

    private void stress(int clients, double seconds) throws Exception {
        assumeTrue(Traffic.pipelineAvailable(), "the text-embedding pipeline is not in this build");
        int cores = Runtime.getRuntime().availableProcessors();
        Traffic.miniLm(dir, "minilm_b", "\"max_batch_size\": 32, \"warmup_runs\": 3");
        Traffic.miniLm(dir, "minilm_p", "\"max_batch_size\": 0, \"instances\": " + Math.min(4, cores)
                + ", \"threads\": 1, \"warmup_runs\": 3");
        Files.writeString(etc.resolve("admin"), "a\n");
        ServerConfig c = TestServer.config();
        c.threads = cores;
        c.httpThreads = Math.max(64, 2 * clients);
        c.adminEnabled = true;
        c.adminTokensFile = etc.resolve("admin");
        StringBuilder report = new StringBuilder();
        try (TestServer s = new TestServer(c, dir, List.of())) {
            for (String model : new String[] {"minilm_b", "minilm_p"}) {
                float[][] ref = Traffic.reference(s, model);
                Traffic.Tally t = Traffic.run(s.base, model, ref, clients, seconds, Long.MAX_VALUE, () -> false);
                line(report, t.line(model + (model.endsWith("_b") ? " (dynamic batching)" : " (session pool, no batching)"),
                        clients));
                assertClean(t, model);
                assertEquals(0, t.rejected.sum(), model + ": 503s");
                assertEquals(0, t.connectionErrors.sum(), model + ": connection errors");
                assertTrue(t.ok.sum() > 0, model);
            }

            // hot reloads while the clients run: the reloaded version takes over, no request fails or waits for a 503
            float[][] ref = Traffic.reference(s, "minilm_b");
            AtomicBoolean reloading = new AtomicBoolean(true);
            Thread reloader = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(500);
                    for (int i = 0; i < 3; i++) {
                        var r = s.post("/v2/repository/models/minilm_b/load", "", "Authorization", "Bearer a");
                        if (r.status() != 200) {
                            throw new AssertionError("reload " + i + ": " + r.status() + " " + r.text());
                        }
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                } finally {
                    reloading.set(false);
                }
            });
            Traffic.Tally t = Traffic.run(s.base, "minilm_b", ref, clients, 600, Long.MAX_VALUE, () -> !reloading.get());
            reloader.join();
            line(report, t.line("minilm_b during 3 hot reloads", clients));
            assertClean(t, "reload");
            assertEquals(0, t.rejected.sum(), "a reload made requests fail with 503");
            assertEquals(0, t.connectionErrors.sum(), "a reload broke connections");
            String m = s.get("/metrics").text();
            assertTrue(ServerOperationsTest.metric(m, "gatun_model_load_failures_total{model=\"minilm_b\",version=\"1\"}") <= 0,
                    m.lines().filter(x -> x.contains("load_failures")).toList().toString());

            // a shutdown while the clients run: requests in progress finish, later ones are refused
            Thread stopper = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(1500);
                } catch (InterruptedException e) {
                    return;
                }
                s.server.stop();
            });
            long stopBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            t = Traffic.run(s.base, "minilm_b", ref, clients, 120, Long.MAX_VALUE,
                    () -> !stopper.isAlive() || System.nanoTime() > stopBy);
            stopper.join();
            line(report, t.line("minilm_b with a shutdown after 1.5 s", clients));
            assertClean(t, "shutdown");
            assertTrue(t.ok.sum() > 0, "requests before the shutdown");
        } finally {
            Files.writeString(Path.of("target", "stress-results.txt"), report.toString(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
    }

    private static void line(StringBuilder report, String line) {
        System.out.println("STRESS " + line);
        report.append(line).append('\n');
    }

    /** No wrong embedding, no 5xx but 503, no unexpected status. */
    private static void assertClean(Traffic.Tally t, String what) {
        assertEquals(0, t.mismatches.sum(), what + ": mismatches, first: " + t.firstProblem.get());
        assertEquals(0, t.serverErrors.sum(), what + ": 5xx, first: " + t.firstProblem.get());
        assertTrue(t.otherStatus.isEmpty(), what + ": statuses " + t.otherStatus + ", first: " + t.firstProblem.get());
    }
}
