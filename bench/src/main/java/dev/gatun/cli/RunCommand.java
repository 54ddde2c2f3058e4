package dev.gatun.cli;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.io.TensorFiles;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
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

/** {@code gatun run}: runs a model once on given or random inputs and summarises (or saves) the outputs. */
@Command(name = "run", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class, sortOptions = false,
        description = {"Run a model once and summarise its outputs.",
                "",
                "Prints each output's name, dtype, shape, min/max/mean and first values.",
                "Inputs come from files (--input) or are random, seeded by --seed: floats",
                "N(0,1); integers uniform in [0,100) (--int-range); inputs whose name",
                "contains 'mask' all ones, 'token_type' all zeros. Symbolic dims come from",
                "--dim NAME=VALUE; unset ones are 1 (with a note).",
                ""},
        footer = {"", "Examples:", "  gatun run model.onnx --dim batch=4",
                "  gatun run minilm --dim batch_size=2 --dim sequence_length=128 --output out/",
                "  gatun run model.onnx --input input=x.npy --threads 4"})
final class RunCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "MODEL", description = "An .onnx file, or a built-in name: minilm, minilm-q.")
    String model;

    @Mixin
    InputOptions inputs;

    @Mixin
    DeviceOptions devices;

    @Option(names = "--output", paramLabel = "DIR", description = "Write each output to DIR/NAME.npy.")
    Path outputDir;

    @Option(names = "--threads", paramLabel = "T", defaultValue = "1", description = "Intra-op threads (default: ${DEFAULT-VALUE}).")
    int threads;

    @Override
    int execute() throws IOException {
        if (threads < 1) {
            throw new UsageException("--threads " + threads + ": must be >= 1");
        }
        if (outputDir != null && Files.exists(outputDir) && !Files.isDirectory(outputDir)) {
            throw new UsageException("--output " + outputDir + ": exists and is not a directory");
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
            long start = System.nanoTime();
            try (Result r = session.run(feed)) {
                double ms = (System.nanoTime() - start) / 1e6;
                for (Map.Entry<String, Tensor> e : r.asMap().entrySet()) {
                    out.println("output  " + e.getKey() + "  " + e.getValue().dtype() + e.getValue().shape() + "  "
                            + summary(e.getValue()));
                }
                out.println(String.format(Locale.ROOT, "ran %s in %.1f ms (%s)", m.name(), ms, options.isCuda()
                        ? session.deviceDescription() : threads + " thread" + (threads == 1 ? "" : "s")));
                if (session.lastCudaRun() != null) {
                    var st = session.lastCudaRun();
                    out.println(String.format(Locale.ROOT, "cuda    %d bytes to the device, %d bytes back, %d copies mid-run",
                            st.h2dBytes(), st.d2hBytes(), st.midRunTransfers()));
                }
                if (outputDir != null) {
                    write(r);
                }
            }
        }
        return 0;
    }

    private void write(Result r) throws IOException {
        Files.createDirectories(outputDir);
        for (Map.Entry<String, Tensor> e : r.asMap().entrySet()) {
            Path f = outputDir.resolve(safeName(e.getKey()) + ".npy");
            TensorFiles.write(f, e.getValue());
            out().println("wrote   " + f);
        }
    }

    /** An output name as a file name: characters other than letters, digits, '.', '_' and '-' become '_'. */
    static String safeName(String name) {
        String s = name.replaceAll("[^A-Za-z0-9._-]", "_");
        return s.isEmpty() || s.startsWith(".") ? "_" + s : s;
    }

    /** {@code min -1.2  max 3.4  mean 0.01  first [0.5, -0.25, ...]}; NaNs counted apart. */
    static String summary(Tensor t) {
        long n = t.size();
        if (t.dtype() == DType.STRING) {
            StringBuilder b = new StringBuilder("first [");
            for (int i = 0; i < Math.min(n, 4); i++) {
                b.append(i > 0 ? ", " : "").append('\'').append(t.strings()[i]).append('\'');
            }
            return b.append(n > 4 ? ", ...]" : "]").toString();
        }
        if (n == 0) {
            return "(empty)";
        }
        boolean floating = t.dtype().isFloating();
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        double sum = 0;
        long nan = 0;
        for (long i = 0; i < n; i++) {
            double v = t.getDouble(i);
            if (Double.isNaN(v)) {
                nan++;
                continue;
            }
            min = Math.min(min, v);
            max = Math.max(max, v);
            sum += v;
        }
        StringBuilder b = new StringBuilder();
        if (nan < n) {
            b.append("min ").append(num(min, floating)).append("  max ").append(num(max, floating))
                    .append("  mean ").append(num(sum / (n - nan), true));
        }
        if (nan > 0) {
            b.append(b.isEmpty() ? "" : "  ").append("NaN ").append(nan);
        }
        b.append("  first [");
        int k = (int) Math.min(n, 6);
        for (int i = 0; i < k; i++) {
            b.append(i > 0 ? ", " : "").append(floating ? num(t.getDouble(i), true) : Long.toString(t.getAsLong(i)));
        }
        return b.append(n > k ? ", ...]" : "]").toString();
    }

    private static String num(double v, boolean floating) {
        if (!floating || Double.isNaN(v) || Double.isInfinite(v)) {
            return floating ? Double.toString(v) : Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.5g", v);
    }
}
