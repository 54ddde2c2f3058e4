package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.attrs;
import static dev.gatun.engine.ops.LayoutTestSupport.run;
import static dev.gatun.engine.ops.LayoutTestSupport.run1;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class PoolOpsTest {
    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(11);

    @AfterEach
    void close() {
        arena.close();
    }

    // ---------------------------------------------------------------- scalar reference

    /** Pooling parameters of one reference computation; pads are begin..., end... and ignored unless NOTSET. */
    record Params(String op, int[] kernel, int[] strides, int[] dil, int[] pads, String autoPad, boolean ceil,
                  boolean includePad, double p) {}

    /** Output sizes and effective begin/end pads by the ONNX rules, written out plainly per dim. */
    private static int[][] geometry(Params q, long[] dims) {
        int k = q.kernel.length;
        int[] out = new int[k];
        int[] pb = new int[k];
        int[] pe = new int[k];
        for (int i = 0; i < k; i++) {
            int in = (int) dims[i + 2];
            int ek = (q.kernel[i] - 1) * q.dil[i] + 1;
            int s = q.strides[i];
            if (q.autoPad.startsWith("SAME")) {
                out[i] = (int) Math.ceil(in / (double) s);
                int total = Math.max(0, (out[i] - 1) * s + ek - in);
                pb[i] = q.autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                pe[i] = total - pb[i];
            } else if (q.autoPad.equals("VALID")) {
                out[i] = (int) Math.floor((in - ek) / (double) s) + 1;
            } else {
                pb[i] = q.pads[i];
                pe[i] = q.pads[i + k];
                double v = (in + pb[i] + pe[i] - ek) / (double) s + 1;
                out[i] = q.ceil ? (int) Math.ceil(v) : (int) Math.floor(v);
                if (q.ceil && (out[i] - 1) * s >= in + pb[i]) {
                    out[i]--;
                }
            }
        }
        return new int[][] {out, pb, pe};
    }

    /** Reference pooling in double; returns {values, argmax flat indices (row-major)}. */
    private static Object[] reference(Params q, double[] x, long[] dims) {
        int k = q.kernel.length;
        int[][] g = geometry(q, dims);
        int[] out = g[0];
        int[] pb = g[1];
        int[] pe = g[2];
        long planes = dims[0] * dims[1];
        int inPlane = 1;
        int outPlane = 1;
        for (int i = 0; i < k; i++) {
            inPlane *= (int) dims[i + 2];
            outPlane *= out[i];
        }
        double[] y = new double[(int) planes * outPlane];
        long[] arg = new long[y.length];
        int kernelSize = 1;
        for (int v : q.kernel) {
            kernelSize *= v;
        }
        for (int pl = 0; pl < planes; pl++) {
            for (int j = 0; j < outPlane; j++) {
                int[] o = new int[k];
                int rest = j;
                for (int i = k - 1; i >= 0; i--) {
                    o[i] = rest % out[i];
                    rest /= out[i];
                }
                double best = Double.NEGATIVE_INFINITY;
                long bestAt = -1;
                double sum = 0;
                int inside = 0;
                int padded = 0;
                for (int t = 0; t < kernelSize; t++) {
                    int tr = t;
                    int flat = 0;
                    boolean in = true;
                    boolean inPad = true;
                    int[] tap = new int[k];
                    for (int i = k - 1; i >= 0; i--) {
                        tap[i] = tr % q.kernel[i];
                        tr /= q.kernel[i];
                    }
                    for (int i = 0; i < k; i++) {
                        int pos = o[i] * q.strides[i] - pb[i] + tap[i] * q.dil[i];
                        in &= pos >= 0 && pos < dims[i + 2];
                        inPad &= pos >= -pb[i] && pos < dims[i + 2] + pe[i];
                        flat = flat * (int) dims[i + 2] + pos;
                    }
                    if (inPad) {
                        padded++;
                    }
                    if (!in) {
                        continue;
                    }
                    inside++;
                    double v = x[pl * inPlane + flat];
                    sum += q.op.equals("LpPool") ? Math.pow(Math.abs(v), q.p) : v;
                    if (bestAt < 0 || v > best) {
                        best = v;
                        bestAt = (long) pl * inPlane + flat;
                    }
                }
                int at = pl * outPlane + j;
                arg[at] = bestAt;
                y[at] = switch (q.op) {
                    case "MaxPool" -> best;
                    case "AveragePool" -> sum / (q.includePad ? padded : inside);
                    default -> Math.pow(sum, 1 / q.p);
                };
            }
        }
        long[] od = dims.clone();
        for (int i = 0; i < k; i++) {
            od[i + 2] = out[i];
        }
        return new Object[] {y, arg, od};
    }

    private static long[] longs(int[] v) {
        return Arrays.stream(v).asLongStream().toArray();
    }

    private Attributes attributes(Params q) {
        List<Object> kv = new ArrayList<>(List.of("kernel_shape", longs(q.kernel), "strides", longs(q.strides),
                "dilations", longs(q.dil), "auto_pad", q.autoPad, "ceil_mode", q.ceil ? 1L : 0L));
        if (q.autoPad.equals("NOTSET")) {
            kv.addAll(List.of("pads", longs(q.pads)));
        }
        if (q.op.equals("AveragePool")) {
            kv.addAll(List.of("count_include_pad", q.includePad ? 1L : 0L));
        }
        if (q.op.equals("LpPool")) {
            kv.addAll(List.of("p", (long) q.p));
        }
        return attrs(kv.toArray());
    }

    private Params randomParams(String op, int k) {
        int[] kernel = new int[k];
        int[] strides = new int[k];
        int[] dil = new int[k];
        int[] pads = new int[2 * k];
        for (int i = 0; i < k; i++) {
            kernel[i] = 1 + rnd.nextInt(3);
            strides[i] = 1 + rnd.nextInt(3);
            dil[i] = rnd.nextInt(4) == 0 ? 2 : 1;
            pads[i] = rnd.nextInt(kernel[i]);
            pads[i + k] = rnd.nextInt(kernel[i]);
        }
        String[] autoPads = {"NOTSET", "NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
        String ap = autoPads[rnd.nextInt(autoPads.length)];
        boolean ceil = ap.equals("NOTSET") && rnd.nextBoolean();
        return new Params(op, kernel, strides, dil, pads, ap, ceil, rnd.nextBoolean(), op.equals("LpPool") ? 2 + rnd.nextInt(2) : 0);
    }

    private long[] randomDims(int k) {
        int[] sizes = k == 3 ? new int[] {1, 4, 5, 7} : new int[] {1, 2, 5, 7, 17, 33};
        long[] d = new long[k + 2];
        d[0] = 1 + rnd.nextInt(2);
        d[1] = 1 + rnd.nextInt(3);
        for (int i = 0; i < k; i++) {
            d[i + 2] = sizes[rnd.nextInt(sizes.length)] + 2;
        }
        return d;
    }

    private Tensor tensor(DType t, double[] v, long[] dims) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
        for (int i = 0; i < v.length; i++) {
            x.setDouble(i, v[i]);
        }
        return x;
    }

    private double[] randomValues(int n, DType t) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = t == DType.UINT8 ? rnd.nextInt(256) : (float) (rnd.nextGaussian() * 4);
            if (t == DType.FLOAT16) {
                v[i] = Float.float16ToFloat(Float.floatToFloat16((float) v[i]));
            }
        }
        return v;
    }

    private static void assertClose(double[] want, Tensor got, double tol, String what) {
        assertEquals(want.length, got.size(), what + " size");
        for (int i = 0; i < want.length; i++) {
            double g = got.getDouble(i);
            assertEquals(want[i], g, tol * Math.max(1, Math.abs(want[i])), what + " at " + i + " shape " + got.shape());
        }
    }

    // ---------------------------------------------------------------- random comparisons

    @Test
    void poolsMatchReferenceOnRandomShapes() {
        String[] ops = {"MaxPool", "AveragePool", "LpPool"};
        DType[] types = {DType.FLOAT, DType.FLOAT, DType.DOUBLE, DType.FLOAT16};
        int ran = 0;
        for (int trial = 0; trial < 240; trial++) {
            String op = ops[trial % 3];
            int k = 1 + (trial / 3) % 3;
            DType t = types[(trial / 9) % types.length];
            Params q = randomParams(op, k);
            long[] dims = randomDims(k);
            double[] x = randomValues((int) Shape.of(dims).size(), t);
            int[] out = geometry(q, dims)[0];
            if (Arrays.stream(out).anyMatch(o -> o <= 0)) {
                continue;
            }
            Object[] ref = reference(q, x, dims);
            Tensor y = run1(arena, op, 22, attributes(q), tensor(t, x, dims));
            assertEquals(Shape.of((long[]) ref[2]), y.shape(), "shape for " + q + " " + Arrays.toString(dims));
            double tol = t == DType.FLOAT16 ? 2e-3 : 1e-5;
            assertClose((double[]) ref[0], y, tol, op + " " + t + " " + Arrays.toString(dims) + " " + describe(q));
            ran++;
        }
        assertTrue(ran > 150, "only " + ran + " random cases ran");
    }

    /** The 3x3 stride-2 float MaxPool kernel (ResNet's stem) against the reference: odd sizes, pads 0-2, ceil mode. */
    @Test
    void maxPool3x3Stride2MatchesReference() {
        int[] sizes = {3, 4, 5, 17, 33, 34, 56};
        for (int trial = 0; trial < 60; trial++) {
            int[] pads = {rnd.nextInt(3), rnd.nextInt(3), rnd.nextInt(3), rnd.nextInt(3)};
            Params q = new Params("MaxPool", new int[] {3, 3}, new int[] {2, 2}, new int[] {1, 1}, pads, "NOTSET",
                    rnd.nextBoolean(), false, 0);
            long[] dims = {1 + rnd.nextInt(2), 1 + rnd.nextInt(5), sizes[rnd.nextInt(sizes.length)], sizes[rnd.nextInt(sizes.length)]};
            if (Arrays.stream(geometry(q, dims)[0]).anyMatch(o -> o <= 0)) {
                continue;
            }
            double[] x = randomValues((int) Shape.of(dims).size(), DType.FLOAT);
            Object[] ref = reference(q, x, dims);
            Tensor y = run1(arena, "MaxPool", 22, attributes(q), tensor(DType.FLOAT, x, dims));
            assertEquals(Shape.of((long[]) ref[2]), y.shape(), "shape for " + describe(q) + " " + Arrays.toString(dims));
            assertClose((double[]) ref[0], y, 0, "MaxPool 3x3/2 " + Arrays.toString(dims) + " " + describe(q));
        }
    }

    private static String describe(Params q) {
        return "k" + Arrays.toString(q.kernel) + " s" + Arrays.toString(q.strides) + " d" + Arrays.toString(q.dil)
                + " p" + Arrays.toString(q.pads) + " " + q.autoPad + " ceil=" + q.ceil + " incl=" + q.includePad + " p=" + q.p;
    }

    @Test
    void maxPoolIndicesMatchReference() {
        for (int trial = 0; trial < 60; trial++) {
            int k = 1 + trial % 3;
            DType t = trial % 2 == 0 ? DType.FLOAT : DType.UINT8;
            Params q = randomParams("MaxPool", k);
            long[] dims = randomDims(k);
            double[] x = randomValues((int) Shape.of(dims).size(), t);
            if (Arrays.stream(geometry(q, dims)[0]).anyMatch(o -> o <= 0)) {
                continue;
            }
            Object[] ref = reference(q, x, dims);
            Tensor[] y = run(arena, "MaxPool", 12, attributes(q), 2, tensor(t, x, dims));
            assertClose((double[]) ref[0], y[0], 0, "values " + describe(q));
            long[] want = (long[]) ref[1];
            long[] got = y[1].toLongArray();
            for (int i = 0; i < want.length; i++) {
                // Ties (uint8) may pick any equal maximum; the value there must be the maximum.
                assertEquals(x[(int) want[i]], x[(int) got[i]], "index value at " + i + " " + describe(q));
            }
            if (t == DType.FLOAT) {
                assertArrayEquals(want, got, describe(q));
            }
        }
    }

    // ---------------------------------------------------------------- hand-computed cases

    private Tensor iota(int n, long... dims) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i + 1;
        }
        return Tensor.ofFloats(arena, v, dims);
    }

    @Test
    void averagePoolCeilModeHandComputed() {
        Tensor y = run1(arena, "AveragePool", 10, attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2},
                "ceil_mode", 1L), iota(16, 1, 1, 4, 4));
        assertEquals(Shape.of(1, 1, 2, 2), y.shape());
        assertArrayEquals(new float[] {6, 7.5f, 12, 13.5f}, y.toFloatArray());
        Tensor floor = run1(arena, "AveragePool", 7, attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}),
                iota(16, 1, 1, 4, 4));
        assertArrayEquals(new float[] {6}, floor.toFloatArray());
    }

    @Test
    void ceilModeDropsWindowStartingInPadding() {
        // 2x2 input, kernel 1, stride 2, pads 1 at the end: ceil gives 2 windows, the second starts in the pad.
        Tensor y = run1(arena, "MaxPool", 12, attrs("kernel_shape", new long[] {1, 1}, "strides", new long[] {2, 2},
                "pads", new long[] {0, 0, 1, 1}, "ceil_mode", 1L), iota(4, 1, 1, 2, 2));
        assertEquals(Shape.of(1, 1, 1, 1), y.shape());
        assertArrayEquals(new float[] {1}, y.toFloatArray());
    }

    @Test
    void averagePoolCountIncludePadHandComputed() {
        // 3x3 of ones, kernel 2, pads 1 on all sides: corners see one input of four taps.
        Tensor x = Tensor.ofFloats(arena, new float[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 1, 3, 3);
        Attributes base = attrs("kernel_shape", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}, "count_include_pad", 1L);
        Tensor y = run1(arena, "AveragePool", 7, base, x);
        assertEquals(Shape.of(1, 1, 4, 4), y.shape());
        float[] v = y.toFloatArray();
        assertEquals(0.25f, v[0]);
        assertEquals(0.5f, v[1]);
        assertEquals(1f, v[5]);
        Tensor excl = run1(arena, "AveragePool", 7, attrs("kernel_shape", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}), x);
        for (float f : excl.toFloatArray()) {
            assertEquals(1f, f);
        }
    }

    @Test
    void maxPoolWithIndicesAndStorageOrder() {
        Tensor x = iota(16, 1, 1, 4, 4);
        Attributes a = attrs("kernel_shape", new long[] {2, 2}, "strides", new long[] {2, 2});
        Tensor[] y = run(arena, "MaxPool", 8, a, 2, x);
        assertArrayEquals(new float[] {6, 8, 14, 16}, y[0].toFloatArray());
        assertArrayEquals(new long[] {5, 7, 13, 15}, y[1].toLongArray());
        Tensor[] col = run(arena, "MaxPool", 8, attrs("kernel_shape", new long[] {2, 2}, "strides", new long[] {2, 2},
                "storage_order", 1L), 2, x);
        // Column-major: h + w * H.
        assertArrayEquals(new long[] {1 + 1 * 4, 1 + 3 * 4, 3 + 1 * 4, 3 + 3 * 4}, col[1].toLongArray());
        // Second plane: indices count every element of X before it.
        Tensor two = iota(32, 1, 2, 4, 4);
        Tensor[] y2 = run(arena, "MaxPool", 12, a, 2, two);
        assertArrayEquals(new long[] {5, 7, 13, 15, 21, 23, 29, 31}, y2[1].toLongArray());
    }

    @Test
    void maxPoolDilatedHandComputed() {
        Tensor y = run1(arena, "MaxPool", 10, attrs("kernel_shape", new long[] {2, 2}, "dilations", new long[] {2, 2}),
                iota(16, 1, 1, 4, 4));
        assertArrayEquals(new float[] {11, 12, 15, 16}, y.toFloatArray());
    }

    @Test
    void lpPoolOldAndNewOpsets() {
        Tensor x = Tensor.ofFloats(arena, new float[] {3, 4, -6, 8}, 1, 1, 4);
        // Opset 1: p is a float attribute.
        Tensor y1 = run1(arena, "LpPool", 1, attrs("kernel_shape", new long[] {2}, "strides", new long[] {2}, "p", 2f), x);
        assertArrayEquals(new float[] {5, 10}, y1.toFloatArray());
        Tensor y2 = run1(arena, "LpPool", 18, attrs("kernel_shape", new long[] {2}, "strides", new long[] {2}, "p", 1L), x);
        assertArrayEquals(new float[] {7, 14}, y2.toFloatArray());
        Tensor g = run1(arena, "GlobalLpPool", 2, attrs(), x);
        assertEquals(Shape.of(1, 1, 1), g.shape());
        assertEquals(Math.sqrt(9 + 16 + 36 + 64), g.toFloatArray()[0], 1e-5);
    }

    @Test
    void globalPoolsMatchReference() {
        for (DType t : new DType[] {DType.FLOAT, DType.DOUBLE, DType.FLOAT16}) {
            for (long[] dims : new long[][] {{2, 3, 7, 5}, {1, 2, 33}, {1, 1, 1, 1}, {2, 1, 3, 17, 2}}) {
                double[] x = randomValues((int) Shape.of(dims).size(), t);
                int plane = (int) Shape.of(dims).sizeOf(2, dims.length);
                int planes = (int) (dims[0] * dims[1]);
                double[] max = new double[planes];
                double[] avg = new double[planes];
                double[] lp = new double[planes];
                for (int p = 0; p < planes; p++) {
                    max[p] = Double.NEGATIVE_INFINITY;
                    for (int i = 0; i < plane; i++) {
                        double v = x[p * plane + i];
                        max[p] = Math.max(max[p], v);
                        avg[p] += v / plane;
                        lp[p] += v * v;
                    }
                    lp[p] = Math.sqrt(lp[p]);
                }
                Tensor in = tensor(t, x, dims);
                long[] od = dims.clone();
                Arrays.fill(od, 2, od.length, 1);
                double tol = t == DType.FLOAT16 ? 2e-3 : 1e-5;
                Tensor gm = run1(arena, "GlobalMaxPool", 1, attrs(), in);
                assertEquals(Shape.of(od), gm.shape());
                assertClose(max, gm, 0, "GlobalMaxPool " + t);
                assertClose(avg, run1(arena, "GlobalAveragePool", 1, attrs(), in), tol, "GlobalAveragePool " + t);
                assertClose(lp, run1(arena, "GlobalLpPool", 2, attrs(), in), tol, "GlobalLpPool " + t);
            }
        }
    }

    /**
     * GlobalAveragePool over many planes (the 16-plane transposing tree, its partial last group and the larger-plane
     * path) against a double sum, and equal planes giving equal means wherever they sit in a group.
     */
    @Test
    void globalAverageOfManyPlanesMatchesDoubleSum() {
        java.util.Random r = new java.util.Random(7);
        for (int size : new int[] {1, 5, 15, 16, 17, 49, 196, 1023, 1024, 1025, 3000}) {
            for (int planes : new int[] {1, 15, 16, 37, 700}) {
                if ((long) size * planes > 1 << 21) {
                    continue;
                }
                float[] x = new float[size * planes];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) r.nextGaussian() + 0.5f;
                }
                // Plane 0 again at a few other positions: same bits wherever it sits.
                for (int q : new int[] {planes / 3, planes - 1}) {
                    System.arraycopy(x, 0, x, q * size, size);
                }
                Tensor in = Tensor.ofFloats(arena, x, 1, planes, size);
                float[] got = run1(arena, "GlobalAveragePool", 1, attrs(), in).toFloatArray();
                for (int q = 0; q < planes; q++) {
                    double sum = 0;
                    double abs = 0;
                    for (int i = 0; i < size; i++) {
                        sum += x[q * size + i];
                        abs += Math.abs(x[q * size + i]);
                    }
                    assertEquals(sum / size, got[q], 1e-6 * (1 + abs / size), "plane " + q + " of " + planes + ", size " + size);
                }
                assertEquals(got[0], got[planes / 3], 0f, "equal planes, size " + size);
                assertEquals(got[0], got[planes - 1], 0f, "equal planes, size " + size);
            }
        }
    }

    @Test
    void maxUnpoolScattersAtIndices() {
        Tensor x = Tensor.ofFloats(arena, new float[] {5, 6, 7, 8}, 1, 1, 2, 2);
        Tensor idx = Tensor.ofLongs(arena, new long[] {5, 7, 13, 15}, 1, 1, 2, 2);
        Attributes a = attrs("kernel_shape", new long[] {2, 2}, "strides", new long[] {2, 2});
        Tensor y = run1(arena, "MaxUnpool", 11, a, x, idx);
        assertEquals(Shape.of(1, 1, 4, 4), y.shape());
        assertArrayEquals(new float[] {0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 7, 0, 8}, y.toFloatArray());
        Tensor big = run1(arena, "MaxUnpool", 11, a, x, idx, Tensor.ofLongs(arena, new long[] {1, 1, 5, 5}, 4));
        float[] v = big.toFloatArray();
        assertEquals(5f, v[6]);
        assertEquals(6f, v[8]);
        assertEquals(7f, v[16]);
        assertEquals(8f, v[18]);
        assertEquals(26f, v[6] + v[8] + v[16] + v[18] + 0);
        Tensor bad = Tensor.ofLongs(arena, new long[] {5, 7, 13, 99}, 1, 1, 2, 2);
        EngineException e = assertThrows(EngineException.class, () -> run1(arena, "MaxUnpool", 11, a, x, bad));
        assertTrue(e.getMessage().contains("MaxUnpool_0"), e.getMessage());
    }

    /** A context that claims 4 threads and runs the tasks on the caller in reverse order. */
    static KernelContext splitContext(Arena arena, int[] calls) {
        ArenaContext base = new ArenaContext(arena);
        return new KernelContext() {
            @Override
            public Tensor allocate(DType dtype, Shape shape) {
                return base.allocate(dtype, shape);
            }

            @Override
            public int threads() {
                return 4;
            }

            @Override
            public void parallelFor(int tasks, java.util.function.IntConsumer body) {
                assertTrue(tasks > 1 && tasks <= 16, "tasks " + tasks);
                calls[0]++;
                for (int i = tasks - 1; i >= 0; i--) {
                    body.accept(i);
                }
            }
        };
    }

    /** Plans through the registry and runs with {@code ctx}. */
    static Tensor[] runWith(KernelContext ctx, String op, int opset, Attributes a, int outputs, Tensor... inputs) {
        DType[] types = new DType[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            types[i] = inputs[i] == null ? null : inputs[i].dtype();
        }
        return OpRegistry.plan(NodeSpec.of(op, opset, a, outputs, types)).kernel().run(ctx, inputs);
    }

    @Test
    void splitAcrossThreadsGivesTheSameResult() {
        KernelContext one = new ArenaContext(arena);
        int[] calls = {0};
        KernelContext four = splitContext(arena, calls);
        for (DType t : new DType[] {DType.FLOAT, DType.DOUBLE}) {
            long[] dims = {2, 8, 65, 35};
            Tensor x = tensor(t, randomValues((int) Shape.of(dims).size(), t), dims);
            Attributes a = attrs("kernel_shape", new long[] {3, 3}, "pads", new long[] {1, 1, 1, 1}, "strides", new long[] {2, 1});
            for (String op : new String[] {"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool"}) {
                Attributes use = op.startsWith("Global") ? attrs() : a;
                Tensor y1 = runWith(one, op, 13, use, 1, x)[0];
                Tensor y4 = runWith(four, op, 13, use, 1, x)[0];
                assertClose(doubles(y1), y4, 0, op + " " + t);
            }
            Tensor[] i1 = runWith(one, "MaxPool", 13, a, 2, x);
            Tensor[] i4 = runWith(four, "MaxPool", 13, a, 2, x);
            assertArrayEquals(i1[1].toLongArray(), i4[1].toLongArray());
        }
        assertEquals(10, calls[0], "parallel regions");
    }

    private static double[] doubles(Tensor t) {
        double[] d = new double[(int) t.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = t.getDouble(i);
        }
        return d;
    }

    // ---------------------------------------------------------------- refusals and run-time errors

    @Test
    void badAttributesAreRefusedNamingTheNode() {
        Tensor x = iota(16, 1, 1, 4, 4);
        EngineException noKernel = assertThrows(EngineException.class, () -> run1(arena, "MaxPool", 12, attrs(), x));
        assertEquals(EngineException.Kind.UNSUPPORTED, noKernel.kind());
        assertTrue(noKernel.getMessage().contains("MaxPool_0"), noKernel.getMessage());
        EngineException badPad = assertThrows(EngineException.class, () -> run1(arena, "AveragePool", 12,
                attrs("kernel_shape", new long[] {2, 2}, "auto_pad", "SAME"), x));
        assertTrue(badPad.getMessage().contains("auto_pad"), badPad.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "AveragePool", 12,
                attrs("kernel_shape", new long[] {2, 2}, "pads", new long[] {1, 1}), x));
        assertThrows(EngineException.class, () -> run1(arena, "LpPool", 12,
                attrs("kernel_shape", new long[] {2, 2}, "p", 0L), x));
        assertThrows(EngineException.class, () -> run1(arena, "AveragePool", 12,
                attrs("kernel_shape", new long[] {2, 2}), Tensor.ofInts(arena, new int[16], 1, 1, 4, 4)));
    }

    @Test
    void rankMismatchAndOversizedKernelFailAtRunTime() {
        Tensor x = iota(16, 1, 1, 4, 4);
        EngineException rank = assertThrows(EngineException.class,
                () -> run1(arena, "MaxPool", 12, attrs("kernel_shape", new long[] {2}), x));
        assertEquals(EngineException.Kind.RUNTIME, rank.kind());
        assertTrue(rank.getMessage().contains("MaxPool_0") && rank.getMessage().contains("[1,1,4,4]"), rank.getMessage());
        EngineException big = assertThrows(EngineException.class,
                () -> run1(arena, "AveragePool", 12, attrs("kernel_shape", new long[] {5, 5}), x));
        assertTrue(big.getMessage().contains("does not fit"), big.getMessage());
    }
}
