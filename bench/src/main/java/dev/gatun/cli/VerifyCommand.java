package dev.gatun.cli;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.io.Compare;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code gatun verify}: runs a model on Gatun and on ONNX Runtime with the same inputs and compares every output. */
@Command(name = "verify", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class, sortOptions = false,
        description = {"Compare a model's outputs on Gatun with ONNX Runtime's, or with another model's.",
                "",
                "--against FILE.onnx runs both models on Gatun with the same inputs and prints,",
                "per float output, the cosine similarity, max and mean abs error (a quantized",
                "model against its fp32 original); PASS when every cosine >= --min-cosine.",
                "",
                "Runs the model on Gatun and on ONNX Runtime (in-process, CPU, graph",
                "optimisation level ALL) with the same inputs (chosen as for 'gatun run'),",
                "prints one line per output with its max abs and max rel error, then PASS",
                "or FAIL. Exit code 0 only on PASS.",
                "",
                "Tolerance, per output and element (a: Gatun, e: ONNX Runtime):",
                "    |a - e| <= atol * max|e| + rtol * |e|",
                "max|e| is the output's largest finite reference magnitude (at least 1e-6):",
                "fp32 rounding error in a deep model grows with the magnitude of what is",
                "summed, so the absolute term scales with the output. Defaults: rtol 1e-3,",
                "atol 1e-4 for float and double; 1e-2, 1e-3 for float16; 2e-2, 1e-2 for",
                "bfloat16. NaN matches only NaN, an infinity only the same infinity;",
                "integer and bool outputs must be equal; dtypes and shapes must match.",
                "'max rel err' leaves out elements with |e| < 1e-3 * max|e|; '%% of",
                "tolerance' is the largest |a - e| / (atol * max|e| + rtol * |e|).",
                ""},
        footer = {"", "Examples:", "  gatun verify minilm --against ort --dim batch_size=2 --dim sequence_length=64",
                "  gatun verify resnet18.onnx --against ort --dim batch=2 --rtol 1e-4",
                "  gatun verify resnet18-int8.onnx --against resnet18.onnx --dim batch=8"})
