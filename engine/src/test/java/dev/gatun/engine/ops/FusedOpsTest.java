package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.attrs;
import static dev.gatun.engine.ops.DenseOpsTestSupport.random;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The dev.gatun fused ops against scalar references, single- and multi-threaded, on odd sizes. */
class FusedOpsTest {
    private static final FusedOps FAMILY = new FusedOps();

    /** Plans {@code op} with the given inputs (constants where {@code constant[i]}) and runs it in {@code ctx}. */
    private static Tensor run(KernelContext ctx, String op, Attributes a, boolean[] constant, Tensor... in) {
        DType[] types = new DType[in.length];
        Shape[] shapes = new Shape[in.length];
        Tensor[] consts = new Tensor[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i] == null ? null : in[i].dtype();
            shapes[i] = in[i] == null ? null : in[i].shape();
            consts[i] = constant != null && i < constant.length && constant[i] ? in[i] : null;
        }
        NodeSpec spec = new NodeSpec(op + "_0", op, FusedOps.DOMAIN, 1, a, types, shapes, consts, 1);
        Planned p = OpRegistry.plan(spec);
        return p.kernel().run(ctx, in)[0];
    }

    private static void assertNear(String what, double[] expected, Tensor got, double tol) {
        assertEquals(expected.length, got.size(), what + ": size");
        for (int i = 0; i < expected.length; i++) {
            double g = got.getDouble(i);
            double e = expected[i];
            if (!(Math.abs(g - e) <= tol * Math.max(1, Math.abs(e)))) {
                fail(what + ": element " + i + " is " + g + ", expected " + e);
            }
        }
    }

    private static double act(String a, double x) {
        return switch (a) {
            case "" -> x;
            case "Relu" -> Math.max(0, x);
            case "Gelu" -> FloatLoops.unary(FloatLoops.GELU, x, 0, 0);
            case "GeluTanh" -> FloatLoops.unary(FloatLoops.GELU_TANH, x, 0, 0);
            default -> throw new IllegalArgumentException(a);
        };
    }

    // ---------------------------------------------------------------- FusedMatMul

    @Test
    void fusedMatMulMatchesReference() {
        Random rnd = new Random(1);
        int[][] shapes = {{1, 1, 1}, {7, 17, 33}, {33, 64, 7}, {100, 33, 100}, {1, 384, 1536}, {13, 7, 1}};
        String[] acts = {"", "Relu", "Gelu", "GeluTanh"};
        try (Arena arena = Arena.ofShared()) {
            Workspace two = new Workspace(arena, Long.MAX_VALUE, 2);
            Workspace three = new Workspace(arena, Long.MAX_VALUE, 3);
            int c = 0;
            for (int[] s : shapes) {
                for (String act : acts) {
                    int m = s[0], k = s[1], n = s[2];
                    boolean bias = c % 2 == 0;
                    boolean res = c % 3 != 1;
                    boolean constB = c % 4 != 3;
                    KernelContext ctx = c % 3 == 0 ? new ArenaContext(arena) : c % 3 == 1 ? two : three;
                    c++;
                    Tensor a = random(arena, rnd, DType.FLOAT, 2, m, k);
                    Tensor b = random(arena, rnd, DType.FLOAT, k, n);
                    Tensor bi = bias ? random(arena, rnd, DType.FLOAT, n) : null;
                    Tensor r = res ? random(arena, rnd, DType.FLOAT, 2, m, n) : null;
                    Tensor y = run(ctx, "FusedMatMul", attrs("activation", act), new boolean[] {false, constB, true, false}, a, b, bi, r);
                    assertEquals(Shape.of(2, m, n), y.shape());
                    double[] e = new double[2 * m * n];
                    for (int i = 0; i < 2 * m; i++) {
                        for (int j = 0; j < n; j++) {
                            double acc = 0;
                            for (int p = 0; p < k; p++) {
                                acc += a.getDouble((long) i * k + p) * b.getDouble((long) p * n + j);
                            }
                            acc = (float) acc;
                            if (bias) {
                                acc = (float) (acc + bi.getDouble(j));
                            }
                            acc = act(act, acc);
                            if (res) {
                                acc += r.getDouble((long) i * n + j);
                            }
                            e[i * n + j] = acc;
                        }
                    }
                    assertNear("FusedMatMul " + m + "x" + k + "x" + n + " " + act + " bias=" + bias + " res=" + res + " constB=" + constB,
                            e, y, 2e-5 * (k + 1));
                }
            }
            two.close();
            three.close();
        }
    }

    @Test
    void fusedMatMulOneDimensionalAAndBroadcastResidual() {
        Random rnd = new Random(2);
        try (Arena arena = Arena.ofShared()) {
            Tensor a = random(arena, rnd, DType.FLOAT, 5);
            Tensor b = random(arena, rnd, DType.FLOAT, 5, 3);
            Tensor y = run(new ArenaContext(arena), "FusedMatMul", Attributes.empty(), new boolean[] {false, true}, a, b);
            assertEquals(Shape.of(3), y.shape());
            // A residual that broadcasts (here to a larger shape) goes through Add, as the unfused graph would.
            Tensor a2 = random(arena, rnd, DType.FLOAT, 4, 5);
            Tensor r = random(arena, rnd, DType.FLOAT, 2, 1, 3);
            Tensor y2 = run(new ArenaContext(arena), "FusedMatMul", Attributes.empty(), new boolean[] {false, true}, a2, b, null, r);
            assertEquals(Shape.of(2, 4, 3), y2.shape());
            for (int q = 0; q < 2; q++) {
                for (int i = 0; i < 4; i++) {
                    for (int j = 0; j < 3; j++) {
                        double acc = 0;
                        for (int p = 0; p < 5; p++) {
                            acc += a2.getDouble(i * 5 + p) * b.getDouble(p * 3 + j);
                        }
                        assertEquals(acc + r.getDouble(q * 3 + j), y2.getDouble((q * 4 + i) * 3 + j), 1e-5);
                    }
                }
            }
        }
    }

    @Test
    void fusedMatMulRefusesBadInputs() {
        EngineException e = assertThrows(EngineException.class, () -> OpRegistry.plan(new NodeSpec("mm", "FusedMatMul",
                FusedOps.DOMAIN, 1, attrs("activation", "Swish"), new DType[] {DType.FLOAT, DType.FLOAT}, null, null, 1)));
        assertTrue(e.getMessage().contains("'mm'") && e.getMessage().contains("Swish"), e.getMessage());
        assertThrows(EngineException.class, () -> OpRegistry.plan(new NodeSpec("mm", "FusedMatMul",
                FusedOps.DOMAIN, 1, Attributes.empty(), new DType[] {DType.DOUBLE, DType.DOUBLE}, null, null, 1)));
        try (Arena arena = Arena.ofShared()) {
            Tensor a = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 4));
            Tensor b = Tensor.allocate(arena, DType.FLOAT, Shape.of(5, 3));
            EngineException r = assertThrows(EngineException.class,
                    () -> run(new ArenaContext(arena), "FusedMatMul", Attributes.empty(), null, a, b));
            assertTrue(r.getMessage().contains("FusedMatMul_0") && r.getMessage().contains("[2,4]"), r.getMessage());
        }
    }

    // ---------------------------------------------------------------- LayerNormalization / SkipLayerNormalization

    private static double[] layerNorm(Tensor x, Tensor skip, Tensor scale, Tensor bias, float eps, long[] skipStridesOrNull) {
        int d = (int) x.shape().dim(-1);
        long rows = x.size() / d;
        double[] out = new double[(int) x.size()];
        double[] row = new double[d];
        for (long r = 0; r < rows; r++) {
            double mean = 0;
            for (int i = 0; i < d; i++) {
                long so = skip == null ? 0 : skip.size() == x.size() ? r * d + i : (r % (skip.size() / d)) * d + i;
                row[i] = x.getDouble(r * d + i) + (skip == null ? 0 : skip.getDouble(so));
                mean += row[i];
            }
            mean /= d;
            double var = 0;
            for (int i = 0; i < d; i++) {
                var += (row[i] - mean) * (row[i] - mean);
            }
            var /= d;
            for (int i = 0; i < d; i++) {
                double s = scale.getDouble(scale.size() == 1 ? 0 : i);
                out[(int) (r * d + i)] = (row[i] - mean) / Math.sqrt(var + eps) * s + (bias == null ? 0 : bias.getDouble(i));
            }
        }
        return out;
    }

    @Test
    void layerNormalizationMatchesReference() {
        Random rnd = new Random(3);
        int[] ds = {1, 7, 17, 384, 33};
        try (Arena arena = Arena.ofShared()) {
            Workspace two = new Workspace(arena, Long.MAX_VALUE, 2);
            for (int t = 0; t < ds.length; t++) {
                int d = ds[t];
                Tensor x = random(arena, rnd, DType.FLOAT, 3, 7, d);
                Tensor scale = random(arena, rnd, DType.FLOAT, d);
                Tensor bias = t % 2 == 0 ? random(arena, rnd, DType.FLOAT, d) : null;
                KernelContext ctx = t % 2 == 0 ? two : new ArenaContext(arena);
                Tensor y = run(ctx, "LayerNormalization", attrs("epsilon", 1e-3f), new boolean[] {false, t < 3, true}, x, scale, bias);
                assertEquals(x.shape(), y.shape());
                assertNear("LayerNormalization d=" + d, layerNorm(x, null, scale, bias, 1e-3f, null), y, 1e-4);
                Tensor skip = random(arena, rnd, DType.FLOAT, 3, 7, d);
                Tensor z = run(ctx, "SkipLayerNormalization", attrs("epsilon", 1e-3f), null, x, skip, scale, bias);
                assertNear("SkipLayerNormalization d=" + d, layerNorm(x, skip, scale, bias, 1e-3f, null), z, 1e-4);
            }
            two.close();
        }
    }

    @Test
    void skipLayerNormalizationBroadcasts() {
        Random rnd = new Random(4);
        try (Arena arena = Arena.ofShared()) {
            Tensor x = random(arena, rnd, DType.FLOAT, 3, 5, 17);
            Tensor pos = random(arena, rnd, DType.FLOAT, 1, 5, 17);
            Tensor scale = Tensor.ofFloats(arena, new float[] {1.5f}, 1);
            double[] e = layerNorm(x, pos, scale, null, 1e-5f, null);
            // skip broadcasting over the batch, in either input position (the sum is commutative)
            assertNear("skip [1,5,17]", e, run(new ArenaContext(arena), "SkipLayerNormalization", Attributes.empty(), null, x, pos, scale), 1e-4);
            Tensor swapped = run(new ArenaContext(arena), "SkipLayerNormalization", Attributes.empty(), null, pos, x, scale);
            assertEquals(Shape.of(3, 5, 17), swapped.shape());
            assertNear("x [1,5,17]", e, swapped, 1e-4);
            // a broadcast the kernel does not do by rows ([3,5,1]) goes through Add first
            Tensor col = random(arena, rnd, DType.FLOAT, 3, 5, 1);
            Tensor full = Tensor.allocate(arena, DType.FLOAT, x.shape());
            for (int i = 0; i < x.size(); i++) {
                full.data().setAtIndex(Tensor.F32, i, col.getFloat(i / 17));
            }
            assertNear("skip [3,5,1]", layerNorm(x, full, scale, null, 1e-5f, null),
                    run(new ArenaContext(arena), "SkipLayerNormalization", Attributes.empty(), null, x, col, scale), 1e-4);
        }
    }

    @Test
    void layerNormalizationRefusesOtherAxesAndBadScale() {
        try (Arena arena = Arena.ofShared()) {
            Tensor x = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 3));
            Tensor scale = Tensor.allocate(arena, DType.FLOAT, Shape.of(3));
            EngineException e = assertThrows(EngineException.class,
                    () -> run(new ArenaContext(arena), "LayerNormalization", attrs("axis", 0L), null, x, scale));
            assertTrue(e.getMessage().contains("LayerNormalization_0") && e.getMessage().contains("axis"), e.getMessage());
            Tensor bad = Tensor.allocate(arena, DType.FLOAT, Shape.of(2));
            assertThrows(EngineException.class, () -> run(new ArenaContext(arena), "LayerNormalization", Attributes.empty(), null, x, bad));
        }
    }

    // ---------------------------------------------------------------- Gelu

    @Test
    void geluMatchesReference() {
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            Workspace two = new Workspace(arena, Long.MAX_VALUE, 2);
            for (long n : new long[] {1, 7, 33, 100_003}) {
                for (String approx : new String[] {"none", "tanh"}) {
                    Tensor x = random(arena, rnd, DType.FLOAT, n);
                    for (int i = 0; i < n; i++) {
                        x.data().setAtIndex(Tensor.F32, i, x.getFloat(i) * 6);
                    }
                    Tensor y = run(n > 1000 ? two : new ArenaContext(arena), "Gelu", attrs("approximate", approx), null, x);
                    double[] e = new double[(int) n];
                    for (int i = 0; i < n; i++) {
                        e[i] = act(approx.equals("none") ? "Gelu" : "GeluTanh", x.getDouble(i));
                    }
                    assertNear("Gelu " + approx + " n=" + n, e, y, 1e-5);
                }
            }
            two.close();
        }
    }
}
