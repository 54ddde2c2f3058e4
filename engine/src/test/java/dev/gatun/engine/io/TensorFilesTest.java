package dev.gatun.engine.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TensorFilesTest {
    @TempDir
    Path dir;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    @Test
    void readsByExtension() {
        Tensor npy = TensorFiles.read(NpyTest.resource("i8_3.npy"), arena);
        assertArrayEquals(new long[] {1, -1, Long.MAX_VALUE}, npy.toLongArray());
        Tensor x = Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
        Path pb = dir.resolve("x.pb");
        TensorFiles.write(pb, x);
        Tensor back = TensorFiles.read(pb, arena);
        assertEquals(DType.FLOAT, back.dtype());
        assertEquals(Shape.of(3, 2), back.shape());
        assertArrayEquals(x.toFloatArray(), back.toFloatArray());
        Path upper = dir.resolve("X.NPY");
        TensorFiles.write(upper, x);
        assertArrayEquals(x.toFloatArray(), TensorFiles.read(upper, arena).toFloatArray());
    }

    @Test
    void pbRoundTripsIntsBoolsAndStrings() {
        Tensor l = Tensor.ofLongs(arena, new long[] {-5, 0, 9}, 3);
        Path f = dir.resolve("l.pb");
        TensorFiles.write(f, l);
        assertArrayEquals(new long[] {-5, 0, 9}, TensorFiles.read(f, arena).toLongArray());
        Tensor s = Tensor.ofStrings(Shape.of(2), new String[] {"héllo", ""});
        Path sf = dir.resolve("s.pb");
        TensorFiles.write(sf, s);
        assertArrayEquals(new String[] {"héllo", ""}, TensorFiles.read(sf, arena).strings());
    }

    @Test
    void errorsNameTheFile() throws IOException {
        assertInvalid(dir.resolve("nope.npy"), "no such file");
        Path txt = dir.resolve("data.txt");
        Files.writeString(txt, "1 2 3");
        assertInvalid(txt, "unknown tensor file type");
        Path badPb = dir.resolve("bad.pb");
        Files.write(badPb, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});
        assertInvalid(badPb, "bad.pb");
        Path folder = dir.resolve("folder.npy");
        Files.createDirectory(folder);
        assertInvalid(folder, "directory");
    }

    private void assertInvalid(Path p, String text) {
        EngineException e = assertThrows(EngineException.class, () -> TensorFiles.read(p, arena), p.toString());
        assertEquals(EngineException.Kind.INVALID_INPUT, e.kind());
        assertTrue(e.getMessage().contains(p.getFileName().toString()), e.getMessage());
        assertTrue(e.getMessage().contains(text), e.getMessage());
    }
}
