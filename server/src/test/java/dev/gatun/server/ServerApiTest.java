package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every endpoint of a running server, JSON and binary v2 round trips, every datatype, /predict and pipelines. */
class ServerApiTest {
    @TempDir
    static Path repo;
    static TestServer s;

    // ONNX element types: float, uint8, int8, int32, int64, bool, float16, double, uint16, int16, uint32, uint64, bfloat16
    static final int[] TYPES = {1, 2, 3, 6, 7, 9, 10, 11, 4, 5, 12, 13, 16};

    @BeforeAll
    static void start() throws Exception {
        StubPipeline.register();
        TestModels.write(repo, "id4", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.write(repo, "add", 1, TestModels.add(4, 1f));
        TestModels.write(repo, "add", 2, TestModels.add(4, 2f));
        TestModels.config(repo, "add", "{\"version_policy\": {\"all\": {}}}");
        TestModels.write(repo, "types", 1, TestModels.allTypes(TYPES));
        TestModels.write(repo, "strings", 1, TestModels.identity(8, 2));
        TestModels.write(repo, "stub", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "stub", "{\"pipeline\": {\"type\": \"test-stub\"}}");
        s = new TestServer(TestServer.config(), repo, List.of());
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    @Test
    void health() throws Exception {
        var live = s.get("/v2/health/live");
        assertEquals(200, live.status());
        assertTrue(live.json().path("live").asBoolean());
        var ready = s.get("/v2/health/ready");
        assertEquals(200, ready.status(), ready.text());
        assertTrue(s.server.ready());
    }

    @Test
    void serverMetadata() throws Exception {
        var r = s.get("/v2");
        assertEquals(200, r.status());
        assertEquals("gatun", r.json().path("name").asText());
        assertEquals("binary_tensor_data", r.json().path("extensions").get(0).asText());
    }

    @Test
    void modelMetadataAndReadiness() throws Exception {
        JsonNode m = s.get("/v2/models/add").json();
        assertEquals("add", m.path("name").asText());
        assertEquals("[\"2\",\"1\"]", m.path("versions").toString());
        assertEquals("x", m.path("inputs").get(0).path("name").asText());
        assertEquals("FP32", m.path("inputs").get(0).path("datatype").asText());
        assertEquals("[-1,4]", m.path("inputs").get(0).path("shape").toString());
        assertEquals("2", m.path("parameters").path("version").asText());
        assertEquals("1", s.get("/v2/models/add/versions/1").json().path("parameters").path("version").asText());
        assertEquals(200, s.get("/v2/models/add/ready").status());
        assertEquals(200, s.get("/v2/models/add/versions/1/ready").status());
        assertEquals("text", s.get("/v2/models/stub").json().path("parameters").path("pipeline_input").asText());
    }

    @Test
    void v2JsonInferOnEachVersion() throws Exception {
        String body = "{\"id\": \"r1\", \"inputs\": [{\"name\": \"x\", \"shape\": [2, 4], \"datatype\": \"FP32\","
                + " \"data\": [1, 2, 3, 4, 5, 6, 7, 8.5]}]}";
        JsonNode r = s.post("/v2/models/add/infer", body).json();
        assertEquals("add", r.path("model_name").asText());
        assertEquals("2", r.path("model_version").asText());
        assertEquals("r1", r.path("id").asText());
        JsonNode y = r.path("outputs").get(0);
        assertEquals("y", y.path("name").asText());
        assertEquals("FP32", y.path("datatype").asText());
        assertEquals("[2,4]", y.path("shape").toString());
        assertEquals("[3.0,4.0,5.0,6.0,7.0,8.0,9.0,10.5]", y.path("data").toString());
        JsonNode v1 = s.post("/v2/models/add/versions/1/infer", body).json();
        assertEquals("1", v1.path("model_version").asText());
        assertEquals(2.0, v1.path("outputs").get(0).path("data").get(0).asDouble());
    }

    @Test
    void dataBeforeDatatypeAndNestedData() throws Exception {
        String body = "{\"inputs\": [{\"data\": [[1, 2, 3, 4]], \"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\"}]}";
        assertEquals("[1.0,2.0,3.0,4.0]", s.post("/v2/models/id4/infer", body).json().path("outputs").get(0).path("data")
                .toString());
    }

    @Test
    void jsonFloatRoundTripIsExact() throws Exception {
        Random rnd = new Random(7);
        float[] v = new float[64];
        StringBuilder b = new StringBuilder("{\"inputs\": [{\"name\": \"x\", \"shape\": [16, 4], \"datatype\": \"FP32\", \"data\": [");
        for (int i = 0; i < v.length; i++) {
            v[i] = Float.intBitsToFloat(rnd.nextInt()) ;
            if (!Float.isFinite(v[i])) {
                v[i] = rnd.nextFloat() * 1e-30f;
            }
            b.append(i == 0 ? "" : ",").append(v[i]);
        }
        b.append("]}]}");
        JsonNode data = s.post("/v2/models/id4/infer", b.toString()).json().path("outputs").get(0).path("data");
        for (int i = 0; i < v.length; i++) {
            assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(Float.parseFloat(data.get(i).asText())),
                    "element " + i);
        }
    }

    @Test
    void binaryRoundTripIsBitExact() throws Exception {
        Random rnd = new Random(11);
        int rows = 5;
        ByteBuffer data = ByteBuffer.allocate(rows * 4 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < rows * 4; i++) {
            data.putInt(i == 3 ? 0x7fc00001 : rnd.nextInt());
        }
        String header = "{\"inputs\": [{\"name\": \"x\", \"shape\": [" + rows + ", 4], \"datatype\": \"FP32\","
                + " \"parameters\": {\"binary_data_size\": " + data.capacity() + "}}],"
                + " \"outputs\": [{\"name\": \"y\", \"parameters\": {\"binary_data\": true}}]}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        byte[] body = concat(h, data.array());
        var r = s.post("/v2/models/id4/infer", body, "Inference-Header-Content-Length", Integer.toString(h.length),
                "Content-Type", "application/octet-stream");
        assertEquals(200, r.status(), r.text());
        int hl = Integer.parseInt(r.header("Inference-Header-Content-Length"));
        JsonNode json = Json.tree(r.body(), 0, hl);
        assertEquals(data.capacity(), json.path("outputs").get(0).path("parameters").path("binary_data_size").asInt());
        assertArrayEquals(data.array(), Arrays.copyOfRange(r.body(), hl, r.body().length));
        assertEquals("application/octet-stream", r.header("Content-Type"));
    }

    @Test
    void everyDatatypeRoundTripsInJsonAndBinary() throws Exception {
        String[] names = {"FP32", "UINT8", "INT8", "INT32", "INT64", "BOOL", "FP16", "FP64", "UINT16", "INT16", "UINT32", "UINT64",
            "BF16"};
        String[] values = {"[1.5, -2.25, 3e-5]", "[0, 200, 255]", "[-128, 5, 127]", "[-2147483648, 0, 2147483647]",
            "[-9223372036854775808, 1, 9223372036854775807]", "[true, false, true]", "[0.5, -2.0, 65504.0]",
            "[0.1, -1e300, 2.5]", "[0, 1000, 65535]", "[-32768, 7, 32767]", "[0, 7, 4294967295]",
            "[0, 1, 18446744073709551615]", "[1.0, -0.5, 256.0]"};
        StringBuilder b = new StringBuilder("{\"inputs\": [");
        for (int i = 0; i < TYPES.length; i++) {
            b.append(i == 0 ? "" : ", ").append("{\"name\": \"in_").append(TYPES[i]).append("\", \"shape\": [1, 3], \"datatype\": \"")
                    .append(names[i]).append("\", \"data\": ").append(values[i]).append('}');
        }
        b.append("]}");
        var r = s.post("/v2/models/types/infer", b.toString());
        assertEquals(200, r.status(), r.text());
        JsonNode outs = r.json().path("outputs");
        for (int i = 0; i < TYPES.length; i++) {
            JsonNode o = find(outs, "out_" + TYPES[i]);
            assertEquals(names[i], o.path("datatype").asText());
            assertEquals(Json.tree(values[i].getBytes(), 0, values[i].length()).toString().replace("1.0E-300", "1e-300"),
                    o.path("data").toString().replace("1.0E-300", "1e-300"), names[i]);
        }
        // the same through the binary extension: the outputs' bytes equal the inputs' bytes
        var bin = s.post("/v2/models/types/infer", b.toString().replace("{\"inputs\"",
                "{\"parameters\": {\"binary_data_output\": true}, \"inputs\""));
        int hl = Integer.parseInt(bin.header("Inference-Header-Content-Length"));
        JsonNode h = Json.tree(bin.body(), 0, hl);
        int pos = hl;
        int[] sizes = {4, 1, 1, 4, 8, 1, 2, 8, 2, 2, 4, 8, 2};
        for (JsonNode o : h.path("outputs")) {
            int t = Integer.parseInt(o.path("name").asText().substring(4));
            int k = indexOf(TYPES, t);
            assertEquals(3 * sizes[k], o.path("parameters").path("binary_data_size").asInt(), o.toString());
            pos += 3 * sizes[k];
        }
        assertEquals(bin.body().length, pos);
    }

    @Test
    void bytesTensorsInJsonAndBinary() throws Exception {
        var r = s.post("/v2/models/strings/infer", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 2], \"datatype\": \"BYTES\","
                + " \"data\": [\"héllo\", \"\"]}]}");
        assertEquals(200, r.status(), r.text());
        assertEquals("[\"héllo\",\"\"]", r.json().path("outputs").get(0).path("data").toString());
        byte[] e1 = "héllo".getBytes(StandardCharsets.UTF_8);
        ByteBuffer bin = ByteBuffer.allocate(8 + e1.length).order(ByteOrder.LITTLE_ENDIAN).putInt(e1.length).put(e1).putInt(0);
        byte[] h = ("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 2], \"datatype\": \"BYTES\", \"parameters\":"
                + " {\"binary_data_size\": " + bin.capacity() + "}}], \"outputs\": [{\"name\": \"y\", \"parameters\":"
                + " {\"binary_data\": true}}]}").getBytes(StandardCharsets.UTF_8);
        var b = s.post("/v2/models/strings/infer", concat(h, bin.array()), "Inference-Header-Content-Length",
                Integer.toString(h.length));
        assertEquals(200, b.status(), b.text());
        int hl = Integer.parseInt(b.header("Inference-Header-Content-Length"));
        assertArrayEquals(bin.array(), Arrays.copyOfRange(b.body(), hl, b.body().length));
    }

