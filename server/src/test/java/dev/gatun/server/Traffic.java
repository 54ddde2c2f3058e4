package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.gatun.server.pipeline.Pipelines;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;

/**
 * Checked traffic for the stress and soak tests: clients that send all-MiniLM-L6-v2 sentence requests over loopback
 * and compare every embedding with the one a single request computed alone, counting statuses, mismatches and
 * latencies. Every loop is bounded by a deadline and a request count.
 */
final class Traffic {
    /** Sentences of different lengths, so that a response given to the wrong request cannot pass. */
    static final String[] TEXTS = {
        "hello world", "the quick brown fox jumps over the lazy dog", "a", "inference servers answer requests",
        "Gatun is an ONNX inference engine for the JVM", "native memory must be given back",
        "sixty four clients at once", "batching merges concurrent requests along the batch dimension",
        "rain in spain falls mainly on the plain", "zero mismatches, zero server errors",
        "what is the p99 latency under load?", "the lock is released after every run",
        "tokenizers split words into word pieces", "embedding vectors have unit length",
        "a longer sentence that goes on and on for quite a few more tokens than the others in this list do", "ok",
    };

    /** Largest difference between an embedding under load and the one computed alone that still matches. */
    static final double TOLERANCE = 1e-4;

    private Traffic() {}

    /** {@code dir/minilm}: the model, its tokenizer and a config (the text-embedding pipeline and {@code extra}). */
    static void miniLm(Path dir, String name, String extra) throws IOException {
        Path model = dir.resolve(name);
        Files.createDirectories(model.resolve("1"));
        try (InputStream in = Traffic.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            Files.copy(in, model.resolve("1").resolve("model.onnx"));
        }
        try (InputStream in = Traffic.class.getResourceAsStream("/all-minilm-l6-v2-tokenizer.json")) {
            Files.copy(in, model.resolve("tokenizer.json"));
        }
        Files.writeString(model.resolve("config.json"), "{\"pipeline\": {\"type\": \"text-embedding\", \"tokenizer\":"
                + " \"tokenizer.json\", \"max_length\": 128}" + (extra.isEmpty() ? "" : ", " + extra) + "}");
    }

    static boolean pipelineAvailable() {
        return Pipelines.available("text-embedding");
    }

    static String body(String text) {
        return "{\"text\": [\"" + text + "\"]}";
    }

