package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.IndexingTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SortOpsTest {
    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.INT64, DType.INT32, DType.FLOAT16, DType.UINT8, DType.INT8};

    /** Positions along `axis` of the slice containing flat element `base` (coordinate 0 on the axis). */
    private static long[] slice(long base, long[] dims, int axis) {
        long inner = size(java.util.Arrays.copyOfRange(dims, axis + 1, dims.length));
        long[] p = new long[(int) dims[axis]];
        for (int j = 0; j < p.length; j++) {
            p[j] = base + j * inner;
        }
        return p;
    }

    /** Flat indices of the first element of every slice along `axis`, in row-major order of the other dims. */
    private static List<Long> sliceStarts(long[] dims, int axis) {
        List<Long> l = new ArrayList<>();
        long[] d = dims.clone();
        d[axis] = 1;
        for (long p = 0; p < size(d); p++) {
            l.add(ravel(unravel(p, d), dims));
        }
        return l;
    }

    @Test
    void topKMatchesStableReference() {
        Random rnd = new Random(21);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 200; iter++) {
                int rank = 1 + rnd.nextInt(3);
                long[] dd = randomDims(rnd, rank);
                int axis = rnd.nextInt(rank);
                long n = dd[axis];
                long k = rnd.nextInt((int) n + 1);
                DType t = TYPES[iter % TYPES.length];
                boolean largest = rnd.nextBoolean();
                int opset = new int[] {1, 10, 11, 24}[rnd.nextInt(4)];
                if (opset < 11) {
                    largest = true;
                }
                double[] v = randomInts(rnd, size(dd), t == DType.UINT8 ? 0 : -4, 4);
                Tensor x = tensor(a, t, v, dd);
                int axisAttr = rnd.nextBoolean() ? axis : axis - rank;
                Tensor[] out = opset < 10
                        ? run(a, "TopK", opset, attrs("axis", axisAttr, "k", k), 2, x)
                        : run(a, "TopK", opset, attrs("axis", axisAttr, "largest", largest ? 1 : 0), 2, x, Tensor.ofLongs(a, new long[] {k}, 1));
                long[] od = dd.clone();
                od[axis] = k;
                assertEquals(Shape.of(od), out[0].shape());
                assertEquals(Shape.of(od), out[1].shape());
                final boolean big = largest;
                List<Long> inStarts = sliceStarts(dd, axis);
                List<Long> outStarts = sliceStarts(od, axis);
                for (int s = 0; s < inStarts.size(); s++) {
                    long[] pos = slice(inStarts.get(s), dd, axis);
                    List<Integer> order = new ArrayList<>();
                    for (int j = 0; j < n; j++) {
                        order.add(j);
                    }
                    Comparator<Integer> byValue = Comparator.comparingDouble(j -> v[(int) pos[j]]);
                    order.sort(big ? byValue.reversed() : byValue);
                    long[] opos = slice(outStarts.get(s), od, axis);
                    for (int r = 0; r < k; r++) {
                        assertEquals((long) order.get(r), out[1].getLong(opos[r]), "iter " + iter + " " + t);
                        assertEquals(v[(int) pos[order.get(r)]], out[0].getDouble(opos[r]));
                    }
                }
            }
        }
    }

    @Test
    void topKSmallKOfLongRowsUsesSelectionCorrectly() {
        Random rnd = new Random(25);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 20; iter++) {
                int n = 1000 + rnd.nextInt(100);
                int k = 1 + rnd.nextInt(20);
                boolean largest = iter % 2 == 0;
                double[] v = randomInts(rnd, 3L * n, -30, 30);
                Tensor[] out = run(a, "TopK", 11, attrs("largest", largest ? 1 : 0), 2, tensor(a, DType.FLOAT, v, 3, n),
                        Tensor.ofLongs(a, new long[] {k}, 1));
                for (int row = 0; row < 3; row++) {
                    final int r0 = row;
                    List<Integer> order = new ArrayList<>();
                    for (int j = 0; j < n; j++) {
                        order.add(j);
                    }
                    Comparator<Integer> byValue = Comparator.comparingDouble(j -> v[r0 * n + j]);
                    order.sort(largest ? byValue.reversed() : byValue);
                    for (int r = 0; r < k; r++) {
                        assertEquals((long) order.get(r), out[1].getLong((long) row * k + r), "iter " + iter);
                        assertEquals((float) v[row * n + order.get(r)], out[0].getFloat((long) row * k + r));
                    }
                }
            }
        }
    }

    @Test
    void topKSpecialValuesAndErrors() {
        try (Arena a = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(a, new float[] {1, Float.NaN, -0f, 0f, Float.NEGATIVE_INFINITY, 3}, 6);
            Tensor[] o = run(a, "TopK", 11, Attributes.empty(), 2, x, Tensor.ofLongs(a, new long[] {6}, 1));
            assertArrayEquals(new long[] {1, 5, 0, 2, 3, 4}, o[1].toLongArray());
            Tensor[] s = run(a, "TopK", 11, attrs("largest", 0), 2, x, Tensor.ofLongs(a, new long[] {3}, 1));
            assertArrayEquals(new long[] {4, 2, 3}, s[1].toLongArray());
            Tensor u = Tensor.allocate(a, DType.UINT64, Shape.of(3));
            u.setLong(0, 5);
            u.setLong(1, -1);
            u.setLong(2, 7);
            assertArrayEquals(new long[] {1, 2}, run(a, "TopK", 11, Attributes.empty(), 2, u, Tensor.ofLongs(a, new long[] {2}, 1))[1].toLongArray());
            EngineException e = assertThrows(EngineException.class,
                    () -> run(a, "TopK", 11, Attributes.empty(), 2, x, Tensor.ofLongs(a, new long[] {7}, 1)));
            assertTrue(e.getMessage().contains("TopK_0") && e.getMessage().contains("k = 7"), e.getMessage());
            assertThrows(EngineException.class, () -> run(a, "TopK", 1, Attributes.empty(), 2, x));
            assertThrows(EngineException.class, () -> run(a, "TopK", 11, attrs("axis", 1), 2, x, Tensor.ofLongs(a, new long[] {1}, 1)));
        }
    }

    @Test
    void argMaxArgMinMatchReference() {
        Random rnd = new Random(22);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 200; iter++) {
                int rank = 1 + rnd.nextInt(4);
                long[] dd = randomDims(rnd, rank);
                if (iter % 7 == 0) {
                    dd[rank - 1] = 33;
                }
                int axis = rnd.nextInt(rank);
                DType t = TYPES[iter % TYPES.length];
                boolean max = iter % 2 == 0;
                boolean keep = rnd.nextBoolean();
                boolean lastAttr = rnd.nextBoolean();
                int opset = rnd.nextBoolean() ? 11 : 13;
                boolean last = lastAttr && opset >= 12;
                double[] v = randomInts(rnd, size(dd), t == DType.UINT8 ? 0 : -3, 3);
                Tensor out = run(a, max ? "ArgMax" : "ArgMin", opset,
                        attrs("axis", rnd.nextBoolean() ? axis : axis - rank, "keepdims", keep ? 1 : 0, "select_last_index", lastAttr ? 1 : 0),
                        1, tensor(a, t, v, dd))[0];
                long[] od = dd.clone();
                od[axis] = 1;
                List<Long> starts = sliceStarts(dd, axis);
                assertEquals(starts.size(), out.size());
                if (keep) {
                    assertEquals(Shape.of(od), out.shape());
                } else {
                    assertEquals(rank - 1, out.shape().rank());
                }
                for (int s = 0; s < starts.size(); s++) {
                    long[] pos = slice(starts.get(s), dd, axis);
                    int best = 0;
                    for (int j = 1; j < pos.length; j++) {
                        double c = v[(int) pos[j]] - v[(int) pos[best]];
                        if (max ? (c > 0 || (last && c == 0)) : (c < 0 || (last && c == 0))) {
                            best = j;
                        }
                    }
                    assertEquals(best, out.getLong(s), "iter " + iter + " " + t);
                }
            }
            Tensor nan = Tensor.ofFloats(a, new float[] {1, Float.NaN, 5, Float.NaN}, 4);
            assertEquals(1, run(a, "ArgMax", 13, Attributes.empty(), 1, nan)[0].getLong(0));
            assertEquals(1, run(a, "ArgMin", 13, Attributes.empty(), 1, nan)[0].getLong(0));
            assertEquals(3, run(a, "ArgMax", 13, attrs("select_last_index", 1), 1, nan)[0].getLong(0));
            EngineException e = assertThrows(EngineException.class,
                    () -> run(a, "ArgMax", 13, attrs("axis", 2), 1, Tensor.ofFloats(a, new float[4], 2, 2)));
            assertTrue(e.getMessage().contains("ArgMax_0") && e.getMessage().contains("axis 2"), e.getMessage());
        }
    }

    @Test
    void cumSumAndCumProdMatchReference() {
        Random rnd = new Random(23);
        DType[] types = {DType.FLOAT, DType.DOUBLE, DType.INT32, DType.INT64, DType.FLOAT16, DType.UINT32};
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 200; iter++) {
                int rank = 1 + rnd.nextInt(3);
                long[] dd = randomDims(rnd, rank);
                if (iter % 5 == 0) {
                    dd[rank - 1] = 37;
                }
                int axis = rnd.nextInt(rank);
                boolean product = iter % 2 == 1;
                boolean exclusive = rnd.nextBoolean();
                boolean reverse = rnd.nextBoolean();
                DType t = types[iter % types.length];
                double[] v = product ? randomInts(rnd, size(dd), t == DType.UINT32 ? 1 : -2, 2) : randomInts(rnd, size(dd), t == DType.UINT32 ? 0 : -9, 9);
                if (product && t == DType.FLOAT16) {
                    // no zero after an overflow to inf (inf * 0 = NaN where the exact reference has 0)
                    for (int i = 0; i < v.length; i++) {
                        v[i] = v[i] == 0 ? 1 : v[i];
                    }
                }
                Tensor axisT = iter % 3 == 0 ? Tensor.ofInts(a, new int[] {axis - rank}, 1) : scalar(a, axis).reshape(Shape.scalar());
                Tensor y = run(a, product ? "CumProd" : "CumSum", product ? 26 : 14,
                        attrs("exclusive", exclusive ? 1 : 0, "reverse", reverse ? 1 : 0), 1, tensor(a, t, v, dd), axisT)[0];
                double[] expected = new double[v.length];
                for (long st : sliceStarts(dd, axis)) {
                    long[] pos = slice(st, dd, axis);
                    double acc = product ? 1 : 0;
                    for (int s = 0; s < pos.length; s++) {
                        int j = reverse ? pos.length - 1 - s : s;
                        double x = v[(int) pos[j]];
                        if (!exclusive) {
                            acc = product ? acc * x : acc + x;
                        }
                        expected[(int) pos[j]] = acc;
                        if (exclusive) {
                            acc = product ? acc * x : acc + x;
                        }
                    }
                }
                assertArrayEquals(values(tensor(a, t, expected, dd)), values(y), "iter " + iter + " " + t);
            }
            Tensor x = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5}, 5);
            assertArrayEquals(new float[] {0, 1, 3, 6, 10},
                    run(a, "CumSum", 11, attrs("exclusive", 1), 1, x, Tensor.ofInts(a, new int[] {0}, 1))[0].toFloatArray());
            assertArrayEquals(new float[] {120, 120, 60, 20, 5},
                    run(a, "CumProd", 26, attrs("reverse", 1), 1, x, Tensor.ofInts(a, new int[] {0}, 1))[0].toFloatArray());
            assertThrows(EngineException.class, () -> run(a, "CumSum", 14, Attributes.empty(), 1, x, Tensor.ofLongs(a, new long[] {1}, 1)));
            assertThrows(EngineException.class, () -> run(a, "CumSum", 14, Attributes.empty(), 1, x, Tensor.ofLongs(a, new long[] {0, 0}, 2)));
            assertThrows(EngineException.class, () -> run(a, "CumProd", 25, Attributes.empty(), 1, x, Tensor.ofLongs(a, new long[] {0}, 1)));
        }
    }

    @Test
    void uniqueSpecExamples() {
        try (Arena a = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(a, new float[] {2, 1, 1, 3, 4, 3}, 6);
            Tensor[] u = run(a, "Unique", 11, attrs("sorted", 0), 4, x);
            assertArrayEquals(new float[] {2, 1, 3, 4}, u[0].toFloatArray());
            assertArrayEquals(new long[] {0, 1, 3, 4}, u[1].toLongArray());
            assertArrayEquals(new long[] {0, 1, 1, 2, 3, 2}, u[2].toLongArray());
            assertArrayEquals(new long[] {1, 2, 2, 1}, u[3].toLongArray());
            Tensor[] s = run(a, "Unique", 11, Attributes.empty(), 4, x);
            assertArrayEquals(new float[] {1, 2, 3, 4}, s[0].toFloatArray());
            assertArrayEquals(new long[] {1, 0, 3, 4}, s[1].toLongArray());
            assertArrayEquals(new long[] {1, 0, 0, 2, 3, 2}, s[2].toLongArray());
            assertArrayEquals(new long[] {2, 1, 2, 1}, s[3].toLongArray());

            Tensor m = Tensor.ofFloats(a, new float[] {1, 0, 0, 1, 0, 0, 2, 3, 4}, 3, 3);
            Tensor[] r = run(a, "Unique", 11, attrs("axis", 0), 4, m);
            assertEquals(Shape.of(2, 3), r[0].shape());
            assertArrayEquals(new float[] {1, 0, 0, 2, 3, 4}, r[0].toFloatArray());
            assertArrayEquals(new long[] {0, 2}, r[1].toLongArray());
            assertArrayEquals(new long[] {0, 0, 1}, r[2].toLongArray());
            assertArrayEquals(new long[] {2, 1}, r[3].toLongArray());

            Tensor c3 = Tensor.ofFloats(a, new float[] {1, 1, 0, 1, 2, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1}, 2, 4, 2);
            Tensor[] r3 = run(a, "Unique", 11, attrs("axis", 1), 4, c3);
            assertEquals(Shape.of(2, 3, 2), r3[0].shape());
            assertArrayEquals(new float[] {0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1}, r3[0].toFloatArray());
            assertArrayEquals(new long[] {1, 0, 2}, r3[1].toLongArray());
            assertArrayEquals(new long[] {1, 0, 2, 0}, r3[2].toLongArray());
            assertArrayEquals(new long[] {2, 1, 1}, r3[3].toLongArray());

            Tensor[] neg = run(a, "Unique", 11, attrs("axis", -1), 1, m);
            assertEquals(1, neg.length);
            assertEquals(Shape.of(3, 3), neg[0].shape());
            assertArrayEquals(new float[] {0, 0, 1, 0, 0, 1, 3, 4, 2}, neg[0].toFloatArray());
        }
    }

    @Test
    void uniqueMatchesReferenceOnRandomVectors() {
        Random rnd = new Random(24);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 60; iter++) {
                long[] dd = randomDims(rnd, 1 + rnd.nextInt(3));
                double[] v = randomInts(rnd, size(dd), -5, 5);
                boolean sorted = rnd.nextBoolean();
                DType t = TYPES[iter % TYPES.length];
                if (t == DType.UINT8) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] += 5;
                    }
                }
                Tensor[] u = run(a, "Unique", 11, attrs("sorted", sorted ? 1 : 0), 4, tensor(a, t, v, dd));
                List<Double> uniq = new ArrayList<>();
                for (double d : v) {
                    if (!uniq.contains(d)) {
                        uniq.add(d);
                    }
                }
                if (sorted) {
                    uniq.sort(null);
                }
                assertEquals(Shape.of(uniq.size()), u[0].shape());
                for (int p = 0; p < uniq.size(); p++) {
                    assertEquals((double) uniq.get(p), u[0].getDouble(p));
                    int first = -1;
                    int count = 0;
                    for (int i = 0; i < v.length; i++) {
                        if (v[i] == uniq.get(p)) {
                            first = first < 0 ? i : first;
                            count++;
                        }
                    }
                    assertEquals(first, u[1].getLong(p));
                    assertEquals(count, u[3].getLong(p));
                }
                for (int i = 0; i < v.length; i++) {
                    assertEquals(uniq.indexOf(v[i]), u[2].getLong(i));
                }
            }
        }
    }
}