    @Test
    void predictNestedAndDescribed() throws Exception {
        JsonNode r = s.post("/predict/add", "{\"inputs\": {\"x\": [[1, 2, 3, 4], [5, 6, 7, 8]]}}").json();
        assertEquals("[[3.0,4.0,5.0,6.0],[7.0,8.0,9.0,10.0]]", r.path("outputs").path("y").toString());
        assertEquals("add", r.path("model").asText());
        assertEquals("2", r.path("version").asText());
        assertTrue(r.path("timing_ms").asDouble() >= 0);
        JsonNode d = s.post("/predict/add/versions/1", "{\"inputs\": {\"x\": {\"data\": [1, 2, 3, 4], \"shape\": [1, 4],"
                + " \"datatype\": \"FP32\"}}, \"outputs\": [\"y\"]}").json();
        assertEquals("[[2.0,3.0,4.0,5.0]]", d.path("outputs").path("y").toString());
    }

    @Test
    void predictWithoutModelNeedsOneModel() throws Exception {
        var r = s.post("/predict", "{\"inputs\": {\"x\": [[1, 2, 3, 4]]}}");
        assertEquals(400, r.status());
        assertTrue(r.error().contains("/predict/{model}"), r.error());
    }

    @Test
    void pipelineRawItemsThroughPredictAndV2() throws Exception {
        JsonNode r = s.post("/predict/stub", "{\"text\": [\"hello\", \"hi\"]}").json();
        assertEquals("[[5.0,104.0,0.0,1.0],[2.0,104.0,0.0,1.0]]", r.path("outputs").path("features").toString());
        assertEquals("[5,2]", r.path("outputs").path("length").toString());
        JsonNode one = s.post("/predict/stub", "{\"text\": \"abc\"}").json();
        assertEquals("[3]", one.path("outputs").path("length").toString());
        var v2 = s.post("/v2/models/stub/infer", "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\","
                + " \"data\": [\"hey\"]}], \"outputs\": [{\"name\": \"length\"}]}");
        assertEquals(200, v2.status(), v2.text());
        assertEquals(1, v2.json().path("outputs").size());
        assertEquals("[3]", v2.json().path("outputs").get(0).path("data").toString());
        // tensors still work for a pipeline model
        assertEquals(200, s.post("/predict/stub", "{\"inputs\": {\"x\": [[1, 2, 3, 4]]}}").status());
        var bad = s.post("/predict/stub", "{\"text\": [\"ok\", \"fail\"]}");
        assertEquals(400, bad.status());
        assertTrue(bad.error().contains("refuses"), bad.error());
    }

