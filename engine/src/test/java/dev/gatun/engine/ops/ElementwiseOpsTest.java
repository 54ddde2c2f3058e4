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
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The float32 vector paths against scalar references, broadcasting patterns, other dtypes and opsets. */
class ElementwiseOpsTest {
    private static final long[] LENGTHS = {1, 7, 17, 33, 100};
    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(42);

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor randomFloats(Shape s, double lo, double hi) {
        Tensor t = Tensor.allocate(arena, DType.FLOAT, s);
        for (long i = 0; i < t.size(); i++) {
            t.setDouble(i, lo + (hi - lo) * rnd.nextDouble());
        }
        return t;
    }

    private Tensor typed(DType t, Shape s, long lo, long hi) {
        Tensor x = Tensor.allocate(arena, t, s);
        for (long i = 0; i < x.size(); i++) {
            x.setLong(i, lo + (long) (rnd.nextDouble() * (hi - lo)));
        }
        return x;
    }

    private static void assertClose(double want, double got, double rtol, double atol, String what) {
        if (Double.isNaN(want)) {
            assertTrue(Double.isNaN(got), what + ": want NaN, got " + got);
            return;
        }
        if (Double.isInfinite(want)) {
            assertEquals(want, got, what);
            return;
        }
        assertTrue(Math.abs(want - got) <= atol + rtol * Math.abs(want), what + ": want " + want + ", got " + got);
    }

    /** Runs a binary op on broadcast float inputs and checks every element against {@code ref}. */
    private void checkBinaryF32(String op, DoubleBinaryOperator ref, double rtol) {
        for (int iter = 0; iter < 60; iter++) {
            Shape[] s = BroadcastTest.randomPair(rnd, 2);
            if (iter % 3 == 0) {
                s[1] = s[0];
            }
            Tensor a = randomFloats(s[1], -3, 3);
            Tensor b = randomFloats(s[2], 0.5, 3);
            Tensor out = run1(arena, op, 14, Attributes.empty(), a, b);
            Shape os = Broadcast.shape(s[1], s[2]);
            assertEquals(os, out.shape());
            for (long f = 0; f < os.size(); f++) {
                double x = a.getFloat(BroadcastTest.refIndex(f, os, s[1]));
                double y = b.getFloat(BroadcastTest.refIndex(f, os, s[2]));
                assertClose((float) ref.applyAsDouble(x, y), out.getFloat(f), rtol, 0, op + " " + s[1] + "," + s[2] + " at " + f);
            }
        }
    }

    @Test
    void floatArithmeticMatchesScalarOnBroadcastShapes() {
        checkBinaryF32("Add", (x, y) -> (float) x + (float) y, 0);
        checkBinaryF32("Sub", (x, y) -> (float) x - (float) y, 0);
        checkBinaryF32("Mul", (x, y) -> (float) x * (float) y, 0);
        checkBinaryF32("Div", (x, y) -> (float) x / (float) y, 0);
        checkBinaryF32("Pow", Math::pow, 1e-6);
        checkBinaryF32("Max", Math::max, 0);
        checkBinaryF32("Min", Math::min, 0);
    }

    @Test
    void minMaxPropagateNaNInVectorLanesAndTails() {
        for (long n : LENGTHS) {
            float[] a = new float[(int) n];
            float[] b = new float[(int) n];
            for (int i = 0; i < n; i++) {
                a[i] = i % 3 == 0 ? Float.NaN : i;
                b[i] = i % 5 == 0 ? Float.NaN : -i;
            }
            Tensor ta = Tensor.ofFloats(arena, a, n);
            Tensor tb = Tensor.ofFloats(arena, b, n);
            for (String op : new String[] {"Min", "Max"}) {
                Tensor o = run1(arena, op, 13, Attributes.empty(), ta, tb);
                for (int i = 0; i < n; i++) {
                    boolean nan = i % 3 == 0 || i % 5 == 0;
                    assertEquals(nan, Float.isNaN(o.getFloat(i)), op + " n=" + n + " at " + i);
                }
            }
        }
    }

