package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ReduceOpsTest {
    private static final String[] OPS = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
            "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"};
    private static final long[] SIZES = {1, 2, 3, 7, 17, 33};

    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(42);

    @AfterEach
    void close() {
        arena.close();
    }

    // ---- helpers ----

    private static Attributes attrs(Object... kv) {
        Map<String, Attribute> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            m.put((String) kv[i], v instanceof long[] l ? new Attribute.Ints(l) : v instanceof Float f ? new Attribute.Float(f)
                    : new Attribute.Int(((Number) v).longValue()));
        }
        return new Attributes(m);
    }

    private Tensor run(String op, int opset, Attributes a, Tensor... in) {
        DType[] types = new DType[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i] == null ? null : in[i].dtype();
        }
        Planned p = OpRegistry.plan(NodeSpec.of(op, opset, a, 1, types));
        Tensor y = p.kernel().run(new ArenaContext(arena), in)[0];
        assertEquals(p.outputTypes()[0], y.dtype());
        return y;
    }

    /** Runs with axes as an attribute (old opsets) or as an input (new ones). */
    private Tensor reduce(String op, int opset, Tensor x, long[] axes, boolean keep) {
        boolean asInput = opset >= (op.equals("ReduceSum") ? 13 : 18);
        if (asInput) {
            Tensor ax = axes == null ? null : Tensor.ofLongs(arena, axes, axes.length);
            return ax == null ? run(op, opset, attrs("keepdims", keep ? 1 : 0), x)
                    : run(op, opset, attrs("keepdims", keep ? 1 : 0), x, ax);
        }
        return axes == null ? run(op, opset, attrs("keepdims", keep ? 1 : 0), x)
                : run(op, opset, attrs("keepdims", keep ? 1 : 0, "axes", axes), x);
    }

    private Tensor random(DType t, long[] dims, double lo, double hi) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
        for (long i = 0; i < x.size(); i++) {
            x.setDouble(i, t.isFloating() ? lo + (hi - lo) * rnd.nextDouble() : Math.floor(lo + (hi - lo + 1) * rnd.nextDouble()));
        }
        return x;
    }

    /** Scalar reference: collects the values of each output position and reduces them in double. */
    static double[] reference(String op, Tensor x, boolean[] red) {
        long[] dims = x.shape().dims();
        long outSize = 1;
        for (int d = 0; d < dims.length; d++) {
            outSize *= red[d] ? 1 : dims[d];
        }
        List<List<Double>> sets = new ArrayList<>();
        for (int i = 0; i < outSize; i++) {
            sets.add(new ArrayList<>());
        }
        int[] idx = new int[dims.length];
        for (long i = 0; i < x.size(); i++) {
            long o = 0;
            for (int d = 0; d < dims.length; d++) {
                o = o * (red[d] ? 1 : dims[d]) + (red[d] ? 0 : idx[d]);
            }
            sets.get((int) o).add(x.getDouble(i));
            for (int d = dims.length - 1; d >= 0; d--) {
                if (++idx[d] < dims[d]) {
                    break;
                }
                idx[d] = 0;
            }
        }
        double[] out = new double[(int) outSize];
        for (int o = 0; o < outSize; o++) {
            List<Double> s = sets.get(o);
            double sum = 0;
            double abs = 0;
            double sq = 0;
            double prod = 1;
            double max = Double.NEGATIVE_INFINITY;
            double min = Double.POSITIVE_INFINITY;
            for (double v : s) {
                sum += v;
                abs += Math.abs(v);
                sq += v * v;
                prod *= v;
                max = Math.max(max, v);
                min = Math.min(min, v);
            }
            double lse = 0;
            for (double v : s) {
                lse += Math.exp(v - max);
            }
            out[o] = switch (op) {
                case "ReduceSum" -> sum;
                case "ReduceMean" -> sum / s.size();
                case "ReduceMax" -> max;
                case "ReduceMin" -> min;
                case "ReduceProd" -> prod;
                case "ReduceL1" -> abs;
                case "ReduceL2" -> Math.sqrt(sq);
                case "ReduceLogSum" -> Math.log(sum);
                case "ReduceLogSumExp" -> max + Math.log(lse);
                case "ReduceSumSquare" -> sq;
                default -> throw new IllegalArgumentException(op);
            };
        }
        return out;
    }

    private static long[] expectedDims(long[] dims, boolean[] red, boolean keep) {
        List<Long> l = new ArrayList<>();
        for (int d = 0; d < dims.length; d++) {
            if (!red[d]) {
                l.add(dims[d]);
            } else if (keep) {
                l.add(1L);
            }
        }
        return l.stream().mapToLong(Long::longValue).toArray();
    }

    private static void assertClose(double[] expected, Tensor y, double tol, String what) {
        assertEquals(expected.length, y.size(), what);
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            double g = y.getDouble(i);
            assertTrue(Math.abs(e - g) <= tol * (1 + Math.abs(e)) || (Double.isNaN(e) && Double.isNaN(g)) || e == g,
                    what + " at " + i + ": expected " + e + ", got " + g);
        }
    }

    // ---- tests ----

    @Test
    void randomShapesAllOpsAllAxesOldAndNewOpsets() {
        for (int trial = 0; trial < 60; trial++) {
            int rank = 1 + rnd.nextInt(4);
            long[] dims = new long[rank];
            for (int d = 0; d < rank; d++) {
                dims[d] = SIZES[rnd.nextInt(rank >= 3 ? 4 : SIZES.length)];
            }
            boolean[] red = new boolean[rank];
            List<Long> axes = new ArrayList<>();
            for (int d = 0; d < rank; d++) {
                if (rnd.nextBoolean()) {
                    red[d] = true;
                    axes.add(rnd.nextBoolean() ? d : (long) d - rank);
                }
            }
            boolean all = axes.isEmpty();
            if (all) {
                java.util.Arrays.fill(red, true);
            }
            long[] ax = axes.stream().mapToLong(Long::longValue).toArray();
            boolean keep = rnd.nextBoolean();
            for (String op : OPS) {
                boolean positive = op.equals("ReduceLogSum") || op.equals("ReduceProd");
                Tensor x = random(DType.FLOAT, dims, positive ? 0.5 : -2, positive ? 1.5 : 2);
                double[] expected = reference(op, x, red);
                for (int opset : new int[] {11, 13, 18}) {
                    Tensor y = reduce(op, opset, x, all ? null : ax, keep);
                    String what = op + "-" + opset + " " + Shape.of(dims) + " axes " + axes + " keep " + keep;
                    assertArrayEquals(expectedDims(dims, red, keep), y.shape().dims(), what);
                    assertClose(expected, y, 2e-5, what);
                }
            }
        }
    }

    @Test
    void longRowsKeepAccuracy() {
        long[][] shapes = {{3, 10007}, {10007, 5}, {5, 2049, 3}};
        for (long[] dims : shapes) {
            Tensor x = random(DType.FLOAT, dims, 0, 1);
            for (int axis = 0; axis < dims.length; axis++) {
                boolean[] red = new boolean[dims.length];
                red[axis] = true;
                for (String op : new String[] {"ReduceSum", "ReduceMean", "ReduceL2", "ReduceLogSumExp", "ReduceMax"}) {
                    Tensor y = reduce(op, 18, x, new long[] {axis}, false);
                    assertClose(reference(op, x, red), y, 2e-6, op + " " + Shape.of(dims) + " axis " + axis);
                }
            }
        }
    }

    @Test
    void otherDtypes() {
        DType[] types = {DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT32, DType.INT64, DType.UINT8, DType.INT8};
        long[] dims = {3, 7, 5};
        for (DType t : types) {
            boolean unsigned = t == DType.UINT8;
            for (String op : OPS) {
                boolean positive = op.equals("ReduceLogSum") || op.equals("ReduceProd") || unsigned;
                Tensor x = t.isFloating() ? random(t, dims, positive ? 0.5 : -2, positive ? 1.5 : 2)
                        : random(t, dims, positive ? 1 : -3, 3);
                for (long[] axes : new long[][] {{1}, {0, 2}, {-1}}) {
                    boolean[] red = new boolean[3];
                    for (long a : axes) {
                        red[(int) (a < 0 ? a + 3 : a)] = true;
                    }
                    double[] expected = reference(op, x, red);
                    if (!t.isFloating()) {
                        for (int i = 0; i < expected.length; i++) {
                            expected[i] = op.equals("ReduceMean") ? (long) expected[i] : expected[i];
                        }
                    }
                    Tensor y = reduce(op, 18, x, axes, true);
                    assertEquals(t, y.dtype());
                    String what = op + " " + t + " axes " + java.util.Arrays.toString(axes);
                    if (t.isFloating()) {
                        double tol = t == DType.DOUBLE ? 1e-12 : t == DType.FLOAT16 ? 2e-3 : 1e-2;
                        assertClose(expected, y, tol, what);
                    } else {
                        for (int i = 0; i < expected.length; i++) {
                            long e = (long) expected[i];
                            if (op.equals("ReduceLogSum") || op.equals("ReduceLogSumExp") || op.equals("ReduceL2")) {
                                assertEquals(e, y.getAsLong(i), 1, what);
                            } else {
                                long wrapped = t == DType.UINT8 ? e & 0xff : t == DType.INT8 ? (byte) e : t == DType.INT32 ? (int) e : e;
                                assertEquals(wrapped, y.getAsLong(i), what + " at " + i);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void int64SumIsExact() {
        long big = 1L << 60;
        Tensor x = Tensor.ofLongs(arena, new long[] {big, 1, -big, 3}, 4);
        assertEquals(4, run("ReduceSum", 13, attrs("keepdims", 0), x).getAsLong(0));
        Tensor p = Tensor.ofLongs(arena, new long[] {1L << 40, 3, -5, 1}, 4);
        assertEquals(-15L << 40, run("ReduceProd", 18, attrs("keepdims", 0), p).getAsLong(0));
    }

    @Test
    void boolMaxMinAndUint64() {
        Tensor b = Tensor.allocate(arena, DType.BOOL, Shape.of(3, 2));
        long[] v = {0, 1, 0, 0, 1, 1};
        for (int i = 0; i < v.length; i++) {
            b.setLong(i, v[i]);
        }
        Tensor ax = Tensor.ofLongs(arena, new long[] {1}, 1);
        Tensor max = run("ReduceMax", 20, attrs("keepdims", 0), b, ax);
        Tensor min = run("ReduceMin", 20, attrs("keepdims", 0), b, ax);
        assertEquals(DType.BOOL, max.dtype());
        assertArrayEquals(new long[] {1, 0, 1}, max.toLongArray());
        assertArrayEquals(new long[] {0, 0, 1}, min.toLongArray());

        Tensor u = Tensor.allocate(arena, DType.UINT64, Shape.of(3));
        u.setLong(0, 5);
        u.setLong(1, -1L);
        u.setLong(2, 7);
        assertEquals(-1L, run("ReduceMax", 18, attrs("keepdims", 0), u).getAsLong(0));
        assertEquals(5L, run("ReduceMin", 18, attrs("keepdims", 0), u).getAsLong(0));
    }

    @Test
    void emptySetFollowsSpec() {
        Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 0, 4));
        Map<String, Float> expected = Map.of("ReduceSum", 0f, "ReduceProd", 1f, "ReduceMax", Float.NEGATIVE_INFINITY,
                "ReduceMin", Float.POSITIVE_INFINITY, "ReduceL1", 0f, "ReduceL2", 0f, "ReduceLogSum", Float.NEGATIVE_INFINITY,
                "ReduceLogSumExp", Float.NEGATIVE_INFINITY, "ReduceSumSquare", 0f, "ReduceMean", Float.NaN);
        for (var e : expected.entrySet()) {
            Tensor y = reduce(e.getKey(), 18, x, new long[] {1}, true);
            assertEquals(Shape.of(2, 1, 4), y.shape());
            for (long i = 0; i < y.size(); i++) {
                assertEquals(e.getValue(), y.getFloat(i), e.getKey());
            }
        }
        Tensor y = reduce("ReduceSum", 13, x, new long[] {2}, true);
        assertEquals(Shape.of(2, 0, 1), y.shape());
        Tensor i = Tensor.allocate(arena, DType.INT32, Shape.of(0, 3));
        assertArrayEquals(new long[] {Integer.MIN_VALUE, Integer.MIN_VALUE, Integer.MIN_VALUE},
                reduce("ReduceMax", 18, i, new long[] {0}, false).toLongArray());
    }

    @Test
    void noopWithEmptyAxesMapsElements() {
        Tensor x = Tensor.ofFloats(arena, new float[] {1, -2, 3, 4}, 2, 2);
        Tensor empty = Tensor.ofLongs(arena, new long[0], 0);
        Tensor same = run("ReduceSum", 13, attrs("noop_with_empty_axes", 1), x, empty);
        assertEquals(x.shape(), same.shape());
        assertSame(x.data(), same.data());
        assertArrayEquals(new float[] {1, 4, 9, 16}, run("ReduceSumSquare", 18, attrs("noop_with_empty_axes", 1), x, empty).toFloatArray());
        assertArrayEquals(new float[] {1, 2, 3, 4}, run("ReduceL1", 18, attrs("noop_with_empty_axes", 1), x).toFloatArray());
        Tensor all = run("ReduceSum", 13, attrs("keepdims", 0), x, empty);
        assertEquals(Shape.scalar(), all.shape());
        assertEquals(6f, all.getFloat(0));
    }

    @Test
    void sizeOneAxisIsAView() {
        Tensor x = random(DType.FLOAT, new long[] {3, 1, 5}, -1, 1);
        Tensor y = reduce("ReduceMax", 13, x, new long[] {1}, false);
        assertEquals(Shape.of(3, 5), y.shape());
        assertSame(x.data(), y.data());
    }

    @Test
    void errorsNameTheNode() {
        Tensor x = random(DType.FLOAT, new long[] {2, 3}, -1, 1);
        EngineException e = assertThrows(EngineException.class, () -> reduce("ReduceMean", 13, x, new long[] {2}, true));
        assertTrue(e.getMessage().contains("ReduceMean_0") && e.getMessage().contains("[2,3]"), e.getMessage());
        e = assertThrows(EngineException.class, () -> reduce("ReduceSum", 18, x, new long[] {0, -2}, true));
        assertTrue(e.getMessage().contains("repeated"), e.getMessage());
        e = assertThrows(EngineException.class, () -> run("ReduceMax", 18, attrs("axes", new long[] {0}), x));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("ReduceMax_0"), e.getMessage());
        e = assertThrows(EngineException.class, () -> OpRegistry.plan(NodeSpec.of("ReduceSum", 13, attrs(), 1, DType.STRING)));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
        e = assertThrows(EngineException.class, () -> OpRegistry.plan(NodeSpec.of("ReduceSum", 13, attrs(), 1, DType.BOOL)));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
    }

    @Test
    void constantAxesArePlannedOnce() {
        Tensor x = random(DType.FLOAT, new long[] {4, 6}, -1, 1);
        Tensor ax = Tensor.ofLongs(arena, new long[] {-1}, 1);
        NodeSpec spec = new NodeSpec("m", "ReduceMean", "", 18, attrs("keepdims", 0), new DType[] {DType.FLOAT, DType.INT64},
                null, new Tensor[] {null, ax}, 1);
        Planned p = OpRegistry.plan(spec);
        Tensor y = p.kernel().run(new ArenaContext(arena), new Tensor[] {x, ax})[0];
        assertClose(reference("ReduceMean", x, new boolean[] {false, true}), y, 1e-6, "mean");
    }
}
