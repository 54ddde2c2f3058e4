package dev.gatun.server;

import static dev.gatun.server.ServerOperationsTest.metric;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.gatun.engine.onnx.proto.Onnx;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults injected into a running server: a model whose load fails midway, a kernel that throws inside a merged
 * batch, clients that disconnect mid-body and mid-response, a full queue. Each time the failing request gets its
 * own error, the others are answered correctly, the server stays ready, and the failure is counted in
 * {@code /metrics} ({@code gatun_errors_total{kind}}, {@code gatun_model_load_failures_total}).
 */
class FaultInjectionTest {
    @TempDir
    Path repo;
    @TempDir
    Path etc;

    /** y = GatherElements(x, idx, axis 1): x float[batch, 4], idx int64[batch, 2]; an index over 3 fails the kernel. */
    static Onnx.ModelProto gather() {
        return TestModels.model(Onnx.GraphProto.newBuilder().setName("gather")
                .addInput(TestModels.value("x", TestModels.FLOAT, "batch", 4))
                .addInput(TestModels.value("idx", TestModels.INT64, "batch", 2))
                .addOutput(TestModels.value("y", TestModels.FLOAT, "batch", 2))
                .addNode(Onnx.NodeProto.newBuilder().setName("gather").setOpType("GatherElements").addInput("x")
                        .addInput("idx").addOutput("y").addAttribute(Onnx.AttributeProto.newBuilder().setName("axis")
                                .setType(Onnx.AttributeProto.AttributeType.INT).setI(1))));
    }

    /** y = x + w with w: float[4] stored as external data in {@code w.bin} next to the model. */
    static Onnx.ModelProto externalAdd() {
        Onnx.TensorProto w = Onnx.TensorProto.newBuilder().setName("w").setDataType(TestModels.FLOAT).addDims(4)
                .setDataLocation(Onnx.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin"))
                .addExternalData(Onnx.StringStringEntryProto.newBuilder().setKey("length").setValue("16")).build();
        return TestModels.model(Onnx.GraphProto.newBuilder().setName("ext")
                .addInput(TestModels.value("x", TestModels.FLOAT, "batch", 4))
                .addOutput(TestModels.value("y", TestModels.FLOAT, "batch", 4)).addInitializer(w)
                .addNode(Onnx.NodeProto.newBuilder().setName("add").setOpType("Add").addInput("x").addInput("w").addOutput("y")));
    }

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    static String addRequest(float v) {
        return ServerRepositoryTest.addRequest(v);
    }

    @Test
    void aModelWhoseExternalDataIsTruncatedFailsToLoadAloneAndLoadsOnceFixed() throws Exception {
        TestModels.write(repo, "good", 1, TestModels.add(4, 1));
        Path ext = TestModels.write(repo, "ext", 1, externalAdd());
        // the external data file ends after 2 of its 4 floats: the load fails midway, after the model file is mapped
        Files.write(ext.resolveSibling("w.bin"), floats(10, 20));
        Files.writeString(etc.resolve("admin"), "a\n");
        ServerConfig c = TestServer.config();
        c.adminEnabled = true;
        c.adminTokensFile = etc.resolve("admin");
        try (TestServer s = new TestServer(c, repo, List.of())) {
            assertEquals(200, s.get("/v2/health/ready").status());
            assertEquals(200, s.post("/v2/models/good/infer", addRequest(1)).status());
            var r = s.post("/v2/models/ext/infer", addRequest(1));
            assertEquals(503, r.status());
            assertTrue(r.error().contains("beyond the end of 'w.bin'"), r.error());
            String m = s.get("/metrics").text();
            assertEquals(1.0, metric(m, "gatun_model_load_failures_total{model=\"ext\",version=\"1\"}"), m);
            assertEquals(-1, metric(m, "gatun_model_native_bytes{kind=\"mapped\",model=\"ext\",version=\"1\"}"),
                    "a failed load holds no memory");
            assertTrue(metric(m, "gatun_model_native_bytes{kind=\"mapped\",model=\"good\",version=\"1\"}") > 0, m);

            Files.write(ext.resolveSibling("w.bin"), floats(10, 20, 30, 40));
            assertEquals(200, s.post("/v2/repository/models/ext/load", "", "Authorization", "Bearer a").status());
            JsonNode y = s.post("/v2/models/ext/infer", addRequest(1)).json().path("outputs").get(0).path("data");
            assertEquals("[11.0,20.0,30.0,40.0]", y.toString());
        }
    }

    @Test
    void aKernelThatThrowsInAMergedBatchFailsOnlyItsOwnRequest() throws Exception {
        TestModels.write(repo, "gather", 1, gather());
        TestModels.config(repo, "gather", "{\"instances\": 1, \"max_batch_size\": 16,"
                + " \"dynamic_batching\": {\"max_queue_delay_microseconds\": 50000}}");
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            int bad = 0;
            for (int round = 0; round < 20; round++) {
                List<CompletableFuture<TestServer.Resp>> l = new ArrayList<>();
                for (int i = 0; i < 8; i++) {
                    // request i gathers columns (i % 4, 3 - i % 4) of row (i, 10 i, 100 i, 1000 i); one per round asks for column 9
                    boolean fail = i == round % 8;
                    String body = "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [" + i
                            + ", " + 10 * i + ", " + 100 * i + ", " + 1000 * i + "]}, {\"name\": \"idx\", \"shape\": [1, 2],"
                            + " \"datatype\": \"INT64\", \"data\": [" + (fail ? 9 : i % 4) + ", " + (3 - i % 4) + "]}]}";
                    l.add(CompletableFuture.supplyAsync(() -> post(s, "/v2/models/gather/infer", body)));
                }
                for (int i = 0; i < 8; i++) {
                    var r = l.get(i).get(60, TimeUnit.SECONDS);
                    if (i == round % 8) {
                        bad++;
                        assertEquals(422, r.status(), r.text());
                        assertTrue(r.error().contains("GatherElements") && r.error().contains("out of range"), r.error());
                    } else {
                        assertEquals(200, r.status(), r.text());
                        double[] row = {i, 10 * i, 100 * i, 1000 * i};
                        JsonNode d = r.json().path("outputs").get(0).path("data");
                        assertEquals(row[i % 4], d.get(0).asDouble(), "request " + i + " got another request's row");
                        assertEquals(row[3 - i % 4], d.get(1).asDouble());
                    }
                }
            }
            assertEquals(200, s.get("/v2/health/ready").status());
            String m = s.get("/metrics").text();
            assertEquals(bad, metric(m, "gatun_errors_total{kind=\"model_error\",model=\"gather\",version=\"1\"}"), m);
            double runs = metric(m, "gatun_batch_requests_count{model=\"gather\",version=\"1\"}");
            double merged = metric(m, "gatun_batch_requests_sum{model=\"gather\",version=\"1\"}");
            assertTrue(merged > runs, "requests were merged (" + merged + " requests in " + runs + " runs)");
        }
    }