    @Test
    void variadicOpsBroadcastThreeInputs() {
        Tensor a = randomFloats(Shape.of(3, 1), -2, 2);
        Tensor b = randomFloats(Shape.of(1, 17), -2, 2);
        Tensor c = randomFloats(Shape.of(17), -2, 2);
        Shape os = Shape.of(3, 17);
        Map<String, DoubleBinaryOperator> folds = Map.of("Sum", Double::sum, "Max", Math::max, "Min", Math::min, "Mean", Double::sum);
        for (var e : folds.entrySet()) {
            Tensor o = run1(arena, e.getKey(), 13, Attributes.empty(), a, b, c);
            assertEquals(os, o.shape());
            for (long f = 0; f < os.size(); f++) {
                double x = a.getFloat(BroadcastTest.refIndex(f, os, a.shape()));
                double y = b.getFloat(BroadcastTest.refIndex(f, os, b.shape()));
                double z = c.getFloat(BroadcastTest.refIndex(f, os, c.shape()));
                double r = e.getValue().applyAsDouble(e.getValue().applyAsDouble(x, y), z);
                if (e.getKey().equals("Mean")) {
                    r /= 3;
                }
                assertClose(r, o.getFloat(f), 1e-6, 1e-6, e.getKey() + " at " + f);
            }
        }
        Tensor one = run1(arena, "Sum", 8, Attributes.empty(), c);
        assertArrayEquals(c.toFloatArray(), one.toFloatArray());
        Tensor mixed = run1(arena, "Max", 13, Attributes.empty(), Tensor.ofInts(arena, new int[] {1, -5, 3}, 3),
                Tensor.ofInts(arena, new int[] {0, 4, 9}, 3), Tensor.ofInts(arena, new int[] {2}, 1));
        assertArrayEquals(new long[] {2, 4, 9}, mixed.toLongArray());
    }

