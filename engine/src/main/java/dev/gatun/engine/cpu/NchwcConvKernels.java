package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register code of {@link NchwcConv} (VL = 16 only): a tile of 14 output positions (or 7, or 4, for shorter
 * lines) x 32 output channels (two blocks of the NCHWc output) or x 16 (one block) over a range of reduction terms,
 * every term's input value broadcast, into a per-thread array; the store of such a tile with the epilogue; the
 * kernels for positions whose taps leave the image. X, Y, the bias and the residual are read and written at absolute
 * byte addresses through {@link SgemmKernel#ALL} (bounds checked once per call by {@link NchwcConv}); the weights come
 * from the heap array of {@link NchwcConv.Packed} at an index affine in the term, whose bounds check C2 hoists out of
 * the term loop (a vector load through {@code ALL} there kept ~20 instructions of checks per load and term: the
 * weights in the heap took 32->16@112 from 118 to 113 us and, with {@link NchwcConvAdjacent}, to 95).
 *
 * <p>Measured and dropped (one thread, MobileNetV2's 1x1 layers): tiles that store to Y with the epilogue themselves
 * (16->96@28 16.0 -> 13.7 us, but C1 then fails on them, "out of virtual registers", and they stayed boxed under some
 * compile orders); 7 positions x 64 channels (33 vector registers: spills, up to 15% slower); 9 x 48 (no faster: the
 * 14 x 32 tile is not bound by its broadcasts); 28 positions x 16 channels (7-10% faster on M = 16, but C1 fails on it
 * too); 16 positions along the lanes for one block, with 16 x 16 register transposes (2.4x slower).
 *
 * <p>Terms: k = (kh * KW + kw) * C + c (taps outer, input channels inner); the packed weights of a panel are
 * {@code W[k][32]} at {@code w[wo + 32k]}; {@code koff[k]} is the float offset of term k's input from a position's
 * origin (the input at (oy*sh - padTop, ox*sw - padLeft), channel 0). Each output is its bias plus one fused multiply-add per
 * term in increasing k, whichever kernel computes it, so results are equal bit for bit to
 * {@link NchwcConv#convScalar}'s.
 */
final class NchwcConvKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    /** Output positions a tile. */
    static final int TP = 14;

    private NchwcConvKernels() {}

    /**
     * The 14-position x 32-channel tile over terms [k0, k1): for p &lt; 14 and lanes r &lt; 32,
     * {@code acc[p*32 + r] = bias[r] + sum_k W[k][r] * X[xa + 4*koff[k] + p*ps]} (one fused multiply-add chain per
     * output, k increasing), W at {@code w[wo]} as [k][32], the bias at byte address {@code ba}. 28 accumulators.
     */
    static void tile2(float[] w, int wo, long xa, long ps, int[] koff, int k0, int k1, long ba, float[] acc) {
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
            v = FloatVector.broadcast(S, all.get(F, i + ps));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * ps));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * ps));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 4 * ps));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 5 * ps));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 6 * ps));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, i + 7 * ps));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, i + 8 * ps));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, i + 9 * ps));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, i + 10 * ps));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, i + 11 * ps));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, i + 12 * ps));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, i + 13 * ps));
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

    /**
     * {@link #tile2} for lanes 0..15 only (the last panel of an odd block count): 14 accumulators. One broadcast a
     * fused multiply-add bounds it (with every other broadcast left out, as a test, it ran 1.5x faster): about half
     * of tile2's rate.
     */
    static void tile1(float[] w, int wo, long xa, long ps, int[] koff, int k0, int k1, long ba, float[] acc) {
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
            v = FloatVector.broadcast(S, all.get(F, i + ps));
            c010 = w0.fma(v, c010);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * ps));
            c020 = w0.fma(v, c020);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * ps));
            c030 = w0.fma(v, c030);
            v = FloatVector.broadcast(S, all.get(F, i + 4 * ps));
            c040 = w0.fma(v, c040);
            v = FloatVector.broadcast(S, all.get(F, i + 5 * ps));
            c050 = w0.fma(v, c050);
            v = FloatVector.broadcast(S, all.get(F, i + 6 * ps));
            c060 = w0.fma(v, c060);
            v = FloatVector.broadcast(S, all.get(F, i + 7 * ps));
            c070 = w0.fma(v, c070);
            v = FloatVector.broadcast(S, all.get(F, i + 8 * ps));
            c080 = w0.fma(v, c080);
            v = FloatVector.broadcast(S, all.get(F, i + 9 * ps));
            c090 = w0.fma(v, c090);
            v = FloatVector.broadcast(S, all.get(F, i + 10 * ps));
            c100 = w0.fma(v, c100);
            v = FloatVector.broadcast(S, all.get(F, i + 11 * ps));
            c110 = w0.fma(v, c110);
            v = FloatVector.broadcast(S, all.get(F, i + 12 * ps));
            c120 = w0.fma(v, c120);
            v = FloatVector.broadcast(S, all.get(F, i + 13 * ps));
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

    /** {@link #tile2} for 7 positions (lines of 7 to 13): 14 accumulators. */
    static void tile2x7(float[] w, int wo, long xa, long ps, int[] koff, int k0, int k1, long ba, float[] acc) {
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
        for (int k = k0; k < k1; k++) {
            int wk = wo + 32 * k;
            FloatVector w0 = FloatVector.fromArray(S, w, wk);
            FloatVector w1 = FloatVector.fromArray(S, w, wk + 16);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + ps));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * ps));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * ps));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 4 * ps));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 5 * ps));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 6 * ps));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
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
    }

    /** {@link #tile1} for 7 positions: 7 accumulators. */
    static void tile1x7(float[] w, int wo, long xa, long ps, int[] koff, int k0, int k1, long ba, float[] acc) {
        MemorySegment all = ALL;
        FloatVector b0 = FloatVector.fromMemorySegment(S, all, ba + 0, LE);
        FloatVector c000 = b0;
        FloatVector c010 = b0;
        FloatVector c020 = b0;
        FloatVector c030 = b0;
        FloatVector c040 = b0;
        FloatVector c050 = b0;
        FloatVector c060 = b0;
        for (int k = k0; k < k1; k++) {
            int wk = wo + 32 * k;
            FloatVector w0 = FloatVector.fromArray(S, w, wk);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i));
            c000 = w0.fma(v, c000);
            v = FloatVector.broadcast(S, all.get(F, i + ps));
            c010 = w0.fma(v, c010);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * ps));
            c020 = w0.fma(v, c020);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * ps));
            c030 = w0.fma(v, c030);
            v = FloatVector.broadcast(S, all.get(F, i + 4 * ps));
            c040 = w0.fma(v, c040);
            v = FloatVector.broadcast(S, all.get(F, i + 5 * ps));
            c050 = w0.fma(v, c050);
            v = FloatVector.broadcast(S, all.get(F, i + 6 * ps));
            c060 = w0.fma(v, c060);
        }
        c000.intoArray(acc, 0);
        c010.intoArray(acc, 32);
        c020.intoArray(acc, 64);
        c030.intoArray(acc, 96);
        c040.intoArray(acc, 128);
        c050.intoArray(acc, 160);
        c060.intoArray(acc, 192);
    }

    /** {@link #tile2} for 4 positions (lines of 4 to 6): 8 accumulators. */
    static void tile2x4(float[] w, int wo, long xa, long ps, int[] koff, int k0, int k1, long ba, float[] acc) {
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
        for (int k = k0; k < k1; k++) {
            int wk = wo + 32 * k;
            FloatVector w0 = FloatVector.fromArray(S, w, wk);
            FloatVector w1 = FloatVector.fromArray(S, w, wk + 16);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + ps));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * ps));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * ps));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
        }
        c000.intoArray(acc, 0);
        c001.intoArray(acc, 16);
        c010.intoArray(acc, 32);
        c011.intoArray(acc, 48);
        c020.intoArray(acc, 64);
        c021.intoArray(acc, 80);
        c030.intoArray(acc, 96);
        c031.intoArray(acc, 112);
    }

    /** {@link #tile1} for 4 positions: 4 accumulators. */
    static void tile1x4(float[] w, int wo, long xa, long ps, int[] koff, int k0, int k1, long ba, float[] acc) {
        MemorySegment all = ALL;
        FloatVector b0 = FloatVector.fromMemorySegment(S, all, ba + 0, LE);
        FloatVector c000 = b0;
        FloatVector c010 = b0;
        FloatVector c020 = b0;
        FloatVector c030 = b0;
        for (int k = k0; k < k1; k++) {
            int wk = wo + 32 * k;
            FloatVector w0 = FloatVector.fromArray(S, w, wk);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i));
            c000 = w0.fma(v, c000);
            v = FloatVector.broadcast(S, all.get(F, i + ps));
            c010 = w0.fma(v, c010);
            v = FloatVector.broadcast(S, all.get(F, i + 2 * ps));
            c020 = w0.fma(v, c020);
            v = FloatVector.broadcast(S, all.get(F, i + 3 * ps));
            c030 = w0.fma(v, c030);
        }
        c000.intoArray(acc, 0);
        c010.intoArray(acc, 32);
        c020.intoArray(acc, 64);
        c030.intoArray(acc, 96);
    }

    /**
     * Stores positions [from, to) of a tile: block 0 (acc lanes 0..15) of position p at {@code ya + 64p}, block 1 (lanes
     * 16..31, when {@code two}) at {@code ya + ys + 64p}, plus (when {@code res}) the residual at the same offsets from
     * {@code ra}, then clamped to [lo, hi] (the vector form of {@link ConvEpilogue#clamp(float, float, float)};
     * infinite bounds: no clamp). Branch-free: the residual is read (from Y itself when there is none:
     * {@code ra == ya}) and added under a mask of all or no lanes, the clamp always runs, so that no vector merges
     * values from two paths (a rarely taken vector path compiled as a call boxed every vector of the method in a JVM
     * that had run other kernels first).
     */
    static void store(float[] acc, int from, int to, boolean two, long ya, long ys, long ra, boolean res, float lo,
                      float hi) {
        MemorySegment all = ALL;
        FloatVector vlo = FloatVector.broadcast(S, lo);
        FloatVector vhi = FloatVector.broadcast(S, hi);
        VectorMask<Float> mr = S.maskAll(res);
        int blocks = two ? 2 : 1;
        for (int b = 0; b < blocks; b++) {
            long yb = ya + b * ys;
            long rb = ra + b * ys;
            for (int p = from; p < to; p++) {
                long o = 64L * p;
                FloatVector v = FloatVector.fromArray(S, acc, 32 * p + 16 * b);
                v = v.add(FloatVector.fromMemorySegment(S, all, rb + o, LE), mr);
                v = v.blend(vlo, v.compare(VectorOperators.LT, vlo));
                v = v.blend(vhi, v.compare(VectorOperators.GT, vhi));
                v.intoMemorySegment(all, yb + o, LE);
            }
        }
    }

    /**
     * One output position x 32 channels ({@code two}) or 16, over the taps kh in [ky0, ky1), kw in [kx0, kx1) (all C
     * channels of each): the taps that stay inside the image, in the same increasing-k chain as the tiles; stored like
     * a tile's position 0.
     */
    static void point(float[] w, int wo, long xa, int[] koff, int c, int kw, int ky0, int ky1, int kx0, int kx1, long ba, long ya,
                      long ys, long ra, boolean two, boolean res, float lo, float hi) {
        MemorySegment all = ALL;
        FloatVector a0 = FloatVector.fromMemorySegment(S, all, ba, LE);
        FloatVector a1 = FloatVector.fromMemorySegment(S, all, ba + 64, LE);
        for (int ky = ky0; ky < ky1; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
                int k0 = (ky * kw + kx) * c;
                for (int k = k0; k < k0 + c; k++) {
                    int wk = wo + 32 * k;
                    FloatVector v = FloatVector.broadcast(S, all.get(F, xa + 4L * koff[k]));
                    a0 = FloatVector.fromArray(S, w, wk).fma(v, a0);
                    a1 = FloatVector.fromArray(S, w, wk + 16).fma(v, a1);
                }
            }
        }
        FloatVector vlo = FloatVector.broadcast(S, lo);
        FloatVector vhi = FloatVector.broadcast(S, hi);
        VectorMask<Float> mr = S.maskAll(res);
        a0 = a0.add(FloatVector.fromMemorySegment(S, all, ra, LE), mr);
        a1 = a1.add(FloatVector.fromMemorySegment(S, all, ra + (two ? ys : 0), LE), mr);
        a0 = a0.blend(vlo, a0.compare(VectorOperators.LT, vlo));
        a0 = a0.blend(vhi, a0.compare(VectorOperators.GT, vhi));
        a1 = a1.blend(vlo, a1.compare(VectorOperators.LT, vlo));
        a1 = a1.blend(vhi, a1.compare(VectorOperators.GT, vhi));
        a0.intoMemorySegment(all, ya, LE);
        if (two) {
            a1.intoMemorySegment(all, ya + ys, LE);
        }
    }

    /**
     * {@link #point} for four positions with the same taps (a border column over four rows): position i's origin at
     * {@code xa + i*xs}, its output at {@code ya + i*yps} (and the residual at {@code ra + i*yps}): eight chains, enough
     * to hide the latency of the fused multiply-adds that one position's two chains wait on.
     */
    static void point4(float[] w, int wo, long xa, long xs, int[] koff, int c, int kw, int ky0, int ky1, int kx0, int kx1, long ba,
                       long ya, long yps, long ys, long ra, boolean two, boolean res, float lo, float hi) {
        MemorySegment all = ALL;
        FloatVector b0 = FloatVector.fromMemorySegment(S, all, ba, LE);
        FloatVector b1 = FloatVector.fromMemorySegment(S, all, ba + 64, LE);
        FloatVector a0 = b0, a1 = b1, d0 = b0, d1 = b1, e0 = b0, e1 = b1, f0 = b0, f1 = b1;
        for (int ky = ky0; ky < ky1; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
                int k0 = (ky * kw + kx) * c;
                for (int k = k0; k < k0 + c; k++) {
                    int wk = wo + 32 * k;
                    FloatVector w0 = FloatVector.fromArray(S, w, wk);
                    FloatVector w1 = FloatVector.fromArray(S, w, wk + 16);
                    long i = xa + 4L * koff[k];
                    FloatVector v = FloatVector.broadcast(S, all.get(F, i));
                    a0 = w0.fma(v, a0);
                    a1 = w1.fma(v, a1);
                    v = FloatVector.broadcast(S, all.get(F, i + xs));
                    d0 = w0.fma(v, d0);
                    d1 = w1.fma(v, d1);
                    v = FloatVector.broadcast(S, all.get(F, i + 2 * xs));
                    e0 = w0.fma(v, e0);
                    e1 = w1.fma(v, e1);
                    v = FloatVector.broadcast(S, all.get(F, i + 3 * xs));
                    f0 = w0.fma(v, f0);
                    f1 = w1.fma(v, f1);
                }
            }
        }
        VectorMask<Float> mr = S.maskAll(res);
        long r1 = ra + (two ? ys : 0);
        a0 = a0.add(FloatVector.fromMemorySegment(S, all, ra, LE), mr);
        a1 = a1.add(FloatVector.fromMemorySegment(S, all, r1, LE), mr);
        d0 = d0.add(FloatVector.fromMemorySegment(S, all, ra + yps, LE), mr);
        d1 = d1.add(FloatVector.fromMemorySegment(S, all, r1 + yps, LE), mr);
        e0 = e0.add(FloatVector.fromMemorySegment(S, all, ra + 2 * yps, LE), mr);
        e1 = e1.add(FloatVector.fromMemorySegment(S, all, r1 + 2 * yps, LE), mr);
        f0 = f0.add(FloatVector.fromMemorySegment(S, all, ra + 3 * yps, LE), mr);
        f1 = f1.add(FloatVector.fromMemorySegment(S, all, r1 + 3 * yps, LE), mr);
        {
            FloatVector vlo = FloatVector.broadcast(S, lo);
            FloatVector vhi = FloatVector.broadcast(S, hi);
            a0 = a0.blend(vlo, a0.compare(VectorOperators.LT, vlo)).blend(vhi, a0.compare(VectorOperators.GT, vhi));
            a1 = a1.blend(vlo, a1.compare(VectorOperators.LT, vlo)).blend(vhi, a1.compare(VectorOperators.GT, vhi));
            d0 = d0.blend(vlo, d0.compare(VectorOperators.LT, vlo)).blend(vhi, d0.compare(VectorOperators.GT, vhi));
            d1 = d1.blend(vlo, d1.compare(VectorOperators.LT, vlo)).blend(vhi, d1.compare(VectorOperators.GT, vhi));
            e0 = e0.blend(vlo, e0.compare(VectorOperators.LT, vlo)).blend(vhi, e0.compare(VectorOperators.GT, vhi));
            e1 = e1.blend(vlo, e1.compare(VectorOperators.LT, vlo)).blend(vhi, e1.compare(VectorOperators.GT, vhi));
            f0 = f0.blend(vlo, f0.compare(VectorOperators.LT, vlo)).blend(vhi, f0.compare(VectorOperators.GT, vhi));
            f1 = f1.blend(vlo, f1.compare(VectorOperators.LT, vlo)).blend(vhi, f1.compare(VectorOperators.GT, vhi));
        }
        a0.intoMemorySegment(all, ya, LE);
        d0.intoMemorySegment(all, ya + yps, LE);
        e0.intoMemorySegment(all, ya + 2 * yps, LE);
        f0.intoMemorySegment(all, ya + 3 * yps, LE);
        if (two) {
            a1.intoMemorySegment(all, ya + ys, LE);
            d1.intoMemorySegment(all, ya + ys + yps, LE);
            e1.intoMemorySegment(all, ya + ys + 2 * yps, LE);
            f1.intoMemorySegment(all, ya + ys + 3 * yps, LE);
        }
    }
}
