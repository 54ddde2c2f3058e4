package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each bad input gets a 4xx with a JSON error naming the problem; every limit is enforced. */
class ServerErrorsTest {
    @TempDir
    static Path repo;
    static TestServer s;
    static TestServer small;
    static final String INFER = "/v2/models/id4/infer";

    @BeforeAll
    static void start() throws Exception {
        StubPipeline.register();
        TestModels.write(repo, "id4", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.write(repo, "mb2", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "mb2", "{\"max_batch_size\": 2}");
        TestModels.write(repo, "gated", 1, TestModels.identity(TestModels.FLOAT, 4));
        TestModels.config(repo, "gated", "{\"instances\": 1, \"max_batch_size\": 1, \"dynamic_batching\": {\"max_queue_size\": 1},"
                + " \"pipeline\": {\"type\": \"test-stub\", \"gate\": \"errors\"}, \"warmup\": false}");
        s = new TestServer(TestServer.config(), repo, List.of());
        ServerConfig c = TestServer.config();
        c.maxBodyBytes = 4096;
        c.maxElementsPerTensor = 64;
        c.maxBatch = 4;
        c.requestTimeoutMs = 400;
        small = new TestServer(c, repo, List.of());
    }

    @AfterAll
    static void stop() {
        s.close();
        small.close();
    }

    static void bad(TestServer.Resp r, int status, String... words) {
        assertEquals(status, r.status(), r.text());
        assertTrue(r.header("Content-Type").startsWith("application/json"), r.header("Content-Type"));
        String e = r.error();
        for (String w : words) {
            assertTrue(e.contains(w), "error '" + e + "' should mention '" + w + "'");
        }
    }

    static String x(String shape, String dtype, String data) {
        return "{\"inputs\": [{\"name\": \"x\", \"shape\": " + shape + ", \"datatype\": \"" + dtype + "\", \"data\": " + data + "}]}";
    }

    @Test
    void malformedJson() throws Exception {
        bad(s.post(INFER, "{\"inputs\": ["), 400, "malformed JSON");
        bad(s.post(INFER, "{\"inputs\": []} trailing"), 400, "malformed JSON");
        bad(s.post(INFER, "[1, 2]"), 400, "JSON object");
        bad(s.post(INFER, ""), 400, "malformed JSON", "empty");
        bad(s.post("/predict/id4", "{\"inputs\": {\"x\": [[1, 2, 3, 4]]"), 400, "malformed JSON");
        bad(s.post(INFER, "{\"inputs\": [{\"name\": \"x\", \"name\": \"y\"}]}"), 400, "Duplicate field");
    }

    @Test
    void wrongTensorName() throws Exception {
        bad(s.post(INFER, x("[1, 4]", "FP32", "[1, 2, 3, 4]").replace("\"x\"", "\"z\"")), 400, "unknown input 'z'", "x: FP32[batch,4]");
        bad(s.post("/predict/id4", "{\"inputs\": {\"z\": [[1, 2, 3, 4]]}}"), 400, "unknown input 'z'");
        bad(s.post(INFER, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}],"
                + " \"outputs\": [{\"name\": \"nope\"}]}"), 400, "unknown output 'nope'");
        bad(s.post("/predict/id4", "{\"inputz\": {}}"), 400, "unknown field 'inputz'");
    }

    @Test
    void missingInput() throws Exception {
        bad(s.post(INFER, "{\"inputs\": []}"), 400, "no inputs");
        bad(s.post(INFER, "{\"inputs\": [{\"shape\": [1], \"datatype\": \"FP32\", \"data\": [1]}]}"), 400, "no \"name\"");
        bad(s.post(INFER, "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"data\": [1]}]}"), 400, "no \"shape\"");
        bad(s.post(INFER, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"data\": [1]}]}"), 400, "no \"datatype\"");
        bad(s.post(INFER, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\"}]}"), 400, "no \"data\"");
    }

    @Test
    void wrongDatatype() throws Exception {
        bad(s.post(INFER, x("[1, 4]", "INT64", "[1, 2, 3, 4]")), 400, "INT64", "expects FP32");
        bad(s.post(INFER, x("[1, 4]", "FP33", "[1, 2, 3, 4]")), 400, "unknown datatype 'FP33'");
        bad(s.post(INFER, x("[1, 4]", "FP32", "[1, 2, \"3\", 4]")), 400, "element 2", "string", "expected a number");
        bad(s.post(INFER, x("[1, 4]", "INT64", "[1, 2.5, 3, 4]")), 400, "element 1", "expected an integer");
        bad(s.post(INFER, x("[1, 4]", "INT8", "[1, 300, 3, 4]")), 400, "300", "out of range for INT8");
        bad(s.post(INFER, x("[1, 4]", "FP32", "[1, null, 3, 4]")), 400, "null");
    }

    @Test
    void wrongShape() throws Exception {
        bad(s.post(INFER, x("[1, 5]", "FP32", "[1, 2, 3, 4, 5]")), 400, "shape [1, 5]", "dim 1 must be 4");
        bad(s.post(INFER, x("[4]", "FP32", "[1, 2, 3, 4]")), 400, "rank 1", "rank 2");
        bad(s.post(INFER, x("[1, -4]", "FP32", "[1, 2, 3, 4]")), 400, "non-negative");
        bad(s.post(INFER, x("[9223372036854775807, 9223372036854775807]", "FP32", "[1]")), 400, "too large");
        bad(s.post("/predict/id4", "{\"inputs\": {\"x\": [[1, 2, 3, 4], [5, 6]]}}"), 400, "not a regular nested array");
        bad(s.post("/predict/id4", "{\"inputs\": {\"x\": [[1, 2, 3, 4], 5]}}"), 400, "not a regular nested array");
    }

    @Test
    void dataLengthNotMatchingShape() throws Exception {
        bad(s.post(INFER, x("[1, 4]", "FP32", "[1, 2, 3]")), 400, "3 values", "needs 4");
        bad(s.post(INFER, x("[2, 4]", "FP32", "[1, 2, 3, 4, 5, 6, 7, 8, 9]")), 400, "9 values", "needs 8");
        bad(s.post("/predict/id4", "{\"inputs\": {\"x\": {\"shape\": [2, 4], \"data\": [1, 2, 3, 4]}}}"), 400, "4 values", "needs 8");
    }

    @Test
    void nanTextInNumbers() throws Exception {
        bad(s.post(INFER, x("[1, 4]", "FP32", "[NaN, 2, 3, 4]")), 400, "malformed JSON", "NaN");
        bad(s.post(INFER, x("[1, 4]", "FP32", "[1, Infinity, 3, 4]")), 400, "malformed JSON");
        bad(s.post(INFER, x("[1, 4]", "FP32", "[1, \"NaN\", 3, 4]")), 400, "\"NaN\"", "expected a number");
        bad(s.post("/predict/id4", "{\"inputs\": {\"x\": [[1, 2, 3, nan]]}}"), 400, "malformed JSON");
    }

    @Test
    void unknownModelAndVersion() throws Exception {
        bad(s.post("/v2/models/nope/infer", x("[1, 4]", "FP32", "[1, 2, 3, 4]")), 404, "unknown model 'nope'", "id4");
        bad(s.post("/v2/models/id4/versions/7/infer", x("[1, 4]", "FP32", "[1, 2, 3, 4]")), 404, "no version 7");
        bad(s.post("/v2/models/id4/versions/abc/infer", x("[1, 4]", "FP32", "[1, 2, 3, 4]")), 400, "'abc'");
        bad(s.get("/v2/models/nope"), 404, "unknown model");
        bad(s.get("/v2/models/nope/ready"), 404, "unknown model");
        bad(s.get("/v2/models/id4/versions/3/ready"), 404, "no version 3");
        bad(s.post("/predict/nope", "{}"), 404, "unknown model");
    }

    @Test
    void binaryHeaderLengthBeyondBody() throws Exception {
        String h = "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"parameters\": {\"binary_data_size\": 16}}]}";
        byte[] hb = h.getBytes(StandardCharsets.UTF_8);
        byte[] body = ServerApiTest.concat(hb, new byte[16]);
        bad(s.post(INFER, body, "Inference-Header-Content-Length", Integer.toString(body.length + 1)), 400,
                "Inference-Header-Content-Length", "beyond the body");
        bad(s.post(INFER, body, "Inference-Header-Content-Length", "-3"), 400, "Inference-Header-Content-Length");
        bad(s.post(INFER, body, "Inference-Header-Content-Length", "ten"), 400, "not a number");
        bad(s.post(INFER, ServerApiTest.concat(hb, new byte[8]), "Inference-Header-Content-Length", Integer.toString(hb.length)),
                400, "binary_data_size 16 runs past the end");
        bad(s.post(INFER, ServerApiTest.concat(hb, new byte[20]), "Inference-Header-Content-Length", Integer.toString(hb.length)),
                400, "4 bytes after");
        String h12 = h.replace("16}", "12}");
        bad(s.post(INFER, ServerApiTest.concat(h12.getBytes(StandardCharsets.UTF_8), new byte[12]), "Inference-Header-Content-Length",
                Integer.toString(h12.length())), 400, "binary_data_size is 12 bytes", "needs 16");
        // the header length cuts the JSON short
        bad(s.post(INFER, body, "Inference-Header-Content-Length", "10"), 400, "malformed JSON");
    }

    @Test
    void hugeBodyIsRefusedBeforeItIsRead() throws Exception {
        try (Socket so = new Socket("127.0.0.1", s.server.port())) {
            so.setSoTimeout(20_000);
            OutputStream out = so.getOutputStream();
            out.write(("POST " + INFER + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 1073741824\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(new byte[64 << 10]);
            out.flush();
            String resp = readResponse(so.getInputStream());
            assertTrue(resp.startsWith("HTTP/1.1 413"), resp);
            assertTrue(resp.contains("{\"error\":\"the request body of 1073741824 bytes is over the limit"), resp);
        }
        // a real client streaming 1 GB with Expect: 100-continue gets the refusal without sending the body
        AtomicLong sent = new AtomicLong();
        HttpRequest r = HttpRequest.newBuilder(URI.create(s.base + INFER)).expectContinue(true).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.fromPublisher(zeros(1L << 30, sent), 1L << 30)).build();
        var resp = s.send(r);
        bad(resp, 413, "over the limit of 67108864 bytes");
        assertTrue(sent.get() < (1L << 30), "the whole body was sent: " + sent.get());
        // and the server still answers
        assertEquals(200, s.post(INFER, x("[1, 4]", "FP32", "[1, 2, 3, 4]")).status());
    }

    @Test
    void chunkedBodyOverTheLimitIsCutOff() throws Exception {
        AtomicLong sent = new AtomicLong();
        HttpRequest r = HttpRequest.newBuilder(URI.create(small.base + INFER)).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.fromPublisher(zeros(64L << 20, sent))).build();
        try {
            var resp = small.send(r);
            bad(resp, 413, "over the limit of 4096 bytes");
        } catch (java.io.IOException e) {
            // the server closed the connection after answering 413 while the client was still sending
            assertTrue(sent.get() < (64L << 20), "the whole body was read");
        }
        assertEquals(200, small.post(INFER, x("[1, 4]", "FP32", "[1, 2, 3, 4]")).status());
    }

    @Test
    void bodyLimit() throws Exception {
        StringBuilder b = new StringBuilder("[1, 2, 3, 4");
        while (b.length() < 5000) {
            b.append(", 0");
        }
        bad(small.post(INFER, x("[1, 4]", "FP32", b + "]")), 413, "over the limit of 4096 bytes");
    }

    @Test
    void elementsPerTensorLimit() throws Exception {
        bad(small.post(INFER, x("[17, 4]", "FP32", "[]")), 413, "68 elements", "limit of 64");
        StringBuilder b = new StringBuilder("[[1, 2, 3, 4]");
        for (int i = 0; i < 16; i++) {
            b.append(", [1, 2, 3, 4]");
        }
        bad(small.post("/predict/id4", "{\"inputs\": {\"x\": " + b + "]}}"), 413, "more than 64 elements");
    }

    @Test
    void batchLimit() throws Exception {
        bad(small.post(INFER, x("[5, 4]", "FP32", "[" + "1, 2, 3, 4, ".repeat(4) + "1, 2, 3, 4]")), 400, "5 rows",
                "limit of 4", "max_batch");
        bad(small.post("/predict/gated", "{\"text\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}"), 400, "5 rows");
        assertEquals(200, small.post(INFER, x("[4, 4]", "FP32", "[" + "1, 2, 3, 4, ".repeat(3) + "1, 2, 3, 4]")).status());
        bad(s.post("/v2/models/mb2/infer", x("[3, 4]", "FP32", "[" + "1, 2, 3, 4, ".repeat(2) + "1, 2, 3, 4]")), 400, "3 rows",
                "max_batch_size of 2");
        assertEquals(200, s.post("/v2/models/mb2/infer", x("[2, 4]", "FP32", "[1, 2, 3, 4, 1, 2, 3, 4]")).status());
    }

    @Test
    void timeoutAndBackpressure() throws Exception {
        var gate = StubPipeline.gate("errors");
        gate.drainPermits();
        // one request runs (held at the gate), one waits in the queue of 1, the next is refused with Retry-After
        List<CompletableFuture<TestServer.Resp>> held = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            held.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return s.post("/predict/gated", "{\"text\": [\"held\"]}");
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
            TimeUnit.MILLISECONDS.sleep(300);
        }
        var refused = s.post("/predict/gated", "{\"text\": [\"one too many\"]}");
        bad(refused, 503, "queue is full");
        assertEquals("1", refused.header("Retry-After"));
        gate.release(2);
        for (var f : held) {
            assertEquals(200, f.get(30, TimeUnit.SECONDS).status());
        }
        // on the server with a 400 ms timeout, a request held at the gate times out with 504
        var timedOut = small.post("/predict/gated", "{\"text\": [\"slow\"]}");
        bad(timedOut, 504, "400 ms");
        gate.release(1);
        var r = s.get("/metrics").text();
        assertTrue(r.contains("gatun_inference_requests_total{model=\"gated\",outcome=\"rejected\",version=\"1\"} 1.0"), r);
    }

    static Flow.Publisher<ByteBuffer> zeros(long total, AtomicLong sent) {
        return sub -> sub.onSubscribe(new Flow.Subscription() {
            long left = total;
            boolean done;

            @Override
            public synchronized void request(long n) {
                while (n-- > 0 && left > 0 && !done) {
                    int k = (int) Math.min(64 << 10, left);
                    left -= k;
                    sent.addAndGet(k);
                    sub.onNext(ByteBuffer.allocate(k));
                }
                if (left == 0 && !done) {
                    done = true;
                    sub.onComplete();
                }
            }

            @Override
            public synchronized void cancel() {
                done = true;
            }
        });
    }

    static String readResponse(InputStream in) throws java.io.IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        int n;
        try {
            while ((n = in.read(buf)) > 0) {
                b.write(buf, 0, n);
                String s = b.toString(StandardCharsets.UTF_8);
                int end = s.indexOf("\r\n\r\n");
                if (end >= 0 && s.contains("}")) {
                    break;
                }
            }
        } catch (java.net.SocketException e) {
            assertNotNull(e);
        }
        return b.toString(StandardCharsets.UTF_8);
    }
}
