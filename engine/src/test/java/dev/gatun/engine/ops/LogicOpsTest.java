package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.attrs;
import static dev.gatun.engine.ops.LayoutTestSupport.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import java.util.function.BiPredicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LogicOpsTest {
    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(3);

    @AfterEach
    void close() {
        arena.close();
    }

    private static final Map<String, BiPredicate<Double, Double>> COMPARE = Map.of(
            "Equal", (x, y) -> x.doubleValue() == y.doubleValue(),
            "Less", (x, y) -> x < y,
            "LessOrEqual", (x, y) -> x <= y,
            "Greater", (x, y) -> x > y,
            "GreaterOrEqual", (x, y) -> x >= y);

    private Tensor random(DType t, Shape s) {
        Tensor x = Tensor.allocate(arena, t, s);
        for (long i = 0; i < x.size(); i++) {
            if (t.isFloating()) {
                int r = rnd.nextInt(12);
                x.setDouble(i, r == 0 ? Double.NaN : r - 6);
            } else {
                x.setLong(i, rnd.nextInt(7));
            }
        }
        return x;
    }

    @Test
    void comparisonsBroadcastAndTreatNaNAsFalse() {
        for (DType t : new DType[] {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.INT8, DType.INT64, DType.UINT32}) {
            for (int iter = 0; iter < 20; iter++) {
                Shape[] s = BroadcastTest.randomPair(rnd, 2);
                Tensor a = random(t, s[1]);
                Tensor b = random(t, s[2]);
                Shape os = Broadcast.shape(s[1], s[2]);
                for (var e : COMPARE.entrySet()) {
                    Tensor o = run1(arena, e.getKey(), 13, Attributes.empty(), a, b);
                    assertEquals(DType.BOOL, o.dtype());
                    assertEquals(os, o.shape());
                    for (long f = 0; f < os.size(); f++) {
                        double x = a.getDouble(BroadcastTest.refIndex(f, os, s[1]));
                        double y = b.getDouble(BroadcastTest.refIndex(f, os, s[2]));
                        assertEquals(e.getValue().test(x, y) ? 1 : 0, o.getAsLong(f), e.getKey() + " " + t + " " + x + "," + y);
                    }
                }
            }
        }
    }

    @Test
    void unsignedSixtyFourBitComparesUnsigned() {
        Tensor a = Tensor.allocate(arena, DType.UINT64, Shape.of(2));
        a.setLong(0, -1L);
        a.setLong(1, 1);
        Tensor b = Tensor.allocate(arena, DType.UINT64, Shape.of(2));
        b.setLong(0, 5);
        b.setLong(1, 5);
        assertArrayEquals(new long[] {1, 0}, run1(arena, "Greater", 13, Attributes.empty(), a, b).toLongArray());
    }

    @Test
    void equalOnStringsAndBools() {
        Tensor a = Tensor.ofStrings(Shape.of(3), new String[] {"x", "y", "z"});
        Tensor b = Tensor.ofStrings(Shape.of(1), new String[] {"y"});
        assertArrayEquals(new long[] {0, 1, 0}, run1(arena, "Equal", 19, Attributes.empty(), a, b).toLongArray());
        Tensor p = bools(1, 0, 1, 0);
        Tensor q = bools(1, 1, 0, 0);
        assertArrayEquals(new long[] {1, 0, 0, 1}, run1(arena, "Equal", 11, Attributes.empty(), p, q).toLongArray());
    }

    private Tensor bools(int... v) {
        Tensor t = Tensor.allocate(arena, DType.BOOL, Shape.of(v.length));
        for (int i = 0; i < v.length; i++) {
            t.setLong(i, v[i]);
        }
        return t;
    }

    @Test
    void logicalOps() {
        Tensor p = bools(1, 0, 1, 0);
        Tensor q = bools(1, 1, 0, 0);
        assertArrayEquals(new long[] {1, 0, 0, 0}, run1(arena, "And", 7, Attributes.empty(), p, q).toLongArray());
        assertArrayEquals(new long[] {1, 1, 1, 0}, run1(arena, "Or", 7, Attributes.empty(), p, q).toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 0}, run1(arena, "Xor", 7, Attributes.empty(), p, q).toLongArray());
        assertArrayEquals(new long[] {0, 1, 0, 1}, run1(arena, "Not", 1, Attributes.empty(), p).toLongArray());
        Tensor col = Tensor.allocate(arena, DType.BOOL, Shape.of(2, 1));
        col.setLong(0, 1);
        Tensor o = run1(arena, "And", 7, Attributes.empty(), col, p);
        assertEquals(Shape.of(2, 4), o.shape());
        assertArrayEquals(new long[] {1, 0, 1, 0, 0, 0, 0, 0}, o.toLongArray());
        Tensor legacy = run1(arena, "Or", 1, attrs("broadcast", 1L), Tensor.allocate(arena, DType.BOOL, Shape.of(2, 4)), p);
        assertArrayEquals(new long[] {1, 0, 1, 0, 1, 0, 1, 0}, legacy.toLongArray());
    }

    @Test
    void bitShiftAndBitwise() {
        Tensor x = Tensor.allocate(arena, DType.UINT8, Shape.of(4));
        Tensor s = Tensor.allocate(arena, DType.UINT8, Shape.of(4));
        long[] xv = {16, 4, 255, 1};
        long[] sv = {1, 2, 1, 9};
        for (int i = 0; i < 4; i++) {
            x.setLong(i, xv[i]);
            s.setLong(i, sv[i]);
        }
        assertArrayEquals(new long[] {32, 16, 254, 0}, run1(arena, "BitShift", 11, attrs("direction", "LEFT"), x, s).toLongArray());
        assertArrayEquals(new long[] {8, 1, 127, 0}, run1(arena, "BitShift", 11, attrs("direction", "RIGHT"), x, s).toLongArray());
        Tensor big = Tensor.allocate(arena, DType.UINT64, Shape.of(1));
        big.setLong(0, -1L);
        Tensor sh = Tensor.allocate(arena, DType.UINT64, Shape.of(1));
        sh.setLong(0, 60);
        assertEquals(15L, run1(arena, "BitShift", 11, attrs("direction", "RIGHT"), big, sh).getLong(0));
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "BitShift", 11, attrs("direction", "UP"), x, s));
        assertTrue(e.getMessage().contains("BitShift_0") && e.getMessage().contains("UP"), e.getMessage());
        Tensor a = Tensor.ofInts(arena, new int[] {0b1100, -1, 7}, 3);
        Tensor b = Tensor.ofInts(arena, new int[] {0b1010, 5, 0}, 3);
        assertArrayEquals(new long[] {0b1000, 5, 0}, run1(arena, "BitwiseAnd", 18, Attributes.empty(), a, b).toLongArray());
        assertArrayEquals(new long[] {0b1110, -1, 7}, run1(arena, "BitwiseOr", 18, Attributes.empty(), a, b).toLongArray());
        assertArrayEquals(new long[] {0b0110, -6, 7}, run1(arena, "BitwiseXor", 18, Attributes.empty(), a, b).toLongArray());
        assertArrayEquals(new long[] {~0b1100, 0, -8}, run1(arena, "BitwiseNot", 18, Attributes.empty(), a).toLongArray());
        assertArrayEquals(new long[] {255 - 16, 251, 0, 254}, run1(arena, "BitwiseNot", 18, Attributes.empty(), x).toLongArray());
    }

    @Test
    void whereBroadcastsThreeWays() {
        for (DType t : new DType[] {DType.FLOAT, DType.INT64, DType.UINT8, DType.FLOAT16}) {
            for (int iter = 0; iter < 20; iter++) {
                Shape[] s = BroadcastTest.randomPair(rnd, 3);
                Tensor c = random(DType.BOOL, s[1]);
                for (long i = 0; i < c.size(); i++) {
                    c.setLong(i, rnd.nextInt(2));
                }
                Tensor x = random(t, s[2]);
                Tensor y = random(t, s[3]);
                Shape os = Broadcast.shape(s[1], s[2], s[3]);
                Tensor o = run1(arena, "Where", 16, Attributes.empty(), c, x, y);
                assertEquals(os, o.shape());
                for (long f = 0; f < os.size(); f++) {
                    boolean take = c.getAsLong(BroadcastTest.refIndex(f, os, s[1])) != 0;
                    double want = take ? x.getDouble(BroadcastTest.refIndex(f, os, s[2])) : y.getDouble(BroadcastTest.refIndex(f, os, s[3]));
                    assertEquals(Double.doubleToLongBits(want), Double.doubleToLongBits(o.getDouble(f)), "Where " + t + " at " + f);
                }
            }
        }
        Tensor cs = Tensor.allocate(arena, DType.BOOL, Shape.of(2));
        cs.setLong(1, 1);
        Tensor ws = run1(arena, "Where", 16, Attributes.empty(), cs, Tensor.ofStrings(Shape.of(1), new String[] {"a"}),
                Tensor.ofStrings(Shape.of(2), new String[] {"b", "c"}));
        assertArrayEquals(new String[] {"b", "a"}, ws.strings());
    }
}
