package dev.gatun.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
