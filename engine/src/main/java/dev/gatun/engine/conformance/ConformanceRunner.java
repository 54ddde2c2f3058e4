package dev.gatun.engine.conformance;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs ONNX backend test folders and compares with ONNX's rule: same output count, shapes and dtypes, values
 * within {@code |a - e| <= atol + rtol * |e|} (rtol 1e-3, atol 1e-7), NaN equal to NaN, strings equal.
 * Understands two layouts: node-test folders ({@code model.onnx} + {@code test_data_set_N/input_K.pb, output_K.pb}),
 * searched recursively, and the {@code light/} layout ({@code light_NAME.onnx} + {@code light_NAME_output_0.pb},
 * the input being {@code arange(n)/n} in the input's shape with dynamic dims set to 1).
 * A test whose model uses something Gatun does not support is skipped with the reason; any other failure,
 * including an exception, is a failure with its reason. No test can take the runner down.
 */
public final class ConformanceRunner {
    /** How one test ended. */
    public enum Status { PASS, FAIL, SKIP }

    /** One test's outcome with its reason (empty on PASS). */
    public record Outcome(String name, Status status, String reason) {}

    /** All outcomes and the counts. */
    public record Summary(List<Outcome> outcomes) {
        public long count(Status s) {
            return outcomes.stream().filter(o -> o.status() == s).count();
        }

        /** {@code N passed, N failed, N skipped}. */
        public String line() {
            return count(Status.PASS) + " passed, " + count(Status.FAIL) + " failed, " + count(Status.SKIP) + " skipped";
        }
    }

    private static final double RTOL = 1e-3;
    private static final double ATOL = 1e-7;

    private ConformanceRunner() {}

    /** Runs every test under {@code dir} whose folder (or light model) name matches {@code filter} (null: all). */
    public static Summary run(Path dir, Pattern filter, Consumer<Outcome> progress) {
        return run(dir, filter, dev.gatun.engine.SessionOptions.defaults(), progress);
    }

    /** As {@link #run(Path, Pattern, Consumer)}, with sessions made with {@code options} (e.g. on CUDA). */
    public static Summary run(Path dir, Pattern filter, dev.gatun.engine.SessionOptions options, Consumer<Outcome> progress) {
        List<Outcome> outcomes = new ArrayList<>();
        for (TestCase t : discover(dir)) {
            if (filter != null && !filter.matcher(t.name()).find()) {
                continue;
            }
            Outcome o = runOne(t, options);
            outcomes.add(o);
            if (progress != null) {
                progress.accept(o);
            }
        }
        return new Summary(outcomes);
    }

    private record TestCase(String name, Path model, List<Path> dataSets, Path lightOutput) {}

    private static List<TestCase> discover(Path dir) {
        List<TestCase> out = new ArrayList<>();
        try (Stream<Path> s = Files.walk(dir, 3)) {
            for (Path p : s.sorted().toList()) {
                String f = p.getFileName().toString();
                if (f.equals("model.onnx")) {
                    Path folder = p.getParent();
                    List<Path> sets;
                    try (Stream<Path> d = Files.list(folder)) {
                        sets = d.filter(x -> x.getFileName().toString().startsWith("test_data_set_")).sorted().toList();
                    }
                    out.add(new TestCase(folder.getFileName().toString(), p, sets, null));
                } else if (f.endsWith(".onnx") && f.startsWith("light_")) {
                    String base = f.substring(0, f.length() - 5);
                    out.add(new TestCase(base, p, List.of(), p.resolveSibling(base + "_output_0.pb")));
                }
            }
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, dir + ": cannot list tests: " + e.getMessage(), e);
        }
        return out;
    }

    private static Outcome runOne(TestCase t, dev.gatun.engine.SessionOptions options) {
        try (Model model = Model.load(t.model()); Session session = model.newSession(options); Arena arena = Arena.ofConfined()) {
            if (t.lightOutput() != null) {
                TensorInfo in = model.inputs().getFirst();
                Tensor input = arange(arena, in);
                Tensor expected = OnnxLoader.readTensorFile(t.lightOutput(), arena);
                double rtol = t.name().contains("densenet") ? 2e-3 : RTOL;
                try (Result r = session.run(Map.of(in.name(), input))) {
                    String diff = compare(r.get(0), expected, rtol);
                    return diff == null ? new Outcome(t.name(), Status.PASS, "") : new Outcome(t.name(), Status.FAIL, "output 0: " + diff);
                }
            }
            if (t.dataSets().isEmpty()) {
                return new Outcome(t.name(), Status.SKIP, "no test_data_set folder");
            }
            for (Path set : t.dataSets()) {
                String diff = runDataSet(model, session, set, arena);
                if (diff != null) {
                    return new Outcome(t.name(), Status.FAIL, set.getFileName() + ": " + diff);
                }
            }
            return new Outcome(t.name(), Status.PASS, "");
        } catch (EngineException e) {
            Status s = e.kind() == EngineException.Kind.UNSUPPORTED ? Status.SKIP : Status.FAIL;
            return new Outcome(t.name(), s, e.getMessage());
        } catch (Throwable e) {
            return new Outcome(t.name(), Status.FAIL, "crash: " + e);
        }
    }

    private static String runDataSet(Model model, Session session, Path set, Arena arena) {
        List<TensorInfo> ins = model.inputs();
        Map<String, Tensor> feed = new HashMap<>();
        for (int i = 0; i < ins.size(); i++) {
            Path f = set.resolve("input_" + i + ".pb");
            if (!Files.exists(f)) {
                return "missing " + f.getFileName();
            }
            feed.put(ins.get(i).name(), readValue(f, arena, ins.get(i).name()));
        }
        List<TensorInfo> outs = model.outputs();
        List<Tensor> expected = new ArrayList<>();
        for (int i = 0; Files.exists(set.resolve("output_" + i + ".pb")); i++) {
            expected.add(readValue(set.resolve("output_" + i + ".pb"), arena, "output " + i));
        }
        if (expected.size() != outs.size()) {
            return "model has " + outs.size() + " outputs, test data has " + expected.size();
        }
        try (Result r = session.run(feed)) {
            for (int i = 0; i < outs.size(); i++) {
                String diff = compare(r.get(i), expected.get(i), RTOL);
                if (diff != null) {
                    return "output " + i + " '" + outs.get(i).name() + "': " + diff;
                }
            }
        }
        return null;
    }

    /** Reads a .pb test value; sequence and optional values (not TensorProtos) are reported as unsupported. */
    private static Tensor readValue(Path f, Arena arena, String what) {
        try {
            return OnnxLoader.readTensorFile(f, arena);
        } catch (EngineException e) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, what + " (" + f.getFileName()
                    + ") is not a plain tensor (sequence/optional values are not supported): " + e.getMessage());
        }
    }

    /** Null when {@code actual} matches {@code expected}, else what differs. */
    public static String compare(Tensor actual, Tensor expected, double rtol) {
        if (actual.dtype() != expected.dtype()) {
            return "dtype " + actual.dtype() + ", expected " + expected.dtype();
        }
        if (!actual.shape().equals(expected.shape())) {
            return "shape " + actual.shape() + ", expected " + expected.shape();
        }
        long n = expected.size();
        if (expected.dtype() == DType.STRING) {
            for (int i = 0; i < n; i++) {
                if (!expected.strings()[i].equals(actual.strings()[i])) {
                    return "string " + i + " is '" + actual.strings()[i] + "', expected '" + expected.strings()[i] + "'";
                }
            }
            return null;
        }
        int bad = 0;
        long first = -1;
        double worst = 0;
        for (long i = 0; i < n; i++) {
            boolean ok;
            if (expected.dtype().isFloating()) {
                double a = actual.getDouble(i);
                double e = expected.getDouble(i);
                if (Double.isNaN(e) || Double.isNaN(a)) {
                    ok = Double.isNaN(e) && Double.isNaN(a);
                } else if (Double.isInfinite(e) || Double.isInfinite(a)) {
                    ok = a == e;
                } else {
                    double d = Math.abs(a - e);
                    ok = d <= ATOL + rtol * Math.abs(e);
                    worst = Math.max(worst, d);
                }
            } else {
                ok = actual.getAsLong(i) == expected.getAsLong(i);
            }
            if (!ok) {
                if (first < 0) {
                    first = i;
                }
                bad++;
            }
        }
        if (bad == 0) {
            return null;
        }
        return bad + " of " + n + " values differ; first at " + first + ": got " + value(actual, first) + ", expected "
                + value(expected, first) + (worst > 0 ? " (max abs diff " + (float) worst + ")" : "");
    }

    private static String value(Tensor t, long i) {
        return t.dtype().isFloating() ? Double.toString(t.getDouble(i)) : Long.toString(t.getAsLong(i));
    }

    /** The light models' input: float {@code arange(n) / n} with dynamic dims set to 1. */
    private static Tensor arange(Arena arena, TensorInfo in) {
        long[] dims = in.shape() == null ? new long[] {1, 3, 224, 224} : in.shape().dims();
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] == Shape.UNKNOWN) {
                dims[i] = 1;
            }
        }
        Tensor t = Tensor.allocate(arena, DType.FLOAT, Shape.of(dims));
        long n = t.size();
        for (long i = 0; i < n; i++) {
            t.data().setAtIndex(Tensor.F32, i, (float) ((double) i / n));
        }
        return t;
    }

    /** {@code ConformanceRunner DIR [REGEX]}: prints failures and skips, then the summary line. */
    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: ConformanceRunner DIR [REGEX]");
            System.exit(2);
        }
        Pattern filter = args.length > 1 ? Pattern.compile(args[1]) : null;
        Summary s = run(Path.of(args[0]), filter, o -> {
            if (o.status() != Status.PASS) {
                System.out.println(o.status() + " " + o.name() + ": " + o.reason());
            }
        });
        System.out.println(s.line());
    }
}
