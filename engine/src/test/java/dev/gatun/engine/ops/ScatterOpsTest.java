package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.IndexingTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ScatterOpsTest {
    private static final String[] REDUCTIONS = {"none", "add", "mul", "max", "min"};
    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.INT32, DType.FLOAT16, DType.INT64, DType.UINT8};

    private static double reduce(String r, double a, double b) {
        return switch (r) {
            case "none" -> b;
            case "add" -> a + b;
            case "mul" -> a * b;
            case "max" -> Math.max(a, b);
            default -> Math.min(a, b);
        };
    }

    private static Tensor longs(Arena a, DType t, long[] v, long... dims) {
        Tensor x = Tensor.allocate(a, t, Shape.of(dims));
        for (int i = 0; i < v.length; i++) {
            x.setLong(i, v[i]);
        }
        return x;
    }

    @Test
    void scatterNDMatchesReference() {
        Random rnd = new Random(11);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 150; iter++) {
                int r = 1 + rnd.nextInt(3);
                long[] dd = randomDims(rnd, r);
                int m = 1 + rnd.nextInt(r);
                String red = REDUCTIONS[iter % REDUCTIONS.length];
                // products of many duplicates would leave the range where the double reference is exact
                long[] tDims = randomDims(rnd, rnd.nextInt(red.equals("mul") ? 2 : 3));
                long[] id = new long[tDims.length + 1];
                System.arraycopy(tDims, 0, id, 0, tDims.length);
                id[tDims.length] = m;
                long[] idx = new long[(int) size(id)];
                for (int i = 0; i < idx.length; i++) {
                    long bound = dd[i % m];
                    idx[i] = rnd.nextInt((int) (2 * bound)) - bound;
                }
                long[] ud = new long[tDims.length + r - m];
                System.arraycopy(tDims, 0, ud, 0, tDims.length);
                System.arraycopy(dd, m, ud, tDims.length, r - m);
                DType t = TYPES[(iter / 5) % TYPES.length];
                double[] dv = randomInts(rnd, size(dd), 1, 3);
                double[] uv = randomInts(rnd, size(ud), red.equals("mul") ? 1 : 0, red.equals("mul") ? 2 : 3);
                Tensor out = run(a, "ScatterND", 18, attrs("reduction", red), 1, tensor(a, t, dv, dd),
                        longs(a, iter % 2 == 0 ? DType.INT64 : DType.INT32, idx, id), tensor(a, t, uv, ud))[0];
                double[] expected = dv.clone();
                long tuples = size(tDims);
                long slice = size(dd) / size(java.util.Arrays.copyOf(dd, m));
                for (int tu = 0; tu < tuples; tu++) {
                    long off = 0;
                    for (int j = 0; j < m; j++) {
                        long k = idx[tu * m + j];
                        off = off * dd[j] + (k < 0 ? k + dd[j] : k);
                    }
                    for (int e = 0; e < slice; e++) {
                        int o = (int) (off * slice + e);
                        expected[o] = reduce(red, expected[o], uv[(int) (tu * slice + e)]);
                    }
                }
                assertArrayEquals(values(tensor(a, t, expected, dd)), values(out), "iter " + iter + " " + red + " " + t);
            }
        }
    }

    @Test
    void scatterNDVectorizedFloatReductions() {
        try (Arena a = Arena.ofConfined()) {
            float[] d = new float[4 * 37];
            float[] u = new float[2 * 37];
            for (int i = 0; i < d.length; i++) {
                d[i] = (i % 11) - 5;
            }
            for (int i = 0; i < u.length; i++) {
                u[i] = (i % 7) - 3;
            }
            Tensor data = Tensor.ofFloats(a, d, 4, 37);
            Tensor idx = Tensor.ofLongs(a, new long[] {2, 2}, 2, 1);
            Tensor upd = Tensor.ofFloats(a, u, 2, 37);
            for (String red : new String[] {"add", "mul", "max", "min"}) {
                float[] got = run(a, "ScatterND", 18, attrs("reduction", red), 1, data, idx, upd)[0].toFloatArray();
                for (int e = 0; e < 37; e++) {
                    float want = (float) reduce(red, reduce(red, d[2 * 37 + e], u[e]), u[37 + e]);
                    assertEquals(want, got[2 * 37 + e], red + " at " + e);
                    assertEquals(d[e], got[e]);
                }
            }
        }
    }

    @Test
    void scatterElementsMatchesReference() {
        Random rnd = new Random(12);
        try (Arena a = Arena.ofConfined()) {
            for (int iter = 0; iter < 150; iter++) {
                int rank = 1 + rnd.nextInt(3);
                long[] dd = randomDims(rnd, rank);
                int axis = rnd.nextInt(rank);
                long[] id = new long[rank];
                for (int d = 0; d < rank; d++) {
                    id[d] = 1 + rnd.nextInt((int) dd[d]);
                }
                long n = dd[axis];
                long[] idx = new long[(int) size(id)];
                for (int i = 0; i < idx.length; i++) {
                    idx[i] = rnd.nextInt((int) (2 * n)) - n;
                }
                String red = REDUCTIONS[iter % REDUCTIONS.length];
                DType t = TYPES[(iter / 5) % TYPES.length];
                double[] dv = randomInts(rnd, size(dd), 1, 3);
                double[] uv = randomInts(rnd, size(id), red.equals("mul") ? 1 : 0, red.equals("mul") ? 2 : 3);
                Tensor out = run(a, "ScatterElements", 18, attrs("reduction", red, "axis", axis - (iter % 2) * rank), 1,
                        tensor(a, t, dv, dd), longs(a, DType.INT64, idx, id), tensor(a, t, uv, id))[0];
                double[] expected = dv.clone();
                for (int p = 0; p < idx.length; p++) {
                    long[] c = unravel(p, id);
                    c[axis] = idx[p] < 0 ? idx[p] + n : idx[p];
                    int o = (int) ravel(c, dd);
                    expected[o] = reduce(red, expected[o], uv[p]);
                }
                assertArrayEquals(values(tensor(a, t, expected, dd)), values(out), "iter " + iter + " " + red + " " + t);
            }
        }
    }

    @Test
    void scatterElementsSpecExamplesAndOldScatter() {
        try (Arena a = Arena.ofConfined()) {
            Tensor data = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5}, 1, 5);
            Tensor idx = Tensor.ofLongs(a, new long[] {1, -2}, 1, 2);
            Tensor upd = Tensor.ofFloats(a, new float[] {1.1f, 2.1f}, 1, 2);
            assertArrayEquals(new float[] {1, 1.1f, 3, 2.1f, 5},
                    run(a, "ScatterElements", 11, attrs("axis", 1), 1, data, idx, upd)[0].toFloatArray());
            assertArrayEquals(new float[] {1, 1.1f, 3, 2.1f, 5},
                    run(a, "Scatter", 9, attrs("axis", 1), 1, data, idx, upd)[0].toFloatArray());
            Tensor dup = Tensor.ofLongs(a, new long[] {1, 1}, 1, 2);
            assertArrayEquals(new float[] {1, 5.2f, 3, 4, 5},
                    run(a, "ScatterElements", 16, attrs("axis", 1, "reduction", "add"), 1, data, dup, upd)[0].toFloatArray(), 1e-6f);
            Tensor u64 = longs(a, DType.UINT64, new long[] {1, -1, 5}, 3);
            Tensor u64upd = longs(a, DType.UINT64, new long[] {-2, 7}, 2);
            Tensor maxed = run(a, "ScatterElements", 18, attrs("reduction", "max"), 1, u64, Tensor.ofLongs(a, new long[] {0, 1}, 2), u64upd)[0];
            assertArrayEquals(new long[] {-2, -1, 5}, maxed.toLongArray());
            Tensor i32 = longs(a, DType.INT32, new long[] {Integer.MAX_VALUE, 0}, 2);
            Tensor wrapped = run(a, "ScatterElements", 16, attrs("reduction", "add"), 1, i32, Tensor.ofLongs(a, new long[] {0}, 1),
                    longs(a, DType.INT32, new long[] {1}, 1))[0];
            assertEquals(Integer.MIN_VALUE, wrapped.getInt(0));
        }
    }

    @Test
    void scatterRefusesReductionsBeforeTheirOpsetAndBadIndices() {
        try (Arena a = Arena.ofConfined()) {
            Tensor data = Tensor.ofFloats(a, new float[] {1, 2, 3, 4, 5}, 1, 5);
            Tensor idx = Tensor.ofLongs(a, new long[] {1, 5}, 1, 2);
            Tensor upd = Tensor.ofFloats(a, new float[] {1, 2}, 1, 2);
            EngineException e = assertThrows(EngineException.class,
                    () -> run(a, "ScatterElements", 13, attrs("reduction", "add"), 1, data, idx, upd));
            assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
            assertTrue(e.getMessage().contains("ScatterElements_0"), e.getMessage());
            assertThrows(EngineException.class, () -> run(a, "ScatterND", 16, attrs("reduction", "max"), 1, data, idx, upd));
            assertThrows(EngineException.class, () -> run(a, "ScatterND", 18, attrs("reduction", "sub"), 1, data, idx, upd));
            assertThrows(EngineException.class, () -> run(a, "Scatter", 10, attrs("reduction", "add"), 1, data, idx, upd));
            EngineException r = assertThrows(EngineException.class,
                    () -> run(a, "ScatterElements", 13, attrs("axis", 1), 1, data, idx, upd));
            assertEquals(EngineException.Kind.RUNTIME, r.kind());
            assertTrue(r.getMessage().contains("index 5") && r.getMessage().contains("size 5"), r.getMessage());
            assertThrows(EngineException.class, () -> run(a, "ScatterElements", 13, attrs("axis", 1), 1, data,
                    Tensor.ofLongs(a, new long[] {1}, 1, 1), upd));
            Tensor nd = Tensor.ofLongs(a, new long[] {0, 7}, 1, 2);
            EngineException n = assertThrows(EngineException.class,
                    () -> run(a, "ScatterND", 11, Attributes.empty(), 1, data, nd, Tensor.ofFloats(a, new float[] {9}, 1)));
            assertTrue(n.getMessage().contains("index 7"), n.getMessage());
            assertThrows(EngineException.class,
                    () -> run(a, "ScatterND", 11, Attributes.empty(), 1, data, Tensor.ofLongs(a, new long[] {0}, 1, 1), upd));
        }
    }
}
