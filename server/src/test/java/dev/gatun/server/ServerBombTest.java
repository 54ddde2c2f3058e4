package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.onnx.proto.Onnx;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests and models built to exhaust the server's memory: each is refused with a 4xx (or, for a model, that
 * version is unavailable) with a message naming the problem, the process's peak heap and resident memory grow by
 * less than 256 MiB while it is handled ({@link MemoryWatch}), and the server answers {@code /v2/health/ready}
 * with 200 afterwards. Default limits throughout.
 */
class ServerBombTest {
    @TempDir
    static Path repo;
    static TestServer s;
    static final String INFER = "/v2/models/id4/infer";

    @BeforeAll
    static void start() throws Exception {
        TestModels.write(repo, "id4", 1, TestModels.identity(TestModels.FLOAT, 4));
        writeNodeBomb(TestModels.write(repo, "nodes", 1, TestModels.identity(TestModels.FLOAT, 4)));
        TestModels.write(repo, "nested", 1, nestedIf(1000));
        s = new TestServer(TestServer.config(), repo, List.of());
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    @Test
    void jsonRequestDeclaringTwoToThe31Elements() throws Exception {
        refused("2^31 elements", 413, "has 8589934592 elements", "over the limit of 16777216",
                s, INFER, json("{\"inputs\": [{\"name\": \"x\", \"shape\": [2147483648, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}"));
        refused("2^31 elements, /predict", 413, "over the limit",
                s, "/predict/id4", json("{\"inputs\": {\"x\": {\"shape\": [2147483648, 4], \"data\": [1, 2, 3, 4]}}}"));
    }

    @Test
    void deeplyNestedJsonArray() throws Exception {
        String deep = "[".repeat(100_000) + "1" + "]".repeat(100_000);
        refused("nested array, v2", 400, "malformed JSON", "nesting depth",
                s, INFER, json("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": " + deep + "}]}"));
        refused("nested array, /predict", 400, "malformed JSON", "nesting depth",
                s, "/predict/id4", json("{\"inputs\": {\"x\": " + deep + "}}"));
        refused("nested objects", 400, "malformed JSON", "nesting depth",
                s, INFER, json("{\"parameters\": " + "{\"a\": ".repeat(100_000) + "1" + "}".repeat(100_001)));
    }

