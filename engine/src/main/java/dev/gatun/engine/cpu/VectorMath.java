package dev.gatun.engine.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transcendental functions on float vectors built from plain lane-wise arithmetic (min, max, fma, div), so a
 * lane's result depends only on its input: the same in every lane, whatever the JIT state (unlike
 * {@code lanewise(VectorOperators.TANH)}, whose interpreted fallback and compiled stub round differently),
 * plus double-precision scalar references for tests.
 */
public final class VectorMath {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

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

    /**
     * erf for float lanes: x·P(x²)/Q(x²) on x clamped to [-4, 4] (beyond that erf is ±1 in float), a rational
     * approximation (the one Eigen and XLA use) within about 6 ulp of the exact value.
     */
    public static FloatVector erf(FloatVector v) {
        FloatVector x = v.max(-4f).min(4f);
        FloatVector x2 = x.mul(x);
        FloatVector p = x2.fma(ERF_P[6], ERF_P[5]);
        p = x2.fma(p, FloatVector.broadcast(S, ERF_P[4]));
        p = x2.fma(p, FloatVector.broadcast(S, ERF_P[3]));
        p = x2.fma(p, FloatVector.broadcast(S, ERF_P[2]));
        p = x2.fma(p, FloatVector.broadcast(S, ERF_P[1]));
        p = x2.fma(p, FloatVector.broadcast(S, ERF_P[0]));
        FloatVector q = x2.fma(ERF_Q[4], ERF_Q[3]);
        q = x2.fma(q, FloatVector.broadcast(S, ERF_Q[2]));
        q = x2.fma(q, FloatVector.broadcast(S, ERF_Q[1]));
        q = x2.fma(q, FloatVector.broadcast(S, ERF_Q[0]));
        return x.mul(p).div(q);
    }

    /**
     * tanh for float lanes: x·P(x²)/Q(x²) on x clamped to ±7.905 (tanh is ±1 in float beyond), the rational
     * approximation Eigen and MLAS use, within a few ulp.
     */
    public static FloatVector tanh(FloatVector v) {
        FloatVector x = v.max(-TANH_CLAMP).min(TANH_CLAMP);
        FloatVector x2 = x.mul(x);
        FloatVector p = x2.fma(TANH_P[6], TANH_P[5]);
        p = x2.fma(p, FloatVector.broadcast(S, TANH_P[4]));
        p = x2.fma(p, FloatVector.broadcast(S, TANH_P[3]));
        p = x2.fma(p, FloatVector.broadcast(S, TANH_P[2]));
        p = x2.fma(p, FloatVector.broadcast(S, TANH_P[1]));
        p = x2.fma(p, FloatVector.broadcast(S, TANH_P[0]));
        FloatVector q = x2.fma(TANH_Q[3], TANH_Q[2]);
        q = x2.fma(q, FloatVector.broadcast(S, TANH_Q[1]));
        q = x2.fma(q, FloatVector.broadcast(S, TANH_Q[0]));
        return x.mul(p).div(q);
    }

    /** Gelu with erf: 0.5·x·(1 + erf(x/√2)). */
    public static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul(INV_SQRT_2)).add(1f));
    }

    /** Gelu with the tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
    public static FloatVector geluTanh(FloatVector x) {
        FloatVector inner = x.mul(x).mul(0.044715f).fma(x, x).mul(SQRT_2_OVER_PI);
        return x.mul(0.5f).mul(tanh(inner).add(1f));
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
