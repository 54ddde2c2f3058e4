package dev.gatun.cli;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.io.Compare;
import dev.gatun.engine.tensor.Tensor;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code gatun verify}: runs a model on Gatun and on ONNX Runtime with the same inputs and compares every output. */
@Command(name = "verify", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class, sortOptions = false,
        description = {"Compare a model's outputs on Gatun with ONNX Runtime's.",
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
                "  gatun verify resnet18.onnx --against ort --dim batch=2 --rtol 1e-4"})
final class VerifyCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file, or a built-in name: minilm, minilm-q.")
    String model;

    @Option(names = "--against", paramLabel = "REFERENCE", required = true,
            description = "The reference: 'ort' (ONNX Runtime) or 'cpu' (Gatun on the CPU, with --device cuda).")
    String against;

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
            throw new UsageException("--against " + against + ": the references are 'ort' (ONNX Runtime) and 'cpu' (Gatun on the CPU)");
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
}
