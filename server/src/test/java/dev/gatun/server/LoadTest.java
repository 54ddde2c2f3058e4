package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.gatun.server.pipeline.Pipelines;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Load on the real server over loopback, the client in the same JVM, every loop bounded in time: all-MiniLM-L6-v2
 * with batch-1 requests at concurrency 1, 8 and 32 (20 s each; {@code -Dgatun.load.seconds=N} changes it), and the
 * server's own overhead as the p50 of an identity-model round trip. Not part of the default build:
 * {@code ./run-tests -pl server -Dgroups=load}. Figures are printed and written to target/load-results.txt.
 */
@Tag("load")
class LoadTest {
    @TempDir
    Path dir;

    static final long SECONDS = Long.getLong("gatun.load.seconds", 20);
    static final StringBuilder REPORT = new StringBuilder();

    /** Latencies (ns) and errors of one run. */
    record Run(int concurrency, long[] latencies, int errors, double seconds) {
        double rps() {
            return latencies.length / seconds;
        }

        double pctMs(double p) {
            long[] l = latencies.clone();
            Arrays.sort(l);
            return l.length == 0 ? Double.NaN : l[Math.min(l.length - 1, (int) Math.floor(p * l.length))] / 1e6;
        }

        String line(String what) {
            return String.format("%-34s c=%-3d %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d  (%d requests in %.1f s)",
                    what, concurrency, rps(), pctMs(0.5), pctMs(0.99), errors, latencies.length, seconds);
        }
    }

    interface Call {
        boolean call() throws Exception;
    }

