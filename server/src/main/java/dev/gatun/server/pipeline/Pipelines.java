package dev.gatun.server.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import dev.gatun.engine.TensorInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Creates a model's {@link Pipeline} from the {@code "pipeline"} object of its configuration, by {@code "type"}:
 * {@code {"type": "text-embedding", "tokenizer": "tokenizer.json", "max_length": 256}} or
 * {@code {"type": "image-classification", ...}}. File names in the object are the operator's configuration,
 * resolved against the model's folder; no request ever names a file.
 */
public final class Pipelines {
    /**
     * What a factory gets to build a pipeline.
     *
     * @param type     the pipeline type
     * @param config   the whole {@code "pipeline"} object
     * @param baseDir  the folder that relative file names in {@code config} resolve against
     * @param inputs   the model's inputs
     * @param outputs  the model's outputs
     */
    public record Spec(String type, JsonNode config, Path baseDir, List<TensorInfo> inputs, List<TensorInfo> outputs) {}

    /** Builds a pipeline of one type. */
    @FunctionalInterface
    public interface Factory {
        Pipeline create(Spec spec) throws IOException;
    }

    private static final Map<String, Factory> FACTORIES = new ConcurrentHashMap<>();

    static {
        register(TextEmbeddingPipeline.TYPE, spec -> TextEmbeddingPipeline.fromConfig(spec.baseDir(), options(spec)));
        register(ImageClassificationPipeline.TYPE, spec -> ImageClassificationPipeline.fromConfig(spec.baseDir(), options(spec)));
    }

    private Pipelines() {}

    /** Makes {@code type} available (replacing an earlier factory of that type). */
    public static void register(String type, Factory factory) {
        FACTORIES.put(type, factory);
    }

    /** Whether {@code type} has a factory. */
    public static boolean available(String type) {
        return FACTORIES.containsKey(type);
    }

    /**
     * The pipeline {@code spec} describes, bound to the model's inputs and outputs ({@link Pipeline#bind}).
     *
     * @throws IllegalArgumentException for an unknown type or bad settings (the message says which)
     * @throws IOException when a file it names cannot be read
     */
    public static Pipeline create(Spec spec) throws IOException {
        Factory f = FACTORIES.get(spec.type());
        if (f == null) {
            throw new IllegalArgumentException("unknown pipeline type '" + spec.type() + "' (available: "
                    + (FACTORIES.isEmpty() ? "none in this build" : String.join(", ", new TreeSet<>(FACTORIES.keySet()))) + ")");
        }
        return f.create(spec).bind(spec.inputs(), spec.outputs());
    }

    /** The pipeline object as plain values (Number, String, Boolean, List, Map), as the pipelines read their options. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> options(Spec spec) {
        return com.fasterxml.jackson.databind.json.JsonMapper.builder().build().convertValue(spec.config(), Map.class);
    }
}
