package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SoftmaxOpsTest {
    private static final long[] SIZES = {1, 2, 3, 7, 17, 33};
    private static final String[] OPS = {"Softmax", "LogSoftmax", "Hardmax"};

    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(7);

    @AfterEach
    void close() {
        arena.close();
    }

    private Tensor run(String op, int opset, Long axis, Tensor x) {
        Attributes a = axis == null ? Attributes.empty() : new Attributes(Map.of("axis", new Attribute.Int(axis)));
        Planned p = OpRegistry.plan(NodeSpec.of(op, opset, a, 1, x.dtype()));
        return p.kernel().run(new ArenaContext(arena), new Tensor[] {x})[0];
    }

    private Tensor random(DType t, long[] dims, double scale) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
        for (long i = 0; i < x.size(); i++) {
            x.setDouble(i, scale * (2 * rnd.nextDouble() - 1));
        }
        return x;
    }

    /** Scalar reference over [outer, len, inner] sets, in double. */
    static double[] reference(String op, Tensor x, long outer, long len, long inner) {
        double[] y = new double[(int) x.size()];
        for (long o = 0; o < outer; o++) {
            for (long j = 0; j < inner; j++) {
                double m = Double.NEGATIVE_INFINITY;
                long arg = 0;
                for (long a = 0; a < len; a++) {
                    double v = x.getDouble((o * len + a) * inner + j);
                    if (v > m) {
                        m = v;
                        arg = a;
                    }
                }
                double s = 0;
                for (long a = 0; a < len; a++) {
                    s += Math.exp(x.getDouble((o * len + a) * inner + j) - m);
                }
                for (long a = 0; a < len; a++) {
                    int i = (int) ((o * len + a) * inner + j);
                    double v = x.getDouble(i);
                    y[i] = switch (op) {
                        case "Softmax" -> Math.exp(v - m) / s;
                        case "LogSoftmax" -> v - m - Math.log(s);
                        default -> a == arg ? 1 : 0;
                    };
                }
            }
        }
        return y;
    }

    private static void assertClose(double[] e, Tensor y, double tol, String what) {
        assertEquals(e.length, y.size(), what);
        for (int i = 0; i < e.length; i++) {
            assertEquals(e[i], y.getDouble(i), tol * (1 + Math.abs(e[i])), what + " at " + i);
        }
    }

    @Test
    void newOpsetsRunAlongOneAxis() {
        for (int trial = 0; trial < 40; trial++) {
            int rank = 1 + rnd.nextInt(4);
            long[] dims = new long[rank];
            for (int d = 0; d < rank; d++) {
                dims[d] = SIZES[rnd.nextInt(rank >= 3 ? 5 : SIZES.length)];
            }
            Tensor x = random(DType.FLOAT, dims, 5);
            Shape s = x.shape();
            for (int axis = -rank; axis < rank; axis++) {
                int a = axis < 0 ? axis + rank : axis;
                for (String op : OPS) {
                    for (int opset : new int[] {13, 18}) {
                        Tensor y = run(op, opset, (long) axis, x);
                        assertEquals(s, y.shape());
                        assertClose(reference(op, x, s.sizeOf(0, a), s.dim(a), s.sizeOf(a + 1, rank)), y, 1e-6,
                                op + "-" + opset + " " + s + " axis " + axis);
                    }
                }
            }
            for (String op : OPS) {
                assertClose(reference(op, x, s.sizeOf(0, rank - 1), s.dim(rank - 1), 1), run(op, 13, null, x), 1e-6,
                        op + " default axis " + s);
            }
        }
    }

    @Test
    void oldOpsetsCoerceTo2d() {
        for (int trial = 0; trial < 30; trial++) {
            int rank = 1 + rnd.nextInt(4);
            long[] dims = new long[rank];
            for (int d = 0; d < rank; d++) {
                dims[d] = SIZES[rnd.nextInt(rank >= 3 ? 5 : SIZES.length)];
            }
            Tensor x = random(DType.FLOAT, dims, 5);
            Shape s = x.shape();
            for (int axis = -rank; axis <= rank; axis++) {
                int a = axis < 0 ? axis + rank : axis;
                for (String op : OPS) {
                    Tensor y = run(op, 11, (long) axis, x);
                    assertClose(reference(op, x, s.sizeOf(0, a), s.sizeOf(a, rank), 1), y, 1e-6,
                            op + "-11 " + s + " axis " + axis);
                }
            }
            if (rank >= 1) {
                int a = Math.min(1, rank);
                for (String op : OPS) {
                    assertClose(reference(op, x, s.sizeOf(0, a), s.sizeOf(a, rank), 1), run(op, 1, null, x), 1e-6,
                            op + "-1 default axis " + s);
                }
            }
        }
    }

    @Test
    void miniLmAttentionShapeAndLargeNumbers() {
        Tensor x = random(DType.FLOAT, new long[] {2, 12, 37, 37}, 30);
        Tensor y = run("Softmax", 11, -1L, x);
        assertClose(reference("Softmax", x, 2 * 12 * 37, 37, 1), y, 1e-6, "Softmax-11 rank 4");
        Tensor big = Tensor.ofFloats(arena, new float[] {0, 1, 2, 3, 10000, 10001, 10002, 10003}, 2, 4);
        Tensor s = run("Softmax", 13, null, big);
        assertClose(reference("Softmax", big, 2, 4, 1), s, 1e-6, "large");
        Tensor l = run("LogSoftmax", 13, null, big);
        assertClose(reference("LogSoftmax", big, 2, 4, 1), l, 1e-6, "large log");
        Tensor longRow = random(DType.FLOAT, new long[] {3, 5000}, 10);
        assertClose(reference("Softmax", longRow, 3, 5000, 1), run("Softmax", 13, null, longRow), 1e-5, "long row");
    }

    @Test
    void hardmaxPicksFirstMaximum() {
        Tensor x = Tensor.ofFloats(arena, new float[] {1, 3, 3, 2, 0, 0, 0, 0}, 2, 4);
        assertArrayEquals(new float[] {0, 1, 0, 0, 1, 0, 0, 0}, run("Hardmax", 13, null, x).toFloatArray());
        Tensor c = Tensor.ofFloats(arena, new float[] {1, 5, 5, 2, 5, 5}, 3, 2);
        assertArrayEquals(new float[] {0, 1, 1, 0, 0, 0}, run("Hardmax", 13, 0L, c).toFloatArray());
    }

    @Test
    void otherFloatTypes() {
        for (DType t : new DType[] {DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16}) {
            Tensor x = random(t, new long[] {3, 7, 5}, 3);
            double tol = t == DType.DOUBLE ? 1e-12 : t == DType.FLOAT16 ? 2e-3 : 1e-2;
            for (String op : OPS) {
                Tensor y = run(op, 13, 1L, x);
                assertEquals(t, y.dtype());
                assertClose(reference(op, x, 3, 7, 5), y, tol, op + " " + t);
                Tensor old = run(op, 9, 1L, x);
                assertClose(reference(op, x, 3, 35, 1), old, tol, op + "-9 " + t);
            }
        }
    }

    @Test
    void errorsNameTheNode() {
        Tensor x = random(DType.FLOAT, new long[] {2, 3}, 1);
        EngineException e = assertThrows(EngineException.class, () -> run("Softmax", 13, 2L, x));
        assertTrue(e.getMessage().contains("Softmax_0") && e.getMessage().contains("[2,3]"), e.getMessage());
        e = assertThrows(EngineException.class, () -> run("LogSoftmax", 11, 3L, x));
        assertTrue(e.getMessage().contains("LogSoftmax_0"), e.getMessage());
        e = assertThrows(EngineException.class, () -> OpRegistry.plan(NodeSpec.of("Hardmax", 13, Attributes.empty(), 1, DType.INT32)));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("Hardmax_0"), e.getMessage());
    }
}
