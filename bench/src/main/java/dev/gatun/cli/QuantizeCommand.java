package dev.gatun.cli;

import dev.gatun.engine.quant.QuantOptions;
import dev.gatun.engine.quant.Quantizer;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code gatun quantize}: writes an int8 version of a float32 model, with a report of what changed. */
@Command(name = "quantize", usageHelpWidth = 100, mixinStandardHelpOptions = true, versionProvider = Gatun.Version.class, sortOptions = false,
        description = {"Quantize a float32 ONNX model to int8.",
                "",
                "dynamic (default): MatMul/Gemm weights (Conv too with --conv) become int8,",
                "activations are quantized at run time (DynamicQuantizeLinear + MatMulInteger,",
                "as ONNX Runtime's quantize_dynamic writes them): what transformers want.",
                "static: activation ranges are calibrated by running the model on inputs from",
                "--calibration DIR or on --calibration-samples random inputs, then Conv, MatMul",
                "and Gemm get uint8 activations and int8 weights, as QDQ (Quantize/Dequantize",
                "pairs) or QOperator (QLinearConv, QLinearMatMul) nodes: what CNNs want.",
                "",
                "The output is standard ONNX that ONNX Runtime also runs. The report lists every",
                "quantized layer with its weight error, the nodes left in float and why, and the",
                "size before and after. A progress bar shows calibration on a terminal.",
                ""},
        footer = {"", "Examples:", "  gatun quantize minilm minilm-int8.onnx --per-channel",
                "  gatun quantize resnet18.onnx resnet18-int8.onnx --mode static --calibration-samples 32 --per-channel",
                "  gatun quantize resnet18.onnx r18-qop.onnx --mode static --format qoperator --method entropy --calibration cal/"})
final class QuantizeCommand extends GatunCommand {
    @Parameters(index = "0", paramLabel = "IN", description = "The float32 model: an .onnx file, or a built-in name (minilm).")
    String in;

    @Parameters(index = "1", paramLabel = "OUT", description = "Where to write the quantized model.")
    Path out;

    @Option(names = "--mode", paramLabel = "MODE", defaultValue = "dynamic", description = "dynamic or static (default: ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--per-channel", description = "One weight scale per output channel (default: one per tensor).")
    boolean perChannel;

    @Option(names = "--per-tensor-activations", description = "Dynamic mode: one activation scale per tensor, ONNX Runtime's "
            + "quantize_dynamic chain (default: one scale and zero point per row, i.e. per token).")
    boolean perTensorActivations;

    @Option(names = "--conv", description = "Dynamic mode: quantize Conv too (static mode always does).")
    boolean conv;

    @Option(names = "--calibration", paramLabel = "DIR",
            description = "Static: calibration inputs, a folder of sample folders (NAME.npy / input_K.pb per input), "
                    + "or of .npy/.pb files for a one-input model.")
    Path calibration;

    @Option(names = "--calibration-samples", paramLabel = "N", defaultValue = "32",
            description = "Static, without --calibration: N random inputs (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--method", paramLabel = "METHOD", defaultValue = "minmax",
            description = "Static: minmax, percentile or entropy (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--percentile", paramLabel = "P", defaultValue = "99.999",
            description = "--method percentile: the share of values kept, in percent (default: ${DEFAULT-VALUE}).")
    double percentile;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "qdq", description = "Static: qdq or qoperator (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--exclude", paramLabel = "NODE", arity = "1..*", description = "Node names to leave in float; may repeat.")
    List<String> exclude = new java.util.ArrayList<>();

    @Option(names = "--dim", paramLabel = "NAME=VALUE", description = "Static: value of a symbolic dim for random calibration inputs (unset: 1).")
    Map<String, Long> dims = new LinkedHashMap<>();

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1", description = "Seed of random calibration inputs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--threads", paramLabel = "T", defaultValue = "1", description = "Threads for calibration runs (default: ${DEFAULT-VALUE}).")
    int threads;

    @Override
    int execute() {
        QuantOptions o = options();
        Path file = ModelFiles.resolve(in, err());
        if (Files.isDirectory(out)) {
            throw new UsageException(out + ": is a directory; OUT is the quantized model's file name");
        }
        PrintWriter err = err();
        ProgressBar bar = new ProgressBar(err, System.console() != null && !verbose() ? 40 : 0);
        Quantizer.Quantized q = Quantizer.quantize(file, o, bar::update);
        bar.done();
        q.write(out);
        PrintWriter w = out();
        w.print(q.report().format());
        w.println("wrote " + out);
        return 0;
    }

    QuantOptions options() {
        QuantOptions o = QuantOptions.dynamic();
        try {
            o = o.withMode(QuantOptions.Mode.valueOf(mode.toUpperCase(Locale.ROOT)))
                    .withFormat(QuantOptions.Format.valueOf(format.toUpperCase(Locale.ROOT)))
                    .withMethod(QuantOptions.Method.valueOf(method.toUpperCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            throw new UsageException("--mode " + mode + " / --format " + format + " / --method " + method
                    + ": expected --mode dynamic|static, --format qdq|qoperator, --method minmax|percentile|entropy");
        }
        if (o.mode() == QuantOptions.Mode.DYNAMIC && (calibration != null || !format.equals("qdq") || !method.equals("minmax"))) {
            throw new UsageException("--calibration, --format and --method apply to --mode static");
        }
        if (samples < 1) {
            throw new UsageException("--calibration-samples " + samples + ": must be >= 1");
        }
        if (threads < 1) {
            throw new UsageException("--threads " + threads + ": must be >= 1");
        }
        if (!(percentile > 50 && percentile <= 100)) {
            throw new UsageException("--percentile " + percentile + ": must be in (50, 100]");
        }
        if (calibration != null && !Files.isDirectory(calibration)) {
            throw new UsageException("--calibration " + calibration + ": not a folder");
        }
        return o.withPerChannel(perChannel).withPerRowActivations(!perTensorActivations).withConv(conv).withCalibrationDir(calibration).withCalibrationSamples(samples)
                .withPercentile(percentile).withExclude(new LinkedHashSet<>(exclude)).withDims(dims).withSeed(seed).withThreads(threads);
    }

    /** A one-line progress bar on stderr, redrawn in place (width 0: off, e.g. when stderr is not a terminal). */
    static final class ProgressBar {
        private final PrintWriter err;
        private final int width;
        private boolean drawn;

        ProgressBar(PrintWriter err, int width) {
            this.err = err;
            this.width = width;
        }

        void update(String phase, int done, int total) {
            if (width == 0) {
                return;
            }
            int filled = total == 0 ? width : (int) ((long) width * done / total);
            err.print("\r" + String.format(Locale.ROOT, "%-12s [%s%s] %d/%d", phase, "#".repeat(filled), " ".repeat(width - filled), done, total));
            err.flush();
            drawn = true;
        }

        void done() {
            if (drawn) {
                err.println();
                err.flush();
            }
        }
    }
}
