package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.*;
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
import org.junit.jupiter.api.Test;

class ConvOpsTest {
    private static final ConvOps F = new ConvOps();

    /** One convolution problem: shapes and per-dim geometry (pb = begin pads actually applied). */
    private record Case(long[] x, long[] w, boolean bias, long group, long[] s, long[] d, long[] pads, long[] out) {}

    private static long[] ones(int n, long v) {
        long[] a = new long[n];
        Arrays.fill(a, v);
        return a;
    }

    private static long[] concat(long[] a, long[] b) {
        long[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Scalar Conv by definition: Y[n,m,o] = B[m] + sum_{c,k} X[n, g*Cg + c, o*s - pb + k*d] * W[m,c,k]. */
    private static double[] refConv(Tensor x, Tensor w, Tensor b, long group, long[] s, long[] d, long[] pb, long[] out) {
        int nd = out.length;
        long n = x.shape().dim(0);
        long c = x.shape().dim(1);
        long m = w.shape().dim(0);
        long cg = c / group;
        long mg = m / group;
        long[] in = Arrays.copyOfRange(x.shape().dims(), 2, nd + 2);
        long[] k = Arrays.copyOfRange(w.shape().dims(), 2, nd + 2);
        long outSize = Shape.of(out).size();
        long kSize = Shape.of(k).size();
        double[] y = new double[(int) (n * m * outSize)];
        long[] o = new long[nd];
        long[] kk = new long[nd];
        for (int ni = 0; ni < n; ni++) {
            for (int mi = 0; mi < m; mi++) {
                for (long op = 0; op < outSize; op++) {
                    index(op, out, o);
                    double acc = b == null ? 0 : b.getDouble(mi);
                    for (long ci = 0; ci < cg; ci++) {
                        long channel = (mi / mg) * cg + ci;
                        for (long kp = 0; kp < kSize; kp++) {
                            index(kp, k, kk);
                            long off = ni * c + channel;
                            boolean inside = true;
                            for (int i = 0; i < nd; i++) {
                                long p = o[i] * s[i] - pb[i] + kk[i] * d[i];
                                inside &= p >= 0 && p < in[i];
                                off = off * in[i] + p;
                            }
                            if (inside) {
                                acc += x.getDouble(off) * w.getDouble((mi * cg + ci) * kSize + kp);
                            }
                        }
                    }
                    y[(int) ((ni * m + mi) * outSize + op)] = acc;
                }
            }
        }
        return y;
    }

    /**
     * Scalar ConvTranspose in gather form: Y[n,m,o] = B[m] + sum over c in m's group and k with
     * (o + pb - k*d) = i*s, 0 <= i < in, of X[n,c,i] * W[c, m mod Mg, k].
     */
    private static double[] refConvTranspose(Tensor x, Tensor w, Tensor b, long group, long[] s, long[] d, long[] pb, long[] out) {
        int nd = out.length;
        long n = x.shape().dim(0);
        long c = x.shape().dim(1);
        long mg = w.shape().dim(1);
        long m = mg * group;
        long cg = c / group;
        long[] in = Arrays.copyOfRange(x.shape().dims(), 2, nd + 2);
        long[] k = Arrays.copyOfRange(w.shape().dims(), 2, nd + 2);
        long outSize = Shape.of(out).size();
        long kSize = Shape.of(k).size();
        double[] y = new double[(int) (n * m * outSize)];
        long[] o = new long[nd];
        long[] kk = new long[nd];
        for (int ni = 0; ni < n; ni++) {
            for (int mi = 0; mi < m; mi++) {
                for (long op = 0; op < outSize; op++) {
                    index(op, out, o);
                    double acc = b == null ? 0 : b.getDouble(mi);
                    for (long ci = (mi / mg) * cg; ci < (mi / mg + 1) * cg; ci++) {
                        for (long kp = 0; kp < kSize; kp++) {
                            index(kp, k, kk);
                            long off = ni * c + ci;
                            boolean inside = true;
                            for (int i = 0; i < nd; i++) {
                                long t = o[i] + pb[i] - kk[i] * d[i];
                                inside &= t >= 0 && t % s[i] == 0 && t / s[i] < in[i];
                                off = off * in[i] + (t / s[i]);
                            }
                            if (inside) {
                                acc += x.getDouble(off) * w.getDouble((ci * mg + mi % mg) * kSize + kp);
                            }
                        }
                    }
                    y[(int) ((ni * m + mi) * outSize + op)] = acc;
                }
            }
        }
        return y;
    }

    private static void index(long flat, long[] dims, long[] idx) {
        for (int i = dims.length - 1; i >= 0; i--) {
            idx[i] = flat % dims[i];
            flat /= dims[i];
        }
    }

    /** Conv with explicit pads: runs the op (attributes as given) and compares with the reference. */
    private static void checkConv(Arena arena, Random rnd, DType t, long[] xs, long[] ws, boolean bias, long group,
                                  long[] s, long[] d, long[] pads, Attributes extra) {
        int nd = xs.length - 2;
        long[] out = new long[nd];
        long[] pb = Arrays.copyOf(pads, nd);
        for (int i = 0; i < nd; i++) {
            out[i] = (xs[i + 2] + pads[i] + pads[i + nd] - ((ws[i + 2] - 1) * d[i] + 1)) / s[i] + 1;
        }
        List<Object> kv = new ArrayList<>(List.of("group", group, "strides", s, "dilations", d, "pads", pads));
        extra.asMap().forEach((name, v) -> {
            kv.add(name);
            kv.add(switch (v) {
                case dev.gatun.engine.graph.Attribute.Str str -> str.value();
                case dev.gatun.engine.graph.Attribute.Ints ints -> ints.values();
                default -> throw new IllegalArgumentException();
            });
        });
        checkConv(arena, rnd, t, xs, ws, bias, group, s, d, pb, out, attrs(kv.toArray()));
    }

    private static void checkConv(Arena arena, Random rnd, DType t, long[] xs, long[] ws, boolean bias, long group,
                                  long[] s, long[] d, long[] pb, long[] out, Attributes at) {
        Tensor x = random(arena, rnd, t, xs);
        Tensor w = random(arena, rnd, t, ws);
        Tensor b = bias ? random(arena, rnd, t, ws[0]) : null;
        Tensor y = b == null ? run(arena, F, "Conv", 11, at, x, w) : run(arena, F, "Conv", 11, at, x, w, b);
        long terms = Shape.of(ws).size() / ws[0];
        assertClose("Conv " + t + " X" + Arrays.toString(xs) + " W" + Arrays.toString(ws) + " " + at,
                Shape.of(concat(new long[] {xs[0], ws[0]}, out)), refConv(x, w, b, group, s, d, pb, out), y, tolerance(t, terms));
    }

    @Test
    void conv2dPathsMatchReference() {
        Random rnd = new Random(11);
        long[] one = {1, 1};
        try (Arena arena = Arena.ofConfined()) {
            // im2col: padding, strides, dilations, odd sizes, bias or not.
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 3, 7, 17}, new long[] {4, 3, 3, 3}, true, 1, one, one, new long[] {1, 1, 1, 1}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 5, 17, 7}, new long[] {33, 5, 3, 2}, false, 1, new long[] {2, 1}, new long[] {1, 2}, new long[] {0, 1, 2, 0}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 2, 9, 9}, new long[] {3, 2, 3, 3}, true, 1, new long[] {3, 2}, new long[] {2, 2}, new long[] {2, 1, 0, 3}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 1, 5, 5}, new long[] {1, 1, 5, 5}, true, 1, one, one, new long[] {0, 0, 0, 0}, Attributes.empty());
            // pointwise 1x1 (a straight GEMM), and 1x1 with stride / padding (im2col).
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 17, 7, 5}, new long[] {33, 17, 1, 1}, true, 1, one, one, new long[] {0, 0, 0, 0}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 7, 7, 5}, new long[] {3, 7, 1, 1}, false, 1, new long[] {2, 2}, one, new long[] {0, 0, 0, 0}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 7, 3, 5}, new long[] {3, 7, 1, 1}, true, 1, one, one, new long[] {1, 0, 0, 1}, Attributes.empty());
            // groups, including a pointwise grouped conv.
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 4, 6, 5}, new long[] {6, 2, 3, 3}, true, 2, one, one, new long[] {1, 1, 1, 1}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 6, 5, 5}, new long[] {9, 2, 1, 1}, true, 3, one, one, new long[] {0, 0, 0, 0}, Attributes.empty());
            // depthwise (group == C), with multiplier, strides, dilations, asymmetric padding; width tails.
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 5, 7, 33}, new long[] {5, 1, 3, 3}, true, 5, one, one, new long[] {1, 1, 1, 1}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 5, 17, 17}, new long[] {10, 1, 3, 3}, false, 5, new long[] {2, 2}, one, new long[] {1, 0, 1, 2}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 3, 9, 40}, new long[] {3, 1, 5, 3}, true, 3, one, new long[] {2, 3}, new long[] {4, 3, 4, 3}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 1, 7, 5}, new long[] {1, 1, 3, 3}, false, 1, new long[] {2, 2}, one, new long[] {1, 0, 1, 0}, Attributes.empty());
            // kernel_shape given explicitly.
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 2, 6, 6}, new long[] {2, 2, 3, 3}, true, 1, one, one, new long[] {0, 0, 0, 0},
                    attrs("kernel_shape", new long[] {3, 3}));
        }
    }

    @Test
    void convImTwoColChunksBeyondScratchBudget() {
        Random rnd = new Random(12);
        try (Arena arena = Arena.ofConfined()) {
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 64, 64, 65}, new long[] {5, 64, 3, 3}, true, 1,
                    new long[] {1, 1}, new long[] {1, 1}, new long[] {1, 1, 1, 1}, Attributes.empty());
        }
    }

    @Test
    void conv1d3dAndOtherRanks() {
        Random rnd = new Random(13);
        try (Arena arena = Arena.ofConfined()) {
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 3, 33}, new long[] {4, 3, 5}, true, 1, new long[] {2}, new long[] {2}, new long[] {2, 1}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 4, 17}, new long[] {4, 1, 3}, true, 4, new long[] {1}, new long[] {1}, new long[] {1, 1}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 4, 1}, new long[] {4, 4, 5}, true, 1, new long[] {1}, new long[] {1}, new long[] {2, 2}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {2, 3, 5, 6, 7}, new long[] {4, 3, 3, 2, 3}, true, 1, new long[] {2, 1, 2}, new long[] {1, 2, 1}, new long[] {1, 0, 1, 1, 1, 0}, Attributes.empty());
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 4, 3, 5, 4}, new long[] {4, 1, 1, 3, 3}, false, 4, new long[] {1, 1, 1}, new long[] {1, 1, 1}, new long[] {1, 1, 1, 0, 1, 1}, Attributes.empty());
            // four spatial dims: the scalar path
            checkConv(arena, rnd, DType.FLOAT, new long[] {1, 2, 3, 4, 3, 4}, new long[] {3, 2, 2, 1, 2, 3}, true, 1, ones(4, 1), ones(4, 1), ones(8, 0), Attributes.empty());
        }
    }

    @Test
    void convOtherDtypes() {
        Random rnd = new Random(14);
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16}) {
                checkConv(arena, rnd, t, new long[] {2, 4, 7, 5}, new long[] {6, 2, 3, 3}, true, 2, new long[] {2, 1}, new long[] {1, 2}, new long[] {1, 1, 0, 2}, Attributes.empty());
                checkConv(arena, rnd, t, new long[] {1, 3, 9}, new long[] {2, 3, 3}, false, 1, new long[] {1}, new long[] {1}, new long[] {0, 0}, Attributes.empty());
            }
        }
    }

    @Test
    void convAutoPad() {
        Random rnd = new Random(15);
        try (Arena arena = Arena.ofConfined()) {
            // 7x6 input, 3x3 kernel, stride 2: out 4x3; pad totals H: (4-1)*2+3-7 = 2 -> 1/1; W: (3-1)*2+3-6 = 1.
            long[] xs = {1, 2, 7, 6};
            long[] ws = {3, 2, 3, 3};
            long[] s = {2, 2};
            long[] d = {1, 1};
            checkConv(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {1, 0}, new long[] {4, 3}, attrs("auto_pad", "SAME_UPPER", "strides", s));
            checkConv(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {1, 1}, new long[] {4, 3}, attrs("auto_pad", "SAME_LOWER", "strides", s));
            checkConv(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {0, 0}, new long[] {3, 2}, attrs("auto_pad", "VALID", "strides", s));
            // SAME with dilation 2 and stride 1: pad total = (3-1)*2 = 4 per dim.
            checkConv(arena, rnd, DType.FLOAT, xs, ws, false, 1, new long[] {1, 1}, new long[] {2, 2}, new long[] {2, 2}, new long[] {7, 6},
                    attrs("auto_pad", "SAME_UPPER", "dilations", new long[] {2, 2}));
        }
    }

    @Test
    void convOldOpsetAndErrors() {
        Random rnd = new Random(16);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rnd, DType.FLOAT, 1, 4, 5, 5);
            Tensor w = random(arena, rnd, DType.FLOAT, 2, 4, 3, 3);
            Tensor y = run(arena, F, "Conv", 1, Attributes.empty(), x, w);
            assertClose("Conv-1", Shape.of(1, 2, 3, 3), refConv(x, w, null, 1, new long[] {1, 1}, new long[] {1, 1}, new long[2], new long[] {3, 3}), y, 1e-4);

            EngineException e = assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, attrs("group", 3), x, w));
            assertTrue(e.getMessage().contains("Conv_0") && e.getMessage().contains("group"), e.getMessage());
            assertEquals(EngineException.Kind.UNSUPPORTED,
                    assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, attrs("auto_pad", "SAME"), x, w)).kind());
            assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, attrs("strides", new long[] {0, 1}), x, w));
            assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, attrs("strides", new long[] {1, 1, 1}), x, w));
            assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, attrs("kernel_shape", new long[] {2, 2}), x, w));
            assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, attrs("pads", new long[] {1, 1}), x, w));
            Tensor badBias = random(arena, rnd, DType.FLOAT, 3);
            assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, Attributes.empty(), x, w, badBias));
            Tensor big = random(arena, rnd, DType.FLOAT, 2, 4, 7, 7);
            assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, Attributes.empty(), x, big));
            Tensor i32 = Tensor.allocate(arena, DType.INT32, Shape.of(1, 1, 3, 3));
            assertEquals(EngineException.Kind.UNSUPPORTED,
                    assertThrows(EngineException.class, () -> run(arena, F, "Conv", 11, Attributes.empty(), i32, i32)).kind());
        }
    }

    // ---------------------------------------------------------------- ConvTranspose

    private static void checkConvTranspose(Arena arena, Random rnd, DType t, long[] xs, long[] ws, boolean bias, long group,
                                           long[] s, long[] d, long[] pb, long[] out, Attributes at) {
        Tensor x = random(arena, rnd, t, xs);
        Tensor w = random(arena, rnd, t, ws);
        long m = ws[1] * group;
        Tensor b = bias ? random(arena, rnd, t, m) : null;
        Tensor y = b == null ? run(arena, F, "ConvTranspose", 11, at, x, w) : run(arena, F, "ConvTranspose", 11, at, x, w, b);
        assertClose("ConvTranspose " + t + " X" + Arrays.toString(xs) + " W" + Arrays.toString(ws) + " " + at,
                Shape.of(concat(new long[] {xs[0], m}, out)), refConvTranspose(x, w, b, group, s, d, pb, out), y,
                tolerance(t, Shape.of(ws).size()));
    }

    @Test
    void convTransposeMatchesReference() {
        Random rnd = new Random(21);
        try (Arena arena = Arena.ofConfined()) {
            // out = s*(in-1) + outPad + (k-1)*d + 1 - pads
            checkConvTranspose(arena, rnd, DType.FLOAT, new long[] {1, 3, 4, 5}, new long[] {3, 2, 3, 3}, true, 1,
                    new long[] {2, 2}, new long[] {1, 1}, new long[] {1, 0}, new long[] {9, 11},
                    attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 0, 0, 1}, "output_padding", new long[] {1, 1}));
            checkConvTranspose(arena, rnd, DType.FLOAT, new long[] {2, 4, 3, 5}, new long[] {4, 3, 2, 3}, true, 2,
                    new long[] {1, 3}, new long[] {2, 1}, new long[] {0, 0}, new long[] {5, 15},
                    attrs("group", 2, "strides", new long[] {1, 3}, "dilations", new long[] {2, 1}));
            checkConvTranspose(arena, rnd, DType.FLOAT, new long[] {1, 2, 7}, new long[] {2, 3, 3}, false, 1,
                    new long[] {2}, new long[] {1}, new long[] {0}, new long[] {15}, attrs("strides", new long[] {2}));
            checkConvTranspose(arena, rnd, DType.FLOAT, new long[] {1, 1, 3, 4, 5}, new long[] {1, 2, 3, 3, 3}, true, 1,
                    new long[] {1, 2, 1}, new long[] {1, 1, 1}, new long[] {0, 1, 0}, new long[] {5, 8, 7},
                    attrs("strides", new long[] {1, 2, 1}, "pads", new long[] {0, 1, 0, 0, 0, 0}));
            // depthwise-like transpose (group == C) and chunked col buffer (rows = 64*9, 4096 input positions).
            checkConvTranspose(arena, rnd, DType.FLOAT, new long[] {1, 3, 5, 5}, new long[] {3, 1, 3, 3}, true, 3,
                    new long[] {1, 1}, new long[] {1, 1}, new long[] {1, 1}, new long[] {5, 5},
                    attrs("group", 3, "pads", new long[] {1, 1, 1, 1}));
            checkConvTranspose(arena, rnd, DType.FLOAT, new long[] {1, 2, 64, 64}, new long[] {2, 64, 3, 3}, false, 1,
                    new long[] {2, 2}, new long[] {1, 1}, new long[] {1, 1}, new long[] {127, 127},
                    attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}));
            checkConvTranspose(arena, rnd, DType.DOUBLE, new long[] {1, 2, 3, 4}, new long[] {2, 2, 3, 2}, true, 1,
                    new long[] {2, 1}, new long[] {1, 2}, new long[] {0, 1}, new long[] {7, 5},
                    attrs("strides", new long[] {2, 1}, "dilations", new long[] {1, 2}, "pads", new long[] {0, 1, 0, 0}));
            checkConvTranspose(arena, rnd, DType.FLOAT16, new long[] {1, 2, 3}, new long[] {2, 2, 2}, true, 1,
                    new long[] {2}, new long[] {1}, new long[] {0}, new long[] {6}, attrs("strides", new long[] {2}));
        }
    }

    @Test
    void convTransposeOutputShapeAndAutoPad() {
        Random rnd = new Random(22);
        try (Arena arena = Arena.ofConfined()) {
            long[] xs = {1, 1, 3, 3};
            long[] ws = {1, 2, 3, 3};
            long[] s = {3, 2};
            long[] d = {1, 1};
            // full = s*(in-1) + k = 9 x 7; output_shape 10 x 8 -> total -1 each, begin pad floor: 0 (extra at the end).
            checkConvTranspose(arena, rnd, DType.FLOAT, xs, ws, false, 1, s, d, new long[] {0, 0}, new long[] {10, 8},
                    attrs("strides", s, "output_shape", new long[] {10, 8}));
            // output_shape smaller than full: total 2 x 1 -> NOTSET puts the odd pad first.
            checkConvTranspose(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {1, 1}, new long[] {7, 6},
                    attrs("strides", s, "output_shape", new long[] {1, 2, 7, 6}));
            // SAME_UPPER / SAME_LOWER: out = in * s = 9 x 6; totals 0 x 1.
            checkConvTranspose(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {0, 0}, new long[] {9, 6},
                    attrs("strides", s, "auto_pad", "SAME_UPPER"));
            checkConvTranspose(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {0, 1}, new long[] {9, 6},
                    attrs("strides", s, "auto_pad", "SAME_LOWER"));
            checkConvTranspose(arena, rnd, DType.FLOAT, xs, ws, true, 1, s, d, new long[] {0, 0}, new long[] {9, 7},
                    attrs("strides", s, "auto_pad", "VALID", "pads", new long[] {1, 1, 1, 1}));
        }
    }

    @Test
    void convTransposeErrors() {
        Random rnd = new Random(23);
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = random(arena, rnd, DType.FLOAT, 1, 4, 3, 3);
            Tensor w = random(arena, rnd, DType.FLOAT, 3, 2, 3, 3);
            EngineException e = assertThrows(EngineException.class, () -> run(arena, F, "ConvTranspose", 11, Attributes.empty(), x, w));
            assertTrue(e.getMessage().contains("ConvTranspose_0"), e.getMessage());
            Tensor w4 = random(arena, rnd, DType.FLOAT, 4, 2, 3, 3);
            assertThrows(EngineException.class, () -> run(arena, F, "ConvTranspose", 11, attrs("group", 3), x, w4));
            assertThrows(EngineException.class, () -> run(arena, F, "ConvTranspose", 11, attrs("output_padding", new long[] {1}), x, w4));
            assertThrows(EngineException.class, () -> run(arena, F, "ConvTranspose", 11, attrs("pads", new long[] {5, 5, 5, 5}), x, w4));
        }
    }
}
