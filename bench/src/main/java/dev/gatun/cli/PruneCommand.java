package dev.gatun.cli;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.SessionOptions;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.prune.PruneOptions;
import dev.gatun.engine.prune.PruneReport;
import dev.gatun.engine.prune.PrunedModel;
import dev.gatun.engine.prune.Pruner;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code gatun prune}: magnitude-prunes a model's MatMul/Gemm/Conv weights and writes them as sparse initializers. */
@Command(name = "prune", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class, sortOptions = false,
        description = {"Prune a model's weights by magnitude and write it with sparse initializers.",
                "",
                "Sets the smallest-magnitude weights of MatMul, Gemm and Conv nodes with a",
                "constant weight to zero and writes OUT with those weights as ONNX",
                "sparse_initializers (COO: float values and linear indices), so the file",
                "shrinks; every other part of the model is kept. Prints one line per layer",
                "(sparsity reached, relative weight error ||W - W'|| / ||W||, bytes as",
                "stored), the layers left dense and why, and the sizes before and after.",
                "",
                "Patterns: 'unstructured' (any weight); '2:4' (of every 4 consecutive",
                "weights along the reduction axis of one output, the 2 largest stay:",
                "sparsity 0.5); 'block:RxC' (R outputs x C reduction elements, by mean w^2).",
                "The threshold is global over all pruned layers unless --per-layer.",
                "",
                "Index types: 'auto' stores each tensor's indices in the narrowest signed",
                "integer that holds them (int8..int64), which ONNX Runtime and Gatun read;",
                "'int64' is what the ONNX spec text and onnx.checker ask for (8 bytes per",
                "nonzero: an fp32 weight then shrinks only beyond 67% sparsity). A weight",
                "whose sparse form would not be smaller is written dense, zeros included.",
                "",
                "--check runs the original and the pruned model on the same inputs (as",
                "'gatun run' makes them) and prints, per float output, the cosine of each",
                "row after averaging the middle axes (the tokens: mean pooling).",
                ""},
        footer = {"", "Examples:", "  gatun prune minilm minilm-80.onnx --sparsity 0.8",
                "  gatun prune resnet18.onnx r18-24.onnx --pattern 2:4 --exclude /conv1/Conv",
                "  gatun prune minilm m.onnx --sparsity 0.8 --check --dim batch_size=8 --dim sequence_length=128 --int-range 1000:30000"})
