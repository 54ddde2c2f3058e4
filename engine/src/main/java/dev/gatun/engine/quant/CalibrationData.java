package dev.gatun.engine.quant;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.io.TensorFiles;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Calibration inputs for static quantization: each sample maps every model input to a tensor.
 *
 * <ul>
 *   <li>{@link #random}: as {@code gatun run} makes them: floats N(0,1), integers uniform in [0, 100), inputs whose
 *       name contains "mask" all ones and "token_type" all zeros; symbolic dims from {@code dims}, else 1.</li>
 *   <li>{@link #fromDirectory}: a folder whose sub-folders (in name order) are samples, each holding one
 *       {@code .npy} or {@code .pb} (TensorProto) file per model input, named after the input ({@code NAME.npy})
 *       or by position as in ONNX test data sets ({@code input_0.pb}); or, for a model with one input, a folder of
 *       such files, each one sample.</li>
 * </ul>
 */
public final class CalibrationData {
    private CalibrationData() {}

    /** {@code n} random samples for {@code inputs}, seeded. */
    public static List<Map<String, Tensor>> random(List<TensorInfo> inputs, int n, long seed, Map<String, Long> dims, Arena arena) {
        Random rnd = new Random(seed);
        List<Map<String, Tensor>> out = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            Map<String, Tensor> sample = new LinkedHashMap<>();
            for (TensorInfo in : inputs) {
                sample.put(in.name(), random(in, dims, rnd, arena));
            }
            out.add(sample);
        }
        return out;
    }

    private static Tensor random(TensorInfo in, Map<String, Long> dims, Random rnd, Arena arena) {
        Shape declared = in.shape();
        if (declared == null) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, "input '" + in.name()
                    + "' has no declared shape: give calibration inputs as files");
        }
        long[] d = new long[declared.rank()];
        for (int i = 0; i < d.length; i++) {
            long v = declared.dim(i);
            if (v < 0) {
                String name = declared.dimName(i);
                v = name != null && dims.containsKey(name) ? dims.get(name) : 1;
            }
            d[i] = v;
        }
        Tensor t = Tensor.allocate(arena, in.dtype(), Shape.of(d));
        String lower = in.name().toLowerCase(Locale.ROOT);
        for (long i = 0; i < t.size(); i++) {
            if (in.dtype() == DType.FLOAT) {
                t.setDouble(i, rnd.nextGaussian());
            } else if (in.dtype().isInteger()) {
                t.setLong(i, lower.contains("mask") ? 1 : lower.contains("token_type") ? 0 : rnd.nextInt(100));
            } else {
                throw new EngineException(EngineException.Kind.UNSUPPORTED, "input '" + in.name() + "' is " + in.dtype()
                        + ": random calibration inputs are float32 or integer; give them as files");
            }
        }
        return t;
    }

    /** The samples in folder {@code dir} (see the class comment). */
    public static List<Map<String, Tensor>> fromDirectory(Path dir, List<TensorInfo> inputs, Arena arena) {
        if (!Files.isDirectory(dir)) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, dir + ": not a folder of calibration inputs");
        }
        List<Path> subdirs = list(dir).stream().filter(Files::isDirectory).toList();
        List<Map<String, Tensor>> out = new ArrayList<>();
        if (!subdirs.isEmpty()) {
            for (Path sub : subdirs) {
                out.add(sample(sub, inputs, arena));
            }
        } else {
            if (inputs.size() != 1) {
                throw new EngineException(EngineException.Kind.INVALID_INPUT, dir + ": the model has " + inputs.size()
                        + " inputs: put each sample in its own sub-folder with one file per input (NAME.npy or input_K.pb)");
            }
            for (Path f : list(dir)) {
                if (isTensorFile(f)) {
                    out.add(Map.of(inputs.get(0).name(), check(inputs.get(0), TensorFiles.read(f, arena), f)));
                }
            }
        }
        if (out.isEmpty()) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, dir + ": no calibration inputs (.npy or .pb files) found");
        }
        return out;
    }

    private static Map<String, Tensor> sample(Path sub, List<TensorInfo> inputs, Arena arena) {
        Map<String, Tensor> sample = new LinkedHashMap<>();
        for (int i = 0; i < inputs.size(); i++) {
            TensorInfo in = inputs.get(i);
            Path f = null;
            for (String name : List.of(in.name() + ".npy", in.name() + ".pb", "input_" + i + ".pb", "input_" + i + ".npy")) {
                if (Files.isRegularFile(sub.resolve(name))) {
                    f = sub.resolve(name);
                    break;
                }
            }
            if (f == null) {
                throw new EngineException(EngineException.Kind.INVALID_INPUT, sub + ": no file for input '" + in.name() + "' ("
                        + in.name() + ".npy, " + in.name() + ".pb or input_" + i + ".pb)");
            }
            sample.put(in.name(), check(in, TensorFiles.read(f, arena), f));
        }
        return sample;
    }

    private static Tensor check(TensorInfo in, Tensor t, Path f) {
        if (in.dtype() != null && t.dtype() != in.dtype()) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, f + ": holds " + t.dtype() + ", input '" + in.name()
                    + "' is " + in.dtype());
        }
        return t;
    }

    private static boolean isTensorFile(Path f) {
        String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(f) && (n.endsWith(".npy") || n.endsWith(".pb"));
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.INVALID_INPUT, dir + ": cannot list: " + e.getMessage(), e);
        }
    }
}