    static float[] embedding(byte[] body) {
        JsonNode e = Json.tree(body, 0, body.length).path("outputs").path("embedding").path(0);
        float[] v = new float[e.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) e.get(i).asDouble();
        }
        return v;
    }

    /** Each text's embedding, one request at a time. */
    static float[][] reference(TestServer s, String model) throws Exception {
        float[][] ref = new float[TEXTS.length][];
        for (int i = 0; i < TEXTS.length; i++) {
            var r = s.post("/predict/" + model, body(TEXTS[i]));
            if (r.status() != 200) {
                throw new AssertionError("reference request failed: " + r.status() + " " + r.text());
            }
            ref[i] = embedding(r.body());
        }
        return ref;
    }

    /** What a run of clients saw. */
    static final class Tally {
        final LongAdder ok = new LongAdder();
        final LongAdder mismatches = new LongAdder();
        final LongAdder serverErrors = new LongAdder();
        final LongAdder rejected = new LongAdder();
        final LongAdder connectionErrors = new LongAdder();
        final Map<Integer, LongAdder> otherStatus = new ConcurrentHashMap<>();
        final AtomicLong maxDiffBits = new AtomicLong(Double.doubleToLongBits(0));
        final AtomicReference<String> firstProblem = new AtomicReference<>();
        final List<long[]> latencies = java.util.Collections.synchronizedList(new ArrayList<>());
        volatile double seconds;

        long requests() {
            return ok.sum() + mismatches.sum() + serverErrors.sum() + rejected.sum() + connectionErrors.sum()
                    + otherStatus.values().stream().mapToLong(LongAdder::sum).sum();
        }

        double maxDiff() {
            return Double.longBitsToDouble(maxDiffBits.get());
        }

        void diff(double d) {
            maxDiffBits.accumulateAndGet(Double.doubleToLongBits(d),
                    (a, b) -> Double.longBitsToDouble(a) >= Double.longBitsToDouble(b) ? a : b);
        }

        void problem(String p) {
            firstProblem.compareAndSet(null, p);
        }

        double pctMs(double p) {
            long[] all = latencies.stream().flatMapToLong(Arrays::stream).toArray();
            Arrays.sort(all);
            return all.length == 0 ? Double.NaN : all[Math.min(all.length - 1, (int) Math.floor(p * all.length))] / 1e6;
        }

        String line(String what, int clients) {
            return String.format("%s: %d clients, %.1f s: %d requests (%.0f req/s), %d ok, %d mismatches, %d 5xx, %d 503,"
                    + " %d connection errors, other %s; p50 %.1f ms, p99 %.1f ms, max |diff| %.2e", what, clients, seconds,
                    requests(), requests() / seconds, ok.sum(), mismatches.sum(), serverErrors.sum(), rejected.sum(),
                    connectionErrors.sum(), otherStatus, pctMs(0.5), pctMs(0.99), maxDiff());
        }
    }

    /**
     * {@code clients} threads send MiniLM requests to {@code model} until {@code seconds} pass, {@code maxRequests}
     * are sent in all, or {@code stop} says so; each response is checked against {@code ref}.
     */
    static Tally run(String base, String model, float[][] ref, int clients, double seconds, long maxRequests,
                     BooleanSupplier stop) throws InterruptedException {
        Tally t = new Tally();
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10))
                .executor(java.util.concurrent.Executors.newFixedThreadPool(4)).build();
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        AtomicLong sent = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int client = c;
            threads.add(Thread.ofPlatform().name("traffic-" + c).start(() -> {
                long[] lat = new long[1024];
                int n = 0;
                int k = client;
                while (System.nanoTime() < end && sent.incrementAndGet() <= maxRequests && !stop.getAsBoolean()) {
                    int text = k++ % TEXTS.length;
                    HttpRequest req = HttpRequest.newBuilder(URI.create(base + "/predict/" + model))
                            .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(body(TEXTS[text])))
                            .build();
                    long t0 = System.nanoTime();
                    HttpResponse<byte[]> r;
                    try {
                        r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
                    } catch (IOException e) {
                        t.connectionErrors.increment();
                        continue;
                    } catch (InterruptedException e) {
                        return;
                    }
                    long dt = System.nanoTime() - t0;
                    int st = r.statusCode();
                    if (st == 200) {
                        float[] e;
                        try {
                            e = embedding(r.body());
                        } catch (RuntimeException ex) {
                            t.mismatches.increment();
                            t.problem("unreadable 200 body: " + new String(r.body(), java.nio.charset.StandardCharsets.UTF_8));
                            continue;
                        }
                        double d = e.length == ref[text].length ? 0 : Double.POSITIVE_INFINITY;
                        for (int i = 0; i < e.length && d < Double.POSITIVE_INFINITY; i++) {
                            d = Math.max(d, Math.abs(e[i] - ref[text][i]));
                        }
                        t.diff(d);
                        if (d > TOLERANCE) {
                            t.mismatches.increment();
                            t.problem("text " + text + " differs by " + d);
                        } else {
                            t.ok.increment();
                        }
                        if (n == lat.length) {
                            lat = Arrays.copyOf(lat, 2 * n);
                        }
                        lat[n++] = dt;
                    } else if (st == 503) {
                        t.rejected.increment();
                    } else if (st >= 500) {
                        t.serverErrors.increment();
                        t.problem(st + " " + new String(r.body(), java.nio.charset.StandardCharsets.UTF_8));
                    } else {
                        t.otherStatus.computeIfAbsent(st, x -> new LongAdder()).increment();
                        t.problem(st + " " + new String(r.body(), java.nio.charset.StandardCharsets.UTF_8));
                    }
                }
                t.latencies.add(Arrays.copyOf(lat, n));
            }));
        }
        for (Thread th : threads) {
            th.join();
        }
        t.seconds = (System.nanoTime() - start) / 1e9;
        http.close();
        return t;
    }
}
