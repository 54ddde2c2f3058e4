package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.gatun.engine.NativeMemory;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.management.ObjectName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The long run: a server with a small batched model ({@code add}) and all-MiniLM-L6-v2 ({@code minilm}) takes
 * {@code gatun.soak.requests} (100,000) checked requests from 16 loopback clients while a third model
 * ({@code cycle}, MiniLM again) goes through {@code gatun.soak.cycles} (200) load / run / unload cycles through the
 * admin API. Afterwards native memory (the engine's own accounting, the JVM's mapped-buffer pool, and the native
 * memory tracker's "Other" category when the JVM runs with {@code -XX:NativeMemoryTracking}) and the heap after GC
 * must be back within 5% of the baseline taken before. Bounded by {@code gatun.soak.minutes} (40).
 *
 * <p>Not in the default build: {@code ./run-tests -pl server -Dgroups=soak}. Figures go to target/soak-results.txt.
 */
@Tag("soak")
class SoakTest {
    static final int CYCLES = Integer.getInteger("gatun.soak.cycles", 200);
    static final long REQUESTS = Long.getLong("gatun.soak.requests", 100_000);
    static final long MINUTES = Long.getLong("gatun.soak.minutes", 40);
    static final int CLIENTS = 16;
    static final int WIDTH = 64;

    @TempDir
    Path dir;
    @TempDir
    Path etc;

    /** One measurement of what the process holds. */
    record Footprint(long engineNative, long engineScratch, long mappedPool, long nmtOther, long heap, long rss) {
        String line(String what) {
            return String.format("%-9s engine native %,d B (scratch %,d B), JVM mapped pool %,d B, NMT Other less direct buffers %s, heap after GC"
                    + " %,d B, RSS %,d B", what, engineNative, engineScratch, mappedPool,
                    nmtOther < 0 ? "n/a" : String.format("%,d B", nmtOther), heap, rss);
        }
    }

    @Test
    void cyclesAndRequestsGiveBackTheirMemory() throws Exception {
        assumeTrue(Traffic.pipelineAvailable(), "the text-embedding pipeline is not in this build");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(MINUTES);
        TestModels.write(dir, "add", 1, TestModels.add(WIDTH, 0.5f));
        Traffic.miniLm(dir, "minilm", "\"warmup_runs\": 3");
        Traffic.miniLm(dir, "cycle", "\"instances\": 1, \"warmup_runs\": 1");
        Files.writeString(etc.resolve("admin"), "a\n");
        ServerConfig c = TestServer.config();
        c.threads = Runtime.getRuntime().availableProcessors();
        c.adminEnabled = true;
        c.adminTokensFile = etc.resolve("admin");
        StringBuilder report = new StringBuilder();
        try (TestServer s = new TestServer(c, dir, List.of())) {
            float[][] ref = Traffic.reference(s, "minilm");
            // warm up every path (JIT, lazily created classes and metric labels) before the baseline
            // (workspaces and staging buffers grow to the largest merged batches they see, then stay: the baseline is
            // the steady state after a tenth of the traffic)
            Clients warm = new Clients(s.base, ref, deadline);
            warm.run(Math.max(5_000, REQUESTS / 10));
            warm.assertClean("warm-up");
            for (int i = 0; i < 5; i++) {
                cycle(s, ref, i);
            }
            sweepShapes(s);
            Footprint base = settle(null);
            line(report, base.line("baseline"));
            nmt("baseline");
            var baseKinds = NativeMemory.snapshot();
            // kept in a file, not on the heap being measured
            Path histogramFile = Path.of("target", "soak-histogram-baseline.txt");
            Files.writeString(histogramFile, histogramText(histogram()));

            long t0 = System.nanoTime();
            AtomicReference<Throwable> cycleError = new AtomicReference<>();
            AtomicLong cyclesDone = new AtomicLong();
            Thread cycler = Thread.ofPlatform().name("soak-cycles").start(() -> {
                try {
                    for (int i = 0; i < CYCLES && System.nanoTime() < deadline; i++) {
                        cycle(s, ref, i);
                        cyclesDone.incrementAndGet();
                    }
                } catch (Throwable e) {
                    cycleError.set(e);
                }
            });
            Clients traffic = new Clients(s.base, ref, deadline);
            traffic.run(REQUESTS);
            double requestSeconds = (System.nanoTime() - t0) / 1e9;
            cycler.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            double totalSeconds = (System.nanoTime() - t0) / 1e9;
            line(report, String.format("%d requests (%d to minilm) in %.1f s (%.0f req/s), %d load/run/unload cycles of"
                    + " MiniLM alongside, %.1f s in all", traffic.done(), traffic.mini.sum(), requestSeconds,
                    traffic.done() / requestSeconds, cyclesDone.get(), totalSeconds));
            if (cycleError.get() != null) {
                throw new AssertionError("a cycle failed", cycleError.get());
            }
            traffic.assertClean("soak");
            assertEquals(REQUESTS, traffic.done(), "every request ran within " + MINUTES + " minutes");
            assertEquals(CYCLES, cyclesDone.get(), "every cycle ran within " + MINUTES + " minutes");

            Footprint end = settle(base);
            line(report, end.line("after"));
            line(report, "engine native by kind: baseline " + baseKinds + ", after " + NativeMemory.snapshot());
            var endHistogram = histogram();
            line(report, "heap growth by class (bytes): " + growth(fromText(Files.readString(histogramFile)), endHistogram));
            String diff = nmt(System.getProperty("gatun.soak.nmt", "summary.diff"));
            if (diff != null) {
                System.out.println("SOAK native memory tracker, growth since the baseline:\n" + diff);
            }
            line(report, String.format("after / baseline: engine native %.4f, mapped pool %.4f, NMT Other %s, heap %.4f,"
                    + " RSS %.4f", ratio(end.engineNative, base.engineNative), ratio(end.mappedPool, base.mappedPool),
                    base.nmtOther < 0 ? "n/a" : String.format("%.4f", ratio(end.nmtOther, base.nmtOther)),
                    ratio(end.heap, base.heap), ratio(end.rss, base.rss)));
            assertWithin(end.engineNative, base.engineNative, "engine native memory");
            assertWithin(end.mappedPool, base.mappedPool, "mapped files");
            if (base.nmtOther >= 0) {
                assertWithin(end.nmtOther, base.nmtOther, "NMT Other less direct buffers (FFM allocations)");
            }
            assertWithin(end.heap, base.heap, "heap after GC");
            assertEquals(200, s.get("/v2/health/ready").status());
        } finally {
            Files.writeString(Path.of("target", "soak-results.txt"), report.toString(), StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
    }

    /**
     * Every batch shape the traffic can produce, a few times over: k of 1..CLIENTS sentences led by each of the
     * texts (the longest sets the padded length) to {@code minilm}, k rows to {@code add}. Session workspaces keep
     * the buffers of the shapes they have run (a bounded cache that levels off), so the baseline is taken once they
     * have seen them all.
     */
    static void sweepShapes(TestServer s) throws Exception {
        Random rnd = new Random(42);
        for (int rep = 0; rep < 2; rep++) {
            for (int k = 1; k <= CLIENTS; k++) {
                for (String lead : Traffic.TEXTS) {
                    StringBuilder b = new StringBuilder("{\"text\": [\"" + lead + "\"");
                    for (int i = 1; i < k; i++) {
                        b.append(", \"").append(Traffic.TEXTS[rnd.nextInt(Traffic.TEXTS.length)]).append('"');
                    }
                    var r = s.post("/predict/minilm", b.append("]}").toString());
                    assertEquals(200, r.status(), r.text());
                }
                StringBuilder a = new StringBuilder("{\"inputs\": [{\"name\": \"x\", \"shape\": [" + k + ", " + WIDTH
                        + "], \"datatype\": \"FP32\", \"data\": [");
                for (int i = 0; i < k * WIDTH; i++) {
                    a.append(i == 0 ? "" : ",").append(i);
                }
                assertEquals(200, s.post("/v2/models/add/infer", a.append("]}]}").toString()).status());
            }
        }
    }

    /** Live heap bytes per class (a full GC first), from the class histogram. */
    static java.util.Map<String, Long> histogram() {
        java.util.Map<String, Long> m = new java.util.HashMap<>();
        try {
            Object out = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
                    new Object[] {new String[0]}, new String[] {String[].class.getName()});
            Matcher x = Pattern.compile("(?m)^\\s*\\d+:\\s+(\\d+)\\s+(\\d+)\\s+(\\S+)").matcher(out.toString());
            while (x.find()) {
                m.merge(x.group(3), Long.parseLong(x.group(2)), Long::sum);
            }
        } catch (Exception e) {
            m.put("(no histogram: " + e + ")", 0L);
        }
        return m;
    }

    static String histogramText(java.util.Map<String, Long> m) {
        StringBuilder b = new StringBuilder();
        m.forEach((k, v) -> b.append(k).append(' ').append(v).append('\n'));
        return b.toString();
    }

    static java.util.Map<String, Long> fromText(String text) {
        java.util.Map<String, Long> m = new java.util.HashMap<>();
        for (String l : text.split("\n")) {
            int sp = l.lastIndexOf(' ');
            if (sp > 0) {
                m.put(l.substring(0, sp), Long.parseLong(l.substring(sp + 1)));
            }
        }
        return m;
    }

    /** The ten classes whose live bytes grew most. */
    static String growth(java.util.Map<String, Long> before, java.util.Map<String, Long> after) {
        return after.entrySet().stream()
                .map(e -> java.util.Map.entry(e.getKey(), e.getValue() - before.getOrDefault(e.getKey(), 0L)))
                .sorted((a, b) -> Long.compare(b.getValue(), a.getValue())).limit(10)
                .map(e -> e.getKey() + " +" + e.getValue()).toList().toString();
    }

    /** Load, one checked request, unload. */
    static void cycle(TestServer s, float[][] ref, int i) throws Exception {
        var load = s.post("/v2/repository/models/cycle/load", "", "Authorization", "Bearer a");
        assertEquals(200, load.status(), "cycle " + i + " load: " + load.text());
        int text = i % Traffic.TEXTS.length;
        var r = s.post("/predict/cycle", Traffic.body(Traffic.TEXTS[text]));
        assertEquals(200, r.status(), "cycle " + i + " run: " + r.text());
        float[] e = Traffic.embedding(r.body());
        for (int k = 0; k < e.length; k++) {
            assertEquals(ref[text][k], e[k], Traffic.TOLERANCE, "cycle " + i);
        }
        var unload = s.post("/v2/repository/models/cycle/unload", "", "Authorization", "Bearer a");
        assertEquals(200, unload.status(), "cycle " + i + " unload: " + unload.text());
    }

    static double ratio(long a, long b) {
        return b == 0 ? (a == 0 ? 1 : Double.POSITIVE_INFINITY) : (double) a / b;
    }

    static void assertWithin(long now, long base, String what) {
        assertTrue(Math.abs(now - base) <= 0.05 * base, what + ": " + now + " vs baseline " + base);
    }

    /**
     * GCs until the engine's native memory stops changing (retired versions close in the background, per-thread
     * scratch goes with the GC), then measures. With a baseline, waits (up to a minute) for it to be reached.
     */
    static Footprint settle(Footprint base) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Footprint f = measure();
        for (int stable = 0; stable < 3 && System.nanoTime() < until; ) {
            Thread.sleep(300);
            Footprint g = measure();
            boolean reached = base == null || Math.abs(g.engineNative - base.engineNative) <= 0.05 * base.engineNative
                    && Math.abs(g.heap - base.heap) <= 0.05 * base.heap;
            stable = g.engineNative == f.engineNative && reached ? stable + 1 : 0;
            f = g;
        }
        return f;
    }

    static Footprint measure() throws Exception {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        long mapped = 0;
        long direct = 0;
        for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (b.getName().equals("mapped")) {
                mapped = b.getMemoryUsed();
            } else if (b.getName().equals("direct")) {
                direct = b.getMemoryUsed();
            }
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        long other = nmtOther();
        // NMT's Other holds FFM allocations and direct byte buffers (the HTTP stack's pools): the buffers are left out
        return new Footprint(NativeMemory.totalBytes(), NativeMemory.bytes(NativeMemory.Kind.SCRATCH), mapped,
                other < 0 ? -1 : other - direct, heap, rss());
    }

    /** Committed bytes of the native memory tracker's "Other" category (FFM allocations), or -1 when NMT is off. */
    static long nmtOther() {
        String out = nmt("summary");
        if (out == null) {
            return -1;
        }
        Matcher m = Pattern.compile("-\\s+Other \\(reserved=(\\d+), committed=(\\d+)\\)").matcher(out);
        return m.find() ? Long.parseLong(m.group(2)) : -1;
    }

    /** The native memory tracker's answer to {@code command} (summary, baseline, summary.diff ...), or null when off. */
    static String nmt(String command) {
        try {
            Object out = ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "vmNativeMemory",
                    new Object[] {new String[] {command, "scale=b"}}, new String[] {String[].class.getName()});
            String s = out.toString();
            return s.contains("not enabled") ? null : s;
        } catch (Exception e) {
            return null;
        }
    }

    static long rss() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (Exception e) {
            return -1;
        }
        return -1;
    }

    static void line(StringBuilder report, String line) {
        System.out.println("SOAK " + line);
        report.append(line).append('\n');
    }

    /**
     * Checked clients: nine requests in ten to {@code add} (random rows, y = x + 0.5 exactly), one to {@code minilm}
     * (a sentence, its embedding compared with the reference).
     */
    static final class Clients {
        final String base;
        final float[][] ref;
        final long deadline;
        final LongAdder ok = new LongAdder();
        final LongAdder bad = new LongAdder();
        final LongAdder mini = new LongAdder();
        final AtomicReference<String> first = new AtomicReference<>();

        Clients(String base, float[][] ref, long deadline) {
            this.base = base;
            this.ref = ref;
            this.deadline = deadline;
        }

        long done() {
            return ok.sum() + bad.sum();
        }

        void run(long requests) throws InterruptedException {
            AtomicLong tickets = new AtomicLong(requests);
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(10)).build();
            List<Thread> threads = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++) {
                long seed = c;
                threads.add(Thread.ofPlatform().name("soak-client-" + c).start(() -> {
                    Random rnd = new Random(seed);
                    while (tickets.decrementAndGet() >= 0 && System.nanoTime() < deadline) {
                        try {
                            if (one(http, rnd)) {
                                ok.increment();
                            } else {
                                bad.increment();
                            }
                        } catch (Exception e) {
                            bad.increment();
                            first.compareAndSet(null, e.toString());
                        }
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            http.close();
        }

        private boolean one(HttpClient http, Random rnd) throws Exception {
            if (rnd.nextInt(10) == 0) {
                mini.increment();
                int text = rnd.nextInt(Traffic.TEXTS.length);
                HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(base + "/predict/minilm"))
                        .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(Traffic.body(Traffic.TEXTS[text])))
                        .build(), HttpResponse.BodyHandlers.ofByteArray());
                if (r.statusCode() != 200) {
                    first.compareAndSet(null, "minilm " + r.statusCode() + " " + new String(r.body(), StandardCharsets.UTF_8));
                    return false;
                }
                float[] e = Traffic.embedding(r.body());
                for (int k = 0; k < e.length; k++) {
                    if (Math.abs(e[k] - ref[text][k]) > Traffic.TOLERANCE) {
                        first.compareAndSet(null, "minilm text " + text + " differs at " + k);
                        return false;
                    }
                }
                return e.length == ref[text].length;
            }
            float[] x = new float[WIDTH];
            StringBuilder b = new StringBuilder("{\"inputs\": [{\"name\": \"x\", \"shape\": [1, " + WIDTH
                    + "], \"datatype\": \"FP32\", \"data\": [");
            for (int k = 0; k < WIDTH; k++) {
                x[k] = rnd.nextInt(1 << 20) / 64f;
                b.append(k == 0 ? "" : ",").append(x[k]);
            }
            b.append("]}]}");
            HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/add/infer"))
                    .timeout(Duration.ofSeconds(120)).POST(HttpRequest.BodyPublishers.ofString(b.toString())).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            if (r.statusCode() != 200) {
                first.compareAndSet(null, "add " + r.statusCode() + " " + new String(r.body(), StandardCharsets.UTF_8));
                return false;
            }
            var data = Json.tree(r.body(), 0, r.body().length).path("outputs").get(0).path("data");
            for (int k = 0; k < WIDTH; k++) {
                if (data.get(k).floatValue() != x[k] + 0.5f) {
                    first.compareAndSet(null, "add differs at " + k + ": " + data.get(k) + " for " + x[k]);
                    return false;
                }
            }
            return true;
        }

        void assertClean(String what) {
            assertEquals(0, bad.sum(), what + ": failed or wrong responses, first: " + first.get());
        }
    }
}