    @Test
    void integerArithmeticTruncatesAndWraps() {
        Tensor a = Tensor.ofInts(arena, new int[] {7, -7, 7, -7, Integer.MAX_VALUE}, 5);
        Tensor b = Tensor.ofInts(arena, new int[] {2, 2, -2, -2, 1}, 5);
        assertArrayEquals(new long[] {3, -3, -3, 3, Integer.MAX_VALUE}, run1(arena, "Div", 14, Attributes.empty(), a, b).toLongArray());
        assertArrayEquals(new long[] {9, -5, 5, -9, Integer.MIN_VALUE}, run1(arena, "Add", 14, Attributes.empty(), a, b).toLongArray());
        assertArrayEquals(new long[] {1, 1, -1, -1, 0}, run1(arena, "Mod", 13, Attributes.empty(), a, b).toLongArray());
        assertArrayEquals(new long[] {1, -1, 1, -1, 0}, run1(arena, "Mod", 13, attrs("fmod", 1L), a, b).toLongArray());
        Tensor u = typed(DType.UINT8, Shape.of(3), 0, 0);
        u.setLong(0, 200);
        u.setLong(1, 250);
        u.setLong(2, 3);
        Tensor v = typed(DType.UINT8, Shape.of(3), 0, 0);
        v.setLong(0, 100);
        v.setLong(1, 10);
        v.setLong(2, 7);
        assertArrayEquals(new long[] {44, 4, 10}, run1(arena, "Add", 14, Attributes.empty(), u, v).toLongArray());
        assertArrayEquals(new long[] {2, 25, 0}, run1(arena, "Div", 14, Attributes.empty(), u, v).toLongArray());
        Tensor big = Tensor.allocate(arena, DType.UINT64, Shape.of(1));
        big.setLong(0, -2L);
        Tensor two = Tensor.allocate(arena, DType.UINT64, Shape.of(1));
        two.setLong(0, 2);
        assertEquals(Long.MAX_VALUE, run1(arena, "Div", 14, Attributes.empty(), big, two).getLong(0));
        assertEquals(-2L, run1(arena, "Max", 13, Attributes.empty(), big, two).getLong(0));
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "Div", 14, Attributes.empty(), a,
                Tensor.ofInts(arena, new int[] {0}, 1)));
        assertTrue(e.getMessage().contains("Div_0") && e.getMessage().contains("zero"), e.getMessage());
    }

    @Test
    void modFloatAndPowMixedTypes() {
        Tensor x = Tensor.ofFloats(arena, new float[] {-4.3f, 7.2f, 5.0f, 4.3f, -7.2f, 8.0f}, 6);
        Tensor y = Tensor.ofFloats(arena, new float[] {2.1f, -3.4f, 8.0f, -2.1f, 3.4f, 5.0f}, 6);
        float[] fmod = run1(arena, "Mod", 13, attrs("fmod", 1L), x, y).toFloatArray();
        float[] pymod = run1(arena, "Mod", 13, Attributes.empty(), x, y).toFloatArray();
        for (int i = 0; i < 6; i++) {
            double r = (double) x.getFloat(i) % y.getFloat(i);
            assertEquals((float) r, fmod[i], 1e-6);
            double p = r != 0 && (r < 0) != (y.getFloat(i) < 0) ? r + y.getFloat(i) : r;
            assertEquals((float) p, pymod[i], 1e-6);
        }
        Tensor base = Tensor.ofFloats(arena, new float[] {1, 2, 3}, 3);
        Tensor e = Tensor.ofLongs(arena, new long[] {4, 5, 6}, 3);
        assertArrayEquals(new float[] {1, 32, 729}, run1(arena, "Pow", 15, Attributes.empty(), base, e).toFloatArray());
        Tensor ib = Tensor.ofLongs(arena, new long[] {2, -3, 5}, 3);
        assertArrayEquals(new long[] {16, -243, 15625}, run1(arena, "Pow", 15, Attributes.empty(), ib, e).toLongArray());
        Tensor fe = Tensor.ofFloats(arena, new float[] {0.5f, 2f, 1.5f}, 3);
        Tensor ipos = Tensor.ofLongs(arena, new long[] {4, 3, 4}, 3);
        assertArrayEquals(new long[] {2, 9, 8}, run1(arena, "Pow", 15, Attributes.empty(), ipos, fe).toLongArray());
        Tensor sq = run1(arena, "Pow", 13, Attributes.empty(), randomFloats(Shape.of(2, 17), -3, 3),
                Tensor.ofFloats(arena, new float[] {2f}));
        assertEquals(Shape.of(2, 17), sq.shape());
    }

    @Test
    void otherFloatTypesGoThroughDouble() {
        for (DType t : new DType[] {DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16}) {
            Tensor a = Tensor.allocate(arena, t, Shape.of(2, 7));
            Tensor b = Tensor.allocate(arena, t, Shape.of(7));
            for (int i = 0; i < 14; i++) {
                a.setDouble(i, i * 0.5 - 3);
            }
            for (int i = 0; i < 7; i++) {
                b.setDouble(i, i + 1);
            }
            Tensor o = run1(arena, "Mul", 14, Attributes.empty(), a, b);
            assertEquals(t, o.dtype());
            for (int i = 0; i < 14; i++) {
                assertEquals((i * 0.5 - 3) * (i % 7 + 1), o.getDouble(i), 1e-2, t + " at " + i);
            }
            Tensor s = run1(arena, "Sigmoid", 13, Attributes.empty(), a);
            for (int i = 0; i < 14; i++) {
                assertEquals(1 / (1 + Math.exp(-(i * 0.5 - 3))), s.getDouble(i), 1e-2, t + " sigmoid at " + i);
            }
        }
    }

    @Test
    void legacyBroadcastAttributeBeforeOpset7() {
        Tensor a = randomFloats(Shape.of(2, 3, 4), -1, 1);
        Tensor b = randomFloats(Shape.of(3), -1, 1);
        Tensor o = run1(arena, "Add", 6, attrs("broadcast", 1L, "axis", 1L), a, b);
        for (int f = 0; f < 24; f++) {
            assertEquals(a.getFloat(f) + b.getFloat(f / 4 % 3), o.getFloat(f), 0);
        }
        Tensor c = randomFloats(Shape.of(4), -1, 1);
        Tensor o2 = run1(arena, "Sub", 1, attrs("broadcast", 1L), a, c);
        for (int f = 0; f < 24; f++) {
            assertEquals(a.getFloat(f) - c.getFloat(f % 4), o2.getFloat(f), 0);
        }
        assertThrows(EngineException.class, () -> run1(arena, "Mul", 6, attrs("broadcast", 1L, "axis", 0L), a, c));
    }

    @Test
    void incompatibleShapesNameTheNode() {
        Tensor a = randomFloats(Shape.of(2, 3), 0, 1);
        Tensor b = randomFloats(Shape.of(4), 0, 1);
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "Add", 14, Attributes.empty(), a, b));
        assertTrue(e.getMessage().contains("Add_0") && e.getMessage().contains("[2,3]"), e.getMessage());
        EngineException t = assertThrows(EngineException.class, () -> run1(arena, "Add", 14, Attributes.empty(), a,
                Tensor.ofInts(arena, new int[] {1}, 1)));
        assertEquals(EngineException.Kind.UNSUPPORTED, t.kind());
    }

    @Test
    void expandBroadcastsBothWays() {
        Tensor x = randomFloats(Shape.of(3, 1), 0, 1);
        Tensor o = run1(arena, "Expand", 13, Attributes.empty(), x, Tensor.ofLongs(arena, new long[] {2, 1, 6}, 3));
        assertEquals(Shape.of(2, 3, 6), o.shape());
        for (int f = 0; f < 36; f++) {
            assertEquals(x.getFloat(f / 6 % 3), o.getFloat(f), 0);
        }
        Tensor l = Tensor.ofLongs(arena, new long[] {5, 6, 7}, 1, 3);
        Tensor lo = run1(arena, "Expand", 8, Attributes.empty(), l, Tensor.ofLongs(arena, new long[] {4, 1}, 2));
        assertEquals(Shape.of(4, 3), lo.shape());
        assertArrayEquals(new long[] {5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6, 7}, lo.toLongArray());
        assertThrows(EngineException.class, () -> run1(arena, "Expand", 13, Attributes.empty(), x,
                Tensor.ofLongs(arena, new long[] {2, 4}, 2)));
    }

    /** A unary op, its attributes, input range and double reference. */
    private record Unary(String op, int opset, Attributes attrs, double lo, double hi, DoubleUnaryOperator ref) {}

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private static double erfRef(double x) {
        if (Math.abs(x) >= 4) {
            return Math.signum(x);
        }
        double sum = 0;
        double term = x;
        for (int n = 0; n < 200; n++) {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    private static double softplus(double x) {
        return Math.log(1 + Math.exp(x));
    }

    @Test
    void unaryFloatOpsMatchReferenceAtEveryLength() {
        Attributes none = Attributes.empty();
        Unary[] ops = {
            new Unary("Abs", 13, none, -5, 5, Math::abs),
            new Unary("Neg", 13, none, -5, 5, x -> -x),
            new Unary("Reciprocal", 13, none, 0.5, 5, x -> 1 / x),
            new Unary("Sqrt", 13, none, 0, 9, Math::sqrt),
            new Unary("Exp", 13, none, -10, 10, Math::exp),
            new Unary("Log", 13, none, 0.01, 100, Math::log),
            new Unary("Erf", 13, none, -5, 5, ElementwiseOpsTest::erfRef),
            new Unary("Sin", 7, none, -7, 7, Math::sin),
            new Unary("Cos", 7, none, -7, 7, Math::cos),
            new Unary("Tan", 7, none, -1.5, 1.5, Math::tan),
            new Unary("Asin", 7, none, -1, 1, Math::asin),
            new Unary("Acos", 7, none, -1, 1, Math::acos),
            new Unary("Atan", 7, none, -9, 9, Math::atan),
            new Unary("Sinh", 9, none, -5, 5, Math::sinh),
            new Unary("Cosh", 9, none, -5, 5, Math::cosh),
            new Unary("Asinh", 9, none, -50, 50, x -> Math.log(x + Math.sqrt(x * x + 1))),
            new Unary("Acosh", 9, none, 1, 50, x -> Math.log(x + Math.sqrt(x * x - 1))),
            new Unary("Atanh", 9, none, -0.99, 0.99, x -> 0.5 * Math.log((1 + x) / (1 - x))),
            new Unary("Floor", 13, none, -5, 5, Math::floor),
            new Unary("Ceil", 13, none, -5, 5, Math::ceil),
            new Unary("Sign", 13, none, -5, 5, Math::signum),
            new Unary("Relu", 14, none, -5, 5, x -> Math.max(0, x)),
            new Unary("LeakyRelu", 16, attrs("alpha", 0.1f), -5, 5, x -> x < 0 ? 0.1f * x : x),
            new Unary("Elu", 6, attrs("alpha", 0.7f), -5, 5, x -> x < 0 ? 0.7f * (Math.exp(x) - 1) : x),
            new Unary("Selu", 6, none, -5, 5, x -> 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1))),
            new Unary("Celu", 12, attrs("alpha", 2f), -5, 5, x -> Math.max(0, x) + Math.min(0, 2 * (Math.exp(x / 2) - 1))),
            new Unary("ThresholdedRelu", 10, attrs("alpha", 0.5f), -5, 5, x -> x > 0.5 ? x : 0),
            new Unary("Sigmoid", 13, none, -30, 30, ElementwiseOpsTest::sigmoid),
            new Unary("HardSigmoid", 6, attrs("alpha", 0.3f, "beta", 0.4f), -5, 5, x -> Math.max(0, Math.min(1, 0.3f * x + 0.4f))),
            new Unary("HardSwish", 14, none, -5, 5, x -> x * Math.max(0, Math.min(1, x / 6 + 0.5))),
            new Unary("Softplus", 1, none, -20, 40, ElementwiseOpsTest::softplus),
            new Unary("Softsign", 1, none, -5, 5, x -> x / (1 + Math.abs(x))),
            new Unary("Tanh", 13, none, -10, 10, Math::tanh),
            new Unary("Gelu", 20, none, -6, 6, x -> 0.5 * x * (1 + erfRef(x / Math.sqrt(2)))),
            new Unary("Gelu", 20, attrs("approximate", "tanh"), -6, 6,
                    x -> 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))),
            new Unary("Mish", 18, none, -10, 10, x -> x * Math.tanh(softplus(x))),
            new Unary("Swish", 24, attrs("alpha", 1.5f), -10, 10, x -> x * sigmoid(1.5 * x)),
            new Unary("Shrink", 9, attrs("lambd", 1.5f, "bias", 0.5f), -5, 5, x -> x < -1.5 ? x + 0.5 : x > 1.5 ? x - 0.5 : 0),
            new Unary("Clip", 6, attrs("min", -1f, "max", 2f), -5, 5, x -> Math.min(Math.max(x, -1), 2)),
        };
        for (Unary u : ops) {
            for (long n : LENGTHS) {
                Tensor x = randomFloats(Shape.of(n), u.lo(), u.hi());
                Tensor o = run1(arena, u.op(), u.opset(), u.attrs(), x);
                assertEquals(x.shape(), o.shape());
                for (int i = 0; i < n; i++) {
                    double want = u.ref().applyAsDouble(x.getFloat(i));
                    assertClose(want, o.getFloat(i), 2e-6, 2e-6, u.op() + " " + u.attrs() + " n=" + n + " x=" + x.getFloat(i));
                }
            }
        }
    }

    @Test
    void roundIsHalfToEvenAndSpecialValues() {
        Tensor x = Tensor.ofFloats(arena, new float[] {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f, Float.NaN}, 8);
        float[] r = run1(arena, "Round", 11, Attributes.empty(), x).toFloatArray();
        assertArrayEquals(new float[] {0, 2, 2, -0f, -2, 2, -3, Float.NaN}, r);
        Tensor s = Tensor.ofFloats(arena, new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1f}, 4);
        assertArrayEquals(new long[] {1, 0, 0, 0}, run1(arena, "IsNaN", 13, Attributes.empty(), s).toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 0}, run1(arena, "IsInf", 10, Attributes.empty(), s).toLongArray());
        assertArrayEquals(new long[] {0, 1, 0, 0}, run1(arena, "IsInf", 20, attrs("detect_negative", 0L), s).toLongArray());
        assertArrayEquals(new long[] {0, 0, 1, 0}, run1(arena, "IsInf", 20, attrs("detect_positive", 0L), s).toLongArray());
        float[] relu = run1(arena, "Relu", 13, Attributes.empty(), s).toFloatArray();
        assertTrue(Float.isNaN(relu[0]));
        assertEquals(0f, relu[2]);
    }

    @Test
    void integerUnaryOps() {
        Tensor x = Tensor.ofLongs(arena, new long[] {-3, 0, 5, Long.MIN_VALUE}, 4);
        assertArrayEquals(new long[] {3, 0, 5, Long.MIN_VALUE}, run1(arena, "Abs", 13, Attributes.empty(), x).toLongArray());
        assertArrayEquals(new long[] {3, 0, -5, Long.MIN_VALUE}, run1(arena, "Neg", 13, Attributes.empty(), x).toLongArray());
        assertArrayEquals(new long[] {-1, 0, 1, -1}, run1(arena, "Sign", 13, Attributes.empty(), x).toLongArray());
        assertArrayEquals(new long[] {0, 0, 5, 0}, run1(arena, "Relu", 14, Attributes.empty(), x).toLongArray());
        Tensor i8 = typed(DType.INT8, Shape.of(3), 0, 0);
        i8.setLong(0, -128);
        i8.setLong(1, 100);
        i8.setLong(2, -7);
        assertArrayEquals(new long[] {-128, -100, 7}, run1(arena, "Neg", 13, Attributes.empty(), i8).toLongArray());
        assertThrows(EngineException.class, () -> run1(arena, "Sqrt", 13, Attributes.empty(), x));
    }

    @Test
    void clipAcrossOpsets() {
        Tensor x = Tensor.ofFloats(arena, new float[] {-3, -1, 0, 1, 3, Float.NaN, Float.NEGATIVE_INFINITY}, 7);
        float[] v6 = run1(arena, "Clip", 6, Attributes.empty(), x).toFloatArray();
        assertEquals(-Float.MAX_VALUE, v6[6]);
        float[] v11 = run1(arena, "Clip", 11, Attributes.empty(), x, Tensor.ofFloats(arena, new float[] {-2f}), null).toFloatArray();
        assertArrayEquals(new float[] {-2, -1, 0, 1, 3, Float.NaN, -2}, v11);
        float[] maxOnly = run1(arena, "Clip", 13, Attributes.empty(), x, null, Tensor.ofFloats(arena, new float[] {0.5f})).toFloatArray();
        assertArrayEquals(new float[] {-3, -1, 0, 0.5f, 0.5f, Float.NaN, Float.NEGATIVE_INFINITY}, maxOnly);
        float[] swapped = run1(arena, "Clip", 13, Attributes.empty(), x, Tensor.ofFloats(arena, new float[] {2f}),
                Tensor.ofFloats(arena, new float[] {1f})).toFloatArray();
        assertEquals(1f, swapped[0]);
        assertEquals(1f, swapped[4]);
        Tensor i = typed(DType.INT8, Shape.of(17), -100, 100);
        Tensor lo = typed(DType.INT8, Shape.scalar(), -5, -4);
        Tensor hi = typed(DType.INT8, Shape.scalar(), 9, 10);
        long[] c = run1(arena, "Clip", 12, Attributes.empty(), i, lo, hi).toLongArray();
        for (int k = 0; k < 17; k++) {
            assertEquals(Math.min(Math.max(i.getAsLong(k), -5), 9), c[k]);
        }
        assertThrows(EngineException.class, () -> run1(arena, "Clip", 13, Attributes.empty(), x,
                Tensor.ofFloats(arena, new float[] {1, 2}, 2), null));
    }

    @Test
    void preluBroadcastsSlopeAndOldOpsetsGoPerChannel() {
        Tensor x = randomFloats(Shape.of(2, 3, 17), -2, 2);
        Tensor slope = randomFloats(Shape.of(17), 0, 1);
        Tensor o = run1(arena, "PRelu", 16, Attributes.empty(), x, slope);
        for (int f = 0; f < 102; f++) {
            float v = x.getFloat(f);
            assertEquals(v < 0 ? v * slope.getFloat(f % 17) : v, o.getFloat(f), 0);
        }
        Tensor ch = randomFloats(Shape.of(3), 0, 1);
        Tensor o6 = run1(arena, "PRelu", 6, Attributes.empty(), x, ch);
        for (int f = 0; f < 102; f++) {
            float v = x.getFloat(f);
            assertEquals(v < 0 ? v * ch.getFloat(f / 17 % 3) : v, o6.getFloat(f), 0);
        }
        assertThrows(EngineException.class, () -> run1(arena, "PRelu", 16, Attributes.empty(), x, ch));
    }

    @Test
    void badAttributesAreRefusedNamingTheNode() {
        Tensor x = randomFloats(Shape.of(3), 0, 1);
        EngineException g = assertThrows(EngineException.class, () -> run1(arena, "Gelu", 20, attrs("approximate", "fast"), x));
        assertTrue(g.getMessage().contains("Gelu_0") && g.getMessage().contains("fast"), g.getMessage());
        EngineException m = assertThrows(EngineException.class, () -> run1(arena, "Mod", 13, attrs("fmod", 2L), x, x));
        assertTrue(m.getMessage().contains("Mod_0"), m.getMessage());
        EngineException v = assertThrows(EngineException.class, () -> run1(arena, "Gelu", 18, Attributes.empty(), x));
        assertEquals(EngineException.Kind.UNSUPPORTED, v.kind());
    }
}