final class PruneCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "IN", description = "An .onnx file, or a built-in name: minilm.")
    String in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The pruned .onnx file to write.")
    Path out;

    @Option(names = "--sparsity", paramLabel = "S",
            description = "Fraction of the weights set to zero, in [0, 1) (0.8 or 80%%); 0.5 for 2:4, where it may be left out.")
    String sparsity;

    @Option(names = "--pattern", paramLabel = "P", defaultValue = "unstructured",
            description = "unstructured, 2:4 or block:RxC (default: ${DEFAULT-VALUE}).")
    String pattern;

    @Option(names = "--per-layer", description = "Every layer reaches the sparsity (default: one global magnitude threshold).")
    boolean perLayer;

    @Option(names = "--include", paramLabel = "NODE", arity = "1..*", split = ",",
            description = "Prune only these nodes (names, or globs with *); may repeat.")
    List<String> include = new ArrayList<>();

    @Option(names = "--exclude", paramLabel = "NODE", arity = "1..*", split = ",",
            description = "Never prune these nodes (names, or globs with *); may repeat.")
    List<String> exclude = new ArrayList<>();

    @Option(names = "--index-type", paramLabel = "T", defaultValue = "auto",
            description = "Sparse index element type: auto or int64 (default: ${DEFAULT-VALUE}).")
    String indexType;

    @Option(names = "--check", description = "Compare the pruned model's outputs with the original's (cosine per row).")
    boolean check;

    @Mixin
    InputOptions inputs;

    @Override
    int execute() throws IOException {
        PruneOptions options = options();
        Path file = ModelFiles.resolve(in, err());
        if (Files.exists(out) && Files.isSameFile(out, file)) {
            throw new UsageException("OUT " + out + " is the input file; write the pruned model elsewhere");
        }
        ProgressBar bar = ProgressBar.forTerminal(err());
        PrunedModel pruned;
        try {
            pruned = Pruner.prune(file, options, bar::update);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        } finally {
            bar.done();
        }
        pruned.write(out);
        PrintWriter o = out();
        printReport(o, pruned.report());
        long before = Files.size(file);
        long after = Files.size(out);
        o.println(String.format(Locale.ROOT, "file:     %s -> %s (%.2fx smaller), %s", InspectCommand.bytes(before), InspectCommand.bytes(after),
                (double) before / after, out));
        if (pruned.report().irBumped()) {
            o.println("note:     IR version raised to 6, the first with sparse_initializer");
        }
        if (check) {
            check(o, file);
        }
        return 0;
    }

    private PruneOptions options() {
        PruneOptions.PrunePattern p;
        try {
            p = PruneOptions.PrunePattern.parse(pattern);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--pattern: " + e.getMessage());
        }
        double s;
        if (sparsity == null) {
            if (!(p instanceof PruneOptions.PrunePattern.TwoFour)) {
                throw new UsageException("--sparsity S is required (except for --pattern 2:4)");
            }
            s = 0.5;
        } else {
            s = parseSparsity(sparsity);
        }
        PruneOptions.IndexType it = switch (indexType.toLowerCase(Locale.ROOT)) {
            case "auto" -> PruneOptions.IndexType.AUTO;
            case "int64" -> PruneOptions.IndexType.INT64;
            default -> throw new UsageException("--index-type " + indexType + ": use auto or int64");
        };
        try {
            return new PruneOptions(s, p, perLayer, include, exclude, it);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--sparsity " + sparsity + ": " + e.getMessage());
        }
    }

    static double parseSparsity(String v) {
        String t = v.trim();
        boolean percent = t.endsWith("%");
        try {
            double d = Double.parseDouble(percent ? t.substring(0, t.length() - 1) : t);
            return percent ? d / 100 : d;
        } catch (NumberFormatException e) {
            throw new UsageException("--sparsity " + v + ": not a number (use e.g. 0.8 or 80%)");
        }
    }

    private static void printReport(PrintWriter o, PruneReport r) {
        int nw = Math.max(5, r.layers().stream().mapToInt(l -> l.node().length()).max().orElse(5));
        int ww = Math.max(6, r.layers().stream().mapToInt(l -> l.weight().length()).max().orElse(6));
        nw = Math.min(nw, 60);
        ww = Math.min(ww, 40);
        String fmt = "%-" + nw + "s  %-6s  %-" + ww + "s  %-14s  %8s  %9s  %s%n";
        o.printf(Locale.ROOT, fmt, "layer", "op", "weight", "shape", "sparsity", "rel.error", "stored");
        for (PruneReport.Layer l : r.layers()) {
            o.printf(Locale.ROOT, fmt, l.node(), l.opType(), l.weight(), shape(l.dims()),
                    String.format(Locale.ROOT, "%.1f%%", 100 * l.sparsity()), String.format(Locale.ROOT, "%.4f", l.relativeError()),
                    (l.sparse() ? "sparse " : "dense ") + InspectCommand.bytes(l.storedBytes()));
        }
        for (PruneReport.Skipped s : r.skipped()) {
            o.println("not pruned: " + s.node() + " (" + s.opType() + ", " + s.weight() + "): " + s.reason());
        }
        o.println(String.format(Locale.ROOT, "pruned:   %d layers, %,d weights, %.1f%% zeros (%s); weights %s -> %s",
                r.layers().size(), r.elements(), 100 * r.sparsity(), r.options().pattern() + (r.options().perLayer() ? ", per layer" : ", global"),
                InspectCommand.bytes(r.denseBytes()), InspectCommand.bytes(r.storedBytes())));
    }

    private static String shape(long[] dims) {
        StringBuilder b = new StringBuilder();
        for (long d : dims) {
            b.append(b.isEmpty() ? "" : "x").append(d);
        }
        return b.toString();
    }

    /** Runs both models on the same inputs; per float output, the cosine of each row after averaging the middle axes. */
    private void check(PrintWriter o, Path original) {
        int threads = Runtime.getRuntime().availableProcessors();
        try (Model a = Model.load(original);
             Model b = Model.load(out);
             Session sa = a.newSession(SessionOptions.defaults().withThreads(threads));
             Session sb = b.newSession(SessionOptions.defaults().withThreads(threads));
             Arena arena = Arena.ofShared()) {
            List<String> described = new ArrayList<>();
            Map<String, Tensor> feed = inputs.make(a.inputs(), arena, err(), described);
            described.forEach(d -> o.println("check:    input " + d));
            try (Result ra = sa.run(feed); Result rb = sb.run(feed)) {
                for (TensorInfo t : a.outputs()) {
                    Tensor x = ra.get(t.name());
                    Tensor y = rb.get(t.name());
                    if (x.dtype() != DType.FLOAT || x.shape().rank() == 0) {
                        continue;
                    }
                    double[] cos = rowCosines(x, y);
                    double mean = 0;
                    double min = 1;
                    for (double c : cos) {
                        mean += c / cos.length;
                        min = Math.min(min, c);
                    }
                    o.println(String.format(Locale.ROOT, "check:    %s cosine vs the original: mean %.4f, min %.4f over %d rows%s",
                            t.name(), mean, min, cos.length, x.shape().rank() > 2 ? " (middle axes averaged)" : ""));
                }
            }
        }
    }

    /** Rows are the first axis, features the last; axes between are averaged (rank 1: one row). */
    static double[] rowCosines(Tensor x, Tensor y) {
        long[] d = x.shape().dims();
        int rows = d.length == 1 ? 1 : (int) d[0];
        int h = (int) d[d.length - 1];
        long mid = x.size() / Math.max(1, (long) rows * h);
        float[] a = x.toFloatArray();
        float[] b = y.toFloatArray();
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double[] pa = new double[h];
            double[] pb = new double[h];
            for (long m = 0; m < mid; m++) {
                int base = (int) ((r * mid + m) * h);
                for (int j = 0; j < h; j++) {
                    pa[j] += a[base + j];
                    pb[j] += b[base + j];
                }
            }
            double dot = 0;
            double na = 0;
            double nb = 0;
            for (int j = 0; j < h; j++) {
                dot += pa[j] * pb[j];
                na += pa[j] * pa[j];
                nb += pb[j] * pb[j];
            }
            out[r] = na == 0 || nb == 0 ? (na == nb ? 1 : 0) : dot / Math.sqrt(na * nb);
        }
        return out;
    }

    /** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
    static final class ProgressBar {
        private final PrintWriter err;
        private final boolean on;
        private final boolean owned;
        private String last = "";

        private ProgressBar(PrintWriter err, boolean on, boolean owned) {
            this.err = err;
            this.on = on;
            this.owned = owned;
        }

        /**
         * A bar on the terminal: the {@code gatun} script passes {@code -Dgatun.progress=tty} when its stderr is one
         * (the JVM's own stderr is then a pipe through a filter that works line by line, so the bar goes to
         * {@code /dev/tty}); a JVM started directly draws on {@code err} when its fd 2 is a terminal.
         */
        static ProgressBar forTerminal(PrintWriter err) {
            if ("tty".equals(System.getProperty("gatun.progress"))) {
                try {
                    return new ProgressBar(new PrintWriter(new java.io.FileWriter("/dev/tty", java.nio.charset.StandardCharsets.UTF_8)), true, true);
                } catch (IOException e) {
                    return new ProgressBar(err, false, false);
                }
            }
            return new ProgressBar(err, stderrIsTerminal(), false);
        }

        private static boolean stderrIsTerminal() {
            try {
                String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
                return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
            } catch (IOException | UnsupportedOperationException | SecurityException e) {
                return false;
            }
        }

        void update(String phase, int done, int total) {
            if (!on) {
                return;
            }
            int width = 30;
            int filled = total == 0 ? width : (int) ((long) width * done / total);
            String line = String.format(Locale.ROOT, "\r%-8s [%s%s] %d/%d", phase, "#".repeat(filled), " ".repeat(width - filled), done, total);
            if (!line.equals(last)) {
                err.print(line);
                err.flush();
                last = line;
            }
        }

        void done() {
            if (on && !last.isEmpty()) {
                err.print("\r" + " ".repeat(last.length()) + "\r");
                err.flush();
            }
            if (owned) {
                err.close();
            }
        }
    }
}
