package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.DenseOpsTestSupport.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.cpu.IntraOpPool;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.IntConsumer;
import org.junit.jupiter.api.Test;

class MatMulOpsTest {
    private static final MatMulOps F = new MatMulOps();

    // ---------------------------------------------------------------- references

    /** numpy matmul by definition: promote 1-D operands, broadcast batch dims index by index. */
    private static double[] refMatMul(Tensor a, Tensor b, List<Long> outShape) {
        long[] ad = a.shape().rank() == 1 ? new long[] {1, a.shape().dim(0)} : a.shape().dims();
        long[] bd = b.shape().rank() == 1 ? new long[] {b.shape().dim(0), 1} : b.shape().dims();
        int r = Math.max(ad.length, bd.length);
        long[] pa = pad(ad, r);
        long[] pb = pad(bd, r);
        long m = pa[r - 2];
        long k = pa[r - 1];
        long n = pb[r - 1];
        long[] batch = new long[r - 2];
        for (int i = 0; i < r - 2; i++) {
            batch[i] = Math.max(pa[i], pb[i]);
            outShape.add(batch[i]);
        }
        if (a.shape().rank() > 1) {
            outShape.add(m);
        }
        if (b.shape().rank() > 1) {
            outShape.add(n);
        }
        long count = Shape.of(batch).size();
        double[] out = new double[(int) (count * m * n)];
        long[] idx = new long[batch.length];
        for (long q = 0; q < count; q++) {
            long aBase = 0;
            long bBase = 0;
            for (int i = 0; i < batch.length; i++) {
                aBase = aBase * pa[i] + (pa[i] == 1 ? 0 : idx[i]);
                bBase = bBase * pb[i] + (pb[i] == 1 ? 0 : idx[i]);
            }
            for (long i = 0; i < m; i++) {
                for (long j = 0; j < n; j++) {
                    double s = 0;
                    for (long p = 0; p < k; p++) {
                        s += a.getDouble(aBase * m * k + i * k + p) * b.getDouble(bBase * k * n + p * n + j);
                    }
                    out[(int) ((q * m + i) * n + j)] = s;
                }
            }
            for (int i = batch.length - 1; i >= 0 && ++idx[i] == batch[i]; i--) {
                idx[i] = 0;
            }
        }
        return out;
    }

    private static long[] pad(long[] d, int r) {
        long[] p = new long[r];
        Arrays.fill(p, 1);
        System.arraycopy(d, 0, p, r - d.length, d.length);
        return p;
    }

    private static Shape shape(List<Long> dims) {
        return Shape.of(dims.stream().mapToLong(Long::longValue).toArray());
    }

    private static void checkMatMul(Arena arena, Random rnd, DType t, long[] as, long[] bs) {
        Tensor a = random(arena, rnd, t, as);
        Tensor b = random(arena, rnd, t, bs);
        List<Long> outShape = new ArrayList<>();
        double[] expected = refMatMul(a, b, outShape);
        Tensor y = run(arena, F, "MatMul", 13, Attributes.empty(), a, b);
        assertClose("MatMul " + t + " " + Arrays.toString(as) + " x " + Arrays.toString(bs), shape(outShape), expected, y,
                tolerance(t, as[as.length - 1]));
    }

    // ---------------------------------------------------------------- MatMul

    @Test
    void matmulShapesWithPromotionAndBroadcast() {
        Random rnd = new Random(1);
        long[][][] cases = {
            {{7}, {7}}, {{17}, {17, 5}}, {{33, 7}, {7}}, {{7}, {2, 7, 3}}, {{1, 17}, {17, 33}}, {{33, 17}, {17, 1}},
            {{7, 17}, {17, 33}}, {{100, 33}, {33, 17}}, {{2, 3, 7, 5}, {5, 17}}, {{3, 1, 7, 5}, {1, 2, 5, 4}},
            {{7, 5}, {3, 5, 2}}, {{2, 1, 5}, {5, 3}}, {{4, 2, 3}, {4, 3, 2}}, {{1, 2, 4, 3}, {3}}, {{0, 3}, {3, 4}},
            {{2, 0}, {0, 3}}, {{2, 2, 3}, {1, 1, 3, 4}}
        };
        try (Arena arena = Arena.ofConfined()) {
            for (long[][] c : cases) {
                checkMatMul(arena, rnd, DType.FLOAT, c[0], c[1]);
            }
        }
    }

