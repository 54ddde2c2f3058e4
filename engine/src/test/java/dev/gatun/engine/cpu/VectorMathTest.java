package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * The {@link VectorMath#FOLD1} lane sum against its scalar twin, bit for bit, on values of mixed magnitude
 * (where the order of the additions shows in the last bits): on the first calls (interpreted) and again after
 * enough calls for the JIT to compile it, the case {@code reduceLanes(ADD)} fails (its order changes with the tier).
 */
class VectorMathTest {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Test
    void sumLanesIsTheFixedTreeBeforeAndAfterCompilation() {
        int vl = S.length();
        int n = 2000;
        float[] a = new float[n * vl];
        Random rnd = new Random(7);
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(5)));
        }
        float[] cold = sums(a, n);
        float[] sink = new float[1];
        for (int round = 0; round < 200; round++) {
            sink[0] += sums(a, n)[round % n];
        }
        float[] warm = sums(a, n);
        float[] lanes = new float[vl];
        for (int v = 0; v < n; v++) {
            System.arraycopy(a, v * vl, lanes, 0, vl);
            float expected = VectorMath.sumLanes(lanes, vl);
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(cold[v]), "first calls, vector " + v);
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(warm[v]), "compiled, vector " + v);
        }
    }

    @Test
    void scalarTwinAddsHalvesOntoHalves() {
        float[] lanes = {1e8f, 1f, -1e8f, 1f};
        // (1e8 + -1e8) + (1 + 1): lane 0 with lane 2, lane 1 with lane 3, then the two.
        assertEquals(2f, VectorMath.sumLanes(lanes, 4));
    }

    @Test
    void expAndTanhEqualTheirScalarTwinsColdAndWarmAndStayAccurate() {
        int vl = S.length();
        Random rnd = new Random(11);
        float[] x = new float[4096 * vl];
        for (int i = 0; i < x.length; i++) {
            x[i] = switch (i % 8) {
                case 0 -> (float) (rnd.nextDouble() * 210 - 110);
                case 1 -> 88f + rnd.nextFloat();
                case 2 -> -87f - rnd.nextFloat() * 17;
                default -> (float) (rnd.nextGaussian() * 4);
            };
        }
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 88.72283f, 88.72284f,
            -103.9720f, -103.9721f, Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, 1e-8f, -1e-8f};
        System.arraycopy(specials, 0, x, 0, specials.length);
        float[][] cold = {map(x, true), map(x, false)};
        for (int round = 0; round < 300; round++) {
            map(x, round % 2 == 0);
        }
        float[][] warm = {map(x, true), map(x, false)};
        for (int i = 0; i < x.length; i++) {
            float e = VectorMath.exp(x[i]);
            float t = VectorMath.tanh(x[i]);
            assertEquals(Float.floatToRawIntBits(e), Float.floatToRawIntBits(cold[0][i]), "exp, first calls, x = " + x[i]);
            assertEquals(Float.floatToRawIntBits(e), Float.floatToRawIntBits(warm[0][i]), "exp, compiled, x = " + x[i]);
            assertEquals(Float.floatToRawIntBits(t), Float.floatToRawIntBits(cold[1][i]), "tanh, first calls, x = " + x[i]);
            assertEquals(Float.floatToRawIntBits(t), Float.floatToRawIntBits(warm[1][i]), "tanh, compiled, x = " + x[i]);
            double me = Math.exp(x[i]);
            float want = (float) me;
            if (Float.isNaN(x[i])) {
                assertTrue(Float.isNaN(e) && Float.isNaN(t), "NaN in, NaN out");
            } else if (Float.isInfinite(want) || want == 0f) {
                assertEquals(want, e, "exp(" + x[i] + ") out of float range");
            } else {
                // About 1 ulp over the normal range; in the subnormal range the ulp is absolute (2^-149).
                assertTrue(Math.abs(e - me) <= 2 * Math.ulp(want) + 0x1p-149, "exp(" + x[i] + ") = " + e + ", Math.exp " + me);
            }
            if (!Float.isNaN(x[i])) {
                double mt = Math.tanh(x[i]);
                assertTrue(Math.abs(t - mt) <= 6 * Math.ulp((float) mt) + 1e-30, "tanh(" + x[i] + ") = " + t + ", Math.tanh " + mt);
            }
        }
    }

    private static float[] map(float[] x, boolean exp) {
        float[] out = new float[x.length];
        if (!exp) {
            VectorMath.apply(VectorMath.TANH, MemorySegment.ofArray(x), 0, MemorySegment.ofArray(out), 0, x.length, null, 0);
            return out;
        }
        for (int i = 0; i < x.length; i += S.length()) {
            VectorMath.exp(FloatVector.fromArray(S, x, i)).intoArray(out, i);
        }
        return out;
    }

    private static float[] sums(float[] a, int n) {
        float[] out = new float[n];
        for (int v = 0; v < n; v++) {
            FloatVector x = FloatVector.fromArray(S, a, v * S.length());
            x = VectorMath.LANES > 8 ? x.add(x.rearrange(VectorMath.FOLD8)) : x;
            x = VectorMath.LANES > 4 ? x.add(x.rearrange(VectorMath.FOLD4)) : x;
            x = VectorMath.LANES > 2 ? x.add(x.rearrange(VectorMath.FOLD2)) : x;
            out[v] = x.add(x.rearrange(VectorMath.FOLD1)).lane(0);
        }
        return out;
    }
}