    static TestServer.Resp post(TestServer s, String path, String body) {
        try {
            return s.post(path, body);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void clientsThatDisconnectMidBodyOrMidResponseAreCountedAndHarmNoOne() throws Exception {
        TestModels.write(repo, "id", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.write(repo, "wide", 1, TestModels.identity(TestModels.FLOAT, 1 << 22));
        TestModels.config(repo, "wide", "{\"warmup\": false}");
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            int port = s.server.port();
            // mid-body: 1000 bytes announced, 100 sent, then the connection closes
            try (Socket so = new Socket("127.0.0.1", port)) {
                OutputStream out = so.getOutputStream();
                out.write(("POST /v2/models/id/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\":")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                Thread.sleep(200);
            }
            // mid-response: a 16 MB binary output the client never reads
            byte[] header = ("{\"inputs\":[{\"name\":\"x\",\"shape\":[1," + (1 << 22) + "],\"datatype\":\"FP32\","
                    + "\"parameters\":{\"binary_data_size\":" + (4 << 22) + "}}],"
                    + "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}").getBytes(StandardCharsets.US_ASCII);
            try (Socket so = new Socket("127.0.0.1", port)) {
                so.setReceiveBufferSize(4096);
                OutputStream out = so.getOutputStream();
                out.write(("POST /v2/models/wide/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                        + "Inference-Header-Content-Length: " + header.length + "\r\nContent-Length: "
                        + (header.length + (4 << 22)) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(header);
                out.write(new byte[4 << 22]);
                out.flush();
                InputStream in = so.getInputStream();
                byte[] first = in.readNBytes(12);
                assertEquals("HTTP/1.1 200", new String(first, StandardCharsets.US_ASCII));
                so.setSoLinger(true, 0);
            }
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            String m = s.get("/metrics").text();
            while ((metric(m, "gatun_errors_total{kind=\"disconnect\",model=\"id\",version=\"1\"}") < 1
                    || metric(m, "gatun_errors_total{kind=\"disconnect\",model=\"wide\",version=\"1\"}") < 1)
                    && System.nanoTime() < until) {
                Thread.sleep(50);
                m = s.get("/metrics").text();
            }
            assertEquals(1.0, metric(m, "gatun_errors_total{kind=\"disconnect\",model=\"id\",version=\"1\"}"), m);
            assertEquals(1.0, metric(m, "gatun_errors_total{kind=\"disconnect\",model=\"wide\",version=\"1\"}"), m);
            assertEquals(200, s.get("/v2/health/ready").status());
            var r = s.post("/v2/models/id/infer", addRequest(7));
            assertEquals(200, r.status(), r.text());
            assertEquals("[7.0,0.0,0.0,0.0]", r.json().path("outputs").get(0).path("data").toString());
        }
    }

    @Test
    void aFullQueueRefusesOnlyTheOverflowAndCountsIt() throws Exception {
        StubPipeline.register();
        TestModels.write(repo, "gated", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "gated", "{\"instances\": 1, \"max_batch_size\": 1, \"dynamic_batching\": {\"max_queue_size\": 2},"
                + " \"pipeline\": {\"type\": \"test-stub\", \"gate\": \"faults\"}, \"warmup\": false}");
        TestModels.write(repo, "add", 1, TestModels.add(4, 1));
        var gate = StubPipeline.gate("faults");
        gate.drainPermits();
        try (TestServer s = new TestServer(TestServer.config(), repo, List.of())) {
            // one request runs (held at the gate), two wait in the queue of 2; the next three are refused
            List<CompletableFuture<TestServer.Resp>> held = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                held.add(CompletableFuture.supplyAsync(() -> post(s, "/predict/gated", "{\"text\": [\"held\"]}")));
                TimeUnit.MILLISECONDS.sleep(300);
            }
            for (int i = 0; i < 3; i++) {
                var refused = s.post("/predict/gated", "{\"text\": [\"one too many\"]}");
                assertEquals(503, refused.status(), refused.text());
                assertTrue(refused.error().contains("queue is full"), refused.error());
                assertEquals("1", refused.header("Retry-After"));
            }
            // another model is unaffected, and so is readiness
            assertEquals(200, s.post("/v2/models/add/infer", addRequest(1)).status());
            assertEquals(200, s.get("/v2/health/ready").status());
            gate.release(3);
            for (var f : held) {
                assertEquals(200, f.get(30, TimeUnit.SECONDS).status());
            }
            // a request is counted just after its response is sent: wait for the last one's count
            String success = "gatun_inference_requests_total{model=\"gated\",outcome=\"success\",version=\"1\"}";
            String m = s.get("/metrics").text();
            for (int i = 0; i < 100 && metric(m, success) < 3.0; i++) {
                TimeUnit.MILLISECONDS.sleep(50);
                m = s.get("/metrics").text();
            }
            assertEquals(3.0, metric(m, "gatun_errors_total{kind=\"queue_full\",model=\"gated\",version=\"1\"}"), m);
            assertEquals(3.0, metric(m, success), m);
        }
    }

    @Test
    void nativeMemoryPerVersionIsReportedAndGoneAfterUnload() throws Exception {
        TestModels.write(repo, "add", 1, TestModels.add(4, 1));
        TestModels.write(repo, "id", 1, TestModels.identity(TestModels.FLOAT, 4));
        Files.writeString(etc.resolve("admin"), "a\n");
        ServerConfig c = TestServer.config();
        c.adminEnabled = true;
        c.adminTokensFile = etc.resolve("admin");
        try (TestServer s = new TestServer(c, repo, List.of())) {
            assertEquals(200, s.post("/v2/models/add/infer", addRequest(1)).status());
            String m = s.get("/metrics").text();
            double mapped = metric(m, "gatun_model_native_bytes{kind=\"mapped\",model=\"add\",version=\"1\"}");
            assertEquals(Files.size(repo.resolve("add/1/model.onnx")), (long) mapped, m);
            assertTrue(metric(m, "gatun_model_native_bytes{kind=\"sessions\",model=\"add\",version=\"1\"}") > 0, m);
            assertTrue(metric(m, "gatun_native_bytes{kind=\"mapped\"}") >= mapped, m);
            assertEquals(200, s.post("/v2/repository/models/add/unload", "", "Authorization", "Bearer a").status());
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (metric(m, "gatun_model_native_bytes{kind=\"mapped\",model=\"add\",version=\"1\"}") >= 0
                    && System.nanoTime() < until) {
                Thread.sleep(20);
                m = s.get("/metrics").text();
            }
            assertEquals(-1, metric(m, "gatun_model_native_bytes{kind=\"mapped\",model=\"add\",version=\"1\"}"),
                    "an unloaded version's gauges are removed once it closes");
            assertTrue(metric(m, "gatun_model_native_bytes{kind=\"mapped\",model=\"id\",version=\"1\"}") > 0, m);
        }
    }
}
