package dev.gatun.cli;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import dev.gatun.engine.Model;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.incubator.vector.FloatVector;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code gatun bench}: latency percentiles and throughput of a model on Gatun, and optionally on ONNX Runtime in
 * the same process, on the same inputs, with the same threads, run by run in turn (Gatun, ORT, Gatun, ORT...)
 * so that both see the same machine noise.
 */
@Command(name = "bench", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class, sortOptions = false,
        description = {"Measure a model's latency and throughput (and compare with ONNX Runtime).",
                "",
                "Runs the model --warmup times, then --iterations times, and prints the p50,",
                "p90, p99 and min latency of one run (ms, linear interpolation between",
                "ranks), runs per second (1000 / mean latency) and, when the first input's",
                "first dim is symbolic (a batch), items per second. Inputs are made as for",
                "'gatun run'.",
                "",
                "With --compare ort, ONNX Runtime runs the same inputs in the same process",
                "(intra-op threads = --threads, inter-op 1, sequential execution, graph",
                "optimisation level ALL). Both are warmed up, then measured run by run in",
                "turn (Gatun, ORT, Gatun, ORT, ...), and the speedup is ORT p50 / Gatun p50",
                "(above 1 Gatun is faster). ONNX Runtime's workers spin inside a run but stop",
                "when it returns (session.force_spinning_stop=1: by default they spin on and",
                "take a core from Gatun's next run). Before each measured run, bench also",
                "waits until the process is idle, at most 100 ms; --no-settle skips that.",
                "With --compare FILE.onnx, that model runs on Gatun instead, interleaved the",
                "same way (e.g. a quantized MODEL against its fp32 original); the JSON then",
                "has \"reference_model\" and \"reference\" in place of \"ort\".",
                "--verbose prints every run's latency (warm-up included) on stderr. The",
                "1-minute load average before and after tells how busy the machine was.",
                "",
                "--json prints one JSON object on stdout (notes go to stderr):",
                "{\"model\", \"device\", \"threads\", \"dims\": {NAME: VALUE}, \"batch\", \"warmup\",",
                " \"iterations\", \"gatun\": {\"p50_ms\", \"p90_ms\", \"p99_ms\", \"min_ms\", \"mean_ms\",",
                " \"per_s\", \"items_per_s\", \"runs\"}, \"ort\": {...} or null, \"speedup_p50\": ratio",
                " or null, \"load_avg\": {\"before\", \"after\"} or null}",
                ""},
        footer = {"", "Examples:", "  gatun bench minilm --dim batch_size=1 --dim sequence_length=128 --compare ort",
                "  gatun bench resnet18.onnx --dim batch=8 --threads 2 --compare ort --json > r18-b8.json",
                "  gatun bench minilm-int8.onnx --compare minilm --dim batch_size=32 --dim sequence_length=128",
                "  gatun bench model.onnx --iterations 1000 --time-limit 20"})