    static Run load(int concurrency, long seconds, Call call) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(seconds);
        AtomicInteger errors = new AtomicInteger();
        List<Future<long[]>> fs = new ArrayList<>();
        for (int t = 0; t < concurrency; t++) {
            fs.add(pool.submit(() -> {
                long[] lat = new long[1 << 16];
                int n = 0;
                while (System.nanoTime() < end) {
                    long t0 = System.nanoTime();
                    boolean ok;
                    try {
                        ok = call.call();
                    } catch (Exception e) {
                        ok = false;
                    }
                    long dt = System.nanoTime() - t0;
                    if (!ok) {
                        errors.incrementAndGet();
                        continue;
                    }
                    if (n == lat.length) {
                        lat = Arrays.copyOf(lat, n * 2);
                    }
                    lat[n++] = dt;
                }
                return Arrays.copyOf(lat, n);
            }));
        }
        List<long[]> all = new ArrayList<>();
        for (Future<long[]> f : fs) {
            all.add(f.get(seconds + 120, TimeUnit.SECONDS));
        }
        pool.shutdown();
        double elapsed = (System.nanoTime() - start) / 1e9;
        long[] merged = all.stream().flatMapToLong(Arrays::stream).toArray();
        return new Run(concurrency, merged, errors.get(), elapsed);
    }

    static void report(String line) {
        System.out.println("LOAD " + line);
        REPORT.append(line).append('\n');
    }

    @Test
    void miniLmAtConcurrency1_8_32() throws Exception {
        Path model = dir.resolve("minilm");
        Files.createDirectories(model.resolve("1"));
        try (InputStream in = LoadTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            Files.copy(in, model.resolve("1").resolve("model.onnx"));
        }
        boolean pipeline = Pipelines.available("text-embedding");
        ObjectNode cfg = Json.object();
        if (pipeline) {
            try (InputStream in = LoadTest.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
                Files.copy(in, model.resolve("tokenizer.json"));
            }
            cfg.putObject("pipeline").put("type", "text-embedding").put("tokenizer", "tokenizer.json").put("max_length", 256);
        }
        if (System.getProperty("gatun.load.instances") != null) {
            cfg.put("instances", Integer.getInteger("gatun.load.instances"));
        }
        Files.writeString(model.resolve("config.json"), cfg.toString());
        ServerConfig c = TestServer.config();
        c.threads = Runtime.getRuntime().availableProcessors();
        c.maxBatch = 64;
        try (TestServer s = new TestServer(c, dir, List.of())) {
            // "hello world" as BERT token ids, when the text pipeline is not in this build
            String body = pipeline ? "{\"text\": [\"hello world\"]}"
                    : "{\"inputs\": {\"input_ids\": [[101, 7592, 2088, 102]], \"attention_mask\": [[1, 1, 1, 1]],"
                    + " \"token_type_ids\": [[0, 0, 0, 0]]}, \"outputs\": [\"last_hidden_state\"]}";
            HttpRequest req = HttpRequest.newBuilder(URI.create(s.base + "/predict/minilm")).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build();
            var first = s.send(req);
            assertEquals(200, first.status(), first.text());
            load(4, Math.max(2, SECONDS / 4), () -> s.send(req).status() == 200);
            report("all-MiniLM-L6-v2 via /predict (" + (pipeline ? "text pipeline" : "token ids, no pipeline in this build")
                    + "), " + Runtime.getRuntime().availableProcessors() + " cores, client in the same JVM");
            List<Run> runs = new ArrayList<>();
            for (int conc : new int[] {1, 8, 32}) {
                Run r = load(conc, SECONDS, () -> s.send(req).status() == 200);
                runs.add(r);
                report(r.line("minilm batch-1"));
            }
            String m = s.get("/metrics").text();
            double batches = ServerOperationsTest.metric(m, "gatun_batch_requests_count{model=\"minilm\",version=\"1\"}");
            double merged = ServerOperationsTest.metric(m, "gatun_batch_requests_sum{model=\"minilm\",version=\"1\"}");
            report(String.format("mean requests per model run over the whole test: %.2f", merged / batches));
            double speedup = runs.get(2).rps() / runs.get(0).rps();
            report(String.format("throughput c=32 / c=1: %.2fx", speedup));
            for (Run r : runs) {
                assertEquals(0, r.errors(), "errors at concurrency " + r.concurrency());
            }
            assertTrue(speedup >= 2.5, "dynamic batching should give >= 2.5x at concurrency 32, got " + speedup);
        } finally {
            Files.writeString(Path.of("target", "load-results.txt"), REPORT.toString(), StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        }
    }

    @Test
    void identityModelOverhead() throws Exception {
        TestModels.write(dir, "id", 1, TestModels.identity(TestModels.FLOAT, 4));
        try (TestServer s = new TestServer(TestServer.config(), dir, List.of())) {
            String body = "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}";
            HttpRequest req = HttpRequest.newBuilder(URI.create(s.base + "/v2/models/id/infer"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build();
            load(1, Math.max(2, SECONDS / 4), () -> s.send(req).status() == 200);
            Run r = load(1, Math.max(5, SECONDS / 2), () -> s.send(req).status() == 200);
            report(r.line("identity round trip (HttpClient)"));
            // the same over one keep-alive socket with a minimal HTTP/1.1 client, to leave the client's cost out
            try (Socket so = new Socket("127.0.0.1", s.server.port())) {
                so.setTcpNoDelay(true);
                so.setSoTimeout(10_000);
                byte[] raw = ("POST /v2/models/id/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII);
                OutputStream out = so.getOutputStream();
                InputStream in = so.getInputStream();
                byte[] buf = new byte[8192];
                Call call = () -> {
                    out.write(raw);
                    out.flush();
                    return readOne(in, buf);
                };
                load(1, 2, call);
                Run raw1 = load(1, Math.max(5, SECONDS / 2), call);
                report(raw1.line("identity round trip (raw socket)"));
                assertEquals(0, raw1.errors());
            }
            assertEquals(0, r.errors());
        } finally {
            Files.writeString(Path.of("target", "load-results.txt"), REPORT.toString(), StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            REPORT.setLength(0);
        }
    }

    /** Reads one HTTP response with a Content-Length; true for status 200. */
    static boolean readOne(InputStream in, byte[] buf) throws java.io.IOException {
        int n = 0;
        int headerEnd = -1;
        while (headerEnd < 0) {
            int k = in.read(buf, n, buf.length - n);
            if (k < 0) {
                return false;
            }
            n += k;
            String s = new String(buf, 0, n, StandardCharsets.US_ASCII);
            headerEnd = s.indexOf("\r\n\r\n");
        }
        String head = new String(buf, 0, headerEnd, StandardCharsets.US_ASCII);
        int cl = head.toLowerCase(java.util.Locale.ROOT).indexOf("content-length:");
        int len = Integer.parseInt(head.substring(cl + 15, head.indexOf("\r\n", cl)).strip());
        int have = n - headerEnd - 4;
        while (have < len) {
            int k = in.read(buf, 0, buf.length);
            if (k < 0) {
                return false;
            }
            have += k;
        }
        return head.startsWith("HTTP/1.1 200");
    }
}
