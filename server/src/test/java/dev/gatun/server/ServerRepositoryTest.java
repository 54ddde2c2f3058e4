package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Versions and policies, polling reload under load, the admin API, and models that fail to load. */
class ServerRepositoryTest {
    @TempDir
    Path repo;
    @TempDir
    Path etc;

    static String addRequest(float v) {
        return "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [" + v + ", 0, 0, 0]}]}";
    }

    @Test
    void versionPolicies() throws Exception {
        for (int v = 1; v <= 3; v++) {
            TestModels.write(repo, "all", v, TestModels.add(4, v));
            TestModels.write(repo, "latest2", v, TestModels.add(4, v));
            TestModels.write(repo, "specific", v, TestModels.add(4, v));
            TestModels.write(repo, "dflt", v, TestModels.add(4, v));
        }
        TestModels.config(repo, "all", "{\"version_policy\": {\"all\": {}}}");
        TestModels.config(repo, "latest2", "{\"version_policy\": {\"latest\": {\"num_versions\": 2}}}");
        TestModels.config(repo, "specific", "{\"version_policy\": {\"specific\": {\"versions\": [1, 3]}}}");
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            assertEquals("[\"3\",\"2\",\"1\"]", s.get("/v2/models/all").json().path("versions").toString());
            assertEquals("[\"3\",\"2\"]", s.get("/v2/models/latest2").json().path("versions").toString());
            assertEquals("[\"3\",\"1\"]", s.get("/v2/models/specific").json().path("versions").toString());
            assertEquals("[\"3\"]", s.get("/v2/models/dflt").json().path("versions").toString());
            assertEquals(404, s.post("/v2/models/specific/versions/2/infer", addRequest(1)).status());
            assertEquals(404, s.post("/v2/models/dflt/versions/1/infer", addRequest(1)).status());
            for (int v : new int[] {1, 3}) {
                JsonNode r = s.post("/v2/models/specific/versions/" + v + "/infer", addRequest(10)).json();
                assertEquals(10f + v, r.path("outputs").get(0).path("data").get(0).floatValue());
                assertEquals(Integer.toString(v), r.path("model_version").asText());
            }
            assertEquals("3", s.post("/v2/models/all/infer", addRequest(0)).json().path("model_version").asText());
        }
    }

    @Test
    void pollingReloadsUnderLoadWithoutAFailedRequest() throws Exception {
        TestModels.write(repo, "m", 1, TestModels.add(4, 1));
        ServerConfig c = TestServer.config();
        c.poll = true;
        c.pollIntervalMs = 50;
        try (TestServer s = new TestServer(c, repo, List.of())) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger ok = new AtomicInteger();
            List<String> failures = new CopyOnWriteArrayList<>();
            Set<String> seen = ConcurrentHashMap.newKeySet();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            for (int t = 0; t < 4; t++) {
                int id = t;
                pool.submit(() -> {
                    int i = 0;
                    while (!stop.get() && System.nanoTime() < until) {
                        float x = id * 1000 + (i++ % 1000);
                        try {
                            var r = s.post("/v2/models/m/infer", addRequest(x));
                            if (r.status() != 200) {
                                failures.add(r.status() + " " + r.text());
                                continue;
                            }
                            JsonNode j = r.json();
                            String v = j.path("model_version").asText();
                            float y = j.path("outputs").get(0).path("data").get(0).floatValue();
                            float add = v.equals("4") ? 4 : Float.parseFloat(v);
                            if (y != x + (v.equals("3") ? 3 : add)) {
                                failures.add("version " + v + " answered " + y + " for " + x);
                            }
                            seen.add(v);
                            ok.incrementAndGet();
                        } catch (Exception e) {
                            failures.add(e.toString());
                        }
                    }
                });
            }
            TimeUnit.MILLISECONDS.sleep(300);
            TestModels.write(repo, "m", 2, TestModels.add(4, 2));
            awaitVersion(s, "2");
            TestModels.write(repo, "m", 3, TestModels.add(4, 3));
            awaitVersion(s, "3");
            deleteTree(repo.resolve("m").resolve("1"));
            deleteTree(repo.resolve("m").resolve("2"));
            TimeUnit.MILLISECONDS.sleep(300);
            // replace version 3's file in place: the reload swaps sessions under load
            TestModels.write(repo, "m", 3, TestModels.add(4, 3));
            TimeUnit.MILLISECONDS.sleep(300);
            stop.set(true);
            pool.shutdown();
            assertTrue(pool.awaitTermination(60, TimeUnit.SECONDS));
            assertEquals(List.of(), failures);
            assertTrue(seen.containsAll(Set.of("1", "2", "3")), "versions seen: " + seen);
            assertTrue(ok.get() > 50, "only " + ok.get() + " requests");
            assertEquals("[\"3\"]", s.get("/v2/models/m").json().path("versions").toString());
        }
    }

    private static void awaitVersion(TestServer s, String v) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < until) {
            if (v.equals(s.get("/v2/models/m").json().path("parameters").path("version").asText())) {
                TimeUnit.MILLISECONDS.sleep(200);
                return;
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        throw new AssertionError("version " + v + " never became the latest");
    }

    static void deleteTree(Path p) throws Exception {
        try (Stream<Path> w = Files.walk(p)) {
            for (Path q : w.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }

    @Test
    void adminApiNeedsItsOwnToken() throws Exception {
        TestModels.write(repo, "m", 1, TestModels.add(4, 1));
        Files.writeString(etc.resolve("tokens"), "# users\nuser-token\n");
        Files.writeString(etc.resolve("admin"), "admin-token\n");
        ServerConfig c = TestServer.config();
        c.adminEnabled = true;
        c.tokensFile = etc.resolve("tokens");
        c.adminTokensFile = etc.resolve("admin");
        try (TestServer s = new TestServer(c, repo, List.of())) {
            String admin = "Bearer admin-token";
            assertEquals(401, s.get("/v2/repository/index").status());
            assertEquals(401, s.get("/v2/repository/index", "Authorization", "Bearer user-token").status());
            var idx = s.get("/v2/repository/index", "Authorization", admin);
            assertEquals(200, idx.status(), idx.text());
            assertEquals("[{\"name\":\"m\",\"version\":\"1\",\"state\":\"READY\"}]", idx.json().toString());
            assertEquals(200, s.post("/v2/repository/index", "{}", "Authorization", admin).status());
            assertEquals(200, s.post("/v2/repository/models/m/unload", "", "Authorization", admin).status());
            var gone = s.post("/v2/models/m/infer", addRequest(1), "Authorization", "Bearer user-token");
            assertEquals(503, gone.status());
            assertTrue(gone.error().contains("unloaded"), gone.error());
            assertEquals(503, s.get("/v2/models/m/ready", "Authorization", "Bearer user-token").status());
            // a new version appears while unloaded; load picks it up
            TestModels.write(repo, "m", 2, TestModels.add(4, 2));
            assertEquals(200, s.post("/v2/repository/models/m/load", "", "Authorization", admin).status());
            assertEquals("2", s.post("/v2/models/m/infer", addRequest(1), "Authorization", "Bearer user-token").json()
                    .path("model_version").asText());
            assertEquals(404, s.post("/v2/repository/models/other/load", "", "Authorization", admin).status());
            assertEquals(400, s.post("/v2/repository/models/..%2Fetc/load", "", "Authorization", admin).status());
            assertEquals(401, s.post("/v2/repository/models/m/load", "", "Authorization", "Bearer user-token").status());
            // admin tokens work for inference too
            assertEquals(200, s.post("/v2/models/m/infer", addRequest(1), "Authorization", admin).status());
        }
    }

    @Test
    void adminApiEnabledWithoutTokensDoesNotStart() {
        ServerConfig c = TestServer.config();
        c.adminEnabled = true;
        c.adminTokensEnv = "GATUN_TEST_NO_SUCH_VARIABLE";
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new TestServer(c, repo, List.of()));
        assertTrue(e.getMessage().contains("admin token"), e.getMessage());
    }

    @Test
    void aModelThatFailsToLoadIsReportedAndTheRestServes() throws Exception {
        TestModels.write(repo, "good", 1, TestModels.add(4, 1));
        Files.createDirectories(repo.resolve("broken").resolve("1"));
        Files.write(repo.resolve("broken").resolve("1").resolve("model.onnx"), new byte[] {1, 2, 3, 4, 5});
        TestModels.write(repo, "badconfig", 1, TestModels.add(4, 1));
        TestModels.config(repo, "badconfig", "{\"max_batch_size\": \"lots\"}");
        Files.writeString(etc.resolve("admin"), "a\n");
        ServerConfig c = TestServer.config();
        c.adminEnabled = true;
        c.adminTokensFile = etc.resolve("admin");
        try (TestServer s = new TestServer(c, repo, List.of())) {
            assertEquals(200, s.get("/v2/health/ready").status());
            assertEquals(200, s.post("/v2/models/good/infer", addRequest(1)).status());
            var b = s.post("/v2/models/broken/infer", addRequest(1));
            assertEquals(503, b.status());
            assertTrue(b.error().contains("UNAVAILABLE"), b.error());
            assertEquals(503, s.get("/v2/models/broken/ready").status());
            JsonNode idx = s.get("/v2/repository/index", "Authorization", "Bearer a").json();
            String text = idx.toString();
            assertTrue(text.contains("{\"name\":\"broken\",\"version\":\"1\",\"state\":\"UNAVAILABLE\",\"reason\":"), text);
            assertTrue(text.contains("{\"name\":\"badconfig\",\"state\":\"UNAVAILABLE\",\"reason\":"), text);
            assertTrue(text.contains("max_batch_size: expected an integer"), text);
            var load = s.post("/v2/repository/models/broken/load", "", "Authorization", "Bearer a");
            assertEquals(400, load.status());
            assertTrue(load.error().contains("failed to load model 'broken'"), load.error());
        }
        c.strictReadiness = true;
        try (TestServer s = new TestServer(c, repo, List.of())) {
            assertEquals(503, s.get("/v2/health/ready").status());
            assertEquals(200, s.post("/v2/models/good/infer", addRequest(1)).status());
        }
    }
}
