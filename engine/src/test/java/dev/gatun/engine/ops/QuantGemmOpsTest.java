package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.attrs;
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

/**
 * MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv against scalar references written out here, with the
 * weights as run-time inputs and as plan-time constants (the prepacked path).
 */
class QuantGemmOpsTest {
    private static final int[] SIZES = {1, 7, 17, 33, 100};

    private static Tensor run(Arena arena, OpFamily family, String op, int opset, Attributes at, boolean constants, Tensor... in) {
        DType[] types = new DType[in.length];
        Shape[] shapes = new Shape[in.length];
        Tensor[] consts = new Tensor[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i] == null ? null : in[i].dtype();
            shapes[i] = in[i] == null ? null : in[i].shape();
            consts[i] = constants ? in[i] : null;
        }
        NodeSpec spec = new NodeSpec(op + "_0", op, "", opset, at, types, shapes, consts, 1);
        Planned p = family.plan(spec);
        Tensor[] out = p.kernel().run(new ArenaContext(arena), in);
        assertEquals(p.outputTypes()[0], out[0].dtype());
        return out[0];
    }

    private static Tensor bytes(Arena arena, Random rnd, DType t, long... dims) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
        for (long i = 0; i < x.size(); i++) {
            x.setLong(i, t == DType.UINT8 ? rnd.nextInt(256) : rnd.nextInt(256) - 128);
        }
        return x;
    }

    private static Tensor scalar(Arena arena, DType t, double v) {
        Tensor s = Tensor.allocate(arena, t, Shape.of());
        s.setDouble(0, v);
        return s;
    }

    private static DType byteType(Random rnd) {
        return rnd.nextBoolean() ? DType.UINT8 : DType.INT8;
    }

    /** sum_k (a - za) (b - zb) in long, za per row (or 1), zb per column (or 1); a [m, k], b [k, n] from element offsets. */
    private static long dot(Tensor a, long aOff, Tensor b, long bOff, int k, int n, int i, int j, Tensor za, Tensor zb) {
        long s = 0;
        long zai = za == null ? 0 : za.getAsLong(za.size() == 1 ? 0 : i);
        long zbj = zb == null ? 0 : zb.getAsLong(zb.size() == 1 ? 0 : j);
        for (int p = 0; p < k; p++) {
            s += (a.getAsLong(aOff + (long) i * k + p) - zai) * (b.getAsLong(bOff + (long) p * n + j) - zbj);
        }
        return s;
    }

    @Test
    void matMulIntegerMatchesTheScalarReference() {
        Random rnd = new Random(1);
        QuantGemmOps fam = new QuantGemmOps();
        try (Arena arena = Arena.ofConfined()) {
            for (int m : SIZES) {
                for (int n : SIZES) {
                    int k = SIZES[rnd.nextInt(SIZES.length)] + rnd.nextInt(40);
                    DType at = byteType(rnd);
                    DType bt = byteType(rnd);
                    Tensor a = bytes(arena, rnd, at, m, k);
                    Tensor b = bytes(arena, rnd, bt, k, n);
                    Tensor za = rnd.nextInt(3) == 0 ? bytes(arena, rnd, at, m) : bytes(arena, rnd, at);
                    Tensor zb = rnd.nextBoolean() ? bytes(arena, rnd, bt, n) : bytes(arena, rnd, bt);
                    for (boolean constant : new boolean[] {false, true}) {
                        Tensor y = run(arena, fam, "MatMulInteger", 10, Attributes.empty(), constant, a, b, za, zb);
                        assertEquals(Shape.of(m, n), y.shape());
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < n; j++) {
                                assertEquals((int) dot(a, 0, b, 0, k, n, i, j, za, zb), y.getInt((long) i * n + j),
                                        at + "x" + bt + " " + m + "x" + n + "x" + k + " constant=" + constant + " at " + i + "," + j);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void matMulIntegerBatchesAndPromotes() {
        Random rnd = new Random(2);
        QuantGemmOps fam = new QuantGemmOps();
        try (Arena arena = Arena.ofConfined()) {
            // A [2, 3, 5, 9] x B [9, 4]: folded; A [3, 5, 9] x B [2, 1, 9, 4]: broadcast batches; 1-D operands.
            Tensor a = bytes(arena, rnd, DType.UINT8, 2, 3, 5, 9);
            Tensor b = bytes(arena, rnd, DType.INT8, 9, 4);
            Tensor y = run(arena, fam, "MatMulInteger", 10, Attributes.empty(), true, a, b, scalar(arena, DType.UINT8, 7), null);
            assertEquals(Shape.of(2, 3, 5, 4), y.shape());
            for (int q = 0; q < 6; q++) {
                for (int i = 0; i < 5; i++) {
                    for (int j = 0; j < 4; j++) {
                        assertEquals(dot(a, q * 45L, b, 0, 9, 4, i, j, scalar(arena, DType.UINT8, 7), null), y.getInt(q * 20L + i * 4 + j));
                    }
                }
            }
            Tensor a3 = bytes(arena, rnd, DType.INT8, 3, 5, 9);
            Tensor b4 = bytes(arena, rnd, DType.UINT8, 2, 1, 9, 4);
            Tensor zb = bytes(arena, rnd, DType.UINT8, 4);
            Tensor y2 = run(arena, fam, "MatMulInteger", 10, Attributes.empty(), false, a3, b4, null, zb);
            assertEquals(Shape.of(2, 3, 5, 4), y2.shape());
            for (int d0 = 0; d0 < 2; d0++) {
                for (int d1 = 0; d1 < 3; d1++) {
                    for (int i = 0; i < 5; i++) {
                        for (int j = 0; j < 4; j++) {
                            assertEquals(dot(a3, d1 * 45L, b4, d0 * 36L, 9, 4, i, j, null, zb), y2.getInt(((d0 * 3L + d1) * 5 + i) * 4 + j));
                        }
                    }
                }
            }
            Tensor v = bytes(arena, rnd, DType.UINT8, 9);
            Tensor y3 = run(arena, fam, "MatMulInteger", 10, Attributes.empty(), false, v, b);
            assertEquals(Shape.of(4), y3.shape());
            for (int j = 0; j < 4; j++) {
                assertEquals(dot(v, 0, b, 0, 9, 4, 0, j, null, null), y3.getInt(j));
            }
            EngineException e = assertThrows(EngineException.class, () -> run(arena, fam, "MatMulInteger", 10, Attributes.empty(), false,
                    bytes(arena, rnd, DType.UINT8, 2, 3), bytes(arena, rnd, DType.UINT8, 4, 2)));
            assertTrue(e.getMessage().contains("MatMulInteger_0") && e.getMessage().contains("inner dims"), e.getMessage());
        }
    }

    @Test
    void qlinearMatMulRequantizesLikeTheReference() {
        Random rnd = new Random(3);
        QuantGemmOps fam = new QuantGemmOps();
        try (Arena arena = Arena.ofConfined()) {
            for (int trial = 0; trial < 10; trial++) {
                int m = SIZES[rnd.nextInt(SIZES.length)];
                int n = SIZES[rnd.nextInt(SIZES.length)];
                int k = 1 + rnd.nextInt(50);
                DType t = byteType(rnd);
                DType st = trial % 3 == 0 ? DType.FLOAT16 : DType.FLOAT;
                Tensor a = bytes(arena, rnd, t, m, k);
                Tensor b = bytes(arena, rnd, t, k, n);
                Tensor as = scalar(arena, st, 0.01 + rnd.nextFloat() * 0.05);
                Tensor bs = Tensor.allocate(arena, st, Shape.of(n));
                for (int j = 0; j < n; j++) {
                    bs.setDouble(j, 0.01 + rnd.nextFloat() * 0.05);
                }
                Tensor ys = scalar(arena, st, 0.5 + rnd.nextFloat() * 4);
                Tensor za = bytes(arena, rnd, t);
                Tensor zb = bytes(arena, rnd, t);
                Tensor zy = bytes(arena, rnd, t);
                Tensor y = run(arena, fam, "QLinearMatMul", 21, Attributes.empty(), trial % 2 == 0, a, as, za, b, bs, zb, ys, zy);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        float mult = (float) as.getDouble(0) * (float) bs.getDouble(j);
                        if (st == DType.FLOAT16) {
                            mult = Float.float16ToFloat(Float.floatToFloat16(mult));
                            mult = Float.float16ToFloat(Float.floatToFloat16(mult / (float) ys.getDouble(0)));
                        } else {
                            mult = mult / (float) ys.getDouble(0);
                        }
                        double v = Math.rint((int) dot(a, 0, b, 0, k, n, i, j, za, zb) * (double) mult) + zy.getAsLong(0);
                        long want = (long) Math.max(QuantOps.qmin(t), Math.min(QuantOps.qmax(t), v));
                        assertEquals(want, y.getAsLong((long) i * n + j), t + " " + st + " " + m + "x" + n + "x" + k + " at " + i + "," + j);
                    }
                }
            }
        }
    }

    /** The direct N-D integer convolution (all spatial dims as 3-D), with bias and requantization when mult != null. */
    private static long[] convReference(Tensor x, Tensor w, long xzp, Tensor wzp, long group, long[] s, long[] d, long[] pb,
                                        long[] out, Tensor bias) {
        long n = x.shape().dim(0);
        long c = x.shape().dim(1);
        long m = w.shape().dim(0);
        long cg = w.shape().dim(1);
        long[] in = lift(Arrays.copyOfRange(x.shape().dims(), 2, x.shape().rank()), 1);
        long[] k = lift(Arrays.copyOfRange(w.shape().dims(), 2, w.shape().rank()), 1);
        long[] o = lift(out, 1);
        long[] ones = new long[out.length];
        Arrays.fill(ones, 1);
        long[] st = lift(s == null ? ones : s, 1);
        long[] dl = lift(d == null ? ones : d, 1);
        long[] p = lift(pb, 0);
        long outPix = o[0] * o[1] * o[2];
        long[] y = new long[(int) (n * m * outPix)];
        long mg = m / group;
        for (long b = 0; b < n; b++) {
            for (long oc = 0; oc < m; oc++) {
                long g = oc / mg;
                long wz = wzp == null ? 0 : wzp.getAsLong(wzp.size() == 1 ? 0 : oc);
                for (long op = 0; op < outPix; op++) {
                    long od = op / (o[1] * o[2]);
                    long oh = (op / o[2]) % o[1];
                    long ow = op % o[2];
                    long acc = bias == null ? 0 : bias.getAsLong(oc);
                    for (long ic = 0; ic < cg; ic++) {
                        for (long kd = 0; kd < k[0]; kd++) {
                            for (long kh = 0; kh < k[1]; kh++) {
                                for (long kw = 0; kw < k[2]; kw++) {
                                    long id = od * st[0] - p[0] + kd * dl[0];
                                    long ih = oh * st[1] - p[1] + kh * dl[1];
                                    long iw = ow * st[2] - p[2] + kw * dl[2];
                                    if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2]) {
                                        continue;
                                    }
                                    long xv = x.getAsLong((((b * c + g * cg + ic) * in[0] + id) * in[1] + ih) * in[2] + iw) - xzp;
                                    long wv = w.getAsLong((((oc * cg + ic) * k[0] + kd) * k[1] + kh) * k[2] + kw) - wz;
                                    acc += xv * wv;
                                }
                            }
                        }
                    }
                    y[(int) ((b * m + oc) * outPix + op)] = acc;
                }
            }
        }
        return y;
    }

    private static long[] lift(long[] v, long fill) {
        long[] r = new long[3];
        int extra = 3 - v.length;
        for (int i = 0; i < 3; i++) {
            r[i] = i < extra ? fill : v[i - extra];
        }
        return r;
    }

    private record ConvCase(long[] x, long[] w, long group, long[] strides, long[] dilations, long[] pads, String autoPad, long[] out,
                            long[] padBegin) {}

    private static final ConvCase[] CONVS = {
        new ConvCase(new long[] {1, 3, 7, 9}, new long[] {4, 3, 3, 3}, 1, null, null, new long[] {1, 1, 1, 1}, null,
                new long[] {7, 9}, new long[] {1, 1}),
        new ConvCase(new long[] {2, 4, 8, 7}, new long[] {6, 2, 3, 2}, 2, new long[] {2, 1}, new long[] {1, 2}, new long[] {0, 1, 2, 0}, null,
                new long[] {4, 6}, new long[] {0, 1}),
        new ConvCase(new long[] {1, 6, 5, 5}, new long[] {6, 1, 3, 3}, 6, null, null, null, "SAME_UPPER", new long[] {5, 5},
                new long[] {1, 1}),
        new ConvCase(new long[] {1, 5, 17}, new long[] {3, 5, 4}, 1, new long[] {3}, null, new long[] {2, 1}, null, new long[] {6},
                new long[] {2}),
        new ConvCase(new long[] {1, 2, 3, 4, 5}, new long[] {3, 2, 2, 1, 3}, 1, null, null, null, null, new long[] {2, 4, 3},
                new long[] {0, 0, 0}),
        new ConvCase(new long[] {1, 33, 4, 4}, new long[] {65, 33, 1, 1}, 1, null, null, null, null, new long[] {4, 4},
                new long[] {0, 0}),
    };

    private static Attributes convAttrs(ConvCase cc) {
        java.util.List<Object> kv = new java.util.ArrayList<>(java.util.List.of("group", cc.group));
        if (cc.strides != null) {
            kv.addAll(java.util.List.of("strides", cc.strides));
        }
        if (cc.dilations != null) {
            kv.addAll(java.util.List.of("dilations", cc.dilations));
        }
        if (cc.pads != null) {
            kv.addAll(java.util.List.of("pads", cc.pads));
        }
        if (cc.autoPad != null) {
            kv.addAll(java.util.List.of("auto_pad", cc.autoPad));
        }
        return attrs(kv.toArray());
    }

    @Test
    void convIntegerMatchesTheDirectLoop() {
        Random rnd = new Random(4);
        QuantConvOps fam = new QuantConvOps();
        try (Arena arena = Arena.ofConfined()) {
            for (ConvCase cc : CONVS) {
                for (boolean constant : new boolean[] {false, true}) {
                    DType xt = byteType(rnd);
                    DType wt = byteType(rnd);
                    Tensor x = bytes(arena, rnd, xt, cc.x);
                    Tensor w = bytes(arena, rnd, wt, cc.w);
                    Tensor xz = bytes(arena, rnd, xt);
                    Tensor wz = rnd.nextBoolean() ? bytes(arena, rnd, wt, cc.w[0]) : bytes(arena, rnd, wt);
                    Tensor y = run(arena, fam, "ConvInteger", 10, convAttrs(cc), constant, x, w, xz, wz);
                    long[] want = convReference(x, w, xz.getAsLong(0), wz, cc.group, cc.strides, cc.dilations, cc.padBegin, cc.out, null);
                    long[] dims = new long[cc.x.length];
                    dims[0] = cc.x[0];
                    dims[1] = cc.w[0];
                    System.arraycopy(cc.out, 0, dims, 2, cc.out.length);
                    assertEquals(Shape.of(dims), y.shape());
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], y.getInt(i), Arrays.toString(cc.x) + " * " + Arrays.toString(cc.w) + " constant=" + constant + " at " + i);
                    }
                }
            }
        }
    }

    @Test
    void qlinearConvAddsBiasAndRequantizesPerChannel() {
        Random rnd = new Random(5);
        QuantConvOps fam = new QuantConvOps();
        try (Arena arena = Arena.ofConfined()) {
            for (ConvCase cc : CONVS) {
                DType t = byteType(rnd);
                Tensor x = bytes(arena, rnd, t, cc.x);
                Tensor w = bytes(arena, rnd, DType.INT8, cc.w);
                long m = cc.w[0];
                Tensor xs = scalar(arena, DType.FLOAT, 0.02 + rnd.nextFloat() * 0.02);
                Tensor ws = Tensor.allocate(arena, DType.FLOAT, Shape.of(m));
                Tensor bias = Tensor.allocate(arena, DType.INT32, Shape.of(m));
                for (int j = 0; j < m; j++) {
                    ws.setDouble(j, 0.01 + rnd.nextFloat() * 0.02);
                    bias.setLong(j, rnd.nextInt(2000) - 1000);
                }
                Tensor ys = scalar(arena, DType.FLOAT, 0.05 + rnd.nextFloat() * 0.2);
                Tensor xz = bytes(arena, rnd, t);
                Tensor wz = scalar(arena, DType.INT8, 0);
                Tensor yz = bytes(arena, rnd, t);
                Tensor y = run(arena, fam, "QLinearConv", 10, convAttrs(cc), true, x, xs, xz, w, ws, wz, ys, yz, bias);
                long[] acc = convReference(x, w, xz.getAsLong(0), wz, cc.group, cc.strides,
                        cc.dilations, cc.padBegin, cc.out, bias);
                long outPix = y.size() / (cc.x[0] * m);
                for (int i = 0; i < acc.length; i++) {
                    int oc = (int) ((i / outPix) % m);
                    float mult = (float) xs.getDouble(0) * ws.getFloat(oc) / ys.getFloat(0);
                    double v = Math.rint((int) acc[i] * (double) mult) + yz.getAsLong(0);
                    assertEquals((long) Math.max(QuantOps.qmin(t), Math.min(QuantOps.qmax(t), v)), y.getAsLong(i),
                            Arrays.toString(cc.x) + " at " + i);
                }
            }
            EngineException e = assertThrows(EngineException.class, () -> run(arena, fam, "ConvInteger", 10, Attributes.empty(), false,
                    bytes(arena, rnd, DType.UINT8, 1, 3, 4, 4), bytes(arena, rnd, DType.UINT8, 2, 2, 3, 3)));
            assertTrue(e.getMessage().contains("ConvInteger_0") && e.getMessage().contains("group"), e.getMessage());
        }
    }
}
