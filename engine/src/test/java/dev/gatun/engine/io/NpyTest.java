package dev.gatun.engine.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** .npy reading against files NumPy 2.4 wrote (test resources npy/), writing by round trip and byte layout. */
class NpyTest {
    @TempDir
    Path dir;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    static Path resource(String name) {
        try {
            return Path.of(NpyTest.class.getResource("/npy/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private Tensor read(String name) {
        return Npy.read(resource(name), arena);
    }

    @Test
    void readsEveryNumericTypeNumpyWrites() {
        Tensor f4 = read("f4_2x3.npy");
        assertEquals(DType.FLOAT, f4.dtype());
        assertEquals(Shape.of(2, 3), f4.shape());
        assertArrayEquals(new float[] {1.5f, -2, 3, 4, 5.25f, -6}, f4.toFloatArray());

        Tensor f8 = read("f8_scalar.npy");
        assertEquals(DType.DOUBLE, f8.dtype());
        assertEquals(0, f8.shape().rank());
        assertEquals(3.25, f8.getDouble(0));

        Tensor f2 = read("f2_4.npy");
        assertEquals(DType.FLOAT16, f2.dtype());
        assertArrayEquals(new float[] {0.5f, -1, 65504, 0.000061035156f}, f2.toFloatArray());

        assertTyped("i1_3.npy", DType.INT8, -128, 0, 127);
        assertTyped("u1_3.npy", DType.UINT8, 0, 200, 255);
        assertTyped("i2_2.npy", DType.INT16, -32768, 32767);
        assertTyped("i4_2x2.npy", DType.INT32, 1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE);
        assertTyped("i8_3.npy", DType.INT64, 1, -1, Long.MAX_VALUE);
        assertTyped("u2_2.npy", DType.UINT16, 0, 65535);
        assertTyped("u4_2.npy", DType.UINT32, 0, 4294967295L);
        assertTyped("u8_2.npy", DType.UINT64, 0, -1L);
        assertTyped("b1_4.npy", DType.BOOL, 1, 0, 0, 1);
        assertEquals(Shape.of(2, 2), read("i4_2x2.npy").shape());
    }

    private void assertTyped(String file, DType type, long... values) {
        Tensor t = read(file);
        assertEquals(type, t.dtype(), file);
        assertArrayEquals(values, t.toLongArray(), file);
    }

    @Test
    void readsFormatVersions2And3AndEmptyArrays() {
        assertArrayEquals(new float[] {1, 2, 3}, read("v2_f4_3.npy").toFloatArray());
        assertArrayEquals(new long[] {7, -7}, read("v3_i8_2.npy").toLongArray());
        Tensor empty = read("f4_empty_0x3.npy");
        assertEquals(Shape.of(0, 3), empty.shape());
        assertEquals(0, empty.size());
    }

    @Test
    void refusesWhatItDoesNotReadWithTheFileNamed() {
        assertRefused("big_endian_f4.npy", "big-endian");
        assertRefused("fortran_2x3.npy", "Fortran");
        assertRefused("object.npy", "object arrays");
        assertRefused("unicode.npy", "'<U2' is not supported");
        assertRefused("structured.npy", "structured");
    }

    private void assertRefused(String file, String why) {
        EngineException e = assertThrows(EngineException.class, () -> read(file), file);
        assertEquals(EngineException.Kind.INVALID_INPUT, e.kind());
        assertTrue(e.getMessage().contains(file), e.getMessage());
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void refusesMissingTruncatedAndForeignFiles() throws IOException {
        Path missing = dir.resolve("missing.npy");
        assertTrue(assertThrows(EngineException.class, () -> Npy.read(missing, arena)).getMessage().contains("no such file"));

        byte[] good = Files.readAllBytes(resource("f4_2x3.npy"));
        Path cut = dir.resolve("cut.npy");
        Files.write(cut, Arrays.copyOf(good, good.length - 3));
        EngineException e = assertThrows(EngineException.class, () -> Npy.read(cut, arena));
        assertTrue(e.getMessage().contains("cut.npy") && e.getMessage().contains("truncated"), e.getMessage());

        Path headerCut = dir.resolve("headercut.npy");
        Files.write(headerCut, Arrays.copyOf(good, 40));
        assertTrue(assertThrows(EngineException.class, () -> Npy.read(headerCut, arena)).getMessage().contains("truncated"));

        Path text = dir.resolve("text.npy");
        Files.writeString(text, "hello, this is not numpy at all");
        assertTrue(assertThrows(EngineException.class, () -> Npy.read(text, arena)).getMessage().contains("not a NumPy"));

        Path tiny = dir.resolve("tiny.npy");
        Files.write(tiny, new byte[] {(byte) 0x93, 'N'});
        assertTrue(assertThrows(EngineException.class, () -> Npy.read(tiny, arena)).getMessage().contains("not a NumPy"));

        byte[] v9 = good.clone();
        v9[6] = 9;
        Path future = dir.resolve("v9.npy");
        Files.write(future, v9);
        assertTrue(assertThrows(EngineException.class, () -> Npy.read(future, arena)).getMessage().contains("version 9"));
    }

    @Test
    void writeThenReadRoundTripsEveryType() {
        Random rnd = new Random(7);
        for (DType t : DType.values()) {
            if (t == DType.STRING) {
                continue;
            }
            for (long[] dims : new long[][] {{}, {1}, {7}, {3, 5}, {2, 0, 4}, {2, 3, 17}}) {
                Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
                for (long i = 0; i < x.size(); i++) {
                    if (t.isFloating()) {
                        x.setDouble(i, rnd.nextGaussian() * 10);
                    } else {
                        x.setLong(i, rnd.nextLong());
                    }
                }
                Path f = dir.resolve(t + "_" + dims.length + ".npy");
                Npy.write(f, x);
                Tensor y = Npy.read(f, arena);
                String what = t + Arrays.toString(dims);
                assertEquals(x.shape(), y.shape(), what);
                if (t == DType.BFLOAT16) {
                    assertEquals(DType.FLOAT, y.dtype(), "bfloat16 is written as float32");
                    assertArrayEquals(x.toFloatArray(), y.toFloatArray(), what);
                } else {
                    assertEquals(t, y.dtype(), what);
                    assertEquals(-1, x.data().mismatch(y.data()), what);
                }
            }
        }
    }

    @Test
    void writesNumpysLayoutExactly() throws IOException {
        Tensor x = Tensor.ofFloats(arena, new float[] {1.5f, -2, 3, 4, 5.25f, -6}, 2, 3);
        Path f = dir.resolve("x.npy");
        Npy.write(f, x);
        assertArrayEquals(Files.readAllBytes(resource("f4_2x3.npy")), Files.readAllBytes(f), "same bytes as numpy.save");
        byte[] h = Npy.header("<f4", Shape.of(7));
        assertEquals(0, h.length % 64);
        assertEquals('\n', h[h.length - 1]);
        assertTrue(new String(h, StandardCharsets.ISO_8859_1).contains("'shape': (7,), }"));
        assertTrue(new String(Npy.header("<f4", Shape.scalar()), StandardCharsets.ISO_8859_1).contains("'shape': (), }"));
    }

    @Test
    void refusesStringTensors() {
        Tensor s = Tensor.ofStrings(Shape.of(1), new String[] {"a"});
        Path f = dir.resolve("s.npy");
        EngineException e = assertThrows(EngineException.class, () -> Npy.write(f, s));
        assertEquals(EngineException.Kind.INVALID_INPUT, e.kind());
    }
}
