package dev.gatun.engine.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class TensorTest {
    @Test
    void shapeSizeStridesAndOverflow() {
        Shape s = Shape.of(2, 3, 4);
        assertEquals(24, s.size());
        assertArrayEquals(new long[] {12, 4, 1}, s.strides());
        assertEquals("[2,3,4]", s.toString());
        assertThrows(ArithmeticException.class, () -> Shape.of(1L << 40, 1L << 40).size());
        assertThrows(IllegalArgumentException.class, () -> Shape.of(2, -1));
    }

    @Test
    void allocationIsAlignedAndConversionsRoundTrip() {
        try (Arena a = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(a, DType.FLOAT16, Shape.of(3));
            assertEquals(0, t.data().address() % Tensor.ALIGNMENT);
            t.setDouble(0, 1.5);
            t.setDouble(1, -2.25);
            assertEquals(1.5, t.getDouble(0));
            assertEquals(-2.25, t.getDouble(1));
            Tensor u = Tensor.allocate(a, DType.UINT8, Shape.of(1));
            u.setLong(0, 255);
            assertEquals(255, u.getAsLong(0));
            assertEquals(1.0f, DType.bf16ToFloat(DType.floatToBf16(1.0f)));
            Tensor r = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5, 6}, 2, 3).reshape(Shape.of(3, 2));
            assertEquals(Shape.of(3, 2), r.shape());
            assertEquals(6f, r.getFloat(5));
        }
    }
}