final class VerifyCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file, or a built-in name: minilm, minilm-q.")
    String model;

    @Option(names = "--against", paramLabel = "REFERENCE", required = true,
            description = "The reference: 'ort' (ONNX Runtime on MODEL), 'cpu' (Gatun on the CPU, with --device cuda), or "
                    + "another model (FILE.onnx, minilm) run on Gatun, e.g. the fp32 original of a quantized MODEL: then each "
                    + "float output is compared by cosine similarity.")
    String against;

    @Option(names = "--min-cosine", paramLabel = "C", defaultValue = "0.99",
            description = "With --against FILE: the least cosine similarity per float output for PASS (default: ${DEFAULT-VALUE}).")
    double minCosine;

    @Mixin
    InputOptions inputs;

    @Mixin
    DeviceOptions devices;

    @Option(names = "--rtol", paramLabel = "R", description = "Relative tolerance (default: by dtype, 1e-3 for float).")
    Double rtol;

    @Option(names = "--atol", paramLabel = "A",
            description = "Absolute tolerance, as a fraction of the output's max |e| (default: by dtype, 1e-4 for float).")
    Double atol;

    @Option(names = "--threads", paramLabel = "T", defaultValue = "1", description = "Intra-op threads for both (default: ${DEFAULT-VALUE}).")
    int threads;

    @Override
    int execute() throws Exception {
        if (!against.equals("ort") && !against.equals("cpu")) {
            return againstModel();
        }
        if (threads < 1) {
            throw new UsageException("--threads " + threads + ": must be >= 1");
        }
        if ((rtol != null && !(rtol >= 0)) || (atol != null && !(atol >= 0))) {
            throw new UsageException("--rtol and --atol must be >= 0");
        }
        PrintWriter out = out();
        SessionOptions options = devices.options(threads);
        Path file = ModelFiles.resolve(model, err());
        try (Model m = Model.load(file);
             Session session = m.newSession(options);
             Arena arena = Arena.ofShared()) {
            List<String> described = new ArrayList<>();
            Map<String, Tensor> feed = inputs.make(m.inputs(), arena, err(), described);
            for (String d : described) {
                out.println("input   " + d);
            }
            boolean pass = true;
            try (Result r = session.run(feed)) {
                Map<String, Tensor> expected = against.equals("ort") ? OrtRunner.run(file, feed, threads, arena)
                        : cpuReference(m, feed, threads, arena);
                for (Map.Entry<String, Tensor> e : r.asMap().entrySet()) {
                    Tensor ref = expected.get(e.getKey());
                    if (ref == null) {
                        out.println(e.getKey() + "  FAIL: ONNX Runtime has no output '" + e.getKey() + "' (it has "
                                + expected.keySet() + ")");
                        pass = false;
                        continue;
                    }
                    Compare.Tolerance def = Compare.Tolerance.defaultFor(ref.dtype());
                    Compare.Tolerance tol = new Compare.Tolerance(rtol != null ? rtol : def.rtol(), atol != null ? atol : def.atol());
                    Compare.Report rep = Compare.compare(e.getKey(), e.getValue(), ref, tol);
                    out.println(rep.line());
                    pass &= rep.pass();
                }
            }
            out.println(pass ? "PASS" : "FAIL");
            return pass ? 0 : 1;
        }
    }

    /** The same model on a CPU session: outputs copied into {@code arena}. */
    private static Map<String, Tensor> cpuReference(Model m, Map<String, Tensor> feed, int threads, Arena arena) {
        Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        try (Session cpu = m.newSession(SessionOptions.defaults().withThreads(threads)); Result r = cpu.run(feed)) {
            for (Map.Entry<String, Tensor> e : r.asMap().entrySet()) {
                out.put(e.getKey(), e.getValue().copy(arena));
            }
        }
        return out;
    }

    /**
     * {@code --against FILE}: MODEL and FILE on Gatun with the same inputs. Float outputs: cosine similarity (over
     * the whole tensor), max and mean abs error, PASS when the cosine is at least --min-cosine; other outputs must
     * be equal.
     */
    private int againstModel() {
        if (!(minCosine >= -1 && minCosine <= 1)) {
            throw new UsageException("--min-cosine " + minCosine + ": must be in [-1, 1]");
        }
        if (threads < 1) {
            throw new UsageException("--threads " + threads + ": must be >= 1");
        }
        if (!against.equals(ModelFiles.MINILM) && !against.equals(ModelFiles.MINILM_Q) && !Files.isRegularFile(Path.of(against))) {
            throw new UsageException("--against " + against + ": no such model file; the reference is 'ort' (ONNX Runtime) or a model "
                    + "to run on Gatun (an .onnx file, minilm, minilm-q)");
        }
        PrintWriter out = out();
        Path file = ModelFiles.resolve(model, err());
        Path refFile = ModelFiles.resolve(against, err());
        SessionOptions so = SessionOptions.defaults().withThreads(threads);
        try (Model m = Model.load(file);
             Model ref = Model.load(refFile);
             Session session = m.newSession(so);
             Session refSession = ref.newSession(so);
             Arena arena = Arena.ofShared()) {
            List<String> described = new ArrayList<>();
            Map<String, Tensor> feed = inputs.make(m.inputs(), arena, err(), described);
            for (String d : described) {
                out.println("input   " + d);
            }
            boolean pass = true;
            try (Result r = session.run(feed); Result e = refSession.run(feed)) {
                for (Map.Entry<String, Tensor> o : r.asMap().entrySet()) {
                    Tensor exp = e.asMap().get(o.getKey());
                    if (exp == null) {
                        out.println(o.getKey() + "  FAIL: " + against + " has no output '" + o.getKey() + "' (it has " + e.names() + ")");
                        pass = false;
                        continue;
                    }
                    Tensor act = o.getValue();
                    if (act.dtype() != DType.FLOAT || exp.dtype() != DType.FLOAT) {
                        Compare.Report rep = Compare.compare(o.getKey(), act, exp, Compare.Tolerance.defaultFor(exp.dtype()));
                        out.println(rep.line());
                        pass &= rep.pass();
                        continue;
                    }
                    if (!act.shape().equals(exp.shape())) {
                        out.println(o.getKey() + "  FAIL: shape " + act.shape() + ", reference " + exp.shape());
                        pass = false;
                        continue;
                    }
                    double[] st = cosine(act, exp);
                    boolean ok = st[0] >= minCosine;
                    out.println(String.format(Locale.ROOT, "%s  float%s  cosine %.6f  max abs err %.4g  mean abs err %.4g  (max|ref| %.4g)  %s",
                            o.getKey(), act.shape(), st[0], st[1], st[2], st[3], ok ? "ok" : "FAIL: cosine below " + minCosine));
                    pass &= ok;
                }
            }
            out.println(pass ? "PASS" : "FAIL");
            return pass ? 0 : 1;
        }
    }

    /** {cosine similarity, max |a - e|, mean |a - e|, max |e|} of two float tensors of one shape. */
    static double[] cosine(Tensor a, Tensor e) {
        double dot = 0;
        double na = 0;
        double ne = 0;
        double maxErr = 0;
        double sumErr = 0;
        double maxRef = 0;
        long n = a.size();
        for (long i = 0; i < n; i++) {
            double x = a.getFloat(i);
            double y = e.getFloat(i);
            dot += x * y;
            na += x * x;
            ne += y * y;
            double d = Math.abs(x - y);
            maxErr = Math.max(maxErr, d);
            sumErr += d;
            maxRef = Math.max(maxRef, Math.abs(y));
        }
        double cos = na == 0 && ne == 0 ? 1 : dot / Math.sqrt(na * ne);
        return new double[] {cos, maxErr, n == 0 ? 0 : sumErr / n, maxRef};
    }
}
