package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Dynamic batching, auth on and off, CORS, graceful shutdown and the access log. */
class ServerOperationsTest {
    @TempDir
    Path repo;
    @TempDir
    Path etc;

    static double metric(String text, String name) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + " ([0-9.eE+-]+)$").matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    @Test
    void batchingMergesConcurrentRequestsAndSplitsTheirRows() throws Exception {
        StubPipeline.register();
        TestModels.write(repo, "add", 1, TestModels.add(4, 1));
        // one instance that takes 30 ms per run: requests arriving meanwhile queue up and merge
        TestModels.write(repo, "slow", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "slow", "{\"instances\": 1, \"pipeline\": {\"type\": \"test-stub\", \"sleep_ms\": 30}}");
        TestModels.config(repo, "add", "{\"instances\": 1, \"max_batch_size\": 16,"
                + " \"dynamic_batching\": {\"max_queue_delay_microseconds\": 20000}}");
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            ExecutorService pool = Executors.newFixedThreadPool(16);
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                int id = i;
                int rows = 1 + i % 3;
                results.add(pool.submit(() -> {
                    StringBuilder data = new StringBuilder();
                    for (int r = 0; r < rows; r++) {
                        data.append(r == 0 ? "" : ", ").append(id).append(", ").append(r).append(", 0, 0");
                    }
                    var resp = s.post("/v2/models/add/infer", "{\"inputs\": [{\"name\": \"x\", \"shape\": [" + rows
                            + ", 4], \"datatype\": \"FP32\", \"data\": [" + data + "]}]}");
                    JsonNode out = resp.json().path("outputs").get(0);
                    assertEquals("[" + rows + ",4]", out.path("shape").toString(), resp.text());
                    for (int r = 0; r < rows; r++) {
                        assertEquals(id + 1f, out.path("data").get(4 * r).floatValue());
                        assertEquals(r + 1f, out.path("data").get(4 * r + 1).floatValue());
                    }
                    var text = s.post("/predict/slow", "{\"text\": [\"" + "x".repeat(id) + "\"]}");
                    assertEquals("[" + id + "]", text.json().path("outputs").path("length").toString(), text.text());
                    return "ok";
                }));
            }
            for (Future<String> f : results) {
                assertEquals("ok", f.get(120, TimeUnit.SECONDS));
            }
            pool.shutdown();
            String m = s.get("/metrics").text();
            for (String model : List.of("add", "slow")) {
                double runs = metric(m, "gatun_batch_requests_count{model=\"" + model + "\",version=\"1\"}");
                double requests = metric(m, "gatun_batch_requests_sum{model=\"" + model + "\",version=\"1\"}");
                assertTrue(requests >= 64, model + ": " + requests + " requests");
                assertTrue(runs < requests, model + ": " + runs + " runs for " + requests + " requests: nothing merged");
            }
        }
    }

    @Test
    void aRequestThatBreaksAMergedBatchFailsAlone() throws Exception {
        StubPipeline.register();
        TestModels.write(repo, "slow", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "slow", "{\"instances\": 1, \"pipeline\": {\"type\": \"test-stub\", \"sleep_ms\": 50}}");
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            List<CompletableFuture<TestServer.Resp>> l = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                String text = i == 5 ? "fail" : "ok" + i;
                l.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return s.post("/predict/slow", "{\"text\": [\"" + text + "\"]}");
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }));
            }
            for (int i = 0; i < l.size(); i++) {
                var r = l.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(i == 5 ? 400 : 200, r.status(), r.text());
            }
        }
    }

    @Test
    void authOnAndOff() throws Exception {
        TestModels.write(repo, "add", 1, TestModels.add(4, 1));
        String req = "{\"inputs\": {\"x\": [[1, 2, 3, 4]]}}";
        try (TestServer open = new TestServer(TestServer.config(), repo, List.of())) {
            assertEquals(200, open.post("/predict/add", req).status());
            assertEquals(200, open.get("/metrics").status());
        }
        Files.writeString(etc.resolve("tokens"), "t0k3n-one\n\n# comment\nt0k3n-two\n");
        ServerConfig c = TestServer.config();
        c.tokensFile = etc.resolve("tokens");
        try (TestServer s = new TestServer(c, repo, List.of())) {
            var missing = s.post("/predict/add", req);
            assertEquals(401, missing.status());
            assertTrue(missing.error().contains("missing bearer token"), missing.error());
            assertTrue(missing.header("WWW-Authenticate").startsWith("Bearer"));
            var wrong = s.post("/predict/add", req, "Authorization", "Bearer t0k3n-three");
            assertEquals(401, wrong.status());
            assertTrue(wrong.error().contains("invalid bearer token"), wrong.error());
            assertEquals(401, s.post("/predict/add", req, "Authorization", "Basic dXNlcjpwYXNz").status());
            assertEquals(401, s.post("/predict/add", req, "Authorization", "Bearer ").status());
            assertEquals(200, s.post("/predict/add", req, "Authorization", "Bearer t0k3n-one").status());
            assertEquals(200, s.post("/v2/models/add/infer", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\":"
                    + " \"FP32\", \"data\": [1, 2, 3, 4]}]}", "Authorization", "bearer t0k3n-two").status());
            for (String path : List.of("/v2", "/v2/models/add", "/v2/models/add/ready", "/metrics")) {
                assertEquals(401, s.get(path).status(), path);
                assertEquals(200, s.get(path, "Authorization", "Bearer t0k3n-one").status(), path);
            }
            // health stays open for probes
            assertEquals(200, s.get("/v2/health/live").status());
            assertEquals(200, s.get("/v2/health/ready").status());
        }
    }

    @Test
    void corsWhenConfigured() throws Exception {
        TestModels.write(repo, "add", 1, TestModels.add(4, 1));
        ServerConfig c = TestServer.config();
        c.corsOrigins = List.of("https://app.example.com");
        try (TestServer s = new TestServer(c, repo, List.of())) {
            var ok = s.get("/v2", "Origin", "https://app.example.com");
            assertEquals("https://app.example.com", ok.header("Access-Control-Allow-Origin"));
            assertNull(s.get("/v2", "Origin", "https://evil.example.com").header("Access-Control-Allow-Origin"));
            var pre = s.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(s.base + "/v2/models/add/infer"))
                    .method("OPTIONS", java.net.http.HttpRequest.BodyPublishers.noBody())
                    .header("Origin", "https://app.example.com").header("Access-Control-Request-Method", "POST").build());
            assertEquals(204, pre.status());
            assertTrue(pre.header("Access-Control-Allow-Headers").contains("Authorization"));
        }
    }

    @Test
    void gracefulShutdownFinishesRequestsInProgress() throws Exception {
        StubPipeline.register();
        TestModels.write(repo, "gated", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "gated", "{\"pipeline\": {\"type\": \"test-stub\", \"gate\": \"shutdown\"}, \"warmup\": false}");
        var gate = StubPipeline.gate("shutdown");
        gate.drainPermits();
        TestServer s = new TestServer(TestServer.config(), repo, List.of());
        CompletableFuture<TestServer.Resp> inFlight = CompletableFuture.supplyAsync(() -> {
            try {
                return s.post("/predict/gated", "{\"text\": [\"finish me\"]}");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        TimeUnit.MILLISECONDS.sleep(300);
        CompletableFuture<Void> stopping = CompletableFuture.runAsync(s.server::stop);
        TimeUnit.MILLISECONDS.sleep(300);
        assertTrue(!stopping.isDone(), "stop() returned with a request in progress");
        var refused = s.get("/v2/health/ready");
        assertEquals(503, refused.status());
        gate.release();
        var r = inFlight.get(30, TimeUnit.SECONDS);
        assertEquals(200, r.status(), r.text());
        assertEquals("[9]", r.json().path("outputs").path("length").toString());
        stopping.get(30, TimeUnit.SECONDS);
        s.http.close();
    }

    @Test
    void accessLogLinesAreJson() throws Exception {
        TestModels.write(repo, "add", 1, TestModels.add(4, 1));
        PrintStream old = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        ServerConfig c = TestServer.config();
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            c.host = "127.0.0.1";
            c.port = 0;
            c.accessLog = "stdout";
            try (GatunServer server = new GatunServer(c, repo, List.of())) {
                server.start();
                var http = java.net.http.HttpClient.newHttpClient();
                http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + server.port()
                        + "/predict/add?token=secret")).POST(java.net.http.HttpRequest.BodyPublishers.ofString(
                        "{\"inputs\": {\"x\": [[1, 2, 3, 4]]}}")).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
                http.close();
            }
        } finally {
            System.setOut(old);
        }
        String line = captured.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("{")).findFirst().orElseThrow();
        JsonNode j = Json.tree(line.getBytes(StandardCharsets.UTF_8), 0, line.length());
        assertEquals("POST", j.path("method").asText());
        assertEquals("/predict/add", j.path("path").asText());
        assertEquals(200, j.path("status").asInt());
        assertEquals("add", j.path("model").asText());
        assertEquals("1", j.path("version").asText());
        assertTrue(j.path("bytes_in").asInt() > 0 && j.path("bytes_out").asInt() > 0, line);
        assertTrue(!line.contains("secret"), line);
    }
}
