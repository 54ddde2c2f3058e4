package dev.gatun.cli;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code gatun bench} measured and how it prints it: latency percentiles, throughput, the ratio to ONNX
 * Runtime, as a table or as one JSON object:
 * <pre>
 * {"model": "resnet18", "device": "cpu: ...", "threads": 2, "dims": {"batch": 8}, "batch": 8,
 *  "warmup": 10, "iterations": 50,
 *  "gatun": {"p50_ms": .., "p90_ms": .., "p99_ms": .., "min_ms": .., "mean_ms": .., "per_s": .., "items_per_s": ..,
 *            "runs": 50},
 *  "ort": {...} or null, "speedup_p50": ort.p50_ms / gatun.p50_ms or null,
 *  "load_avg": {"before": 1-minute load average when measuring began, "after": when it ended} or null}
 * </pre>
 * The load average tells how busy the machine was: above its core count, both engines were slowed down.
 */
record BenchReport(String model, String device, int threads, Map<String, Long> dims, Long batch, int warmup,
                   int iterations, Stats gatun, Stats ort, Double loadBefore, Double loadAfter, String reference) {
    /** The engine {@code ort} measured: ONNX Runtime, or another model on Gatun ({@code --compare FILE.onnx}). */
    static final String ONNX_RUNTIME = "onnxruntime";

    BenchReport(String model, String device, int threads, Map<String, Long> dims, Long batch, int warmup, int iterations, Stats gatun,
                Stats ort, Double loadBefore, Double loadAfter) {
        this(model, device, threads, dims, batch, warmup, iterations, gatun, ort, loadBefore, loadAfter, ONNX_RUNTIME);
    }

    /**
     * Latency statistics of one engine's measured runs.
     *
     * @param minMs     the fastest run: on a busy machine, the closest to what the engine can do
     * @param perS      runs per second: 1000 / mean latency (what back-to-back runs sustain)
     * @param itemsPerS {@code perS * batch}, or null when the model has no batch dim
     */
    record Stats(double p50Ms, double p90Ms, double p99Ms, double minMs, double meanMs, double perS, Double itemsPerS, int runs) {
        /** The statistics of {@code ms} (at least one latency, in milliseconds); {@code batch} may be null. */
        static Stats of(double[] ms, Long batch) {
            if (ms.length == 0) {
                throw new IllegalArgumentException("no measured runs");
            }
            double[] s = ms.clone();
            Arrays.sort(s);
            double mean = Arrays.stream(s).average().orElseThrow();
            double perS = 1000.0 / mean;
            return new Stats(percentile(s, 50), percentile(s, 90), percentile(s, 99), s[0], mean, perS,
                    batch == null ? null : perS * batch, s.length);
        }
    }

    /**
     * The {@code p}-th percentile (0..100) of ascending {@code sorted}, interpolated linearly between the two
     * nearest ranks (numpy's default): rank {@code p/100 * (n-1)}.
     */
    static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            throw new IllegalArgumentException("percentile of nothing");
        }
        double rank = p / 100.0 * (sorted.length - 1);
        int lo = (int) Math.floor(rank);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
    }

    /** ONNX Runtime's p50 over Gatun's: above 1 Gatun is faster; null without a comparison. */
    Double speedupP50() {
        return ort == null ? null : ort.p50Ms() / gatun.p50Ms();
    }

    /** The report as one line of JSON. */
    String json() {
        StringBuilder b = new StringBuilder("{");
        b.append("\"model\": ").append(quote(model));
        b.append(", \"device\": ").append(quote(device));
        b.append(", \"threads\": ").append(threads);
        b.append(", \"dims\": {");
        int i = 0;
        for (Map.Entry<String, Long> e : dims.entrySet()) {
            b.append(i++ > 0 ? ", " : "").append(quote(e.getKey())).append(": ").append(e.getValue());
        }
        b.append("}");
        b.append(", \"batch\": ").append(batch == null ? "null" : batch.toString());
        b.append(", \"warmup\": ").append(warmup);
        b.append(", \"iterations\": ").append(iterations);
        b.append(", \"gatun\": ").append(json(gatun));
        if (reference.equals(ONNX_RUNTIME)) {
            b.append(", \"ort\": ").append(ort == null ? "null" : json(ort));
        } else {
            b.append(", \"reference_model\": ").append(quote(reference)).append(", \"reference\": ").append(json(ort));
        }
        b.append(", \"speedup_p50\": ").append(num(speedupP50()));
        b.append(", \"load_avg\": ").append(loadBefore == null || loadAfter == null ? "null"
                : "{\"before\": " + num(loadBefore) + ", \"after\": " + num(loadAfter) + "}");
        return b.append("}").toString();
    }

    private static String json(Stats s) {
        return "{\"p50_ms\": " + num(s.p50Ms()) + ", \"p90_ms\": " + num(s.p90Ms()) + ", \"p99_ms\": " + num(s.p99Ms())
                + ", \"min_ms\": " + num(s.minMs()) + ", \"mean_ms\": " + num(s.meanMs()) + ", \"per_s\": " + num(s.perS()) + ", \"items_per_s\": "
                + num(s.itemsPerS()) + ", \"runs\": " + s.runs() + "}";
    }

    /** A JSON number at full precision (Java's shortest round-trip form), or null for null and non-finite values. */
    static String num(Double v) {
        if (v == null || v.isNaN() || v.isInfinite()) {
            return "null";
        }
        return v.toString();
    }

    /** A JSON string literal. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /** The human-readable table. */
    String table() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%-13s %10s %10s %10s %10s %10s %10s%n", "", "p50 ms", "p90 ms", "p99 ms", "min ms",
                "runs/s", batch == null ? "" : "items/s"));
        row(b, "gatun", gatun);
        if (ort != null) {
            boolean o = reference.equals(ONNX_RUNTIME);
            row(b, o ? ONNX_RUNTIME : "reference", ort);
            b.append(String.format(Locale.ROOT, "speedup   %.2fx  (%s p50 / Gatun p50; above 1 Gatun is faster)%n",
                    speedupP50(), o ? "ONNX Runtime" : "Gatun on " + reference));
        }
        if (loadBefore != null && loadAfter != null) {
            b.append(String.format(Locale.ROOT, "load      %.2f before, %.2f after (1-minute load average; %d cores)%n",
                    loadBefore, loadAfter, Runtime.getRuntime().availableProcessors()));
        }
        return b.toString();
    }

    private static void row(StringBuilder b, String name, Stats s) {
        b.append(String.format(Locale.ROOT, "%-13s %10.3f %10.3f %10.3f %10.3f %10.2f %10s%n", name, s.p50Ms(), s.p90Ms(),
                s.p99Ms(), s.minMs(), s.perS(), s.itemsPerS() == null ? "" : String.format(Locale.ROOT, "%.1f", s.itemsPerS())));
    }
}
