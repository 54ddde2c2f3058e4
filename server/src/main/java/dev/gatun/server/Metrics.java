package dev.gatun.server;

import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import dev.gatun.engine.NativeMemory;
import java.io.IOException;
import java.io.OutputStream;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The server's Prometheus metrics (names documented in the README's "Serving" section), in a registry of its
 * own so several servers in one JVM do not mix:
 * <ul>
 *   <li>{@code gatun_http_requests_total{handler,code}}: every HTTP request by route and status;</li>
 *   <li>{@code gatun_inference_requests_total{model,version,outcome}}: inference requests by outcome
 *       ({@code success}, {@code client_error}, {@code rejected}, {@code timeout}, {@code server_error});</li>
 *   <li>{@code gatun_request_duration_seconds{model,version}}: receipt to response, histogram;</li>
 *   <li>{@code gatun_queue_duration_seconds{model,version}}: waiting for a batch, histogram;</li>
 *   <li>{@code gatun_compute_duration_seconds{model,version}}: one merged run (pipeline included), histogram;</li>
 *   <li>{@code gatun_batch_size{model,version}}: rows per run; {@code gatun_batch_requests{model,version}}:
 *       requests merged per run (histograms);</li>
 *   <li>{@code gatun_queue_depth{model,version}}, {@code gatun_inflight_requests}: gauges;</li>
 *   <li>{@code gatun_model_load_duration_seconds{model,version}}, {@code gatun_model_ready{model,version}}: gauges;</li>
 *   <li>{@code gatun_errors_total{model,version,kind}}: failed inference requests by failure kind (see
 *       {@link HttpError#kind()}: {@code bad_request}, {@code too_large}, {@code model_error}, {@code queue_full},
 *       {@code unloading}, {@code unavailable}, {@code timeout}, {@code disconnect}, {@code internal} ...);</li>
 *   <li>{@code gatun_model_load_failures_total{model,version}}: loads and reloads that failed;</li>
 *   <li>{@code gatun_model_native_bytes{model,version,kind}}: native memory a loaded version holds ({@code mapped}
 *       model files, {@code model} constants and packed weights, {@code sessions} workspaces, {@code staging}
 *       batch buffers), until it closes;</li>
 *   <li>{@code gatun_native_bytes{kind}}: the engine's native memory in the whole process ({@link NativeMemory});</li>
 *   <li>{@code jvm_*} and {@code process_*}: the client library's JVM and process metrics (memory, GC, threads, CPU).</li>
 * </ul>
 */
public final class Metrics {
    private static final double[] LATENCY_BUCKETS = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
        0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
    private static final double[] BATCH_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    final Counter httpRequests;
    final Counter inferenceRequests;
    final Histogram requestDuration;
    final Histogram queueDuration;
    final Histogram computeDuration;
    final Histogram batchSize;
    final Histogram batchRequests;
    final Gauge queueDepth;
    final Gauge inflight;
    final Gauge loadDuration;
    final Gauge modelReady;
    final Counter errors;
    final Counter loadFailures;
    final Gauge modelNative;
    final Gauge processNative;
    /** Open model versions' native memory, by kind, read at each scrape. */
    private final Map<Object, NativeSource> nativeSources = new ConcurrentHashMap<>();
    private Set<List<String>> nativeLabels = new HashSet<>();

    private record NativeSource(String model, String version, Supplier<Map<String, Long>> bytes) {}

    public Metrics() {
        httpRequests = Counter.builder().name("gatun_http_requests_total").help("HTTP requests by route and status code")
                .labelNames("handler", "code").register(registry);
        inferenceRequests = Counter.builder().name("gatun_inference_requests_total")
                .help("Inference requests by model, version and outcome").labelNames("model", "version", "outcome")
                .register(registry);
        requestDuration = histogram("gatun_request_duration_seconds", "Inference request time, receipt to response",
                LATENCY_BUCKETS);
        queueDuration = histogram("gatun_queue_duration_seconds", "Time a request waits in the batch queue", LATENCY_BUCKETS);
        computeDuration = histogram("gatun_compute_duration_seconds", "Time of one (merged) model run, pipeline included",
                LATENCY_BUCKETS);
        batchSize = histogram("gatun_batch_size", "Rows per model run", BATCH_BUCKETS);
        batchRequests = histogram("gatun_batch_requests", "Requests merged into one model run", BATCH_BUCKETS);
        queueDepth = Gauge.builder().name("gatun_queue_depth").help("Requests waiting in the batch queue")
                .labelNames("model", "version").register(registry);
        inflight = Gauge.builder().name("gatun_inflight_requests").help("HTTP requests in progress").register(registry);
        loadDuration = Gauge.builder().name("gatun_model_load_duration_seconds")
                .help("Time to load, plan and warm up a model version").labelNames("model", "version").register(registry);
        modelReady = Gauge.builder().name("gatun_model_ready").help("1 when the model version serves requests, else 0")
                .labelNames("model", "version").register(registry);
        errors = Counter.builder().name("gatun_errors_total").help("Failed inference requests by model, version and kind")
                .labelNames("model", "version", "kind").register(registry);
        loadFailures = Counter.builder().name("gatun_model_load_failures_total")
                .help("Model version loads and reloads that failed").labelNames("model", "version").register(registry);
        modelNative = Gauge.builder().name("gatun_model_native_bytes")
                .help("Native memory held by a loaded model version, by kind (mapped, model, sessions, staging)")
                .labelNames("model", "version", "kind").register(registry);
        processNative = Gauge.builder().name("gatun_native_bytes")
                .help("Native memory held by the engine in this process, by kind").labelNames("kind").register(registry);
        JvmMetrics.builder().register(registry);
    }

    /** Reports {@code owner}'s native memory under the version's labels until {@link #untrackNative}. */
    void trackNative(Object owner, String model, String version, Supplier<Map<String, Long>> bytes) {
        nativeSources.put(owner, new NativeSource(model, version, bytes));
    }

    void untrackNative(Object owner) {
        nativeSources.remove(owner);
    }

    /** Sets the native memory gauges from the open versions (summed per labels) and the engine's totals. */
    private synchronized void refreshNative() {
        Map<List<String>, Long> sums = new TreeMap<>((a, b) -> String.join("\0", a).compareTo(String.join("\0", b)));
        for (NativeSource src : nativeSources.values()) {
            for (Map.Entry<String, Long> e : src.bytes().get().entrySet()) {
                sums.merge(List.of(src.model(), src.version(), e.getKey()), e.getValue(), Long::sum);
            }
        }
        for (List<String> gone : nativeLabels) {
            if (!sums.containsKey(gone)) {
                modelNative.remove(gone.toArray(String[]::new));
            }
        }
        for (Map.Entry<List<String>, Long> e : sums.entrySet()) {
            modelNative.labelValues(e.getKey().toArray(String[]::new)).set(e.getValue());
        }
        nativeLabels = new HashSet<>(sums.keySet());
        for (Map.Entry<NativeMemory.Kind, Long> e : NativeMemory.snapshot().entrySet()) {
            processNative.labelValues(e.getKey().name().toLowerCase(Locale.ROOT)).set(e.getValue());
        }
    }

    private Histogram histogram(String name, String help, double[] buckets) {
        return Histogram.builder().name(name).help(help).labelNames("model", "version").classicOnly()
                .classicUpperBounds(buckets).register(registry);
    }

    /** The metrics of one model version, label values bound once. */
    public ModelMetrics forModel(String model, String version) {
        return new ModelMetrics(model, version);
    }

    /** Writes every metric in the Prometheus text format. */
    public void write(OutputStream out) throws IOException {
        refreshNative();
        writer.write(out, registry.scrape());
    }

    public String contentType() {
        return writer.getContentType();
    }

    /** Metrics with a model version's labels. */
    public final class ModelMetrics {
        final String model;
        final String version;
        final DistributionDataPoint request;
        final DistributionDataPoint queue;
        final DistributionDataPoint compute;
        final DistributionDataPoint rows;
        final DistributionDataPoint merged;
        final io.prometheus.metrics.core.datapoints.GaugeDataPoint depth;

        private ModelMetrics(String model, String version) {
            this.model = model;
            this.version = version;
            request = requestDuration.labelValues(model, version);
            queue = queueDuration.labelValues(model, version);
            compute = computeDuration.labelValues(model, version);
            rows = batchSize.labelValues(model, version);
            merged = batchRequests.labelValues(model, version);
            depth = queueDepth.labelValues(model, version);
        }

        void outcome(String outcome) {
            inferenceRequests.labelValues(model, version, outcome).inc();
        }

        /** One failed request of this kind ({@link HttpError#kind()}). */
        void error(String kind) {
            errors.labelValues(model, version, kind).inc();
        }

        void loadFailed() {
            loadFailures.labelValues(model, version).inc();
        }

        void loaded(double seconds, boolean ready) {
            loadDuration.labelValues(model, version).set(seconds);
            modelReady.labelValues(model, version).set(ready ? 1 : 0);
        }

        void ready(boolean ready) {
            modelReady.labelValues(model, version).set(ready ? 1 : 0);
        }
    }
}
