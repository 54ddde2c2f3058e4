package dev.gatun.server.pipeline;

import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Image classification, type {@value #TYPE}.
 *
 * <p>Encode: each item (request field {@code "image"}) is the bytes of a PNG or JPEG file, turned by
 * {@link ImagePreprocessor} into a normalised {@code [3, H, W]} float32 sample; the batch is {@code [B, 3, H, W]}.
 * {@code H x W} is the model input's when its shape fixes them (see {@link #bind}), else the {@code size} option.
 *
 * <p>Decode: the logits {@code z [B, C]} (the configured output, else the first; trailing dims of 1 allowed) become
 * {@code p = softmax(z)} per row ({@code p_i = exp(z_i - max z) / sum_j exp(z_j - max z)}; skipped when
 * {@code softmax} is false, for models that output probabilities), then the {@code k = min(top_k, C)} largest per
 * row, highest first, ties to the lower class: outputs {@code "scores"} float {@code [B, k]}, {@code "classes"}
 * int64 {@code [B, k]} and, with a labels file, {@code "labels"} string {@code [B, k]} (line {@code i} of the file
 * names class {@code i}; a class without a line is named by its number).
 *
 * <p>Options (the {@code "pipeline"} object of {@code config.json}): {@code size} (crop side when the model does
 * not fix H and W, default 224), {@code resize} (shorter side before cropping, default
 * {@code round(max(H, W) * 256 / 224)}), {@code mean} and {@code std} (three numbers each, for samples in [0, 1];
 * ImageNet's by default), {@code top_k} (default 5), {@code labels} (path relative to the model's folder),
 * {@code max_pixels} (largest declared width x height accepted, default 50,000,000), {@code softmax} (default
 * true), {@code input} and {@code output} (model tensor names, needed only when the model has several).
 */
public final class ImageClassificationPipeline implements Pipeline {
    /** The type name in a model's configuration. */
    public static final String TYPE = "image-classification";
    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};
    public static final int DEFAULT_SIZE = 224;
    public static final int DEFAULT_TOP_K = 5;
    public static final long DEFAULT_MAX_PIXELS = 50_000_000L;
    /** The input name used before {@link #bind} when none is configured. */
    public static final String DEFAULT_INPUT = "input";

    private final String inputName;
    private final boolean inputConfigured;
    private final int height;
    private final int width;
    private final boolean sizeConfigured;
    private final int resize;
    private final boolean resizeConfigured;
    private final float[] mean;
    private final float[] std;
    private final int topK;
    private final String[] labels;
    private final Path labelsFile;
    private final long maxPixels;
    private final boolean softmax;
    private final String outputName;
    private final ImagePreprocessor preprocessor;

    /**
     * @param inputName  the model input to fill, or null for the model's only input ({@value #DEFAULT_INPUT} until bound)
     * @param size       crop side when the model does not fix H and W, or 0 for the default (224)
     * @param resize     shorter side before cropping, or 0 for {@code round(max(H, W) * 256 / 224)}
     * @param mean       per-channel mean (R, G, B) for samples in [0, 1]
     * @param std        per-channel standard deviation
     * @param labels     a file with one class label per line, or null
     * @param outputName the logits output, or null for the model's first output
     */
    public ImageClassificationPipeline(String inputName, int size, int resize, float[] mean, float[] std, int topK, Path labels,
                                       long maxPixels, boolean softmax, String outputName) {
        this(inputName, size > 0 ? size : DEFAULT_SIZE, size > 0 ? size : DEFAULT_SIZE, size > 0, resize, mean, std, topK,
                labels, readLabels(labels), maxPixels, softmax, outputName);
    }

    /** ImageNet defaults: 224 crop of a 256 resize, ImageNet mean/std, top 5, softmax, no labels. */
    public ImageClassificationPipeline() {
        this(null, 0, 0, IMAGENET_MEAN, IMAGENET_STD, DEFAULT_TOP_K, null, DEFAULT_MAX_PIXELS, true, null);
    }

    private ImageClassificationPipeline(String inputName, int height, int width, boolean sizeConfigured, int resize, float[] mean,
                                        float[] std, int topK, Path labelsFile, String[] labels, long maxPixels, boolean softmax,
                                        String outputName) {
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException(TYPE + " pipeline: mean and std need 3 values (R, G, B)");
        }
        if (topK < 1) {
            throw new IllegalArgumentException(TYPE + " pipeline: top_k must be >= 1, got " + topK);
        }
        if (maxPixels < 1) {
            throw new IllegalArgumentException(TYPE + " pipeline: max_pixels must be >= 1, got " + maxPixels);
        }
        if (height < 1 || width < 1 || height > 16384 || width > 16384) {
            throw new IllegalArgumentException(TYPE + " pipeline: the crop " + height + "x" + width + " is out of range");
        }
        this.inputName = inputName != null ? inputName : DEFAULT_INPUT;
        this.inputConfigured = inputName != null;
        this.height = height;
        this.width = width;
        this.sizeConfigured = sizeConfigured;
        this.resizeConfigured = resize > 0;
        this.resize = resize > 0 ? resize : (int) Math.round(Math.max(height, width) * 256.0 / 224.0);
        this.mean = mean.clone();
        this.std = std.clone();
        this.topK = topK;
        this.labelsFile = labelsFile;
        this.labels = labels;
        this.maxPixels = maxPixels;
        this.softmax = softmax;
        this.outputName = outputName;
        try {
            this.preprocessor = new ImagePreprocessor(this.resize, height, width, mean, std, maxPixels);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(TYPE + " pipeline: " + e.getMessage(), e);
        }
    }

    /**
     * The pipeline a model's configuration describes.
     *
     * @param modelDir the model's folder, against which a relative {@code labels} path resolves
     * @throws IllegalArgumentException for an unknown or malformed option
     * @throws UncheckedIOException     when the labels file cannot be read
     */
    public static ImageClassificationPipeline fromConfig(Path modelDir, Map<String, Object> options) {
        PipelineOptions o = new PipelineOptions(TYPE, options, Set.of("size", "resize", "mean", "std", "top_k", "labels",
                "max_pixels", "softmax", "input", "output"));
        return new ImageClassificationPipeline(o.getString("input", null), o.getInt("size", 0, 1, 16384),
                o.getInt("resize", 0, 1, 65536), o.getFloats("mean", IMAGENET_MEAN, 3), o.getFloats("std", IMAGENET_STD, 3),
                o.getInt("top_k", DEFAULT_TOP_K, 1, 1 << 20), o.getPath("labels", modelDir, null),
                o.getLong("max_pixels", DEFAULT_MAX_PIXELS, 1, 1L << 40), o.getBoolean("softmax", true), o.getString("output", null));
    }

    private static String[] readLabels(Path file) {
        if (file == null) {
            return null;
        }
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8).stream().map(String::strip).toArray(String[]::new);
        } catch (IOException e) {
            throw new UncheckedIOException(TYPE + " pipeline: cannot read the labels file " + file + ": " + e.getMessage(), e);
        }
    }

    /** The crop height the encoder makes. */
    public int height() {
        return height;
    }

    /** The crop width the encoder makes. */
    public int width() {
        return width;
    }

    /** The model input the encoder fills. */
    public String inputName() {
        return inputName;
    }

    @Override
    public String rawInputName() {
        return "image";
    }

    @Override
    public Class<?> itemType() {
        return byte[].class;
    }

    /**
     * Takes the image input (the configured one, else the model's only input: float32 {@code [N, 3, H, W]}) and its
     * fixed H and W when the model declares them, and checks the logits output exists.
     */
    @Override
    public Pipeline bind(List<TensorInfo> modelInputs, List<TensorInfo> modelOutputs) {
        TensorInfo in;
        if (inputConfigured) {
            in = modelInputs.stream().filter(t -> t.name().equals(inputName)).findFirst().orElseThrow(() ->
                    new IllegalArgumentException(TYPE + " pipeline: the model has no input '" + inputName + "'; its inputs are " + modelInputs));
        } else if (modelInputs.size() == 1) {
            in = modelInputs.getFirst();
        } else {
            throw new IllegalArgumentException(TYPE + " pipeline: the model has " + modelInputs.size()
                    + " inputs; name the image one with the 'input' option: " + modelInputs);
        }
        if (in.dtype() != DType.FLOAT) {
            throw new IllegalArgumentException(TYPE + " pipeline: the input '" + in.name() + "' is " + in.dtype()
                    + ", the pipeline makes float32");
        }
        int h = height;
        int w = width;
        Shape s = in.shape();
        if (s != null) {
            if (s.rank() != 4 || (s.dim(1) != Shape.UNKNOWN && s.dim(1) != 3)) {
                throw new IllegalArgumentException(TYPE + " pipeline: the input '" + in.name() + "' has shape " + s
                        + ", the pipeline makes [N, 3, H, W]");
            }
            if (s.dim(2) != Shape.UNKNOWN && s.dim(3) != Shape.UNKNOWN) {
                h = Math.toIntExact(s.dim(2));
                w = Math.toIntExact(s.dim(3));
                if (sizeConfigured && (h != height || w != width)) {
                    throw new IllegalArgumentException(TYPE + " pipeline: option 'size' " + height + " does not match the input '"
                            + in.name() + "' of shape " + s);
                }
            }
        }
        if (modelOutputs.isEmpty()) {
            throw new IllegalArgumentException(TYPE + " pipeline: the model has no output");
        }
        TensorInfo out = outputName == null ? modelOutputs.getFirst()
                : modelOutputs.stream().filter(t -> t.name().equals(outputName)).findFirst().orElseThrow(() ->
                        new IllegalArgumentException(TYPE + " pipeline: the model has no output '" + outputName + "'; its outputs are " + modelOutputs));
        if (out.dtype() != null && !out.dtype().isFloating()) {
            throw new IllegalArgumentException(TYPE + " pipeline: the output '" + out.name() + "' is " + out.dtype() + ", logits must be floating");
        }
        return new ImageClassificationPipeline(in.name(), h, w, sizeConfigured, resizeConfigured ? resize : 0, mean, std, topK,
                labelsFile, labels, maxPixels, softmax, out.name());
    }

    @Override
    public Map<String, Tensor> encode(List<?> items, Arena arena) {
        if (items.isEmpty()) {
            throw new PipelineException("no images to classify");
        }
        for (int i = 0; i < items.size(); i++) {
            if (!(items.get(i) instanceof byte[])) {
                throw new PipelineException("image item " + i + " is " + (items.get(i) == null ? "null" : "not image bytes"));
            }
        }
        Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(items.size(), 3, height, width));
        long sample = 3L * height * width;
        for (int i = 0; i < items.size(); i++) {
            try {
                preprocessor.process((byte[]) items.get(i), x.data(), i * sample);
            } catch (PipelineException e) {
                throw new PipelineException("image item " + i + ": " + e.getMessage());
            }
        }
        return Map.of(inputName, x);
    }

    @Override
    public Map<String, Tensor> decode(Map<String, Tensor> modelOutputs, Map<String, Tensor> modelInputs, Arena arena) {
        Tensor z = outputName != null ? modelOutputs.get(outputName)
                : modelOutputs.isEmpty() ? null : modelOutputs.values().iterator().next();
        if (z == null || z.dtype() == DType.STRING || !z.dtype().isFloating() || z.shape().rank() < 1) {
            throw new IllegalStateException(TYPE + " pipeline: no floating logits output " + (outputName == null ? "" : "'" + outputName + "' ")
                    + "among the model's outputs " + modelOutputs.keySet());
        }
        Shape s = z.shape();
        int batch = Math.toIntExact(s.dim(0));
        for (int d = 2; d < s.rank(); d++) {
            if (s.dim(d) != 1) {
                throw new IllegalStateException(TYPE + " pipeline: logits of shape " + s + " are not [B, C]");
            }
        }
        int classes = s.rank() < 2 ? 1 : Math.toIntExact(s.dim(1));
        int k = Math.min(topK, classes);
        Tensor scores = Tensor.allocate(arena, DType.FLOAT, Shape.of(batch, k));
        Tensor ids = Tensor.allocate(arena, DType.INT64, Shape.of(batch, k));
        String[] names = labels == null ? null : new String[batch * k];
        float[] p = new float[classes];
        int[] best = new int[k];
        MemorySegment zs = z.data();
        for (int b = 0; b < batch; b++) {
            long base = (long) b * classes;
            for (int c = 0; c < classes; c++) {
                p[c] = z.dtype() == DType.FLOAT ? zs.getAtIndex(Tensor.F32, base + c) : (float) z.getDouble(base + c);
            }
            if (softmax) {
                softmax(p);
            }
            topK(p, best);
            for (int j = 0; j < k; j++) {
                scores.data().setAtIndex(Tensor.F32, (long) b * k + j, p[best[j]]);
                ids.data().setAtIndex(Tensor.I64, (long) b * k + j, best[j]);
                if (names != null) {
                    names[b * k + j] = best[j] < labels.length ? labels[best[j]] : Integer.toString(best[j]);
                }
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        out.put("scores", scores);
        out.put("classes", ids);
        if (names != null) {
            out.put("labels", Tensor.ofStrings(Shape.of(batch, k), names));
        }
        return out;
    }

    /** In place, with the maximum subtracted first; NaN logits give NaN probabilities. */
    static void softmax(float[] z) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (int i = 0; i < z.length; i++) {
            double e = Math.exp(z[i] - max);
            z[i] = (float) e;
            sum += e;
        }
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) (z[i] / sum);
        }
    }

    /** The indices of the {@code best.length} largest values, highest first, ties to the lower index, NaN last. */
    static void topK(float[] p, int[] best) {
        int n = 0;
        for (int c = 0; c < p.length; c++) {
            int pos = n;
            while (pos > 0 && greater(p[c], p[best[pos - 1]])) {
                pos--;
            }
            if (pos < best.length) {
                int end = Math.min(n, best.length - 1);
                System.arraycopy(best, pos, best, pos + 1, end - pos);
                best[pos] = c;
                n = Math.min(n + 1, best.length);
            }
        }
    }

    private static boolean greater(float a, float b) {
        return !Float.isNaN(a) && (Float.isNaN(b) || a > b);
    }
}
