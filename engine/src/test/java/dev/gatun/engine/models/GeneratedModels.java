package dev.gatun.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * resnet18.onnx and mobilenet_v2.onnx for tests, written once into target/models by the shared
 * {@code models/make_models.py}; tests skip with a message where python3 or the script is absent.
 */
public final class GeneratedModels {
    private static final Path MODELS = Path.of("target", "models");

    private GeneratedModels() {}

    /** The generated model, made once for all tests (both models in one run of the script). */
    public static synchronized Path get(String name) throws IOException, InterruptedException {
        Path file = MODELS.resolve(name);
        if (Files.isRegularFile(file) && Files.size(file) > 0) {
            return file;
        }
        String shared = System.getProperty("gatun.shared.dir");
        Assumptions.assumeTrue(shared != null && !shared.isBlank(), "skipped: system property gatun.shared.dir is not set");
        Path script = Path.of(shared, "models", "make_models.py");
        Assumptions.assumeTrue(Files.isRegularFile(script), "skipped: " + script + " is absent (needed to generate " + name + ")");
        Process p;
        try {
            p = new ProcessBuilder("python3", script.toString(), MODELS.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("skipped: python3 is not available to generate " + name + " (" + e.getMessage() + ")");
            throw e;
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("make_models.py did not finish in 300 s");
        }
        assertEquals(0, p.exitValue(), "make_models.py failed:\n" + output);
        assertTrue(Files.isRegularFile(file), "make_models.py did not write " + file + ":\n" + output);
        return file;
    }

}