final class BenchCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file, or a built-in name: minilm, minilm-q.")
    String model;

    @Option(names = "--compare", paramLabel = "REFERENCE",
            description = "Also measure 'ort' (ONNX Runtime on MODEL), or another model on Gatun (FILE.onnx, e.g. the fp32 original of a quantized MODEL), interleaved.")
    String compare;

    @Option(names = "--threads", paramLabel = "T", defaultValue = "1", description = "Intra-op threads for both (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "10", description = "Unmeasured runs of each first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--iterations", paramLabel = "N", defaultValue = "50", description = "Measured runs of each (default: ${DEFAULT-VALUE}).")
    int iterations;

    @Option(names = "--time-limit", paramLabel = "S",
            description = "Stop measuring after S seconds (after at least one measured run of each), even if fewer than --iterations.")
    Double timeLimit;

    @Option(names = "--json", description = "Print one JSON object on stdout instead of the table.")
    boolean json;

    @Option(names = "--no-settle", description = "Do not wait for the process to go idle before each measured run.")
    boolean noSettle;

    @Option(names = "--profile", paramLabel = "N", arity = "0..1", fallbackValue = "20",
            description = "After the measured runs, run Gatun N more times (default 20) timing every node, and print the mean ms per op type and of the slowest nodes (on stderr with --json).")
    Integer profile;

    @Option(names = "--top", paramLabel = "N", defaultValue = "15", description = "With --profile: how many of the slowest nodes to list (default: ${DEFAULT-VALUE}).")
    int top;

    @Mixin
    InputOptions inputs;

    @Mixin
    DeviceOptions devices;

    /** One engine's run on fixed inputs. */
    interface Runner {
        void run() throws Exception;
    }

    /** What happens before each measured run (waiting for the process to go idle). */
    interface Settle {
        void await() throws InterruptedException;
    }

    @Override
    int execute() throws Exception {
        check();
        PrintWriter out = out();
        SessionOptions options = devices.options(threads);
        Path file = ModelFiles.resolve(model, err());
        try (Model m = Model.load(file);
             Session session = m.newSession(options);
             Arena arena = Arena.ofShared()) {
            List<String> described = new ArrayList<>();
            Map<String, Tensor> feed = inputs.make(m.inputs(), arena, err(), described);
            Map<String, Long> dims = symbolicDims(m.inputs(), feed);
            Long batch = batch(m.inputs(), feed);
            List<Runner> runners = new ArrayList<>();
            runners.add(() -> session.run(feed).close());
            OrtSession ort = null;
            Map<String, OnnxTensor> ortFeed = Map.of();
            List<AutoCloseable> toClose = new ArrayList<>();
            try {
                if (compare != null && !compare.equals("ort")) {
                    Model refModel = Model.load(ModelFiles.resolve(compare, err()));
                    toClose.add(refModel);
                    Session ref = refModel.newSession(SessionOptions.defaults().withThreads(threads));
                    toClose.add(ref);
                    runners.add(() -> ref.run(feed).close());
                } else if (compare != null) {
                    ort = OrtRunner.open(file, threads);
                    ortFeed = OrtRunner.feed(feed, arena);
                    OrtSession s = ort;
                    Map<String, OnnxTensor> f = ortFeed;
                    runners.add(() -> s.run(f).close());
                }
                if (!json) {
                    out.println("model     " + m.name());
                    for (String d : described) {
                        out.println("input     " + d);
                    }
                    out.println("threads   " + threads + (compare == null || !compare.equals("ort") ? "" : " (ONNX Runtime: intra-op "
                            + threads + ", inter-op 1, sequential, optimisation level ALL)"));
                    if (compare != null && !compare.equals("ort")) {
                        out.println("reference " + compare + " on Gatun, same inputs");
                    }
                    out.println("device    " + (options.isCuda() ? session.deviceDescription() + ", cuda math " + options.cudaMath()
                            : device()));
                    out.printf(Locale.ROOT, "runs      %d warm-up, then %d measured%s%n", warmup, iterations,
                            compare == null ? "" : " of each, interleaved" + (compare.equals("ort") ? " Gatun / ONNX Runtime" : ""));
                    out.flush();
                }
                Double loadBefore = loadAverage();
                double[][] ms = measure(runners, warmup, iterations, timeLimit == null ? Double.POSITIVE_INFINITY : timeLimit,
                        noSettle ? () -> { } : ProcessIdle::await, verbose() ? err() : null);
                Double loadAfter = loadAverage();
                BenchReport report = new BenchReport(label(model, file), options.isCuda() ? session.deviceDescription() : device(), threads, dims, batch, warmup, iterations,
                        BenchReport.Stats.of(ms[0], batch), compare == null ? null : BenchReport.Stats.of(ms[1], batch),
                        loadBefore, loadAfter, compare == null || compare.equals("ort") ? BenchReport.ONNX_RUNTIME : label(compare, Path.of(compare)));
                if (json) {
                    out.println(report.json());
                } else {
                    if (ms[0].length < iterations) {
                        out.println("note: --time-limit " + timeLimit + " s reached after " + ms[0].length + " measured runs");
                    }
                    out.print(report.table());
                }
                if (profile != null) {
                    printProfile(session, () -> session.run(feed).close(), profile, top, json ? err() : out);
                }
            } finally {
                ortFeed.values().forEach(OnnxTensor::close);
                if (ort != null) {
                    ort.close();
                }
                for (int i = toClose.size() - 1; i >= 0; i--) {
                    toClose.get(i).close();
                }
            }
        }
        return 0;
    }

    private void check() {
        if (compare != null && !compare.equals("ort") && !compare.equals(ModelFiles.MINILM) && !compare.equals(ModelFiles.MINILM_Q)
                && !Files.isRegularFile(Path.of(compare))) {
            throw new UsageException("--compare " + compare + ": no such model file, and the only runtime to compare with is 'ort' "
                    + "(ONNX Runtime); a model to run on Gatun is an .onnx file, minilm or minilm-q");
        }
        if (threads < 1) {
            throw new UsageException("--threads " + threads + ": must be >= 1");
        }
        if (warmup < 0) {
            throw new UsageException("--warmup " + warmup + ": must be >= 0");
        }
        if (iterations < 1) {
            throw new UsageException("--iterations " + iterations + ": must be >= 1");
        }
        if (profile != null && profile < 1) {
            throw new UsageException("--profile " + profile + ": must be >= 1 run");
        }
        if (top < 0) {
            throw new UsageException("--top " + top + ": must be >= 0");
        }
        if (timeLimit != null && !(timeLimit > 0)) {
            throw new UsageException("--time-limit " + timeLimit + ": must be > 0 seconds");
        }
    }

    /**
     * Runs every runner {@code warmup} times, then up to {@code iterations} times, in turn (r0, r1, r0, r1, ...),
     * calling {@code settle} before each measured run (outside its time), and returns each one's measured latencies
     * in milliseconds. Measuring stops early once {@code limitSeconds} have passed since it began (every runner has
     * then run at least once). {@code trace}, when not null, receives every run's latency, warm-up included.
     */
    static double[][] measure(List<Runner> runners, int warmup, int iterations, double limitSeconds, Settle settle,
                              PrintWriter trace) throws Exception {
        double[] one = new double[runners.size()];
        for (int i = 0; i < warmup; i++) {
            for (int k = 0; k < runners.size(); k++) {
                long t0 = System.nanoTime();
                runners.get(k).run();
                one[k] = (System.nanoTime() - t0) / 1e6;
            }
            trace(trace, "warm-up", i, one);
        }
        double[][] ms = new double[runners.size()][iterations];
        long start = System.nanoTime();
        int done = 0;
        while (done < iterations) {
            for (int k = 0; k < runners.size(); k++) {
                settle.await();
                long t0 = System.nanoTime();
                runners.get(k).run();
                ms[k][done] = (System.nanoTime() - t0) / 1e6;
                one[k] = ms[k][done];
            }
            trace(trace, "run", done, one);
            done++;
            if ((System.nanoTime() - start) / 1e9 >= limitSeconds) {
                break;
            }
        }
        for (int k = 0; k < ms.length; k++) {
            ms[k] = Arrays.copyOf(ms[k], done);
        }
        return ms;
    }

    /**
     * Runs {@code run} {@code runs} times with the session's per-node profiling on, then prints the mean ms per run of
     * every op type (with its node count and share of the summed node time) and of the {@code top} slowest nodes.
     */
    static void printProfile(Session session, Runner run, int runs, int top, PrintWriter out) throws Exception {
        session.enableProfiling();
        long t0 = System.nanoTime();
        for (int i = 0; i < runs; i++) {
            run.run();
        }
        double wall = (System.nanoTime() - t0) / 1e6 / runs;
        List<Session.NodeTime> nodes = session.profile();
        out.println(profileTable(nodes, wall, runs, top));
        out.flush();
    }

    /** The profile as text: per op type (slowest first), then the {@code top} slowest nodes. */
    static String profileTable(List<Session.NodeTime> nodes, double wallMs, int runs, int top) {
        Map<String, double[]> byType = new LinkedHashMap<>();
        double total = 0;
        for (Session.NodeTime n : nodes) {
            double[] a = byType.computeIfAbsent(n.opType(), k -> new double[2]);
            a[0] += n.meanMs();
            a[1]++;
            total += n.meanMs();
        }
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%nprofile   %d runs, mean %.3f ms per run, of which %.3f ms in nodes%n", runs, wallMs, total));
        b.append(String.format(Locale.ROOT, "%-32s %6s %10s %7s%n", "op type", "nodes", "ms/run", "share"));
        List<Map.Entry<String, double[]>> types = new ArrayList<>(byType.entrySet());
        types.sort((x, y) -> Double.compare(y.getValue()[0], x.getValue()[0]));
        for (Map.Entry<String, double[]> e : types) {
            b.append(String.format(Locale.ROOT, "%-32s %6d %10.3f %6.1f%%%n", e.getKey(), (int) e.getValue()[1], e.getValue()[0],
                    total > 0 ? 100 * e.getValue()[0] / total : 0));
        }
        if (top > 0 && !nodes.isEmpty()) {
            b.append(String.format(Locale.ROOT, "%n%-48s %-24s %10s%n", "slowest nodes", "op type", "ms/run"));
            for (Session.NodeTime n : nodes.subList(0, Math.min(top, nodes.size()))) {
                b.append(String.format(Locale.ROOT, "%-48s %-24s %10.3f%n", n.node(), n.opType(), n.meanMs()));
            }
        }
        return b.toString();
    }

    private static void trace(PrintWriter trace, String what, int i, double[] ms) {
        if (trace == null) {
            return;
        }
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "%-8s %4d", what, i + 1));
        for (double m : ms) {
            b.append(String.format(Locale.ROOT, " %10.3f ms", m));
        }
        trace.println(b);
        trace.flush();
    }

    /** The 1-minute load average from /proc/loadavg, or null where there is none. */
    static Double loadAverage() {
        try {
            Path p = Path.of("/proc/loadavg");
            if (Files.isReadable(p)) {
                return Double.parseDouble(Files.readString(p).strip().split("\\s+")[0]);
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
        return null;
    }

    /** Every symbolic dim of the inputs and the value it has in {@code feed}, in input order. */
    static Map<String, Long> symbolicDims(List<TensorInfo> infos, Map<String, Tensor> feed) {
        Map<String, Long> dims = new LinkedHashMap<>();
        for (TensorInfo in : infos) {
            Tensor t = feed.get(in.name());
            if (in.shape() == null || t == null || t.shape().rank() != in.shape().rank()) {
                continue;
            }
            for (int d = 0; d < in.shape().rank(); d++) {
                if (in.shape().dim(d) == Shape.UNKNOWN && in.shape().dimName(d) != null) {
                    dims.putIfAbsent(in.shape().dimName(d), t.shape().dim(d));
                }
            }
        }
        return dims;
    }

    /** The batch: the first input's first dim when the model leaves it symbolic (named or not), else null. */
    static Long batch(List<TensorInfo> infos, Map<String, Tensor> feed) {
        if (infos.isEmpty()) {
            return null;
        }
        TensorInfo first = infos.getFirst();
        Tensor t = feed.get(first.name());
        if (first.shape() == null || first.shape().rank() == 0 || first.shape().dim(0) != Shape.UNKNOWN
                || t == null || t.shape().rank() == 0) {
            return null;
        }
        return t.shape().dim(0);
    }

    /** The model as reports name it: a built-in name ('minilm', 'minilm-q'), or the file name without '.onnx'. */
    static String label(String model, Path file) {
        if ((model.equals(ModelFiles.MINILM) || model.equals(ModelFiles.MINILM_Q)) && !Files.exists(Path.of(model))) {
            return model;
        }
        String name = file.getFileName().toString();
        return name.endsWith(".onnx") ? name.substring(0, name.length() - 5) : name;
    }

    /** "cpu: MODEL NAME, N cores, B-bit vectors" (the model name from /proc/cpuinfo where there is one). */
    static String device() {
        String cpu = System.getProperty("os.arch");
        try {
            Path info = Path.of("/proc/cpuinfo");
            if (Files.isReadable(info)) {
                for (String line : Files.readAllLines(info)) {
                    if (line.startsWith("model name")) {
                        cpu = line.substring(line.indexOf(':') + 1).strip();
                        break;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // keep the architecture name
        }
        return "cpu: " + cpu + ", " + Runtime.getRuntime().availableProcessors() + " cores, "
                + FloatVector.SPECIES_PREFERRED.vectorBitSize() + "-bit vectors";
    }
}
