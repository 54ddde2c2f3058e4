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
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class NormOpsTest {
    private static final long[] SIZES = {1, 2, 3, 7, 17, 33};

    private final Arena arena = Arena.ofConfined();
    private final Random rnd = new Random(3);

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

    private Tensor[] runAll(String op, int opset, Attributes a, int outputs, Tensor... in) {
        DType[] types = new DType[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i] == null ? null : in[i].dtype();
        }
        Planned p = OpRegistry.plan(NodeSpec.of(op, opset, a, outputs, types));
        Tensor[] out = p.kernel().run(new ArenaContext(arena), in);
        assertEquals(outputs, out.length);
        for (int i = 0; i < outputs; i++) {
            assertEquals(p.outputTypes()[i], out[i].dtype(), op + " output " + i);
        }
        return out;
    }

    private Tensor run(String op, int opset, Attributes a, Tensor... in) {
        return runAll(op, opset, a, 1, in)[0];
    }

    private Tensor random(DType t, long[] dims, double lo, double hi) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
        for (long i = 0; i < x.size(); i++) {
            x.setDouble(i, lo + (hi - lo) * rnd.nextDouble());
        }
        return x;
    }

    private long[] randomDims(int minRank, int maxRank) {
        int rank = minRank + rnd.nextInt(maxRank - minRank + 1);
        long[] dims = new long[rank];
        for (int d = 0; d < rank; d++) {
            dims[d] = SIZES[rnd.nextInt(rank >= 4 ? 4 : 6)];
        }
        return dims;
    }

    private static void assertClose(double[] e, Tensor y, double tol, String what) {
        assertEquals(e.length, y.size(), what);
        for (int i = 0; i < e.length; i++) {
            assertEquals(e[i], y.getDouble(i), tol * (1 + Math.abs(e[i])), what + " at " + i);
        }
    }

    /** Mean and population variance of x[off + k * stride] for k in [0, n). */
    private static double[] stats(Tensor x, long off, long n, long stride) {
        double s = 0;
        for (long k = 0; k < n; k++) {
            s += x.getDouble(off + k * stride);
        }
        double mean = s / n;
        double v = 0;
        for (long k = 0; k < n; k++) {
            double d = x.getDouble(off + k * stride) - mean;
            v += d * d;
        }
        return new double[] {mean, v / n};
    }

    // ---- BatchNormalization ----

    private double[] batchNormRef(Tensor x, float[] scale, float[] bias, double[] mean, double[] var, double eps) {
        Shape s = x.shape();
        long c = s.dim(1);
        long sp = s.sizeOf(2, s.rank());
        double[] y = new double[(int) x.size()];
        for (int i = 0; i < y.length; i++) {
            int ci = (int) ((i / sp) % c);
            y[i] = (x.getDouble(i) - mean[ci]) / Math.sqrt(var[ci] + eps) * scale[ci] + bias[ci];
        }
        return y;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @Test
    void batchNormInferenceAllOpsets() {
        for (int trial = 0; trial < 12; trial++) {
            long[] dims = randomDims(2, 5);
            int c = (int) dims[1];
            Tensor x = random(DType.FLOAT, dims, -3, 3);
            Tensor scale = random(DType.FLOAT, new long[] {c}, 0.5, 2);
            Tensor bias = random(DType.FLOAT, new long[] {c}, -1, 1);
            Tensor mean = random(DType.FLOAT, new long[] {c}, -1, 1);
            Tensor var = random(DType.FLOAT, new long[] {c}, 0.1, 2);
            double[] e = batchNormRef(x, scale.toFloatArray(), bias.toFloatArray(), toDouble(mean.toFloatArray()),
                    toDouble(var.toFloatArray()), 1e-3);
            for (int opset : new int[] {6, 7, 9, 14, 15}) {
                Attributes a = opset < 7 ? attrs("epsilon", 1e-3f, "is_test", 1) : attrs("epsilon", 1e-3f);
                assertClose(e, run("BatchNormalization", opset, a, x, scale, bias, mean, var), 1e-5,
                        "BatchNormalization-" + opset + " " + x.shape());
            }
        }
    }

    @Test
    void batchNormMixedParamTypesAndFloat16() {
        Tensor x = random(DType.FLOAT16, new long[] {2, 3, 5}, -2, 2);
        Tensor scale = random(DType.FLOAT, new long[] {3}, 0.5, 2);
        Tensor bias = random(DType.FLOAT, new long[] {3}, -1, 1);
        Tensor mean = random(DType.DOUBLE, new long[] {3}, -1, 1);
        Tensor var = random(DType.DOUBLE, new long[] {3}, 0.1, 2);
        double[] md = {mean.getDouble(0), mean.getDouble(1), mean.getDouble(2)};
        double[] vd = {var.getDouble(0), var.getDouble(1), var.getDouble(2)};
        Tensor y = run("BatchNormalization", 15, attrs(), x, scale, bias, mean, var);
        assertEquals(DType.FLOAT16, y.dtype());
        assertClose(batchNormRef(x, scale.toFloatArray(), bias.toFloatArray(), md, vd, 1e-5), y, 2e-3, "f16");
    }

    @Test
    void batchNormNonSpatial() {
        Tensor x = random(DType.FLOAT, new long[] {3, 2, 5}, -3, 3);
        Tensor scale = random(DType.FLOAT, new long[] {2, 5}, 0.5, 2);
        Tensor bias = random(DType.FLOAT, new long[] {2, 5}, -1, 1);
        Tensor mean = random(DType.FLOAT, new long[] {2, 5}, -1, 1);
        Tensor var = random(DType.FLOAT, new long[] {2, 5}, 0.1, 2);
        Tensor y = run("BatchNormalization", 7, attrs("spatial", 0), x, scale, bias, mean, var);
        double[] e = new double[30];
        for (int i = 0; i < 30; i++) {
            int k = i % 10;
            e[i] = (x.getDouble(i) - mean.getDouble(k)) / Math.sqrt(var.getDouble(k) + 1e-5) * scale.getDouble(k) + bias.getDouble(k);
        }
        assertClose(e, y, 1e-5, "spatial=0");
    }

    @Test
    void batchNormTrainingMode() {
        long[] dims = {4, 3, 7, 2};
        Tensor x = random(DType.FLOAT, dims, -3, 3);
        Tensor scale = random(DType.FLOAT, new long[] {3}, 0.5, 2);
        Tensor bias = random(DType.FLOAT, new long[] {3}, -1, 1);
        Tensor mean = random(DType.FLOAT, new long[] {3}, -1, 1);
        Tensor var = random(DType.FLOAT, new long[] {3}, 0.1, 2);
        double[] bm = new double[3];
        double[] bv = new double[3];
        for (int c = 0; c < 3; c++) {
            double s = 0;
            double sq = 0;
            for (int n = 0; n < 4; n++) {
                for (int k = 0; k < 14; k++) {
                    double v = x.getDouble((n * 3 + c) * 14 + k);
                    s += v;
                    sq += v * v;
                }
            }
            bm[c] = s / 56;
            bv[c] = sq / 56 - bm[c] * bm[c];
        }
        Tensor[] out = runAll("BatchNormalization", 15, attrs("training_mode", 1, "momentum", 0.8f), 3, x, scale, bias, mean, var);
        assertClose(batchNormRef(x, scale.toFloatArray(), bias.toFloatArray(), bm, bv, 1e-5), out[0], 1e-5, "Y");
        for (int c = 0; c < 3; c++) {
            assertEquals(mean.getDouble(c) * 0.8 + bm[c] * 0.2, out[1].getDouble(c), 1e-5, "running_mean");
            assertEquals(var.getDouble(c) * 0.8 + bv[c] * 0.2, out[2].getDouble(c), 1e-5, "running_var");
        }
        Tensor[] out9 = runAll("BatchNormalization", 9, attrs("momentum", 0.8f), 5, x, scale, bias, mean, var);
        for (int c = 0; c < 3; c++) {
            assertEquals(mean.getDouble(c) * 0.8 + bm[c] * 0.2, out9[1].getDouble(c), 1e-5, "opset 9 running_mean");
            assertEquals(bm[c], out9[3].getDouble(c), 1e-5, "opset 9 saved_mean");
            assertEquals(bv[c], out9[4].getDouble(c), 1e-5, "opset 9 saved_var");
        }
        Tensor y6 = run("BatchNormalization", 6, attrs("is_test", 0), x, scale, bias, mean, var);
        assertClose(batchNormRef(x, scale.toFloatArray(), bias.toFloatArray(), bm, bv, 1e-5), y6, 1e-5, "opset 6 training");
        EngineException e = assertThrows(EngineException.class,
                () -> OpRegistry.plan(NodeSpec.of("BatchNormalization", 15, attrs(), 3, DType.FLOAT, DType.FLOAT, DType.FLOAT,
                        DType.FLOAT, DType.FLOAT)));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
    }

    // ---- InstanceNormalization, GroupNormalization ----

    @Test
    void instanceNorm() {
        for (int trial = 0; trial < 10; trial++) {
            long[] dims = randomDims(3, 4);
            int c = (int) dims[1];
            Tensor x = random(DType.FLOAT, dims, -3, 3);
            Tensor scale = random(DType.FLOAT, new long[] {c}, 0.5, 2);
            Tensor bias = random(DType.FLOAT, new long[] {c}, -1, 1);
            long sp = x.shape().sizeOf(2, dims.length);
            double[] e = new double[(int) x.size()];
            for (long nc = 0; nc < dims[0] * c; nc++) {
                double[] st = stats(x, nc * sp, sp, 1);
                for (long k = 0; k < sp; k++) {
                    int i = (int) (nc * sp + k);
                    e[i] = (x.getDouble(i) - st[0]) / Math.sqrt(st[1] + 1e-5) * scale.getDouble(nc % c) + bias.getDouble(nc % c);
                }
            }
            for (int opset : new int[] {1, 6, 22}) {
                assertClose(e, run("InstanceNormalization", opset, attrs(), x, scale, bias), 2e-5, "InstanceNorm " + x.shape());
            }
        }
    }

    @Test
    void groupNormPerGroupAndPerChannel() {
        long[] dims = {2, 6, 7, 3};
        Tensor x = random(DType.FLOAT, dims, -3, 3);
        long sp = 21;
        for (int groups : new int[] {1, 2, 3, 6}) {
            Tensor gScale = random(DType.FLOAT, new long[] {groups}, 0.5, 2);
            Tensor gBias = random(DType.FLOAT, new long[] {groups}, -1, 1);
            Tensor cScale = random(DType.FLOAT, new long[] {6}, 0.5, 2);
            Tensor cBias = random(DType.FLOAT, new long[] {6}, -1, 1);
            long cg = 6 / groups;
            double[] e18 = new double[(int) x.size()];
            double[] e21 = new double[(int) x.size()];
            for (long n = 0; n < 2; n++) {
                for (long g = 0; g < groups; g++) {
                    long off = (n * 6 + g * cg) * sp;
                    double[] st = stats(x, off, cg * sp, 1);
                    for (long k = 0; k < cg * sp; k++) {
                        int i = (int) (off + k);
                        int ch = (int) (g * cg + k / sp);
                        double norm = (x.getDouble(i) - st[0]) / Math.sqrt(st[1] + 1e-5);
                        e18[i] = norm * gScale.getDouble(g) + gBias.getDouble(g);
                        e21[i] = norm * cScale.getDouble(ch) + cBias.getDouble(ch);
                    }
                }
            }
            assertClose(e18, run("GroupNormalization", 18, attrs("num_groups", groups), x, gScale, gBias), 2e-5, "GN-18 " + groups);
            assertClose(e21, run("GroupNormalization", 21, attrs("num_groups", groups), x, cScale, cBias), 2e-5, "GN-21 " + groups);
        }
        EngineException e = assertThrows(EngineException.class, () -> run("GroupNormalization", 21, attrs("num_groups", 4), x,
                random(DType.FLOAT, new long[] {6}, 0, 1), random(DType.FLOAT, new long[] {6}, 0, 1)));
        assertTrue(e.getMessage().contains("GroupNormalization_0") && e.getMessage().contains("num_groups 4"), e.getMessage());
        e = assertThrows(EngineException.class, () -> OpRegistry.plan(NodeSpec.of("GroupNormalization", 21, attrs(), 1,
                DType.FLOAT, DType.FLOAT, DType.FLOAT)));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
    }

    // ---- LayerNormalization, RMSNormalization ----

    @Test
    void layerAndRmsNormAllAxes() {
        for (int trial = 0; trial < 12; trial++) {
            long[] dims = randomDims(1, 4);
            int rank = dims.length;
            Tensor x = random(DType.FLOAT, dims, -3, 3);
            for (int axis = -rank; axis < rank; axis++) {
                int a = axis < 0 ? axis + rank : axis;
                long[] norm = Arrays.copyOfRange(dims, a, rank);
                long rows = x.shape().sizeOf(0, a);
                long d = x.shape().sizeOf(a, rank);
                Tensor scale = random(DType.FLOAT, norm, 0.5, 2);
                Tensor bias = random(DType.FLOAT, norm, -1, 1);
                double[] ln = new double[(int) x.size()];
                double[] lnNoBias = new double[(int) x.size()];
                double[] rms = new double[(int) x.size()];
                double[] means = new double[(int) rows];
                double[] invs = new double[(int) rows];
                for (long r = 0; r < rows; r++) {
                    double[] st = stats(x, r * d, d, 1);
                    means[(int) r] = st[0];
                    invs[(int) r] = 1 / Math.sqrt(st[1] + 1e-5);
                    double ms = 0;
                    for (long k = 0; k < d; k++) {
                        ms += x.getDouble(r * d + k) * x.getDouble(r * d + k);
                    }
                    double rinv = 1 / Math.sqrt(ms / d + 1e-5);
                    for (long k = 0; k < d; k++) {
                        int i = (int) (r * d + k);
                        double v = (x.getDouble(i) - st[0]) * invs[(int) r];
                        lnNoBias[i] = v * scale.getDouble(k);
                        ln[i] = lnNoBias[i] + bias.getDouble(k);
                        rms[i] = x.getDouble(i) * rinv * scale.getDouble(k);
                    }
                }
                String what = x.shape() + " axis " + axis;
                Tensor[] out = runAll("LayerNormalization", 17, attrs("axis", axis), 3, x, scale, bias);
                assertClose(ln, out[0], 2e-5, "LayerNorm " + what);
                long[] statDims = dims.clone();
                Arrays.fill(statDims, a, rank, 1);
                assertArrayEquals(statDims, out[1].shape().dims());
                assertClose(means, out[1], 1e-5, "Mean " + what);
                assertClose(invs, out[2], 1e-5, "InvStdDev " + what);
                assertClose(lnNoBias, run("LayerNormalization", 17, attrs("axis", axis), x, scale), 2e-5, "LayerNorm no bias " + what);
                assertClose(rms, run("RMSNormalization", 23, attrs("axis", axis), x, scale), 2e-5, "RMSNorm " + what);
            }
        }
    }

    @Test
    void layerNormBroadcastScaleDefaultAxisAndOtherTypes() {
        Tensor x = random(DType.FLOAT, new long[] {2, 3, 17}, -3, 3);
        Tensor scale = Tensor.ofFloats(arena, new float[] {2f}, 1);
        Tensor y = run("LayerNormalization", 17, attrs("axis", 1), x, scale);
        for (int r = 0; r < 2; r++) {
            double[] st = stats(x, r * 51, 51, 1);
            for (int k = 0; k < 51; k++) {
                int i = r * 51 + k;
                assertEquals(2 * (x.getDouble(i) - st[0]) / Math.sqrt(st[1] + 1e-5), y.getDouble(i), 1e-4);
            }
        }
        Tensor rowScale = random(DType.FLOAT, new long[] {17}, 0.5, 2);
        Tensor y2 = run("LayerNormalization", 17, attrs("axis", 1), x, rowScale);
        for (int r = 0; r < 2; r++) {
            double[] st = stats(x, r * 51, 51, 1);
            for (int k = 0; k < 51; k++) {
                int i = r * 51 + k;
                assertEquals((x.getDouble(i) - st[0]) / Math.sqrt(st[1] + 1e-5) * rowScale.getDouble(k % 17), y2.getDouble(i), 1e-4);
            }
        }
        for (DType t : new DType[] {DType.FLOAT16, DType.DOUBLE, DType.BFLOAT16}) {
            Tensor xt = random(t, new long[] {3, 33}, -3, 3);
            Tensor st = random(t, new long[] {33}, 0.5, 2);
            Tensor yt = run("LayerNormalization", 17, attrs(), xt, st);
            assertEquals(t, yt.dtype());
            double[] e = new double[99];
            for (int r = 0; r < 3; r++) {
                double[] s = stats(xt, r * 33, 33, 1);
                for (int k = 0; k < 33; k++) {
                    e[r * 33 + k] = (xt.getDouble(r * 33 + k) - s[0]) / Math.sqrt(s[1] + 1e-5) * st.getDouble(k);
                }
            }
            assertClose(e, yt, t == DType.BFLOAT16 ? 1e-2 : t == DType.FLOAT16 ? 2e-3 : 1e-5, "LayerNorm " + t);
        }
        EngineException e = assertThrows(EngineException.class, () -> run("LayerNormalization", 17, attrs("stash_type", 11), x, scale));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
        e = assertThrows(EngineException.class,
                () -> run("LayerNormalization", 17, attrs(), x, random(DType.FLOAT, new long[] {3}, 0, 1)));
        assertTrue(e.getMessage().contains("LayerNormalization_0") && e.getMessage().contains("[3]"), e.getMessage());
        e = assertThrows(EngineException.class, () -> run("RMSNormalization", 23, attrs("axis", 3), x, scale));
        assertTrue(e.getMessage().contains("RMSNormalization_0"), e.getMessage());
    }

    // ---- LRN, MeanVarianceNormalization, LpNormalization ----

    @Test
    void lrn() {
        for (long size : new long[] {1, 2, 3, 5}) {
            long[] dims = {2, 7, 3, 5};
            Tensor x = random(DType.FLOAT, dims, -3, 3);
            double alpha = 2e-4;
            double beta = 0.75;
            double bias = 2;
            long c = 7;
            long sp = 15;
            double[] e = new double[(int) x.size()];
            for (int i = 0; i < e.length; i++) {
                long ci = (i / sp) % c;
                long n = i / (sp * c);
                long s = i % sp;
                double sq = 0;
                for (long k = Math.max(0, ci - (size - 1) / 2); k <= Math.min(c - 1, ci + (size - 1) - (size - 1) / 2); k++) {
                    double v = x.getDouble((n * c + k) * sp + s);
                    sq += v * v;
                }
                e[i] = x.getDouble(i) / Math.pow(bias + alpha / size * sq, beta);
            }
            Tensor y = run("LRN", 13, attrs("size", size, "alpha", (float) alpha, "beta", (float) beta, "bias", (float) bias), x);
            assertClose(e, y, 1e-5, "LRN size " + size);
        }
        EngineException e = assertThrows(EngineException.class, () -> OpRegistry.plan(NodeSpec.of("LRN", 13, attrs(), 1, DType.FLOAT)));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
    }

    @Test
    void meanVarianceNormalization() {
        long[] dims = {3, 2, 7, 5};
        Tensor x = random(DType.FLOAT, dims, -3, 3);
        for (long[] axes : new long[][] {null, {1}, {-1, 0}, {0, 1, 2, 3}}) {
            boolean[] red = new boolean[4];
            if (axes == null) {
                red[0] = red[2] = red[3] = true;
            } else {
                for (long a : axes) {
                    red[(int) (a < 0 ? a + 4 : a)] = true;
                }
            }
            int[] key = new int[(int) x.size()];
            for (int i = 0; i < key.length; i++) {
                long[] idx = new long[4];
                long rem = i;
                for (int d = 3; d >= 0; d--) {
                    idx[d] = rem % dims[d];
                    rem /= dims[d];
                }
                int k = 0;
                for (int d = 0; d < 4; d++) {
                    if (!red[d]) {
                        k = (int) (k * dims[d] + idx[d]);
                    }
                }
                key[i] = k;
            }
            Map<Integer, double[]> groups = new HashMap<>();
            for (int i = 0; i < key.length; i++) {
                double[] g = groups.computeIfAbsent(key[i], kk -> new double[3]);
                g[0] += x.getDouble(i);
                g[1] += 1;
            }
            for (int i = 0; i < key.length; i++) {
                double[] g = groups.get(key[i]);
                double d = x.getDouble(i) - g[0] / g[1];
                g[2] += d * d;
            }
            double[] e = new double[key.length];
            for (int i = 0; i < key.length; i++) {
                double[] g = groups.get(key[i]);
                e[i] = (x.getDouble(i) - g[0] / g[1]) / (Math.sqrt(g[2] / g[1]) + 1e-9);
            }
            Attributes a = axes == null ? attrs() : attrs("axes", axes);
            assertClose(e, run("MeanVarianceNormalization", 13, a, x), 2e-5, "MVN axes " + Arrays.toString(axes));
            assertClose(e, run("MeanVarianceNormalization", 9, a, x), 2e-5, "MVN-9 axes " + Arrays.toString(axes));
        }
    }

    @Test
    void lpNormalization() {
        for (int trial = 0; trial < 10; trial++) {
            long[] dims = randomDims(1, 4);
            int rank = dims.length;
            Tensor x = random(DType.FLOAT, dims, -3, 3);
            for (int axis = -rank; axis < rank; axis++) {
                int a = axis < 0 ? axis + rank : axis;
                long outer = x.shape().sizeOf(0, a);
                long len = dims[a];
                long inner = x.shape().sizeOf(a + 1, rank);
                for (long p : new long[] {1, 2}) {
                    double[] e = new double[(int) x.size()];
                    for (long o = 0; o < outer; o++) {
                        for (long j = 0; j < inner; j++) {
                            double norm = 0;
                            for (long k = 0; k < len; k++) {
                                double v = x.getDouble((o * len + k) * inner + j);
                                norm += p == 1 ? Math.abs(v) : v * v;
                            }
                            norm = p == 1 ? norm : Math.sqrt(norm);
                            for (long k = 0; k < len; k++) {
                                int i = (int) ((o * len + k) * inner + j);
                                e[i] = x.getDouble(i) / norm;
                            }
                        }
                    }
                    assertClose(e, run("LpNormalization", 22, attrs("axis", axis, "p", p), x), 1e-5,
                            "Lp" + p + " " + x.shape() + " axis " + axis);
                }
            }
        }
        Tensor z = Tensor.ofFloats(arena, new float[] {0, 0, 3, 4}, 2, 2);
        assertArrayEquals(new float[] {0, 0, 0.6f, 0.8f}, run("LpNormalization", 1, attrs(), z).toFloatArray(), 1e-6f);
        EngineException e = assertThrows(EngineException.class,
                () -> OpRegistry.plan(NodeSpec.of("LpNormalization", 22, attrs("p", 3), 1, DType.FLOAT)));
        assertTrue(e.getMessage().contains("LpNormalization_0") && e.getMessage().contains("p=3"), e.getMessage());
    }
}
