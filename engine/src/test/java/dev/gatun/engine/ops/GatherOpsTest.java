package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.IndexingTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class GatherOpsTest {
    private static final DType[] TYPES = {DType.FLOAT, DType.INT8, DType.FLOAT16, DType.INT64, DType.DOUBLE, DType.BOOL};

    private static Tensor indexTensor(Arena a, DType t, long[] v, long... dims) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return tensor(a, t, d, dims);
    }

    @Test
    void gatherMatchesReferenceOnRandomShapes() {
        Random rnd = new Random(1);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 200; iter++) {
                int rank = 1 + rnd.nextInt(4);
                long[] dd = randomDims(rnd, rank);
                int axis = rnd.nextInt(rank);
                long n = dd[axis];
                long[] id = randomDims(rnd, rnd.nextInt(3));
                long[] idx = new long[(int) size(id)];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = rnd.nextInt((int) (2 * n)) - n;
                }
                DType t = TYPES[iter % TYPES.length];
                double[] dv = randomInts(rnd, size(dd), t == DType.BOOL ? 0 : -50, t == DType.BOOL ? 1 : 50);
                Tensor data = tensor(a, t, dv, dd);
                Tensor ind = indexTensor(a, iter % 2 == 0 ? DType.INT64 : DType.INT32, idx, id);
                int axisAttr = rnd.nextBoolean() ? axis : axis - rank;
                Tensor out = run(a, "Gather", 13, attrs("axis", axisAttr), 1, data, ind)[0];

                long[] od = new long[rank - 1 + id.length];
                System.arraycopy(dd, 0, od, 0, axis);
                System.arraycopy(id, 0, od, axis, id.length);
                System.arraycopy(dd, axis + 1, od, axis + id.length, rank - axis - 1);
                assertEquals(Shape.of(od), out.shape());
                for (long p = 0; p < out.size(); p++) {
                    long[] oc = unravel(p, od);
                    long[] ic = Arrays.copyOfRange(oc, axis, axis + id.length);
                    long k = idx[(int) ravel(ic, id)];
                    long[] dc = new long[rank];
                    System.arraycopy(oc, 0, dc, 0, axis);
                    dc[axis] = k < 0 ? k + n : k;
                    System.arraycopy(oc, axis + id.length, dc, axis + 1, rank - axis - 1);
                    assertEquals(dv[(int) ravel(dc, dd)], out.getDouble(p), "iter " + iter + " at " + p);
                }
            }
        }
    }

    @Test
    void gatherEmbeddingRowsAndOldOpset() {
        try (Arena a = Arena.ofConfined()) {
            float[] w = new float[33 * 17];
            for (int i = 0; i < w.length; i++) {
                w[i] = i * 0.5f;
            }
            Tensor table = Tensor.ofFloats(a, w, 33, 17);
            Tensor ids = Tensor.ofLongs(a, new long[] {0, 32, 5, -1, 7, 7, 1}, 1, 7);
            Tensor out = run(a, "Gather", 1, Attributes.empty(), 1, table, ids)[0];
            assertEquals(Shape.of(1, 7, 17), out.shape());
            long[] rows = {0, 32, 5, 32, 7, 7, 1};
            for (int j = 0; j < 7; j++) {
                for (int c = 0; c < 17; c++) {
                    assertEquals(w[(int) rows[j] * 17 + c], out.getFloat(j * 17 + c));
                }
            }
            Tensor scalarIdx = Tensor.ofLongs(a, new long[] {3}).reshape(Shape.scalar());
            Tensor row = run(a, "Gather", 11, Attributes.empty(), 1, table, scalarIdx)[0];
            assertEquals(Shape.of(17), row.shape());
            assertEquals(w[3 * 17 + 16], row.getFloat(16));
        }
    }

    @Test
    void gatherStrings() {
        try (Arena a = Arena.ofConfined()) {
            Tensor labels = Tensor.ofStrings(Shape.of(2, 3), new String[] {"a", "b", "c", "d", "e", "f"});
            Tensor out = run(a, "Gather", 13, attrs("axis", 1), 1, labels, Tensor.ofInts(a, new int[] {2, -3}, 2))[0];
            assertEquals(Shape.of(2, 2), out.shape());
            assertArrayEquals(new String[] {"c", "a", "f", "d"}, out.strings());
        }
    }

    @Test
    void gatherOutOfRangeNamesIndexAndBound() {
        try (Arena a = Arena.ofConfined()) {
            Tensor data = Tensor.ofFloats(a, new float[10], 10);
            EngineException e = assertThrows(EngineException.class,
                    () -> run(a, "Gather", 13, Attributes.empty(), 1, data, Tensor.ofLongs(a, new long[] {1, 10}, 2)));
            assertEquals(EngineException.Kind.RUNTIME, e.kind());
            assertTrue(e.getMessage().contains("Gather_0") && e.getMessage().contains("index 10") && e.getMessage().contains("size 10"),
                    e.getMessage());
            assertThrows(EngineException.class,
                    () -> run(a, "Gather", 13, Attributes.empty(), 1, data, Tensor.ofInts(a, new int[] {-11}, 1)));
            assertThrows(EngineException.class,
                    () -> run(a, "Gather", 13, attrs("axis", 1), 1, data, Tensor.ofInts(a, new int[] {0}, 1)));
            EngineException u = assertThrows(EngineException.class,
                    () -> run(a, "Gather", 13, Attributes.empty(), 1, data, Tensor.ofFloats(a, new float[] {0}, 1)));
            assertEquals(EngineException.Kind.UNSUPPORTED, u.kind());
            assertTrue(u.getMessage().contains("Gather_0"));
        }
    }

    @Test
    void gatherElementsMatchesReference() {
        Random rnd = new Random(2);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 150; iter++) {
                int rank = 1 + rnd.nextInt(4);
                long[] dd = randomDims(rnd, rank);
                int axis = rnd.nextInt(rank);
                long[] id = new long[rank];
                for (int d = 0; d < rank; d++) {
                    id[d] = d == axis ? 1 + rnd.nextInt(9) : 1 + rnd.nextInt((int) dd[d]);
                }
                long n = dd[axis];
                long[] idx = new long[(int) size(id)];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = rnd.nextInt((int) (2 * n)) - n;
                }
                DType t = TYPES[iter % TYPES.length];
                double[] dv = randomInts(rnd, size(dd), 0, t == DType.BOOL ? 1 : 100);
                Tensor data = tensor(a, t, dv, dd);
                Tensor out = run(a, "GatherElements", 13, attrs("axis", axis - (iter % 2) * rank), 1, data,
                        indexTensor(a, iter % 3 == 0 ? DType.INT32 : DType.INT64, idx, id))[0];
                assertEquals(Shape.of(id), out.shape());
                for (long p = 0; p < out.size(); p++) {
                    long[] c = unravel(p, id);
                    long k = idx[(int) p];
                    c[axis] = k < 0 ? k + n : k;
                    assertEquals(dv[(int) ravel(c, dd)], out.getDouble(p));
                }
            }
            Tensor data = Tensor.ofFloats(a, new float[] {1, 2, 3, 4}, 2, 2);
            EngineException e = assertThrows(EngineException.class, () -> run(a, "GatherElements", 13, attrs("axis", 1), 1, data,
                    Tensor.ofLongs(a, new long[] {0, 2}, 1, 2)));
            assertTrue(e.getMessage().contains("index 2"), e.getMessage());
            assertThrows(EngineException.class, () -> run(a, "GatherElements", 13, Attributes.empty(), 1, data,
                    Tensor.ofLongs(a, new long[] {0, 1}, 2)));
        }
    }

    @Test
    void gatherNDWithAndWithoutBatchDims() {
        try (Arena a = Arena.ofConfined()) {
            Tensor data = Tensor.ofFloats(a, new float[] {0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2);
            Tensor out = run(a, "GatherND", 11, Attributes.empty(), 1, data, Tensor.ofLongs(a, new long[] {0, 1, 1, 0}, 2, 1, 2))[0];
            assertEquals(Shape.of(2, 1, 2), out.shape());
            assertArrayEquals(new float[] {2, 3, 4, 5}, out.toFloatArray());
            Tensor ints = tensor(a, DType.INT32, new double[] {0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2);
            Tensor b1 = run(a, "GatherND", 12, attrs("batch_dims", 1), 1, ints, Tensor.ofLongs(a, new long[] {1, 0}, 2, 1))[0];
            assertEquals(Shape.of(2, 2), b1.shape());
            assertArrayEquals(new long[] {2, 3, 4, 5}, b1.toLongArray());
            Tensor full = run(a, "GatherND", 13, Attributes.empty(), 1, data, Tensor.ofLongs(a, new long[] {1, -1, 0, 0, 0, -1}, 2, 3))[0];
            assertArrayEquals(new float[] {6, 1}, full.toFloatArray());

            Random rnd = new Random(3);
            for (int iter = 0; iter < 80; iter++) {
                int r = 1 + rnd.nextInt(4);
                long[] dd = randomDims(rnd, r);
                int b = rnd.nextInt(r);
                int m = 1 + rnd.nextInt(r - b);
                long[] tDims = randomDims(rnd, rnd.nextInt(2));
                long[] id = new long[b + tDims.length + 1];
                System.arraycopy(dd, 0, id, 0, b);
                System.arraycopy(tDims, 0, id, b, tDims.length);
                id[id.length - 1] = m;
                long[] idx = new long[(int) size(id)];
                for (int i = 0; i < idx.length; i++) {
                    long bound = dd[b + i % m];
                    idx[i] = rnd.nextInt((int) (2 * bound)) - bound;
                }
                double[] dv = randomInts(rnd, size(dd), -9, 9);
                Tensor o = run(a, "GatherND", 13, attrs("batch_dims", b), 1, tensor(a, DType.FLOAT, dv, dd),
                        indexTensor(a, DType.INT64, idx, id))[0];
                long[] od = new long[id.length - 1 + r - b - m];
                System.arraycopy(id, 0, od, 0, id.length - 1);
                System.arraycopy(dd, b + m, od, id.length - 1, r - b - m);
                assertEquals(Shape.of(od), o.shape());
                for (long p = 0; p < o.size(); p++) {
                    long[] oc = unravel(p, od);
                    long[] tuplePrefix = Arrays.copyOf(oc, id.length);
                    long[] dc = new long[r];
                    System.arraycopy(oc, 0, dc, 0, b);
                    for (int j = 0; j < m; j++) {
                        tuplePrefix[id.length - 1] = j;
                        long k = idx[(int) ravel(tuplePrefix, id)];
                        dc[b + j] = k < 0 ? k + dd[b + j] : k;
                    }
                    System.arraycopy(oc, id.length - 1, dc, b + m, r - b - m);
                    assertEquals(dv[(int) ravel(dc, dd)], o.getDouble(p), "iter " + iter);
                }
            }
            EngineException e = assertThrows(EngineException.class, () -> run(a, "GatherND", 13, Attributes.empty(), 1, data,
                    Tensor.ofLongs(a, new long[] {0, 2}, 1, 2)));
            assertTrue(e.getMessage().contains("index 2") && e.getMessage().contains("size 2"), e.getMessage());
            assertThrows(EngineException.class, () -> run(a, "GatherND", 13, Attributes.empty(), 1, data,
                    Tensor.ofLongs(a, new long[] {0, 0, 0, 0}, 1, 4)));
        }
    }

    @Test
    void compressAlongAxisAndFlattened() {
        try (Arena a = Arena.ofConfined()) {
            Tensor x = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
            Tensor c = tensor(a, DType.BOOL, new double[] {0, 1, 1}, 3);
            Tensor o = run(a, "Compress", 11, attrs("axis", 0), 1, x, c)[0];
            assertEquals(Shape.of(2, 2), o.shape());
            assertArrayEquals(new float[] {3, 4, 5, 6}, o.toFloatArray());
            Tensor c2 = tensor(a, DType.BOOL, new double[] {0, 1}, 2);
            Tensor o2 = run(a, "Compress", 11, attrs("axis", -1), 1, x, c2)[0];
            assertEquals(Shape.of(3, 1), o2.shape());
            assertArrayEquals(new float[] {2, 4, 6}, o2.toFloatArray());
            Tensor c3 = tensor(a, DType.BOOL, new double[] {0, 1, 0, 0, 1}, 5);
            Tensor o3 = run(a, "Compress", 9, Attributes.empty(), 1, x, c3)[0];
            assertEquals(Shape.of(2), o3.shape());
            assertArrayEquals(new float[] {2, 5}, o3.toFloatArray());
            Tensor tooLong = tensor(a, DType.BOOL, new double[] {0, 0, 0, 1}, 4);
            assertThrows(EngineException.class, () -> run(a, "Compress", 11, attrs("axis", 0), 1, x, tooLong));

            Random rnd = new Random(4);
            for (int iter = 0; iter < 50; iter++) {
                long[] dd = randomDims(rnd, 1 + rnd.nextInt(3));
                int axis = rnd.nextInt(dd.length);
                double[] cv = randomInts(rnd, 1 + rnd.nextInt((int) dd[axis]), 0, 1);
                double[] dv = randomInts(rnd, size(dd), 0, 99);
                Tensor out = run(a, "Compress", 11, attrs("axis", axis), 1, tensor(a, DType.INT16, dv, dd),
                        tensor(a, DType.BOOL, cv, cv.length))[0];
                long[] sel = new long[cv.length];
                int s = 0;
                for (int i = 0; i < cv.length; i++) {
                    if (cv[i] != 0) {
                        sel[s++] = i;
                    }
                }
                long[] od = dd.clone();
                od[axis] = s;
                assertEquals(Shape.of(od), out.shape());
                for (long p = 0; p < out.size(); p++) {
                    long[] cc = unravel(p, od);
                    cc[axis] = sel[(int) cc[axis]];
                    assertEquals(dv[(int) ravel(cc, dd)], out.getDouble(p));
                }
            }
        }
    }

    @Test
    void nonZeroListsCoordinatesInRowMajorOrder() {
        try (Arena a = Arena.ofConfined()) {
            Tensor b = tensor(a, DType.BOOL, new double[] {1, 0, 1, 1}, 2, 2);
            Tensor o = run(a, "NonZero", 13, Attributes.empty(), 1, b)[0];
            assertEquals(Shape.of(2, 3), o.shape());
            assertArrayEquals(new long[] {0, 1, 1, 0, 0, 1}, o.toLongArray());
            Tensor f = Tensor.ofFloats(a, new float[] {-0f, Float.NaN, 0f, 2f, 0f, 0f, 0f}, 7);
            assertArrayEquals(new long[] {1, 3}, run(a, "NonZero", 9, Attributes.empty(), 1, f)[0].toLongArray());
            Tensor none = Tensor.ofFloats(a, new float[6], 2, 3);
            assertEquals(Shape.of(2, 0), run(a, "NonZero", 13, Attributes.empty(), 1, none)[0].shape());

            Random rnd = new Random(5);
            for (int iter = 0; iter < 30; iter++) {
                long[] dd = randomDims(rnd, 1 + rnd.nextInt(4));
                double[] v = randomInts(rnd, size(dd), -1, 1);
                DType t = TYPES[iter % TYPES.length];
                Tensor out = run(a, "NonZero", 13, Attributes.empty(), 1, tensor(a, t, v, dd))[0];
                int nnz = 0;
                for (double d : v) {
                    nnz += d != 0 ? 1 : 0;
                }
                assertEquals(Shape.of(dd.length, nnz), out.shape());
                int j = 0;
                for (int i = 0; i < v.length; i++) {
                    if (v[i] != 0) {
                        long[] c = unravel(i, dd);
                        for (int d = 0; d < dd.length; d++) {
                            assertEquals(c[d], out.getLong((long) d * nnz + j));
                        }
                        j++;
                    }
                }
            }
        }
    }

    @Test
    void oneHotAxesNegativeIndicesAndOldOpset() {
        try (Arena a = Arena.ofConfined()) {
            Tensor idx = Tensor.ofLongs(a, new long[] {0, -7, -8, 9, 3}, 5);
            Tensor depth = tensor(a, DType.FLOAT, new double[] {10}, 1);
            Tensor values = tensor(a, DType.INT32, new double[] {1, 3}, 2);
            Tensor o = run(a, "OneHot", 11, Attributes.empty(), 1, idx, depth, values)[0];
            assertEquals(Shape.of(5, 10), o.shape());
            assertEquals(DType.INT32, o.dtype());
            long[] got = o.toLongArray();
            long[] hot = {0, 3, 2, 9, 3};
            for (int i = 0; i < 5; i++) {
                for (int d = 0; d < 10; d++) {
                    assertEquals(d == hot[i] ? 3 : 1, got[i * 10 + d]);
                }
            }
            // opset 9 has no negative indices: -7 and -8 give all-off rows.
            long[] old = run(a, "OneHot", 9, Attributes.empty(), 1, idx, depth, values)[0].toLongArray();
            for (int d = 0; d < 10; d++) {
                assertEquals(1, old[10 + d]);
                assertEquals(1, old[20 + d]);
            }

            Random rnd = new Random(6);
            for (int iter = 0; iter < 40; iter++) {
                long[] id = randomDims(rnd, rnd.nextInt(3));
                int r = id.length;
                long dep = 1 + rnd.nextInt(6);
                double[] iv = randomInts(rnd, size(id), (int) -dep - 1, (int) dep + 1);
                int axis = rnd.nextInt(r + 1);
                int axisAttr = rnd.nextBoolean() ? axis : axis - r - 1;
                Tensor out = run(a, "OneHot", 11, attrs("axis", axisAttr), 1, tensor(a, DType.FLOAT, iv, id),
                        scalar(a, dep).reshape(Shape.scalar()), Tensor.ofFloats(a, new float[] {-1f, 5f}, 2))[0];
                long[] od = new long[r + 1];
                System.arraycopy(id, 0, od, 0, axis);
                od[axis] = dep;
                System.arraycopy(id, axis, od, axis + 1, r - axis);
                assertEquals(Shape.of(od), out.shape());
                for (long p = 0; p < out.size(); p++) {
                    long[] c = unravel(p, od);
                    long d = c[axis];
                    long[] ic = new long[r];
                    System.arraycopy(c, 0, ic, 0, axis);
                    System.arraycopy(c, axis + 1, ic, axis, r - axis);
                    long k = (long) iv[(int) ravel(ic, id)];
                    assertEquals((k == d || k + dep == d) ? 5f : -1f, out.getFloat(p));
                }
            }
            assertThrows(EngineException.class, () -> run(a, "OneHot", 11, attrs("axis", 3), 1, idx, depth, values));
            assertThrows(EngineException.class, () -> run(a, "OneHot", 11, Attributes.empty(), 1, idx, scalar(a, 0), values));
        }
    }

    @Test
    void triluMatchesReference() {
        Random rnd = new Random(7);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 120; iter++) {
                long[] dd = randomDims(rnd, 2 + rnd.nextInt(2));
                if (iter % 17 == 0) {
                    dd[0] = 0;
                }
                boolean upper = rnd.nextBoolean();
                long k = rnd.nextInt(13) - 6;
                boolean withK = iter % 5 != 0;
                DType t = TYPES[iter % TYPES.length];
                double[] v = randomInts(rnd, size(dd), 1, t == DType.BOOL ? 1 : 9);
                Tensor x = tensor(a, t, v, dd);
                Tensor out = withK
                        ? run(a, "Trilu", 14, attrs("upper", upper ? 1 : 0), 1, x, scalar(a, k).reshape(Shape.scalar()))[0]
                        : run(a, "Trilu", 14, attrs("upper", upper ? 1 : 0), 1, x)[0];
                long kk = withK ? k : 0;
                assertEquals(x.shape(), out.shape());
                for (long p = 0; p < out.size(); p++) {
                    long[] c = unravel(p, dd);
                    long i = c[dd.length - 2];
                    long j = c[dd.length - 1];
                    boolean keep = upper ? j - i >= kk : j - i <= kk;
                    assertEquals(keep ? v[(int) p] : 0, out.getDouble(p), "iter " + iter);
                }
            }
            assertThrows(EngineException.class, () -> run(a, "Trilu", 14, Attributes.empty(), 1, Tensor.ofFloats(a, new float[3], 3)));
        }
    }
}