    @Test
    void matmulOtherDtypes() {
        Random rnd = new Random(2);
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.DOUBLE, DType.INT32, DType.INT64, DType.UINT32, DType.UINT64, DType.FLOAT16, DType.BFLOAT16}) {
                checkMatMul(arena, rnd, t, new long[] {3, 7, 17}, new long[] {17, 5});
                checkMatMul(arena, rnd, t, new long[] {2, 1, 4, 3}, new long[] {3, 3, 2});
                checkMatMul(arena, rnd, t, new long[] {5}, new long[] {5});
            }
        }
    }

    @Test
    void matmulErrorsNameTheNode() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 3));
            Tensor b = Tensor.allocate(arena, DType.FLOAT, Shape.of(4, 2));
            EngineException e = assertThrows(EngineException.class, () -> run(arena, F, "MatMul", 13, Attributes.empty(), a, b));
            assertTrue(e.getMessage().contains("MatMul_0") && e.getMessage().contains("[2,3]"), e.getMessage());
            Tensor c = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 3, 4));
            Tensor d = Tensor.allocate(arena, DType.FLOAT, Shape.of(3, 4, 5));
            assertThrows(EngineException.class, () -> run(arena, F, "MatMul", 13, Attributes.empty(), c, d));
            Tensor s = Tensor.allocate(arena, DType.FLOAT, Shape.scalar());
            assertThrows(EngineException.class, () -> run(arena, F, "MatMul", 13, Attributes.empty(), s, a));
            Tensor i8 = Tensor.allocate(arena, DType.INT8, Shape.of(2, 2));
            EngineException u = assertThrows(EngineException.class, () -> run(arena, F, "MatMul", 13, Attributes.empty(), i8, i8));
            assertEquals(EngineException.Kind.UNSUPPORTED, u.kind());
        }
    }

    // ---------------------------------------------------------------- Gemm

    private static double[] refGemm(Tensor a, Tensor b, Tensor c, boolean ta, boolean tb, double alpha, double beta, int m, int n, int k) {
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += a.getDouble(ta ? (long) p * m + i : (long) i * k + p) * b.getDouble(tb ? (long) j * k + p : (long) p * n + j);
                }
                double cv = 0;
                if (c != null) {
                    Shape cs = c.shape();
                    long cm = cs.rank() == 2 ? cs.dim(0) : 1;
                    long cn = cs.rank() >= 1 ? cs.dim(-1) : 1;
                    cv = c.getDouble((cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j));
                }
                out[i * n + j] = alpha * s + beta * cv;
            }
        }
        return out;
    }

    @Test
    void gemmTransposesAlphaBetaAndBiasShapes() {
        Random rnd = new Random(3);
        int m = 7;
        int n = 17;
        int k = 33;
        long[][] cShapes = {null, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}};
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.INT64, DType.INT32}) {
                for (int tr = 0; tr < 4; tr++) {
                    boolean ta = (tr & 1) != 0;
                    boolean tb = (tr & 2) != 0;
                    for (long[] cs : cShapes) {
                        float alpha = t.isInteger() ? 1f : 0.5f + tr;
                        float beta = t.isInteger() ? 1f : -1.25f;
                        Tensor a = random(arena, rnd, t, ta ? new long[] {k, m} : new long[] {m, k});
                        Tensor b = random(arena, rnd, t, tb ? new long[] {n, k} : new long[] {k, n});
                        Tensor c = cs == null ? null : random(arena, rnd, t, cs);
                        Attributes at = attrs("transA", ta ? 1 : 0, "transB", tb ? 1 : 0, "alpha", alpha, "beta", beta);
                        Tensor y = c == null ? run(arena, F, "Gemm", 13, at, a, b) : run(arena, F, "Gemm", 13, at, a, b, c);
                        assertClose("Gemm " + t + " ta=" + ta + " tb=" + tb + " C=" + Arrays.toString(cs), Shape.of(m, n),
                                refGemm(a, b, c, ta, tb, alpha, beta, m, n, k), y, tolerance(t, k) * 4);
                    }
                }
            }
        }
    }

    @Test
    void gemmOldOpsetsHonourBroadcastAttribute() {
        Random rnd = new Random(4);
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = random(arena, rnd, DType.FLOAT, 3, 5);
            Tensor b = random(arena, rnd, DType.FLOAT, 5, 4);
            Tensor row = random(arena, rnd, DType.FLOAT, 4);
            Tensor full = random(arena, rnd, DType.FLOAT, 3, 4);
            Tensor y = run(arena, F, "Gemm", 6, attrs("broadcast", 1), a, b, row);
            assertClose("Gemm-6 broadcast", Shape.of(3, 4), refGemm(a, b, row, false, false, 1, 1, 3, 4, 5), y, 1e-5);
            y = run(arena, F, "Gemm", 6, Attributes.empty(), a, b, full);
            assertClose("Gemm-6 full C", Shape.of(3, 4), refGemm(a, b, full, false, false, 1, 1, 3, 4, 5), y, 1e-5);
            EngineException e = assertThrows(EngineException.class, () -> run(arena, F, "Gemm", 6, Attributes.empty(), a, b, row));
            assertTrue(e.getMessage().contains("Gemm_0") && e.getMessage().contains("broadcast=0"), e.getMessage());
            // From opset 7 C broadcasts without the attribute; beta 0 ignores C entirely.
            y = run(arena, F, "Gemm", 9, Attributes.empty(), a, b, row);
            assertClose("Gemm-9", Shape.of(3, 4), refGemm(a, b, row, false, false, 1, 1, 3, 4, 5), y, 1e-5);
            y = run(arena, F, "Gemm", 11, attrs("beta", 0f), a, b, full);
            assertClose("Gemm-11 beta 0", Shape.of(3, 4), refGemm(a, b, null, false, false, 1, 0, 3, 4, 5), y, 1e-5);
        }
    }

    @Test
    void gemmErrors() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.allocate(arena, DType.FLOAT, Shape.of(3, 5));
            Tensor b = Tensor.allocate(arena, DType.FLOAT, Shape.of(4, 5));
            EngineException e = assertThrows(EngineException.class, () -> run(arena, F, "Gemm", 13, Attributes.empty(), a, b));
            assertTrue(e.getMessage().contains("Gemm_0"), e.getMessage());
            Tensor badC = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 4));
            assertThrows(EngineException.class, () -> run(arena, F, "Gemm", 13, attrs("transB", 1), a, b, badC));
            Tensor v = Tensor.allocate(arena, DType.FLOAT, Shape.of(5));
            assertThrows(EngineException.class, () -> run(arena, F, "Gemm", 13, Attributes.empty(), v, b));
        }
    }

    // ---------------------------------------------------------------- constant weights and threads

    /** A context over {@code arena} running parallelFor on {@code pool} ({@code threads} of them). */
    private static KernelContext threaded(Arena arena, IntraOpPool pool) {
        ArenaContext base = new ArenaContext(arena);
        return new KernelContext() {
            @Override
            public Tensor allocate(DType dtype, Shape shape) {
                return base.allocate(dtype, shape);
            }

            @Override
            public int threads() {
                return pool.threads();
            }

            @Override
            public void parallelFor(int tasks, IntConsumer body) {
                pool.parallelFor(tasks, body);
            }
        };
    }

    /** Plans {@code op} with input 1 (B) a plan-time constant, so the weight is prepacked, and runs it. */
    private static Tensor runWithConstantB(KernelContext ctx, String op, Attributes at, Tensor... in) {
        DType[] types = new DType[in.length];
        Tensor[] constants = new Tensor[in.length];
        for (int i = 0; i < in.length; i++) {
            types[i] = in[i].dtype();
        }
        constants[1] = in[1];
        Planned p = F.plan(new NodeSpec(op + "_0", op, "", 13, at, types, null, constants, 1));
        return p.kernel().run(ctx, in)[0];
    }

    @Test
    void constantWeightsArePackedOnceAndMatchTheReference() {
        Random rnd = new Random(6);
        try (Arena arena = Arena.ofShared(); IntraOpPool pool = new IntraOpPool(3, "matmul-test")) {
            for (KernelContext ctx : new KernelContext[] {new ArenaContext(arena), threaded(arena, pool)}) {
                for (long[][] c : new long[][][] {{{7, 17}, {17, 33}}, {{2, 3, 65}, {65, 100}}, {{1, 33}, {33, 257}},
                        {{33}, {33, 7}}, {{5, 1}, {1, 9}}, {{0, 4}, {4, 6}}}) {
                    Tensor a = random(arena, rnd, DType.FLOAT, c[0]);
                    Tensor b = random(arena, rnd, DType.FLOAT, c[1]);
                    List<Long> outShape = new ArrayList<>();
                    double[] expected = refMatMul(a, b, outShape);
                    Tensor y = runWithConstantB(ctx, "MatMul", Attributes.empty(), a, b);
                    assertClose("packed MatMul " + Arrays.toString(c[0]) + " x " + Arrays.toString(c[1]), shape(outShape),
                            expected, y, tolerance(DType.FLOAT, c[0][c[0].length - 1]));
                }
                int m = 9;
                int n = 50;
                int k = 40;
                for (int tr = 0; tr < 4; tr++) {
                    boolean ta = (tr & 1) != 0;
                    boolean tb = (tr & 2) != 0;
                    for (long[] cs : new long[][] {{n}, {1, n}, {m, n}, {}, {1}}) {
                        for (float beta : new float[] {1f, 0.5f}) {
                            Tensor a = random(arena, rnd, DType.FLOAT, ta ? new long[] {k, m} : new long[] {m, k});
                            Tensor b = random(arena, rnd, DType.FLOAT, tb ? new long[] {n, k} : new long[] {k, n});
                            Tensor bias = random(arena, rnd, DType.FLOAT, cs);
                            Attributes at = attrs("transA", ta ? 1 : 0, "transB", tb ? 1 : 0, "alpha", 0.75f, "beta", beta);
                            Tensor y = runWithConstantB(ctx, "Gemm", at, a, b, bias);
                            assertClose("packed Gemm ta=" + ta + " tb=" + tb + " C=" + Arrays.toString(cs) + " beta=" + beta,
                                    Shape.of(m, n), refGemm(a, b, bias, ta, tb, 0.75, beta, m, n, k), y, tolerance(DType.FLOAT, k) * 4);
                        }
                    }
                }
                Tensor a = random(arena, rnd, DType.FLOAT, 3, 4);
                Tensor b = random(arena, rnd, DType.FLOAT, 5, 6);
                assertThrows(EngineException.class, () -> runWithConstantB(ctx, "MatMul", Attributes.empty(), a, b));
            }
        }
    }

    @Test
    void batchedMatMulOnThreadsEqualsOneThread() {
        Random rnd = new Random(8);
        try (Arena arena = Arena.ofShared(); IntraOpPool pool = new IntraOpPool(3, "matmul-test")) {
            for (long[][] c : new long[][][] {{{2, 3, 17, 8}, {2, 3, 8, 17}}, {{2, 1, 33, 16}, {1, 4, 16, 9}},
                    {{2, 130, 70}, {2, 70, 60}}, {{300, 70}, {70, 200}}, {{1, 900}, {900, 300}}}) {
                Tensor a = random(arena, rnd, DType.FLOAT, c[0]);
                Tensor b = random(arena, rnd, DType.FLOAT, c[1]);
                DType[] types = {DType.FLOAT, DType.FLOAT};
                Planned p = F.plan(NodeSpec.of("MatMul", 13, Attributes.empty(), 1, types));
                Tensor one = p.kernel().run(new ArenaContext(arena), new Tensor[] {a, b})[0];
                Tensor three = p.kernel().run(threaded(arena, pool), new Tensor[] {a, b})[0];
                List<Long> outShape = new ArrayList<>();
                double[] expected = refMatMul(a, b, outShape);
                assertClose("MatMul " + Arrays.toString(c[0]) + " x " + Arrays.toString(c[1]), shape(outShape), expected, three,
                        tolerance(DType.FLOAT, c[0][c[0].length - 1]));
                assertEquals(-1, one.data().mismatch(three.data()), "1 and 3 threads differ");
            }
        }
    }

    // ---------------------------------------------------------------- Einsum

    /** Einsum by definition: loop over every assignment of every letter (ellipsis axes get spare upper-case letters). */
    private static double[] refEinsum(String equation, Tensor[] in, List<Long> outShape) {
        String eq = equation.replace(" ", "");
        String lhs = eq.contains("->") ? eq.substring(0, eq.indexOf("->")) : eq;
        String[] terms = lhs.split(",", -1);
        int ell = 0;
        for (int i = 0; i < terms.length; i++) {
            ell = Math.max(ell, in[i].shape().rank() - terms[i].replace("...", "").length());
        }
        String pool = "UVWXYZ".substring(0, ell);
        for (int i = 0; i < terms.length; i++) {
            int extra = in[i].shape().rank() - terms[i].replace("...", "").length();
            terms[i] = terms[i].replace("...", pool.substring(ell - extra));
        }
        String out;
        if (eq.contains("->")) {
            out = eq.substring(eq.indexOf("->") + 2).replace("...", pool);
        } else {
            StringBuilder sb = new StringBuilder(pool);
            String all = String.join("", terms);
            all.chars().filter(ch -> pool.indexOf(ch) < 0 && all.indexOf(ch) == all.lastIndexOf(ch)).sorted()
                    .forEach(ch -> sb.append((char) ch));
            out = sb.toString();
        }
        String letters = (String.join("", terms) + out).chars().distinct()
                .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
        long[] size = new long[128];
        for (int i = 0; i < terms.length; i++) {
            for (int d = 0; d < terms[i].length(); d++) {
                size[terms[i].charAt(d)] = Math.max(size[terms[i].charAt(d)], in[i].shape().dim(d));
            }
        }
        for (char ch : out.toCharArray()) {
            outShape.add(size[ch]);
        }
        double[] result = new double[(int) shape(outShape).size()];
        long[] val = new long[128];
        long total = 1;
        for (char ch : letters.toCharArray()) {
            total *= size[ch];
        }
        for (long q = 0; q < total; q++) {
            long rest = q;
            for (int i = letters.length() - 1; i >= 0; i--) {
                char ch = letters.charAt(i);
                val[ch] = rest % size[ch];
                rest /= size[ch];
            }
            double prod = 1;
            for (int i = 0; i < terms.length; i++) {
                long off = 0;
                for (int d = 0; d < terms[i].length(); d++) {
                    long dim = in[i].shape().dim(d);
                    off = off * dim + (dim == 1 ? 0 : val[terms[i].charAt(d)]);
                }
                prod *= in[i].getDouble(off);
            }
            long o = 0;
            for (char ch : out.toCharArray()) {
                o = o * size[ch] + val[ch];
            }
            result[(int) o] += prod;
        }
        return result;
    }

    private static void checkEinsum(Arena arena, Random rnd, DType t, String eq, long[]... shapes) {
        Tensor[] in = new Tensor[shapes.length];
        for (int i = 0; i < shapes.length; i++) {
            in[i] = random(arena, rnd, t, shapes[i]);
        }
        List<Long> outShape = new ArrayList<>();
        double[] expected = refEinsum(eq, in, outShape);
        Tensor y = run(arena, F, "Einsum", 12, attrs("equation", eq), in);
        assertClose("Einsum '" + eq + "' " + t, shape(outShape), expected, y, tolerance(t, 64));
    }

    @Test
    void einsumEquationsMatchIndexLoop() {
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofConfined()) {
            for (DType t : new DType[] {DType.FLOAT, DType.DOUBLE, DType.INT64}) {
                checkEinsum(arena, rnd, t, "ij,jk->ik", new long[] {7, 17}, new long[] {17, 5});
                checkEinsum(arena, rnd, t, "bij, bjk -> bik", new long[] {3, 7, 5}, new long[] {3, 5, 2});
                checkEinsum(arena, rnd, t, "bij,bkj->bik", new long[] {3, 7, 5}, new long[] {3, 4, 5});
                checkEinsum(arena, rnd, t, "ji,jk->ik", new long[] {17, 7}, new long[] {17, 5});
                checkEinsum(arena, rnd, t, "bji,bkj->bik", new long[] {3, 5, 7}, new long[] {3, 4, 5});
                checkEinsum(arena, rnd, t, "ab,ba->", new long[] {3, 4}, new long[] {4, 3});
                checkEinsum(arena, rnd, t, "ij->ji", new long[] {7, 17});
                checkEinsum(arena, rnd, t, "ij->i", new long[] {7, 17});
                checkEinsum(arena, rnd, t, "ij->", new long[] {7, 1});
                checkEinsum(arena, rnd, t, "ii->i", new long[] {5, 5});
                checkEinsum(arena, rnd, t, "ii", new long[] {5, 5});
                checkEinsum(arena, rnd, t, "i,j->ij", new long[] {7}, new long[] {5});
                checkEinsum(arena, rnd, t, "i,i", new long[] {17}, new long[] {17});
                checkEinsum(arena, rnd, t, "ij,ij->ij", new long[] {1, 5}, new long[] {4, 5});
                checkEinsum(arena, rnd, t, "ab,ba->", new long[] {3, 4}, new long[] {4, 3});
                checkEinsum(arena, rnd, t, "ij,jk", new long[] {3, 4}, new long[] {4, 2});
                checkEinsum(arena, rnd, t, "ba", new long[] {3, 4});
                checkEinsum(arena, rnd, t, "abc,cd,de->abe", new long[] {2, 3, 4}, new long[] {4, 5}, new long[] {5, 3});
                checkEinsum(arena, rnd, t, "iij,jk->ik", new long[] {3, 3, 4}, new long[] {4, 2});
                checkEinsum(arena, rnd, t, "ijk,ikl->jl", new long[] {2, 3, 4}, new long[] {2, 4, 5});
                checkEinsum(arena, rnd, t, "bhqd,bhkd->bhqk", new long[] {2, 3, 7, 4}, new long[] {2, 3, 5, 4});
                checkEinsum(arena, rnd, t, "ij,k->", new long[] {2, 3}, new long[] {4});
                checkEinsum(arena, rnd, t, "Ab,bA->A", new long[] {3, 4}, new long[] {4, 3});
                checkEinsum(arena, rnd, t, "->", new long[] {});
                checkEinsum(arena, rnd, t, "i->i", new long[] {0});
            }
        }
    }

    @Test
    void einsumEllipsis() {
        Random rnd = new Random(6);
        try (Arena arena = Arena.ofConfined()) {
            checkEinsum(arena, rnd, DType.FLOAT, "...ij,...jk->...ik", new long[] {2, 3, 4, 5}, new long[] {3, 5, 6});
            checkEinsum(arena, rnd, DType.FLOAT, "...ij,...jk", new long[] {2, 1, 4, 5}, new long[] {3, 5, 6});
            checkEinsum(arena, rnd, DType.DOUBLE, "...ii->...i", new long[] {3, 5, 5});
            checkEinsum(arena, rnd, DType.DOUBLE, "i...->...", new long[] {4, 2, 3});
            checkEinsum(arena, rnd, DType.FLOAT, "...ij->...ji", new long[] {4, 2, 3});
            checkEinsum(arena, rnd, DType.FLOAT, "ij...,j...->i...", new long[] {2, 3, 4}, new long[] {3, 4});
            checkEinsum(arena, rnd, DType.FLOAT, "...,...->...", new long[] {2, 3}, new long[] {3});
            checkEinsum(arena, rnd, DType.FLOAT16, "...ij,...jk->...ik", new long[] {2, 4, 5}, new long[] {5, 3});
            checkEinsum(arena, rnd, DType.INT32, "bij,bjk->bik", new long[] {2, 4, 5}, new long[] {2, 5, 3});
            checkEinsum(arena, rnd, DType.UINT8, "ij,jk->ik", new long[] {2, 4}, new long[] {4, 3});
        }
    }

    @Test
    void einsumErrors() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor a = Tensor.allocate(arena, DType.FLOAT, Shape.of(2, 3));
            Tensor b = Tensor.allocate(arena, DType.FLOAT, Shape.of(4, 5));
            EngineException e = assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "ij,jk->ik"), a, b));
            assertTrue(e.getMessage().contains("Einsum_0"), e.getMessage());
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "ij->ik"), a));
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "ij,jk->ik"), a));
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "i1->i"), a));
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "ijk->i"), a));
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "i..j->i"), a));
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, attrs("equation", "ij->ii"), a));
            assertThrows(EngineException.class, () -> run(arena, F, "Einsum", 12, Attributes.empty(), a));
        }
    }
}