    @Test
    void binaryRequestWhoseHeaderLiesAboutSizes() throws Exception {
        byte[] data = floats(1, 2, 3, 4);
        refused("binary_data_size past the body", 400, "binary_data_size 1073741824 runs past the end of the body",
                s, INFER, binary("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":1073741824}}]}", data));
        refused("binary_data_size vs shape", 400, "binary_data_size is 16 bytes", "needs 16384",
                s, INFER, binary("{\"inputs\":[{\"name\":\"x\",\"shape\":[1024,4],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":16}}]}", data));
        byte[] lyingLength = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(-1).putInt(0).array();
        refused("BYTES element length 2^32-1", 400, "has length 4294967295",
                s, INFER, binary("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":8}}]}", lyingLength));
        String header = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":16}}]}";
        Request r = binary(header, data);
        refused("header length past the body", 400, "Inference-Header-Content-Length", "beyond the body",
                s, INFER, new Request(r.body(), "Inference-Header-Content-Length", "2147483647", "Content-Type", "application/octet-stream"));
    }

    @Test
    void runPastTheSessionMemoryLimit(@TempDir Path small) throws Exception {
        TestModels.write(small, "add", 1, TestModels.add(8192, 1));
        TestModels.config(small, "add", "{\"max_batch_size\": 0}");
        ServerConfig c = TestServer.config();
        c.maxSessionBytes = 64 << 10;
        try (TestServer t = new TestServer(c, small, List.of())) {
            String one = "{\"inputs\": {\"x\": {\"shape\": [1, 8192], \"data\": " + zeros(8192) + "}}}";
            TestServer.Resp ok = t.post("/predict/add", one);
            assertEquals(200, ok.status(), ok.text());
            String four = "{\"inputs\": {\"x\": {\"shape\": [4, 8192], \"data\": " + zeros(4 * 8192) + "}}}";
            refused("session memory", 413, "node 'add'", "SessionOptions.maxSessionBytes", "65536", t, "/predict/add", json(four));
            TestServer.Resp again = t.post("/predict/add", one);
            assertEquals(200, again.status(), "the session that refused a run serves the next: " + again.text());
        }
    }

    private static String zeros(int n) {
        return "[" + "0,".repeat(n - 1) + "0]";
    }

    @Test
    void modelsOverTheLoaderLimitsAreUnavailableAndTheOthersServe() throws Exception {
        assertEquals(503, s.get("/v2/models/nodes/ready").status());
        assertEquals(503, s.get("/v2/models/nested/ready").status());
        assertEquals(200, s.get("/v2/health/ready").status());
        TestServer.Resp ok = s.post(INFER, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}");
        assertEquals(200, ok.status(), ok.text());
    }

    @Test
    void modelLimitsComeFromTheConfigFile() {
        ServerConfig c = new ServerConfig();
        c.apply(tree("{\"limits\": {\"max_tensor_bytes\": 1024, \"max_session_bytes\": 4096, \"max_model_nodes\": 10,"
                + " \"max_graph_depth\": 2, \"max_initializer_bytes\": 2048}}"), "config.json", null);
        assertEquals(new dev.gatun.engine.LoadOptions(1024, 2048, 10, 2), c.loadOptions());
        assertEquals(new dev.gatun.engine.SessionOptions(1, 1024, 4096), c.sessionOptions());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new ServerConfig().apply(tree("{\"limits\": {\"max_graph_depth\": 1000}}"), "config.json", null));
        assertTrue(e.getMessage().contains("max_graph_depth"), e.getMessage());
    }

    private static com.fasterxml.jackson.databind.JsonNode tree(String json) {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        return Json.tree(b, 0, b.length);
    }

    /** A request body and its extra headers. */
    record Request(byte[] body, String... headers) {}

    private static Request json(String body) {
        return new Request(body.getBytes(StandardCharsets.UTF_8));
    }

    private static Request binary(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        byte[] body = new byte[h.length + data.length];
        System.arraycopy(h, 0, body, 0, h.length);
        System.arraycopy(data, 0, body, h.length, data.length);
        return new Request(body, "Inference-Header-Content-Length", Integer.toString(h.length), "Content-Type", "application/octet-stream");
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    /** Sends {@code r}; it must get {@code status} with an error naming {@code words}, within the memory bound, and the server stays ready. */
    private static void refused(String what, int status, Object... rest) throws Exception {
        int k = 0;
        while (rest[k] instanceof String) {
            k++;
        }
        TestServer server = (TestServer) rest[k];
        String path = (String) rest[k + 1];
        Request r = (Request) rest[k + 2];
        TestServer.Resp[] resp = new TestServer.Resp[1];
        MemoryWatch.assertBelowLimit(what, () -> {
            try {
                resp[0] = server.post(path, r.body(), r.headers());
            } catch (IOException | InterruptedException e) {
                throw new AssertionError(what, e);
            }
        });
        assertEquals(status, resp[0].status(), what + ": " + resp[0].text());
        String error = resp[0].error();
        for (int i = 0; i < k; i++) {
            assertTrue(error.contains((String) rest[i]), what + ": '" + error + "' should mention '" + rest[i] + "'");
        }
        assertEquals(200, server.get("/v2/health/ready").status(), what + ": the server must stay ready");
    }

    /** Replaces the model file with ModelProto{graph{node{} x 5,000,000}} (10 MB), written on the wire directly. */
    private static void writeNodeBomb(Path file) throws IOException {
        int n = 5_000_000;
        ByteArrayOutputStream out = new ByteArrayOutputStream(2 * n + 64);
        out.write(new byte[] {0x08, 0x08, 0x42, 0x02, 0x10, 0x11, 0x3a});
        long len = 2L * n;
        while ((len & ~0x7fL) != 0) {
            out.write((int) ((len & 0x7f) | 0x80));
            len >>>= 7;
        }
        out.write((int) len);
        for (int i = 0; i < n; i++) {
            out.write(0x0a);
            out.write(0x00);
        }
        Files.write(file, out.toByteArray());
    }

    /** A model whose If then-branches nest {@code depth} deep. */
    private static Onnx.ModelProto nestedIf(int depth) {
        Onnx.GraphProto.Builder inner = Onnx.GraphProto.newBuilder().setName("leaf").addOutput(TestModels.value("c", TestModels.FLOAT, 1));
        for (int i = 0; i < depth; i++) {
            Onnx.NodeProto.Builder iff = Onnx.NodeProto.newBuilder().setOpType("If").addInput("c").addOutput("o" + i)
                    .addAttribute(Onnx.AttributeProto.newBuilder().setName("then_branch").setType(Onnx.AttributeProto.AttributeType.GRAPH).setG(inner));
            inner = Onnx.GraphProto.newBuilder().setName("g" + i).addNode(iff).addOutput(TestModels.value("o" + i, TestModels.FLOAT, 1));
        }
        return TestModels.model(inner.addInput(TestModels.value("c", 9, 1)));
    }
}
