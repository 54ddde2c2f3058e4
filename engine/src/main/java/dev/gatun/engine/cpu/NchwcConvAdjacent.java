package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link NchwcConvKernels#tile2} and {@link NchwcConvKernels#tile1} for positions adjacent in blocked X (64 bytes
 * apart: stride 1, blocked input, the case of every 1x1 layer and of the interior rows of stride-1 KxK ones), with
 * that step a constant: the input of position p and term k is the float at byte address {@code xa + 4*koff[k] + 64p},
 * the weights {@code w[wo + 32k ...]}; the same chains (bias, then one fused multiply-add per term in increasing k),
 * so bit-equal to the general kernels and to {@link NchwcConv#convScalar}.
 *
 * <p>Why a constant step: with a variable one C2 kept the 13 offsets {@code p*ps} in stack slots (one reload and add
 * per broadcast); with 64 they are displacements (a {@code lea}, the bounds compare, the broadcast). With the weights
 * moved to a heap array too (their per-term bounds check hoisted), one thread, thread CPU time, median of 11 batches,
 * alternating JVMs: 32->16@112 118-120 -> 94-96 us, 144->24@56 136 -> 125, 24->144@56 145 -> 128-135, 96->576@14
 * 98 -> 93-94, 320->1280@7 176 -> 170, 960->320@7 129 -> 126.
 */
final class NchwcConvAdjacent {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;

    private NchwcConvAdjacent() {}

    /** {@link NchwcConvKernels#tile2} with the position step 64 bytes: 14 positions x 32 channels. */
    static void tile2(float[] w, int wo, long xa, int[] koff, int k0, int k1, long ba, float[] acc) {
        MemorySegment all = ALL;
        FloatVector b0 = FloatVector.fromMemorySegment(S, all, ba + 0, LE);
        FloatVector b1 = FloatVector.fromMemorySegment(S, all, ba + 64, LE);
        FloatVector c000 = b0;
        FloatVector c001 = b1;
        FloatVector c010 = b0;
        FloatVector c011 = b1;
        FloatVector c020 = b0;
        FloatVector c021 = b1;
        FloatVector c030 = b0;
        FloatVector c031 = b1;
        FloatVector c040 = b0;
        FloatVector c041 = b1;
        FloatVector c050 = b0;
        FloatVector c051 = b1;
        FloatVector c060 = b0;
        FloatVector c061 = b1;
        FloatVector c070 = b0;
        FloatVector c071 = b1;
        FloatVector c080 = b0;
        FloatVector c081 = b1;
        FloatVector c090 = b0;
        FloatVector c091 = b1;
        FloatVector c100 = b0;
        FloatVector c101 = b1;
        FloatVector c110 = b0;
        FloatVector c111 = b1;
        FloatVector c120 = b0;
        FloatVector c121 = b1;
        FloatVector c130 = b0;
        FloatVector c131 = b1;
        for (int k = k0; k < k1; k++) {
            int wk = wo + 32 * k;
            FloatVector w0 = FloatVector.fromArray(S, w, wk);
            FloatVector w1 = FloatVector.fromArray(S, w, wk + 16);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 64L));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * 64L));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * 64L));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 4 * 64L));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 5 * 64L));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 6 * 64L));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, i + 7 * 64L));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, i + 8 * 64L));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, i + 9 * 64L));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, i + 10 * 64L));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, i + 11 * 64L));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, i + 12 * 64L));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, i + 13 * 64L));
            c130 = w0.fma(v, c130);
            c131 = w1.fma(v, c131);
        }
        c000.intoArray(acc, 0);
        c001.intoArray(acc, 16);
        c010.intoArray(acc, 32);
        c011.intoArray(acc, 48);
        c020.intoArray(acc, 64);
        c021.intoArray(acc, 80);
        c030.intoArray(acc, 96);
        c031.intoArray(acc, 112);
        c040.intoArray(acc, 128);
        c041.intoArray(acc, 144);
        c050.intoArray(acc, 160);
        c051.intoArray(acc, 176);
        c060.intoArray(acc, 192);
        c061.intoArray(acc, 208);
        c070.intoArray(acc, 224);
        c071.intoArray(acc, 240);
        c080.intoArray(acc, 256);
        c081.intoArray(acc, 272);
        c090.intoArray(acc, 288);
        c091.intoArray(acc, 304);
        c100.intoArray(acc, 320);
        c101.intoArray(acc, 336);
        c110.intoArray(acc, 352);
        c111.intoArray(acc, 368);
        c120.intoArray(acc, 384);
        c121.intoArray(acc, 400);
        c130.intoArray(acc, 416);
        c131.intoArray(acc, 432);
    }

    /** {@link NchwcConvKernels#tile1} with the position step 64 bytes: 14 positions x 16 channels. */
    static void tile1(float[] w, int wo, long xa, int[] koff, int k0, int k1, long ba, float[] acc) {
        MemorySegment all = ALL;
        FloatVector b0 = FloatVector.fromMemorySegment(S, all, ba + 0, LE);
        FloatVector c000 = b0;
        FloatVector c010 = b0;
        FloatVector c020 = b0;
        FloatVector c030 = b0;
        FloatVector c040 = b0;
        FloatVector c050 = b0;
        FloatVector c060 = b0;
        FloatVector c070 = b0;
        FloatVector c080 = b0;
        FloatVector c090 = b0;
        FloatVector c100 = b0;
        FloatVector c110 = b0;
        FloatVector c120 = b0;
        FloatVector c130 = b0;
        for (int k = k0; k < k1; k++) {
            int wk = wo + 32 * k;
            FloatVector w0 = FloatVector.fromArray(S, w, wk);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i));
            c000 = w0.fma(v, c000);
            v = FloatVector.broadcast(S, all.get(F, i + 64L));
            c010 = w0.fma(v, c010);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * 64L));
            c020 = w0.fma(v, c020);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * 64L));
            c030 = w0.fma(v, c030);
            v = FloatVector.broadcast(S, all.get(F, i + 4 * 64L));
            c040 = w0.fma(v, c040);
            v = FloatVector.broadcast(S, all.get(F, i + 5 * 64L));
            c050 = w0.fma(v, c050);
            v = FloatVector.broadcast(S, all.get(F, i + 6 * 64L));
            c060 = w0.fma(v, c060);
            v = FloatVector.broadcast(S, all.get(F, i + 7 * 64L));
            c070 = w0.fma(v, c070);
            v = FloatVector.broadcast(S, all.get(F, i + 8 * 64L));
            c080 = w0.fma(v, c080);
            v = FloatVector.broadcast(S, all.get(F, i + 9 * 64L));
            c090 = w0.fma(v, c090);
            v = FloatVector.broadcast(S, all.get(F, i + 10 * 64L));
            c100 = w0.fma(v, c100);
            v = FloatVector.broadcast(S, all.get(F, i + 11 * 64L));
            c110 = w0.fma(v, c110);
            v = FloatVector.broadcast(S, all.get(F, i + 12 * 64L));
            c120 = w0.fma(v, c120);
            v = FloatVector.broadcast(S, all.get(F, i + 13 * 64L));
            c130 = w0.fma(v, c130);
        }
        c000.intoArray(acc, 0);
        c010.intoArray(acc, 32);
        c020.intoArray(acc, 64);
        c030.intoArray(acc, 96);
        c040.intoArray(acc, 128);
        c050.intoArray(acc, 160);
        c060.intoArray(acc, 192);
        c070.intoArray(acc, 224);
        c080.intoArray(acc, 256);
        c090.intoArray(acc, 288);
        c100.intoArray(acc, 320);
        c110.intoArray(acc, 352);
        c120.intoArray(acc, 384);
        c130.intoArray(acc, 416);
    }
}
