package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ShapeOpsTest {
    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(42);

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor x(long... dims) {
        return random(arena, rnd, DType.FLOAT, dims);
    }

    @Test
    void shapeWithStartAndEnd() {
        Tensor in = x(3, 4, 5);
        assertArrayEquals(new long[] {3, 4, 5}, run1(arena, "Shape", 13, Attributes.empty(), in).toLongArray());
        assertArrayEquals(new long[] {4, 5}, run1(arena, "Shape", 15, attrs("start", 1L), in).toLongArray());
        assertArrayEquals(new long[] {3, 4}, run1(arena, "Shape", 15, attrs("end", -1L), in).toLongArray());
        assertArrayEquals(new long[] {4}, run1(arena, "Shape", 19, attrs("start", -2L, "end", 2L), in).toLongArray());
        assertArrayEquals(new long[] {3, 4, 5}, run1(arena, "Shape", 15, attrs("start", -10L, "end", 10L), in).toLongArray());
        assertEquals(0, run1(arena, "Shape", 15, attrs("start", 2L, "end", 1L), in).size());
        // before opset 15 start/end do not exist: ignored
        assertArrayEquals(new long[] {3, 4, 5}, run1(arena, "Shape", 13, attrs("start", 1L), in).toLongArray());
        Tensor s = run1(arena, "Shape", 7, Attributes.empty(), Tensor.ofStrings(Shape.of(2), new String[] {"a", "b"}));
        assertArrayEquals(new long[] {2}, s.toLongArray());
    }

    @Test
    void sizeCountsElements() {
        Tensor t = run1(arena, "Size", 13, Attributes.empty(), x(3, 7, 1));
        assertEquals(Shape.scalar(), t.shape());
        assertEquals(21, t.getLong(0));
        assertEquals(0, run1(arena, "Size", 1, Attributes.empty(), x(3, 0)).getLong(0));
    }

    @Test
    void reshapeIsAViewAndResolvesZeroAndMinusOne() {
        Tensor in = x(2, 3, 4);
        Tensor out = run1(arena, "Reshape", 13, Attributes.empty(), in, longs(arena, 0, -1));
        assertEquals(Shape.of(2, 12), out.shape());
        assertSame(in.data(), out.data());
        assertEquals(Shape.of(4, 2, 3), run1(arena, "Reshape", 5, Attributes.empty(), in, longs(arena, 4, 2, 3)).shape());
        assertEquals(Shape.of(24), run1(arena, "Reshape", 14, Attributes.empty(), in, longs(arena, -1)).shape());
        assertEquals(Shape.of(2, 3, 4, 1), run1(arena, "Reshape", 21, Attributes.empty(), in, longs(arena, 0, 0, -1, 1)).shape());
        // allowzero: 0 is a real zero dim
        Tensor empty = x(0, 3, 4);
        assertEquals(Shape.of(3, 4, 0), run1(arena, "Reshape", 14, attrs("allowzero", 1L), empty, longs(arena, 3, 4, 0)).shape());
        // without allowzero, the 0 copies dim 2 (4): 3*4*4 != 0
        EngineException e = assertThrows(EngineException.class,
                () -> run1(arena, "Reshape", 14, Attributes.empty(), empty, longs(arena, 3, 4, 0)));
        assertTrue(e.getMessage().contains("Reshape_0"), e.getMessage());
        // allowzero before opset 14 is not an attribute: 0 copies
        assertEquals(Shape.of(2, 12), run1(arena, "Reshape", 13, attrs("allowzero", 1L), in, longs(arena, 0, 12)).shape());
    }

    @Test
    void badReshapeNamesNodeAndShapes() {
        Tensor in = x(2, 3, 4);
        EngineException e = assertThrows(EngineException.class,
                () -> run1(arena, "Reshape", 13, Attributes.empty(), in, longs(arena, 5, -1)));
        assertEquals(EngineException.Kind.RUNTIME, e.kind());
        assertTrue(e.getMessage().contains("Reshape_0") && e.getMessage().contains("[2,3,4]") && e.getMessage().contains("[5, -1]"),
                e.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "Reshape", 13, Attributes.empty(), in, longs(arena, 7, 3)));
        assertThrows(EngineException.class, () -> run1(arena, "Reshape", 13, Attributes.empty(), in, longs(arena, -1, -1)));
        assertThrows(EngineException.class, () -> run1(arena, "Reshape", 13, Attributes.empty(), in, longs(arena, 0, 0, 0, 0)));
        EngineException old = assertThrows(EngineException.class,
                () -> run1(arena, "Reshape", 4, attrs("shape", new long[] {24}), in));
        assertEquals(EngineException.Kind.UNSUPPORTED, old.kind());
    }

    @Test
    void flattenAllAxes() {
        Tensor in = x(2, 3, 4, 5);
        long[][] expect = {{1, 120}, {2, 60}, {6, 20}, {24, 5}, {120, 1}};
        for (int a = 0; a <= 4; a++) {
            Tensor out = run1(arena, "Flatten", 9, attrs("axis", (long) a), in);
            assertEquals(Shape.of(expect[a]), out.shape());
            assertSame(in.data(), out.data());
            if (a < 4) {
                assertEquals(Shape.of(expect[a]), run1(arena, "Flatten", 13, attrs("axis", (long) a - 4), in).shape());
            }
        }
        assertEquals(Shape.of(2, 60), run1(arena, "Flatten", 1, Attributes.empty(), in).shape());
        assertThrows(EngineException.class, () -> run1(arena, "Flatten", 9, attrs("axis", -1L), in));
        assertThrows(EngineException.class, () -> run1(arena, "Flatten", 13, attrs("axis", 5L), in));
    }

    @Test
    void squeezeAttributeAndInput() {
        Tensor in = x(1, 3, 1, 5);
        assertEquals(Shape.of(3, 5), run1(arena, "Squeeze", 11, Attributes.empty(), in).shape());
        assertEquals(Shape.of(3, 1, 5), run1(arena, "Squeeze", 1, attrs("axes", new long[] {0}), in).shape());
        assertEquals(Shape.of(1, 3, 5), run1(arena, "Squeeze", 11, attrs("axes", new long[] {-2}), in).shape());
        assertEquals(Shape.of(3, 5), run1(arena, "Squeeze", 13, Attributes.empty(), in, longs(arena, 0, -2)).shape());
        assertEquals(Shape.of(3, 5), run1(arena, "Squeeze", 13, Attributes.empty(), in, null).shape());
        assertEquals(Shape.of(3, 5), run1(arena, "Squeeze", 13, Attributes.empty(), in).shape());
        Tensor out = run1(arena, "Squeeze", 21, Attributes.empty(), in, longs(arena, 2));
        assertSame(in.data(), out.data());
        EngineException e = assertThrows(EngineException.class,
                () -> run1(arena, "Squeeze", 13, Attributes.empty(), in, longs(arena, 1)));
        assertTrue(e.getMessage().contains("Squeeze_0") && e.getMessage().contains("[1,3,1,5]"), e.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "Squeeze", 13, Attributes.empty(), in, longs(arena, 4)));
    }

    @Test
    void unsqueezeAttributeAndInput() {
        Tensor in = x(3, 4, 5);
        assertEquals(Shape.of(1, 3, 4, 5), run1(arena, "Unsqueeze", 1, attrs("axes", new long[] {0}), in).shape());
        assertEquals(Shape.of(3, 4, 5, 1), run1(arena, "Unsqueeze", 11, attrs("axes", new long[] {-1}), in).shape());
        assertEquals(Shape.of(3, 1, 4, 1, 5, 1),
                run1(arena, "Unsqueeze", 13, Attributes.empty(), in, longs(arena, 5, 1, 3)).shape());
        assertEquals(Shape.of(1, 3, 4, 1, 5), run1(arena, "Unsqueeze", 13, Attributes.empty(), in, longs(arena, -2, 0)).shape());
        Tensor scalar = x();
        assertEquals(Shape.of(1), run1(arena, "Unsqueeze", 13, Attributes.empty(), scalar, longs(arena, 0)).shape());
        assertThrows(EngineException.class, () -> run1(arena, "Unsqueeze", 13, Attributes.empty(), in, longs(arena, 1, 1)));
        assertThrows(EngineException.class, () -> run1(arena, "Unsqueeze", 13, Attributes.empty(), in, longs(arena, 4)));
        assertThrows(EngineException.class, () -> run1(arena, "Unsqueeze", 11, Attributes.empty(), in));
    }

    @Test
    void identityAndDropoutPassThrough() {
        Tensor in = x(3, 7);
        assertSame(in.data(), run1(arena, "Identity", 16, Attributes.empty(), in).data());
        Tensor[] d = run(arena, "Dropout", 13, Attributes.empty(), 2, in);
        assertSame(in.data(), d[0].data());
        assertEquals(DType.BOOL, d[1].dtype());
        for (long i = 0; i < d[1].size(); i++) {
            assertEquals(1, d[1].getAsLong(i));
        }
        Tensor[] old = run(arena, "Dropout", 7, attrs("ratio", 0.3f), 2, in);
        assertEquals(DType.FLOAT, old[1].dtype());
        assertEquals(1f, old[1].getFloat(20));
        Tensor ratio = Tensor.ofFloats(arena, new float[] {0.4f});
        Tensor training = Tensor.allocate(arena, DType.BOOL, Shape.scalar());
        assertSame(in.data(), run1(arena, "Dropout", 12, Attributes.empty(), in, ratio, training).data());
        training.setLong(0, 1);
        EngineException e = assertThrows(EngineException.class,
                () -> run1(arena, "Dropout", 12, Attributes.empty(), in, ratio, training));
        assertTrue(e.getMessage().contains("Dropout_0"), e.getMessage());
        Tensor zero = Tensor.ofFloats(arena, new float[] {0f});
        assertSame(in.data(), run1(arena, "Dropout", 22, Attributes.empty(), in, zero, training).data());
        assertThrows(EngineException.class, () -> run1(arena, "Dropout", 6, attrs("is_test", 0L), in));
        assertSame(in.data(), run1(arena, "Dropout", 6, attrs("is_test", 1L), in).data());
    }

    @Test
    void constantOfShape() {
        Tensor out = run1(arena, "ConstantOfShape", 9, Attributes.empty(), longs(arena, 2, 3));
        assertEquals(DType.FLOAT, out.dtype());
        assertArrayEquals(new float[6], out.toFloatArray());
        Tensor v = Tensor.ofInts(arena, new int[] {-7}, 1);
        Tensor ints = run1(arena, "ConstantOfShape", 20, attrs("value", v), longs(arena, 17));
        assertEquals(DType.INT32, ints.dtype());
        for (long i = 0; i < 17; i++) {
            assertEquals(-7, ints.getInt(i));
        }
        Tensor f = Tensor.ofFloats(arena, new float[] {1.5f}, 1);
        assertEquals(Shape.scalar(), run1(arena, "ConstantOfShape", 9, attrs("value", f), longs(arena)).shape());
        assertEquals(0, run1(arena, "ConstantOfShape", 9, attrs("value", f), longs(arena, 0)).size());
        Tensor h = Tensor.allocate(arena, DType.FLOAT16, Shape.of(1));
        h.setDouble(0, 2.5);
        Tensor half = run1(arena, "ConstantOfShape", 9, attrs("value", h), longs(arena, 3));
        assertEquals(2.5, half.getDouble(2));
        assertThrows(EngineException.class, () -> run1(arena, "ConstantOfShape", 9, Attributes.empty(), longs(arena, 2, -1)));
    }

    @Test
    void rangeAllTypes() {
        Tensor f = run1(arena, "Range", 11, Attributes.empty(),
                Tensor.ofFloats(arena, new float[] {1}), Tensor.ofFloats(arena, new float[] {5}), Tensor.ofFloats(arena, new float[] {1.5f}));
        assertArrayEquals(new float[] {1, 2.5f, 4}, f.toFloatArray());
        Tensor i = run1(arena, "Range", 11, Attributes.empty(),
                Tensor.ofInts(arena, new int[] {10}), Tensor.ofInts(arena, new int[] {4}), Tensor.ofInts(arena, new int[] {-3}));
        assertArrayEquals(new long[] {10, 7}, i.toLongArray());
        Tensor l = run1(arena, "Range", 11, Attributes.empty(), scalarLong(arena, 0), scalarLong(arena, 17), scalarLong(arena, 1));
        assertEquals(17, l.size());
        assertEquals(16, l.getLong(16));
        Tensor none = run1(arena, "Range", 11, Attributes.empty(), scalarLong(arena, 5), scalarLong(arena, 0), scalarLong(arena, 1));
        assertEquals(0, none.size());
        Tensor d = Tensor.allocate(arena, DType.DOUBLE, Shape.scalar());
        d.setDouble(0, 0.25);
        Tensor lim = Tensor.allocate(arena, DType.DOUBLE, Shape.scalar());
        lim.setDouble(0, 1);
        Tensor dr = run1(arena, "Range", 11, Attributes.empty(), d, lim, d);
        assertEquals(3, dr.size());
        assertEquals(0.75, dr.getDouble(2));
        assertThrows(EngineException.class, () -> run1(arena, "Range", 11, Attributes.empty(),
                scalarLong(arena, 0), scalarLong(arena, 3), scalarLong(arena, 0)));
        assertThrows(EngineException.class, () -> run1(arena, "Range", 11, Attributes.empty(),
                scalarLong(arena, 0), Tensor.ofInts(arena, new int[] {3}), scalarLong(arena, 1)));
    }

    @Test
    void eyeLikeWithOffsetAndType() {
        Tensor in = Tensor.ofInts(arena, new int[12], 3, 4);
        for (long k = -3; k <= 4; k++) {
            Tensor out = run1(arena, "EyeLike", 9, attrs("k", k, "dtype", 11L), in);
            assertEquals(DType.DOUBLE, out.dtype());
            for (int r = 0; r < 3; r++) {
                for (int c = 0; c < 4; c++) {
                    assertEquals(c - r == k ? 1.0 : 0.0, out.getDouble(r * 4 + c), "k " + k + " at " + r + "," + c);
                }
            }
        }
        assertEquals(DType.INT32, run1(arena, "EyeLike", 9, Attributes.empty(), in).dtype());
        assertThrows(EngineException.class, () -> run1(arena, "EyeLike", 9, Attributes.empty(), Tensor.ofInts(arena, new int[3], 3)));
    }
}