    @Test
    void metricsExposeTheDocumentedNames() throws Exception {
        s.post("/v2/models/id4/infer", "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\","
                + " \"data\": [1, 2, 3, 4]}]}");
        var r = s.get("/metrics");
        assertEquals(200, r.status());
        assertTrue(r.header("Content-Type").startsWith("text/plain"), r.header("Content-Type"));
        String t = r.text();
        for (String name : List.of("gatun_http_requests_total", "gatun_inference_requests_total{", "gatun_request_duration_seconds_bucket",
                "gatun_queue_duration_seconds_bucket", "gatun_compute_duration_seconds_bucket", "gatun_batch_size_bucket",
                "gatun_batch_requests_bucket", "gatun_queue_depth", "gatun_inflight_requests",
                "gatun_model_load_duration_seconds", "gatun_model_ready", "jvm_memory_used_bytes", "process_cpu_seconds_total")) {
            assertTrue(t.contains(name), name + " missing from /metrics");
        }
        assertTrue(t.contains("gatun_inference_requests_total{model=\"id4\",outcome=\"success\",version=\"1\"}"), t);
    }

    @Test
    void unknownRoutesAndMethods() throws Exception {
        var r = s.get("/nope");
        assertEquals(404, r.status());
        assertTrue(r.error().contains("/nope"));
        var m = s.get("/v2/models/add/infer");
        assertEquals(405, m.status());
        assertNotNull(m.error());
        // the admin API does not exist unless enabled
        assertEquals(404, s.get("/v2/repository/index").status());
        assertEquals(404, s.post("/v2/repository/models/add/unload", "").status());
    }

    @Test
    void expectContinueGetsAContinue() throws Exception {
        String body = "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}";
        var r = s.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(s.base + "/v2/models/id4/infer"))
                .expectContinue(true).timeout(java.time.Duration.ofSeconds(20))
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)).build());
        assertEquals(200, r.status(), r.text());
    }

    @Test
    void corsIsOffByDefault() throws Exception {
        var r = s.get("/v2", "Origin", "https://example.com");
        assertNull(r.header("Access-Control-Allow-Origin"));
    }

    static JsonNode find(JsonNode outs, String name) {
        for (JsonNode o : outs) {
            if (o.path("name").asText().equals(name)) {
                return o;
            }
        }
        throw new AssertionError("no output " + name + " in " + outs);
    }

    static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }
}
