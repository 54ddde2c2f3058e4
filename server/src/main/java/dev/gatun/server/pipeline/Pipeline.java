package dev.gatun.server.pipeline;

import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;

/**
 * Input and output processing around a model, so clients can send raw items (texts, image bytes) instead of
 * tensors: {@link #encode} turns a batch of raw items into the model's inputs, {@link #decode} turns the
 * model's outputs into the response's outputs. Implementations are thread-safe and hold no per-request state.
 */
public interface Pipeline {
    /** The request field holding the raw items, e.g. {@code "text"} or {@code "image"}. */
    String rawInputName();

    /** What one raw item is: {@code String.class} for text, {@code byte[].class} for encoded images. */
    Class<?> itemType();

    /**
     * The model inputs for {@code items} (one batch row per item), allocated in {@code arena}.
     *
     * @throws PipelineException for an item that cannot be processed (names the item index and the problem)
     */
    Map<String, Tensor> encode(List<?> items, Arena arena);

    /**
     * The response outputs for a batch: from the model's outputs (and the inputs {@link #encode} made, e.g. an
     * attention mask for pooling), allocated in {@code arena}. Row i of every output belongs to item i.
     */
    Map<String, Tensor> decode(Map<String, Tensor> modelOutputs, Map<String, Tensor> modelInputs, Arena arena);

    /**
     * This pipeline fitted to one model's declared inputs and outputs (which inputs to make, their dtype, the image
     * size, which output to read): call it once per loaded model version and use the pipeline it returns. The
     * default returns {@code this}.
     *
     * @throws IllegalArgumentException when the model cannot work with this pipeline (names what does not fit)
     */
    default Pipeline bind(List<TensorInfo> modelInputs, List<TensorInfo> modelOutputs) {
        return this;
    }

    /** A client's raw item could not be processed: a 4xx, never a 500. */
    final class PipelineException extends RuntimeException {
        public PipelineException(String message) {
            super(message);
        }
    }
}
