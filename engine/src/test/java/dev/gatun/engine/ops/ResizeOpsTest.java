package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.LayoutTestSupport.attrs;
import static dev.gatun.engine.ops.LayoutTestSupport.run1;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ResizeOpsTest {
    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(5);

    @AfterEach
    void close() {
        arena.close();
    }

    // ---------------------------------------------------------------- scalar reference (the ONNX reference's steps)

    record Cfg(String mode, String coord, String nearest, double a, boolean exclude, double extrap, boolean antialias) {}

    /** One axis: input coordinate of output o, NaN when tf_crop_and_resize extrapolates. */
    private static double coord(Cfg c, int o, int in, int out, double scale, double outW, double r0, double r1) {
        switch (c.coord) {
            case "half_pixel":
                return (o + 0.5) / scale - 0.5;
            case "half_pixel_symmetric":
                return in / 2.0 * (1 - out / outW) + (o + 0.5) / scale - 0.5;
            case "pytorch_half_pixel":
                return outW == 1 ? -0.5 : (o + 0.5) / scale - 0.5;
            case "align_corners":
                return outW == 1 ? 0 : o * (in - 1.0) / (outW - 1);
            case "asymmetric":
                return o / scale;
            case "tf_half_pixel_for_nn":
                return (o + 0.5) / scale;
            default: {
                double x = outW == 1 ? (r1 - r0) * (in - 1) / 2.0 : o * (r1 - r0) * (in - 1) / (outW - 1);
                x += r0 * (in - 1);
                return x < 0 || x > in - 1 ? Double.NaN : x;
            }
        }
    }

    private static double[] coeffs(Cfg c, double ratio, double scale) {
        double a = c.a;
        if (c.mode.equals("nearest")) {
            if (ratio == 1) {
                return new double[] {0, 1};
            }
            boolean up = switch (c.nearest) {
                case "round_prefer_floor" -> ratio > 0.5;
                case "round_prefer_ceil" -> ratio >= 0.5;
                case "floor" -> false;
                default -> true;
            };
            return up ? new double[] {0, 1} : new double[] {1, 0};
        }
        if (!c.antialias) {
            if (c.mode.equals("linear")) {
                return new double[] {1 - ratio, ratio};
            }
            double[] k = new double[4];
            for (int j = 0; j < 4; j++) {
                k[j] = keys(Math.abs(j - 1 - ratio), a);
            }
            return k;
        }
        double s = Math.min(scale, 1);
        List<Double> w = new ArrayList<>();
        if (c.mode.equals("linear")) {
            int start = (int) (Math.floor(-1 / s) + 1);
            for (int i = start; i < start + 2 - 2 * start; i++) {
                w.add(Math.max(0, Math.min(1, 1 - Math.abs((i - ratio) * s))));
            }
        } else {
            int start = (int) (Math.floor(-2 / s) + 1);
            for (int i = start; i < 2 - start; i++) {
                w.add(keys(Math.abs(s * (i - ratio)), a));
            }
        }
        double sum = w.stream().mapToDouble(Double::doubleValue).sum();
        return w.stream().mapToDouble(v -> v / sum).toArray();
    }

    /** The Keys cubic kernel at distance t. */
    private static double keys(double t, double a) {
        if (t <= 1) {
            return (a + 2) * t * t * t - (a + 3) * t * t + 1;
        }
        if (t < 2) {
            return a * t * t * t - 5 * a * t * t + 8 * a * t - 4 * a;
        }
        return 0;
    }

    /** The n indexes nearest x in the edge-padded axis (ties to the smaller), as original indexes. */
    private static int[] neighbours(double x, int n, int in) {
        int pad = (n + 1) / 2;
        Integer[] all = new Integer[in + 2 * pad];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        double xp = x + pad;
        Arrays.sort(all, Comparator.<Integer>comparingDouble(i -> Math.abs(xp - i)).thenComparingInt(i -> i));
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = all[i] - pad;
        }
        Arrays.sort(r);
        return r;
    }

    /** Per axis and output index: {indexes (clamped), weights}, or null for extrapolation. */
    private static Object[][] axisTable(Cfg c, int in, int out, double scale, double outW, double r0, double r1) {
        Object[][] t = new Object[out][];
        for (int o = 0; o < out; o++) {
            double x = coord(c, o, in, out, scale, outW, r0, r1);
            if (Double.isNaN(x)) {
                continue;
            }
            double ratio = x == Math.floor(x) ? 1 : x - Math.floor(x);
            double[] w = coeffs(c, ratio, scale);
            int[] idx = neighbours(x, w.length, in);
            if (c.exclude && !c.mode.equals("nearest")) {
                double sum = 0;
                for (int j = 0; j < w.length; j++) {
                    if (idx[j] < 0 || idx[j] >= in) {
                        w[j] = 0;
                    }
                    sum += w[j];
                }
                for (int j = 0; j < w.length; j++) {
                    w[j] /= sum;
                }
            }
            for (int j = 0; j < idx.length; j++) {
                idx[j] = Math.max(0, Math.min(in - 1, idx[j]));
            }
            t[o] = new Object[] {idx, w};
        }
        return t;
    }

    /** Reference resize: every output element as the full tensor product of the per-axis taps. */
    private static double[] reference(Cfg c, double[] x, long[] in, long[] out, double[] scale, double[] outW, double[] roi) {
        int r = in.length;
        Object[][][] tables = new Object[r][][];
        for (int a = 0; a < r; a++) {
            tables[a] = axisTable(c, (int) in[a], (int) out[a], scale[a], outW[a], roi[a], roi[r + a]);
        }
        long[] stride = Shape.of(in).strides();
        int n = (int) Shape.of(out).size();
        double[] y = new double[n];
        for (int f = 0; f < n; f++) {
            int rest = f;
            int[] o = new int[r];
            for (int a = r - 1; a >= 0; a--) {
                o[a] = (int) (rest % out[a]);
                rest /= (int) out[a];
            }
            y[f] = product(tables, o, 0, 0, x, stride, c.extrap);
        }
        return y;
    }

    private static double product(Object[][][] tables, int[] o, int a, long base, double[] x, long[] stride, double e) {
        if (a == o.length) {
            return x[(int) base];
        }
        Object[] t = tables[a][o[a]];
        if (t == null) {
            return e;
        }
        int[] idx = (int[]) t[0];
        double[] w = (double[]) t[1];
        double s = 0;
        for (int j = 0; j < idx.length; j++) {
            if (w[j] != 0) {
                s += w[j] * product(tables, o, a + 1, base + idx[j] * stride[a], x, stride, e);
            }
        }
        return s;
    }

    // ---------------------------------------------------------------- random comparisons

    private Attributes attributes(Cfg c, long[] axes) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        m.put("mode", new Attribute.Str(c.mode));
        m.put("coordinate_transformation_mode", new Attribute.Str(c.coord));
        m.put("nearest_mode", new Attribute.Str(c.nearest));
        m.put("cubic_coeff_a", new Attribute.Float((float) c.a));
        m.put("exclude_outside", new Attribute.Int(c.exclude ? 1 : 0));
        m.put("extrapolation_value", new Attribute.Float((float) c.extrap));
        m.put("antialias", new Attribute.Int(c.antialias ? 1 : 0));
        if (axes != null) {
            m.put("axes", new Attribute.Ints(axes));
        }
        return new Attributes(m);
    }

    @Test
    void resizeMatchesReferenceOnRandomShapes() {
        String[] modes = {"nearest", "linear", "cubic"};
        String[] coords = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                "tf_crop_and_resize", "tf_half_pixel_for_nn"};
        String[] nearests = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
        int ran = 0;
        for (int trial = 0; trial < 300; trial++) {
            String mode = modes[trial % 3];
            String coord = coords[(trial / 3) % coords.length];
            if (coord.equals("tf_half_pixel_for_nn") && !mode.equals("nearest")) {
                coord = "asymmetric";
            }
            boolean antialias = !mode.equals("nearest") && rnd.nextInt(3) == 0;
            Cfg c = new Cfg(mode, coord, nearests[rnd.nextInt(4)], rnd.nextBoolean() ? -0.75 : -0.5,
                    !mode.equals("nearest") && rnd.nextBoolean(), rnd.nextInt(3) == 0 ? 0 : 10, antialias);
            int r = 1 + rnd.nextInt(4);
            long[] in = new long[r];
            int[] sizes = {1, 2, 3, 5, 7, 17};
            for (int a = 0; a < r; a++) {
                in[a] = sizes[rnd.nextInt(r >= 3 ? 4 : sizes.length)];
            }
            // Resize a random non-empty subset of axes, in a random order, via scales or sizes.
            List<Integer> chosen = new ArrayList<>();
            for (int a = 0; a < r; a++) {
                if (rnd.nextInt(3) > 0 || a == r - 1) {
                    chosen.add(rnd.nextBoolean() ? chosen.size() : 0, a);
                }
            }
            boolean useAxes = rnd.nextBoolean() || chosen.size() < r;
            int[] ax = useAxes ? chosen.stream().mapToInt(Integer::intValue).toArray() : java.util.stream.IntStream.range(0, r).toArray();
            boolean bySizes = rnd.nextBoolean();
            double[] scale = new double[r];
            double[] outW = new double[r];
            long[] out = in.clone();
            Arrays.fill(scale, 1);
            float[] scalesIn = new float[ax.length];
            long[] sizesIn = new long[ax.length];
            float[] roiIn = new float[2 * ax.length];
            double[] roi = new double[2 * r];
            Arrays.fill(roi, r, 2 * r, 1);
            for (int i = 0; i < ax.length; i++) {
                int a = ax[i];
                if (bySizes) {
                    sizesIn[i] = 1 + rnd.nextInt(9);
                    out[a] = sizesIn[i];
                    scale[a] = (double) out[a] / in[a];
                } else {
                    float[] choices = {0.5f, 0.6f, 1f, 1.5f, 2f, 3f, 0.34f};
                    scalesIn[i] = choices[rnd.nextInt(choices.length)];
                    scale[a] = scalesIn[i];
                    out[a] = (long) Math.floor(scale[a] * in[a]);
                }
                roiIn[i] = (float) (rnd.nextDouble() * 0.6 - 0.2);
                roiIn[ax.length + i] = (float) (0.5 + rnd.nextDouble() * 0.7);
                roi[a] = roiIn[i];
                roi[r + a] = roiIn[ax.length + i];
            }
            if (Arrays.stream(out).anyMatch(v -> v == 0)) {
                continue;
            }
            for (int a = 0; a < r; a++) {
                outW[a] = bySizes ? out[a] : scale[a] * in[a];
            }
            DType t = trial % 4 == 3 ? DType.DOUBLE : DType.FLOAT;
            int n = (int) Shape.of(in).size();
            double[] x = new double[n];
            Tensor xt = Tensor.allocate(arena, t, Shape.of(in));
            for (int i = 0; i < n; i++) {
                x[i] = (float) rnd.nextGaussian();
                xt.setDouble(i, x[i]);
            }
            double[] want = reference(c, x, in, out, scale, outW, roi);
            Tensor roiT = Tensor.ofFloats(arena, roiIn, roiIn.length);
            Tensor y = run1(arena, "Resize", 19, attributes(c, useAxes ? Arrays.stream(ax).asLongStream().toArray() : null),
                    xt, coord.equals("tf_crop_and_resize") ? roiT : null,
                    bySizes ? null : Tensor.ofFloats(arena, scalesIn, scalesIn.length),
                    bySizes ? Tensor.ofLongs(arena, sizesIn, sizesIn.length) : null);
            String what = c + " in " + Arrays.toString(in) + " axes " + Arrays.toString(ax) + " scales "
                    + Arrays.toString(scalesIn) + " sizes " + Arrays.toString(sizesIn) + " bySizes " + bySizes;
            assertEquals(Shape.of(out), y.shape(), what);
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], y.getDouble(i), 1e-4 * Math.max(1, Math.abs(want[i])), what + " at " + i);
            }
            ran++;
        }
        assertTrue(ran > 200, "only " + ran + " random cases ran");
    }

    // ---------------------------------------------------------------- hand-computed cases (ONNX operator docs)

    private Tensor floats(float[] v, long... dims) {
        return Tensor.ofFloats(arena, v, dims);
    }

    private static void assertFloats(float[] want, Tensor got, double tol) {
        float[] g = got.toFloatArray();
        assertEquals(want.length, g.length, "size of " + got.shape());
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], g[i], tol, "at " + i + ": " + Arrays.toString(g));
        }
    }

    @Test
    void nearestUpsampleAllVersions() {
        Tensor x = floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
        float[] want = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
        Tensor scales = floats(new float[] {1, 1, 2, 3}, 4);
        Map<String, Attribute> m = new LinkedHashMap<>(attrs("mode", "nearest").asMap());
        m.put("scales", new Attribute.Floats(new float[] {1, 1, 2, 3}));
        Tensor u7 = run1(arena, "Upsample", 7, new Attributes(m), x);
        assertEquals(Shape.of(1, 1, 4, 6), u7.shape());
        assertFloats(want, u7, 0);
        assertFloats(want, run1(arena, "Upsample", 9, attrs("mode", "nearest"), x, scales), 0);
        assertFloats(want, run1(arena, "Resize", 10, attrs("mode", "nearest"), x, scales), 0);
        assertFloats(want, run1(arena, "Resize", 11, attrs("mode", "nearest"), x, floats(new float[0], 0), scales), 0);
        assertFloats(want, run1(arena, "Resize", 13, attrs("mode", "nearest"), x, null, scales), 0);
    }

    @Test
    void linearUpsampleHalfPixelAndAlignCorners() {
        Tensor x = floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
        Tensor scales = floats(new float[] {1, 1, 2, 2}, 4);
        assertFloats(new float[] {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4},
                run1(arena, "Resize", 13, attrs("mode", "linear"), x, null, scales), 1e-6);
        assertFloats(new float[] {1, 1.3333333f, 1.6666667f, 2, 1.6666666f, 2, 2.3333333f, 2.6666665f,
                        2.3333333f, 2.6666665f, 3, 3.3333333f, 3, 3.3333333f, 3.6666665f, 4},
                run1(arena, "Resize", 13, attrs("mode", "linear", "coordinate_transformation_mode", "align_corners"),
                        x, null, scales), 1e-5);
        // Opset 9 Upsample linear is asymmetric: x / scale.
        assertFloats(new float[] {1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4},
                run1(arena, "Upsample", 9, attrs("mode", "linear"), x, scales), 1e-6);
    }

    @Test
    void linearDownsample() {
        Tensor x = floats(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, 2, 4);
        Tensor scales = floats(new float[] {1, 1, 0.6f, 0.6f}, 4);
        assertFloats(new float[] {2.6666665f, 4.3333331f}, run1(arena, "Resize", 13, attrs("mode", "linear"), x, null, scales), 1e-5);
        assertFloats(new float[] {1, 3.142857f}, run1(arena, "Resize", 13,
                attrs("mode", "linear", "coordinate_transformation_mode", "align_corners"), x, null, scales), 1e-5);
        assertFloats(new float[] {1, 3}, run1(arena, "Resize", 13, attrs("mode", "nearest"), x, null, scales), 0);
    }

    @Test
    void keepAspectRatioPolicy() {
        Tensor x = floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
        Tensor sizes = Tensor.ofLongs(arena, new long[] {7, 8}, 2);
        Tensor larger = run1(arena, "Resize", 18, attrs("mode", "nearest", "axes", new long[] {2, 3},
                "keep_aspect_ratio_policy", "not_larger"), x, null, null, sizes);
        assertEquals(Shape.of(1, 1, 7, 7), larger.shape());
        Tensor smaller = run1(arena, "Resize", 18, attrs("mode", "nearest", "axes", new long[] {2, 3},
                "keep_aspect_ratio_policy", "not_smaller"), x, null, null, sizes);
        assertEquals(Shape.of(1, 1, 8, 8), smaller.shape());
    }

    @Test
    void integerAndHalfTypes() {
        Tensor u8 = Tensor.allocate(arena, DType.UINT8, Shape.of(1, 2));
        u8.setLong(0, 0);
        u8.setLong(1, 255);
        Tensor scales = floats(new float[] {1, 2}, 2);
        Tensor lin = run1(arena, "Resize", 13, attrs("mode", "linear"), u8, null, scales);
        // half_pixel: x = 0.25 (0.75*0 + 0.25*255 = 63.75 -> 64), 0.75 (191.25 -> 191); edges clamp.
        assertArrayEquals(new long[] {0, 64, 191, 255}, lin.toLongArray());
        Tensor cubic = run1(arena, "Resize", 13, attrs("mode", "cubic"), u8, null, scales);
        for (long v : cubic.toLongArray()) {
            assertTrue(v >= 0 && v <= 255, "saturated " + v);
        }
        Tensor near = run1(arena, "Resize", 13, attrs("mode", "nearest"), u8, null, scales);
        assertArrayEquals(new long[] {0, 0, 255, 255}, near.toLongArray());
        Tensor h = Tensor.allocate(arena, DType.FLOAT16, Shape.of(2));
        h.setDouble(0, 1);
        h.setDouble(1, 2);
        Tensor hy = run1(arena, "Resize", 19, attrs("mode", "linear"), h, null, floats(new float[] {2}, 1));
        assertEquals(DType.FLOAT16, hy.dtype());
        assertArrayEquals(new float[] {1, 1.25f, 1.75f, 2}, hy.toFloatArray());
    }

    @Test
    void tfCropAndResizeExtrapolates() {
        float[] v = new float[16];
        for (int i = 0; i < 16; i++) {
            v[i] = i + 1;
        }
        Tensor x = floats(v, 1, 1, 4, 4);
        Tensor roi = floats(new float[] {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f}, 8);
        Tensor sizes = Tensor.ofLongs(arena, new long[] {1, 1, 3, 3}, 4);
        Tensor y = run1(arena, "Resize", 13, attrs("mode", "linear", "coordinate_transformation_mode", "tf_crop_and_resize",
                "extrapolation_value", 10f), x, roi, null, sizes);
        assertFloats(new float[] {7.6000004f, 10, 10, 12.400001f, 10, 10, 10, 10, 10}, y, 1e-5);
    }

    @Test
    void splitAcrossThreadsGivesTheSameResult() {
        KernelContext one = new ArenaContext(arena);
        int[] calls = {0};
        KernelContext four = PoolOpsTest.splitContext(arena, calls);
        float[] v = new float[3 * 5 * 65 * 61];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        Tensor x = floats(v, 3, 5, 65, 61);
        Tensor scales = floats(new float[] {1, 1, 1.7f, 0.6f}, 4);
        for (String mode : new String[] {"nearest", "linear", "cubic"}) {
            Attributes a = attrs("mode", mode);
            Tensor y1 = PoolOpsTest.runWith(one, "Resize", 13, a, 1, x, null, scales)[0];
            Tensor y4 = PoolOpsTest.runWith(four, "Resize", 13, a, 1, x, null, scales)[0];
            assertEquals(y1.shape(), y4.shape());
            assertArrayEquals(y1.toFloatArray(), y4.toFloatArray(), mode);
        }
        assertEquals(5, calls[0], "parallel regions (1 gather, 2 passes each for linear and cubic)");
    }

    // ---------------------------------------------------------------- refusals and run-time errors

    @Test
    void badAttributesAndInputsFailNamingTheNode() {
        Tensor x = floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2);
        Tensor scales = floats(new float[] {1, 1, 2, 2}, 4);
        EngineException mode = assertThrows(EngineException.class,
                () -> run1(arena, "Resize", 13, attrs("mode", "area"), x, null, scales));
        assertEquals(EngineException.Kind.UNSUPPORTED, mode.kind());
        assertTrue(mode.getMessage().contains("Resize_0") && mode.getMessage().contains("area"), mode.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "Resize", 13,
                attrs("coordinate_transformation_mode", "diagonal"), x, null, scales));
        assertThrows(EngineException.class, () -> run1(arena, "Resize", 10, attrs("mode", "cubic"), x, scales));
        EngineException both = assertThrows(EngineException.class, () -> run1(arena, "Resize", 13, attrs(), x, null, scales,
                Tensor.ofLongs(arena, new long[] {1, 1, 4, 4}, 4)));
        assertEquals(EngineException.Kind.RUNTIME, both.kind());
        assertTrue(both.getMessage().contains("Resize_0"), both.getMessage());
        EngineException len = assertThrows(EngineException.class,
                () -> run1(arena, "Resize", 13, attrs(), x, null, floats(new float[] {2, 2}, 2)));
        assertTrue(len.getMessage().contains("scales"), len.getMessage());
        assertThrows(EngineException.class, () -> run1(arena, "Resize", 13, attrs(), x, null, null, null));
        assertThrows(EngineException.class, () -> run1(arena, "Resize", 13, attrs(), x, null, floats(new float[] {1, 1, -2, 2}, 4)));
        assertThrows(EngineException.class, () -> run1(arena, "Upsample", 7, attrs("mode", "nearest"), x));
    }
}
