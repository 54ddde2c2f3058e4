package dev.gatun.engine.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.gatun.engine.EngineException;
import dev.gatun.engine.io.TensorFiles;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes the tensor file readers ({@code .npy} and ONNX {@code TensorProto} {@code .pb}) with arbitrary bytes: the only
 * exception allowed out is {@link EngineException}; anything else (an index out of bounds, an out-of-memory from a
 * lying header, a hang) is a finding. In a normal test run the seed corpus replays (files under
 * {@code TensorFileFuzzTestInputs/<method>/}); {@code scripts/fuzz.sh} searches.
 */
class TensorFileFuzzTest {
    private static final Path DIR = tempDir();

    private static Path tempDir() {
        try {
            Path d = Files.createTempDirectory("gatun-fuzz-tensorfile");
            d.toFile().deleteOnExit();
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "10m")
    void npy(byte[] data) throws IOException {
        read(data, "x.npy");
    }

    @FuzzTest(maxDuration = "10m")
    void pb(byte[] data) throws IOException {
        read(data, "x.pb");
    }

    private static void read(byte[] data, String name) throws IOException {
        Path f = DIR.resolve(Thread.currentThread().threadId() + "-" + name);
        Files.write(f, data);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = TensorFiles.read(f, arena);
            touch(t);
        } catch (EngineException e) {
            FuzzSupport.checkMessage(e);
        } finally {
            Files.deleteIfExists(f);
        }
    }

    /** Reads the first and last element, so a tensor whose data is shorter than its shape says fails here. */
    static void touch(Tensor t) {
        long n = t.size();
        if (t.dtype() == DType.STRING) {
            if (t.strings().length != n) {
                throw new AssertionError("string tensor " + t.shape() + " holds " + t.strings().length + " strings");
            }
        } else if (n > 0) {
            t.getDouble(0);
            t.getDouble(n - 1);
        }
    }
}
