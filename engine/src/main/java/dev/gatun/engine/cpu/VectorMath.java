package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transcendental functions on float vectors built from plain lane-wise arithmetic (min, max, fma, div), so a
 * lane's result depends only on its input: the same in every lane, whatever the JIT state (unlike
 * {@code lanewise(VectorOperators.TANH)}, whose interpreted fallback and compiled stub round differently),
 * plus double-precision scalar references for tests; and {@link #FOLD1} and its siblings, a lane sum in one fixed order.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static final float[] ERF_P = {-1.60960333262415e-02f, -2.95459980854025e-03f, -7.34990630326855e-04f,
        -5.69250639462346e-05f, -2.10102402082508e-06f, 2.77068142495902e-08f, -2.72614225801306e-10f};
    private static final float[] ERF_Q = {-1.42647390514189e-02f, -7.37332916720468e-03f, -1.68282697438203e-03f,
        -2.13374055278905e-04f, -1.45660718464996e-05f};

    private static final float TANH_CLAMP = 7.90531110763549805f;
    private static final float[] TANH_P = {4.89352455891786e-03f, 6.37261928875436e-04f, 1.48572235717979e-05f,
        5.12229709037114e-08f, -8.60467152213735e-11f, 2.00018790482477e-13f, -2.76076847742355e-16f};
    private static final float[] TANH_Q = {4.89352518554385e-03f, 2.26843463243900e-03f, 1.18534705686654e-04f,
        1.19825839466702e-06f};

    /** sqrt(2/pi), the GeluTanh scale. */
    public static final float SQRT_2_OVER_PI = (float) Math.sqrt(2 / Math.PI);
    /** 1/sqrt(2), the Gelu scale. */
    public static final float INV_SQRT_2 = (float) (1 / Math.sqrt(2));

    private VectorMath() {}

    /** Lanes of the preferred float species, the one the fold shuffles below are for. */
    public static final int LANES = VL;

    /*
     * Lane sums in one fixed order, written out at each use (a vector handed to a call the JIT does not inline is
     * boxed on the heap; a shuffle read from an array is not a constant and is not compiled to one permute):
     *   v = LANES > 8 ? v.add(v.rearrange(FOLD8)) : v;
     *   v = LANES > 4 ? v.add(v.rearrange(FOLD4)) : v;
     *   v = LANES > 2 ? v.add(v.rearrange(FOLD2)) : v;
     *   float sum = v.add(v.rearrange(FOLD1)).lane(0);
     * Each step adds the upper half of the remaining lanes onto the lower half, so for 16 lanes lane 0 ends as
     * ((v0 + v8) + (v4 + v12)) + ((v2 + v10) + (v6 + v14)) + ..., whatever the JIT state; sumLanes(float[], int)
     * is the scalar twin. reduceLanes(ADD) on floats does not fix its order: its interpreted fallback adds lane
     * after lane and its compiled form in a tree, so a sum taken before and after the JIT compiled the caller
     * differed in the last bits (measured: 685 of 1000 random 16-lane sums), and a model's output depended on when
     * C2 finished compiling.
     */
    /** Lane i takes lane i ^ 8 (identity below 16 lanes: unused there). */
    public static final VectorShuffle<Float> FOLD8 = fold(8);
    /** Lane i takes lane i ^ 4 (identity below 8 lanes: unused there). */
    public static final VectorShuffle<Float> FOLD4 = fold(4);
    /** Lane i takes lane i ^ 2 (identity below 4 lanes: unused there). */
    public static final VectorShuffle<Float> FOLD2 = fold(2);
    /** Lane i takes lane i ^ 1. */
    public static final VectorShuffle<Float> FOLD1 = fold(1);

    private static VectorShuffle<Float> fold(int half) {
        return VectorShuffle.fromOp(S, i -> half < VL ? i ^ half : i);
    }

    /** The scalar twin of the {@link #FOLD1} lane sum: the same tree over {@code lanes[0 .. n)}, n a power of two; overwrites lanes. */
    public static float sumLanes(float[] lanes, int n) {
        for (int half = n / 2; half >= 1; half /= 2) {
            for (int i = 0; i < half; i++) {
                lanes[i] += lanes[i + half];
            }
        }
        return lanes[0];
    }

    /*
     * exp, Cephes' expf over the whole float range: x clamped to [-104, 89] (exp is 0 below -103.97 and +inf above
     * 88.73 in float; NaN stays NaN through min/max), n = round(x * log2 e) by the 1.5 * 2^23 trick (t = x * log2 e
     * + MAGIC, n = t - MAGIC, and t's bits minus MAGIC's are n), r = x - n * ln 2 in two parts (exact products for
     * |n| <= 150), exp(r) = 1 + r + r^2 * P(r) (degree 5, about 1 ulp), times 2^(n/2) and 2^(n - n/2), two normal
     * powers, so results near the overflow and in the subnormal range round once. exp(float) is the scalar twin,
     * the same operations (fused where the vector code fuses): bit-identical to a lane.
     */
    private static final float EXP_MIN = -104f;
    private static final float EXP_MAX = 89f;
    private static final float LOG2E = 1.44269504088896341f;
    private static final float MAGIC = 12582912f;
    private static final int MAGIC_BITS = Float.floatToRawIntBits(MAGIC);
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float[] EXP_P = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
        1.6666665459e-1f, 5.0000001201e-1f};

    /**
     * e^x per lane (the polynomial above), the same bits whatever the JIT state (lanewise(EXP)'s interpreted
     * fallback and compiled stub differ in about 1% of lanes). For hot loops of small methods, where the JIT
     * inlines it: a vector handed to a call it does not inline is boxed on the heap.
     */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = clamp(x, EXP_MIN, EXP_MAX);
        FloatVector t = xc.fma(LOG2E, MAGIC);
        FloatVector nf = t.sub(MAGIC);
        FloatVector r = nf.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = nf.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(EXP_P[0], EXP_P[1]);
        p = p.fma(r, FloatVector.broadcast(S, EXP_P[2]));
        p = p.fma(r, FloatVector.broadcast(S, EXP_P[3]));
        p = p.fma(r, FloatVector.broadcast(S, EXP_P[4]));
        p = p.fma(r, FloatVector.broadcast(S, EXP_P[5]));
        FloatVector y = p.fma(r.mul(r), r.add(1f));
        IntVector n = t.reinterpretAsInts().sub(MAGIC_BITS);
        IntVector h = n.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = n.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(s1).mul(s2);
    }

    /**
     * x clamped to [lo, hi] by compare and blend: the same lanes as {@code x.max(lo).min(hi)} (NaN stays NaN, -0 and
     * +0 are inside), without Java's max/min semantics, which compile to several instructions a vector (Gelu over
     * 1.5M floats: 0.17 ns a float against 0.22).
     */
    static FloatVector clamp(FloatVector x, float lo, float hi) {
        FloatVector y = x.blend(lo, x.lt(lo));
        return y.blend(hi, y.compare(VectorOperators.GT, hi));
    }

    /** The scalar twin of {@link #exp(FloatVector)}: bit-identical to a lane. */
    public static float exp(float x) {
        float xc = Math.min(Math.max(x, EXP_MIN), EXP_MAX);
        float t = Math.fma(xc, LOG2E, MAGIC);
        float nf = t - MAGIC;
        float r = Math.fma(nf, -LN2_HI, xc);
        r = Math.fma(nf, -LN2_LO, r);
        float p = Math.fma(r, EXP_P[0], EXP_P[1]);
        p = Math.fma(p, r, EXP_P[2]);
        p = Math.fma(p, r, EXP_P[3]);
        p = Math.fma(p, r, EXP_P[4]);
        p = Math.fma(p, r, EXP_P[5]);
        float y = Math.fma(p, r * r, r + 1f);
        int n = Float.floatToRawIntBits(t) - MAGIC_BITS;
        int h = n >> 1;
        return y * Float.intBitsToFloat((h + 127) << 23) * Float.intBitsToFloat((n - h + 127) << 23);
    }

    /** The scalar twin of {@link #apply}'s {@link #TANH}: bit-identical to a lane. */
    public static float tanh(float x) {
        float t = Math.min(Math.max(x, -TANH_CLAMP), TANH_CLAMP);
        float t2 = t * t;
        float p = Math.fma(t2, TANH_P[6], TANH_P[5]);
        for (int i = 4; i >= 0; i--) {
            p = Math.fma(t2, p, TANH_P[i]);
        }
        float q = Math.fma(t2, TANH_Q[3], TANH_Q[2]);
        for (int i = 1; i >= 0; i--) {
            q = Math.fma(t2, q, TANH_Q[i]);
        }
        return t * p / q;
    }

    /** {@link #apply} function: erf. */
    public static final int ERF = 0;
    /** {@link #apply} function: Gelu with erf, 0.5·x·(1 + erf(x/√2)). */
    public static final int GELU = 1;
    /** {@link #apply} function: Gelu with the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
    public static final int GELU_TANH = 2;
    /** {@link #apply} function: tanh. */
    public static final int TANH = 3;

    /**
     * {@code dst[dstOff + i] = f(src[srcOff + i]) (+ res[resOff + i] when res is not null)} for i in [0, n)
     * (offsets count floats; dst may be src). f is {@link #ERF}, {@link #GELU}, {@link #GELU_TANH} or {@link #TANH}:
     * <ul>
     *   <li>erf: x·P(x²)/Q(x²) on x clamped to [-4, 4] (beyond that erf is ±1 in float), the rational approximation
     *       Eigen and XLA use, within about 6 ulp;</li>
     *   <li>tanh: x·P(x²)/Q(x²) on x clamped to ±7.905 (±1 in float beyond), the approximation Eigen and MLAS use.</li>
     * </ul>
     * Every vector stays inside this one method, only the last partial vector masked (the same lane arithmetic):
     * a vector passed to or returned from a call the JIT does not inline is boxed on the heap, and whether a
     * callee is inlined depends on what else the JVM compiled first.
     */
    public static void apply(int f, MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long n,
                             MemorySegment res, long resOff) {
        if (n <= 0) {
            return;
        }
        if (src.isNative() && dst.isNative() && (res == null || res.isNative())) {
            // Absolute addresses through one constant segment, bounds checked here once (SgemmKernel.ALL says why).
            long s = SgemmKernel.address(src, srcOff * 4, n * 4, "erf/gelu source");
            long d = SgemmKernel.address(dst, dstOff * 4, n * 4, "erf/gelu destination");
            long r = res == null ? 0 : SgemmKernel.address(res, resOff * 4, n * 4, "residual");
            run(f, SgemmKernel.ALL, s, SgemmKernel.ALL, d, n, res == null ? null : SgemmKernel.ALL, r);
        } else {
            run(f, src, srcOff * 4, dst, dstOff * 4, n, res, resOff * 4);
        }
    }

    /** {@link #apply} with byte offsets. */
    private static void run(int f, MemorySegment src, long srcAt, MemorySegment dst, long dstAt, long n,
                            MemorySegment res, long resAt) {
        long full = n - n % VL;
        for (long i = 0; i < n; i += VL) {
            // only the last partial vector masked: a mask made for every vector cost 1.4-3x the arithmetic
            // (Gelu over 1.5-6.3M floats, one thread: 0.32-0.74 ns a float against 0.22-0.23)
            boolean tail = i >= full;
            FloatVector x = tail ? FloatVector.fromMemorySegment(S, src, srcAt + i * 4, LE, S.indexInRange(i, n))
                    : FloatVector.fromMemorySegment(S, src, srcAt + i * 4, LE);
            FloatVector y;
            if (f == GELU_TANH || f == TANH) {
                FloatVector arg = f == TANH ? x : x.mul(x).mul(0.044715f).fma(x, x).mul(SQRT_2_OVER_PI);
                FloatVector t = clamp(arg, -TANH_CLAMP, TANH_CLAMP);
                FloatVector t2 = t.mul(t);
                FloatVector p = t2.fma(TANH_P[6], TANH_P[5]);
                p = t2.fma(p, FloatVector.broadcast(S, TANH_P[4]));
                p = t2.fma(p, FloatVector.broadcast(S, TANH_P[3]));
                p = t2.fma(p, FloatVector.broadcast(S, TANH_P[2]));
                p = t2.fma(p, FloatVector.broadcast(S, TANH_P[1]));
                p = t2.fma(p, FloatVector.broadcast(S, TANH_P[0]));
                FloatVector q = t2.fma(TANH_Q[3], TANH_Q[2]);
                q = t2.fma(q, FloatVector.broadcast(S, TANH_Q[1]));
                q = t2.fma(q, FloatVector.broadcast(S, TANH_Q[0]));
                FloatVector tanh = t.mul(p).div(q);
                y = f == TANH ? tanh : x.mul(0.5f).mul(tanh.add(1f));
            } else {
                FloatVector e = clamp(f == GELU ? x.mul(INV_SQRT_2) : x, -4f, 4f);
                FloatVector e2 = e.mul(e);
                FloatVector p = e2.fma(ERF_P[6], ERF_P[5]);
                p = e2.fma(p, FloatVector.broadcast(S, ERF_P[4]));
                p = e2.fma(p, FloatVector.broadcast(S, ERF_P[3]));
                p = e2.fma(p, FloatVector.broadcast(S, ERF_P[2]));
                p = e2.fma(p, FloatVector.broadcast(S, ERF_P[1]));
                p = e2.fma(p, FloatVector.broadcast(S, ERF_P[0]));
                FloatVector q = e2.fma(ERF_Q[4], ERF_Q[3]);
                q = e2.fma(q, FloatVector.broadcast(S, ERF_Q[2]));
                q = e2.fma(q, FloatVector.broadcast(S, ERF_Q[1]));
                q = e2.fma(q, FloatVector.broadcast(S, ERF_Q[0]));
                FloatVector erf = e.mul(p).div(q);
                y = f == GELU ? x.mul(0.5f).mul(erf.add(1f)) : erf;
            }
            if (tail) {
                VectorMask<Float> m = S.indexInRange(i, n);
                if (res != null) {
                    y = y.add(FloatVector.fromMemorySegment(S, res, resAt + i * 4, LE, m));
                }
                y.intoMemorySegment(dst, dstAt + i * 4, LE, m);
            } else {
                if (res != null) {
                    y = y.add(FloatVector.fromMemorySegment(S, res, resAt + i * 4, LE));
                }
                y.intoMemorySegment(dst, dstAt + i * 4, LE);
            }
        }
    }

    /**
     * erf in double, to about 1e-14 relative: the Maclaurin series below 2.5, and above it
     * 1 - erfc from erfc's continued fraction (60 terms, evaluated backwards).
     */
    public static double erf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        double ax = Math.abs(x);
        if (ax >= 6) {
            return Math.copySign(1, x);
        }
        if (ax < 2.5) {
            double x2 = x * x;
            double term = x;
            double sum = 0;
            for (int n = 0; n < 200; n++) {
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.abs(t) < 1e-17 * Math.abs(sum)) {
                    break;
                }
                term *= -x2 / (n + 1);
            }
            return 2 / Math.sqrt(Math.PI) * sum;
        }
        double f = ax;
        for (int k = 60; k > 0; k--) {
            f = ax + (k / 2.0) / f;
        }
        double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        return Math.copySign(1 - erfc, x);
    }
}
