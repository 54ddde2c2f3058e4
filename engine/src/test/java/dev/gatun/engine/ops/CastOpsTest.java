package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.attrs;
import static dev.gatun.engine.ops.LayoutTestSupport.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.math.BigDecimal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class CastOpsTest {
    private static final double[] VALUES = {0, 1, -1, 2.5, -2.5, 3.75, 100, -100, 127, 0.1};
    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor of(DType t, double... v) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(v.length));
        for (int i = 0; i < v.length; i++) {
            x.setDouble(i, v[i]);
        }
        return x;
    }

    /** What a value of type {@code from} becomes in type {@code to}: numpy's astype for these small values. */
    private static double expected(double v, DType from, DType to) {
        double src = switch (from) {
            case FLOAT, DOUBLE, FLOAT16, BFLOAT16 -> v;
            case BOOL -> v != 0 ? 1 : 0;
            default -> (long) v;
        };
        return switch (to) {
            case FLOAT -> (float) src;
            case DOUBLE -> src;
            case FLOAT16 -> Float.float16ToFloat(Float.floatToFloat16((float) src));
            case BFLOAT16 -> DType.bf16ToFloat(DType.floatToBf16((float) src));
            case BOOL -> src != 0 ? 1 : 0;
            default -> wrap((long) src, to);
        };
    }

    /** v wrapped to the width of integer type {@code to}, read back as getAsLong does. */
    private static long wrap(long v, DType to) {
        int bits = to.byteSize() * 8;
        if (bits == 64) {
            return v;
        }
        long m = v & ((1L << bits) - 1);
        return to.isSigned() && m >= 1L << (bits - 1) ? m - (1L << bits) : m;
    }

    @Test
    void everyPairConvertsLikeNumpy() {
        DType[] types = Elementwise.ALL;
        for (DType from : types) {
            for (DType to : types) {
                double[] in = VALUES.clone();
                if (!from.isSigned()) {
                    for (int i = 0; i < in.length; i++) {
                        in[i] = Math.abs(in[i]);
                    }
                }
                Tensor x = of(from, in);
                Tensor o = run1(arena, "Cast", 13, attrs("to", (long) to.onnxId()), x);
                assertEquals(to, o.dtype());
                for (int i = 0; i < in.length; i++) {
                    double stored = x.getDouble(i);
                    double want = expected(stored, from, to);
                    double got = to.isInteger() ? o.getAsLong(i) : o.getDouble(i);
                    assertEquals(want, got, from + "->" + to + " of " + stored);
                }
            }
        }
    }

    @Test
    void floatToIntegerTruncatesAndWraps() {
        Tensor x = Tensor.ofFloats(arena, new float[] {2.9f, -2.9f, 300f, -1f, Float.NaN}, 5);
        assertArrayEquals(new long[] {2, -2, 300, -1, 0}, run1(arena, "Cast", 13, attrs("to", 7L), x).toLongArray());
        assertArrayEquals(new long[] {2, -2, 44, -1, 0}, run1(arena, "Cast", 13, attrs("to", 3L), x).toLongArray());
        assertArrayEquals(new long[] {2, 254, 44, 255, 0}, run1(arena, "Cast", 13, attrs("to", 2L), x).toLongArray());
        assertArrayEquals(new long[] {1, 1, 1, 1, 1}, run1(arena, "Cast", 13, attrs("to", 9L), x).toLongArray());
        Tensor big = Tensor.ofFloats(arena, new float[] {1.5e19f}, 1);
        long want = new BigDecimal((double) 1.5e19f).toBigInteger().longValue();
        assertEquals(want, run1(arena, "Cast", 13, attrs("to", 13L), big).getLong(0));
    }

    @Test
    void doubleToHalfRoundsOnce() {
        double tieAbove = 1 + Math.scalb(1.0, -11) + Math.scalb(1.0, -40);
        Tensor d = of(DType.DOUBLE, tieAbove, 65520.0, 1e-9);
        Tensor h = run1(arena, "Cast", 19, attrs("to", 10L), d);
        assertEquals(1 + Math.scalb(1.0, -10), h.getDouble(0), "just above a tie rounds up");
        assertTrue(Double.isInfinite(h.getDouble(1)));
        assertEquals(0, h.getDouble(2));
    }

    @Test
    void sameTypeIsAViewAndOldOpsetTakesNames() {
        Tensor x = Tensor.ofFloats(arena, new float[] {1, 2}, 2);
        assertSame(x.data(), run1(arena, "Cast", 13, attrs("to", 1L), x).data());
        Tensor o = run1(arena, "Cast", 1, attrs("to", "INT32"), x);
        assertEquals(DType.INT32, o.dtype());
        assertArrayEquals(new long[] {1, 2}, o.toLongArray());
        Tensor like = run1(arena, "CastLike", 15, Attributes.empty(), x, Tensor.allocate(arena, DType.FLOAT16, Shape.of(0)));
        assertEquals(DType.FLOAT16, like.dtype());
        assertEquals(2.0, like.getDouble(1));
    }

    @Test
    void unsupportedTargetsAreRefusedClearly() {
        Tensor x = Tensor.ofFloats(arena, new float[] {1}, 1);
        EngineException f8 = assertThrows(EngineException.class, () -> run1(arena, "Cast", 19, attrs("to", 17L, "saturate", 0L), x));
        assertTrue(f8.getMessage().contains("Cast_0") && f8.getMessage().contains("float8e4m3fn"), f8.getMessage());
        EngineException i4 = assertThrows(EngineException.class, () -> run1(arena, "Cast", 21, attrs("to", 22L), x));
        assertTrue(i4.getMessage().contains("int4"), i4.getMessage());
        EngineException s = assertThrows(EngineException.class, () -> run1(arena, "Cast", 13, attrs("to", 8L), x));
        assertEquals(EngineException.Kind.UNSUPPORTED, s.kind());
        assertThrows(EngineException.class, () -> run1(arena, "Cast", 13, Attributes.empty(), x));
    }
}
