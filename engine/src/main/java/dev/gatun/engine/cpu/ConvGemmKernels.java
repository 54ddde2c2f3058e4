package dev.gatun.engine.cpu;

import static dev.gatun.engine.cpu.ConvGemm.MR;
import static dev.gatun.engine.cpu.ConvGemm.NR;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked micro-kernels of {@link ConvGemm}: MR = 8 output channels x NR = 2 vectors of output
 * positions, 16 accumulators. A is a weight panel packed k-major ({@code a[ao + k*MR + r]}), B a packed tile
 * ({@code b[bo + k*NR + j]}) or, for 3x3 stride-1 layouts, rows of the phase planes read in place. Every output is
 * one fused multiply-add chain in increasing k, the same in every kernel, so the paths agree bit for bit.
 */
final class ConvGemmKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private ConvGemmKernels() {}

    /**
     * The MR x NR micro-kernel over one K block:
     * {@code tile[to + r*NR + j] += sum_{k < kc} a[ao + k*MR + r] * b[bo + k*NR + j]}, one fused multiply-add chain
     * per element in increasing k. Kept small and branch-free so that both JIT tiers compile it (a method the JIT
     * gives up on runs interpreted, a thousand times slower).
     */
    static void kernel(float[] a, int ao, float[] b, int bo, int kc, float[] tile, int to) {
        FloatVector c00 = FloatVector.fromArray(S, tile, to + 0 * NR);
        FloatVector c01 = FloatVector.fromArray(S, tile, to + 0 * NR + VL);
        FloatVector c10 = FloatVector.fromArray(S, tile, to + 1 * NR);
        FloatVector c11 = FloatVector.fromArray(S, tile, to + 1 * NR + VL);
        FloatVector c20 = FloatVector.fromArray(S, tile, to + 2 * NR);
        FloatVector c21 = FloatVector.fromArray(S, tile, to + 2 * NR + VL);
        FloatVector c30 = FloatVector.fromArray(S, tile, to + 3 * NR);
        FloatVector c31 = FloatVector.fromArray(S, tile, to + 3 * NR + VL);
        FloatVector c40 = FloatVector.fromArray(S, tile, to + 4 * NR);
        FloatVector c41 = FloatVector.fromArray(S, tile, to + 4 * NR + VL);
        FloatVector c50 = FloatVector.fromArray(S, tile, to + 5 * NR);
        FloatVector c51 = FloatVector.fromArray(S, tile, to + 5 * NR + VL);
        FloatVector c60 = FloatVector.fromArray(S, tile, to + 6 * NR);
        FloatVector c61 = FloatVector.fromArray(S, tile, to + 6 * NR + VL);
        FloatVector c70 = FloatVector.fromArray(S, tile, to + 7 * NR);
        FloatVector c71 = FloatVector.fromArray(S, tile, to + 7 * NR + VL);
        for (int k = 0; k < kc; k++) {
            int ak = ao + k * MR;
            int bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + VL);
            FloatVector av;
            av = FloatVector.broadcast(S, a[ak + 0]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ak + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ak + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ak + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ak + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ak + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ak + 6]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ak + 7]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
        }
        c00.intoArray(tile, to + 0 * NR);
        c01.intoArray(tile, to + 0 * NR + VL);
        c10.intoArray(tile, to + 1 * NR);
        c11.intoArray(tile, to + 1 * NR + VL);
        c20.intoArray(tile, to + 2 * NR);
        c21.intoArray(tile, to + 2 * NR + VL);
        c30.intoArray(tile, to + 3 * NR);
        c31.intoArray(tile, to + 3 * NR + VL);
        c40.intoArray(tile, to + 4 * NR);
        c41.intoArray(tile, to + 4 * NR + VL);
        c50.intoArray(tile, to + 5 * NR);
        c51.intoArray(tile, to + 5 * NR + VL);
        c60.intoArray(tile, to + 6 * NR);
        c61.intoArray(tile, to + 6 * NR + VL);
        c70.intoArray(tile, to + 7 * NR);
        c71.intoArray(tile, to + 7 * NR + VL);
    }

    /**
     * The MR x NR micro-kernel over the plane rows of whole channels of a 3x3 stride-1 layout, B read straight from the
     * phase buffer: row i (channel i / 3, kernel row i % 3) starts at {@code b[bo + rowOff[i]]}, its tap dx at
     * {@code + dx}, with weights {@code a[ao + (3*i + dx)*MR + r]}; {@code tile[to + r*NR + j] +=} their products in
     * increasing k = 3i + dx (the chains of {@link #kernel} over the packed rows).
     */
    static void kernelRows3(float[] a, int ao, float[] b, int bo, int[] rowOff, int rows, float[] tile, int to) {
        FloatVector c00 = FloatVector.fromArray(S, tile, to + 0 * NR);
        FloatVector c01 = FloatVector.fromArray(S, tile, to + 0 * NR + VL);
        FloatVector c10 = FloatVector.fromArray(S, tile, to + 1 * NR);
        FloatVector c11 = FloatVector.fromArray(S, tile, to + 1 * NR + VL);
        FloatVector c20 = FloatVector.fromArray(S, tile, to + 2 * NR);
        FloatVector c21 = FloatVector.fromArray(S, tile, to + 2 * NR + VL);
        FloatVector c30 = FloatVector.fromArray(S, tile, to + 3 * NR);
        FloatVector c31 = FloatVector.fromArray(S, tile, to + 3 * NR + VL);
        FloatVector c40 = FloatVector.fromArray(S, tile, to + 4 * NR);
        FloatVector c41 = FloatVector.fromArray(S, tile, to + 4 * NR + VL);
        FloatVector c50 = FloatVector.fromArray(S, tile, to + 5 * NR);
        FloatVector c51 = FloatVector.fromArray(S, tile, to + 5 * NR + VL);
        FloatVector c60 = FloatVector.fromArray(S, tile, to + 6 * NR);
        FloatVector c61 = FloatVector.fromArray(S, tile, to + 6 * NR + VL);
        FloatVector c70 = FloatVector.fromArray(S, tile, to + 7 * NR);
        FloatVector c71 = FloatVector.fromArray(S, tile, to + 7 * NR + VL);
        for (int i = 0; i < rows; i++) {
            int ak = ao + i * 3 * MR;
            int row = bo + rowOff[i];
            FloatVector b0;
            FloatVector b1;
            FloatVector av;
            b0 = FloatVector.fromArray(S, b, row + 0);
            b1 = FloatVector.fromArray(S, b, row + 0 + VL);
            av = FloatVector.broadcast(S, a[ak + 0]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ak + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ak + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ak + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ak + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ak + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ak + 6]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ak + 7]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
            b0 = FloatVector.fromArray(S, b, row + 1);
            b1 = FloatVector.fromArray(S, b, row + 1 + VL);
            av = FloatVector.broadcast(S, a[ak + 8]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ak + 9]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ak + 10]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ak + 11]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ak + 12]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ak + 13]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ak + 14]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ak + 15]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
            b0 = FloatVector.fromArray(S, b, row + 2);
            b1 = FloatVector.fromArray(S, b, row + 2 + VL);
            av = FloatVector.broadcast(S, a[ak + 16]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ak + 17]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ak + 18]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ak + 19]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ak + 20]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ak + 21]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ak + 22]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ak + 23]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
        }
        c00.intoArray(tile, to + 0 * NR);
        c01.intoArray(tile, to + 0 * NR + VL);
        c10.intoArray(tile, to + 1 * NR);
        c11.intoArray(tile, to + 1 * NR + VL);
        c20.intoArray(tile, to + 2 * NR);
        c21.intoArray(tile, to + 2 * NR + VL);
        c30.intoArray(tile, to + 3 * NR);
        c31.intoArray(tile, to + 3 * NR + VL);
        c40.intoArray(tile, to + 4 * NR);
        c41.intoArray(tile, to + 4 * NR + VL);
        c50.intoArray(tile, to + 5 * NR);
        c51.intoArray(tile, to + 5 * NR + VL);
        c60.intoArray(tile, to + 6 * NR);
        c61.intoArray(tile, to + 6 * NR + VL);
        c70.intoArray(tile, to + 7 * NR);
        c71.intoArray(tile, to + 7 * NR + VL);
    }

    /**
     * The micro-kernel for a whole K in one block and a tile whose lanes are one run of outputs:
     * {@code y[at + r*plane + j] = clamp(bias[bo2 + r] + sum_k a[ao + k*MR + r] * b[bo + k*NR + j], lo, hi)} for all
     * MR rows and NR lanes, from the registers (no tile round trip; the same chains as {@link #kernel}); {@code at}
     * in bytes, here and below.
     */
    static void kernelStore(float[] a, int ao, float[] b, int bo, int kc, float[] bias, int bo2, MemorySegment y, long at,
                                    long plane, float lo, float hi) {
        FloatVector c00 = FloatVector.broadcast(S, bias[bo2 + 0]);
        FloatVector c01 = c00;
        FloatVector c10 = FloatVector.broadcast(S, bias[bo2 + 1]);
        FloatVector c11 = c10;
        FloatVector c20 = FloatVector.broadcast(S, bias[bo2 + 2]);
        FloatVector c21 = c20;
        FloatVector c30 = FloatVector.broadcast(S, bias[bo2 + 3]);
        FloatVector c31 = c30;
        FloatVector c40 = FloatVector.broadcast(S, bias[bo2 + 4]);
        FloatVector c41 = c40;
        FloatVector c50 = FloatVector.broadcast(S, bias[bo2 + 5]);
        FloatVector c51 = c50;
        FloatVector c60 = FloatVector.broadcast(S, bias[bo2 + 6]);
        FloatVector c61 = c60;
        FloatVector c70 = FloatVector.broadcast(S, bias[bo2 + 7]);
        FloatVector c71 = c70;
        for (int k = 0; k < kc; k++) {
            int ak = ao + k * MR;
            int bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + VL);
            FloatVector av;
            av = FloatVector.broadcast(S, a[ak + 0]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ak + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ak + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ak + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ak + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ak + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ak + 6]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ak + 7]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
        }
        FloatVector vlo = FloatVector.broadcast(S, lo);
        FloatVector vhi = FloatVector.broadcast(S, hi);
        long row = at;
        long step = plane * 4;
        FloatVector k0 = c00;
        k0 = k0.blend(vlo, k0.compare(VectorOperators.LT, vlo));
        k0 = k0.blend(vhi, k0.compare(VectorOperators.GT, vhi));
        k0.intoMemorySegment(y, row, LE);
        FloatVector k1 = c01;
        k1 = k1.blend(vlo, k1.compare(VectorOperators.LT, vlo));
        k1 = k1.blend(vhi, k1.compare(VectorOperators.GT, vhi));
        k1.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k2 = c10;
        k2 = k2.blend(vlo, k2.compare(VectorOperators.LT, vlo));
        k2 = k2.blend(vhi, k2.compare(VectorOperators.GT, vhi));
        k2.intoMemorySegment(y, row, LE);
        FloatVector k3 = c11;
        k3 = k3.blend(vlo, k3.compare(VectorOperators.LT, vlo));
        k3 = k3.blend(vhi, k3.compare(VectorOperators.GT, vhi));
        k3.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k4 = c20;
        k4 = k4.blend(vlo, k4.compare(VectorOperators.LT, vlo));
        k4 = k4.blend(vhi, k4.compare(VectorOperators.GT, vhi));
        k4.intoMemorySegment(y, row, LE);
        FloatVector k5 = c21;
        k5 = k5.blend(vlo, k5.compare(VectorOperators.LT, vlo));
        k5 = k5.blend(vhi, k5.compare(VectorOperators.GT, vhi));
        k5.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k6 = c30;
        k6 = k6.blend(vlo, k6.compare(VectorOperators.LT, vlo));
        k6 = k6.blend(vhi, k6.compare(VectorOperators.GT, vhi));
        k6.intoMemorySegment(y, row, LE);
        FloatVector k7 = c31;
        k7 = k7.blend(vlo, k7.compare(VectorOperators.LT, vlo));
        k7 = k7.blend(vhi, k7.compare(VectorOperators.GT, vhi));
        k7.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k8 = c40;
        k8 = k8.blend(vlo, k8.compare(VectorOperators.LT, vlo));
        k8 = k8.blend(vhi, k8.compare(VectorOperators.GT, vhi));
        k8.intoMemorySegment(y, row, LE);
        FloatVector k9 = c41;
        k9 = k9.blend(vlo, k9.compare(VectorOperators.LT, vlo));
        k9 = k9.blend(vhi, k9.compare(VectorOperators.GT, vhi));
        k9.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k10 = c50;
        k10 = k10.blend(vlo, k10.compare(VectorOperators.LT, vlo));
        k10 = k10.blend(vhi, k10.compare(VectorOperators.GT, vhi));
        k10.intoMemorySegment(y, row, LE);
        FloatVector k11 = c51;
        k11 = k11.blend(vlo, k11.compare(VectorOperators.LT, vlo));
        k11 = k11.blend(vhi, k11.compare(VectorOperators.GT, vhi));
        k11.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k12 = c60;
        k12 = k12.blend(vlo, k12.compare(VectorOperators.LT, vlo));
        k12 = k12.blend(vhi, k12.compare(VectorOperators.GT, vhi));
        k12.intoMemorySegment(y, row, LE);
        FloatVector k13 = c61;
        k13 = k13.blend(vlo, k13.compare(VectorOperators.LT, vlo));
        k13 = k13.blend(vhi, k13.compare(VectorOperators.GT, vhi));
        k13.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k14 = c70;
        k14 = k14.blend(vlo, k14.compare(VectorOperators.LT, vlo));
        k14 = k14.blend(vhi, k14.compare(VectorOperators.GT, vhi));
        k14.intoMemorySegment(y, row, LE);
        FloatVector k15 = c71;
        k15 = k15.blend(vlo, k15.compare(VectorOperators.LT, vlo));
        k15 = k15.blend(vhi, k15.compare(VectorOperators.GT, vhi));
        k15.intoMemorySegment(y, row + 4L * VL, LE);
    }

    /**
     * The micro-kernel for a whole K in one block and a tile whose lanes are one run of outputs:
     * {@code y[at + r*plane + j] = clamp(bias[bo2 + r] + sum_k a[ao + k*MR + r] * b[bo + k*NR + j] + res[same], lo, hi)} for all
     * MR rows and NR lanes, from the registers (no tile round trip; the same chains as {@link #kernel}); the residual
     * at byte {@code row + rDelta} of {@code res} where Y's element is at byte {@code row} of {@code y}.
     */
    static void kernelStoreResidual(float[] a, int ao, float[] b, int bo, int kc, float[] bias, int bo2, MemorySegment y, long at,
                                    long plane, float lo, float hi, MemorySegment res, long rDelta) {
        FloatVector c00 = FloatVector.broadcast(S, bias[bo2 + 0]);
        FloatVector c01 = c00;
        FloatVector c10 = FloatVector.broadcast(S, bias[bo2 + 1]);
        FloatVector c11 = c10;
        FloatVector c20 = FloatVector.broadcast(S, bias[bo2 + 2]);
        FloatVector c21 = c20;
        FloatVector c30 = FloatVector.broadcast(S, bias[bo2 + 3]);
        FloatVector c31 = c30;
        FloatVector c40 = FloatVector.broadcast(S, bias[bo2 + 4]);
        FloatVector c41 = c40;
        FloatVector c50 = FloatVector.broadcast(S, bias[bo2 + 5]);
        FloatVector c51 = c50;
        FloatVector c60 = FloatVector.broadcast(S, bias[bo2 + 6]);
        FloatVector c61 = c60;
        FloatVector c70 = FloatVector.broadcast(S, bias[bo2 + 7]);
        FloatVector c71 = c70;
        for (int k = 0; k < kc; k++) {
            int ak = ao + k * MR;
            int bk = bo + k * NR;
            FloatVector b0 = FloatVector.fromArray(S, b, bk);
            FloatVector b1 = FloatVector.fromArray(S, b, bk + VL);
            FloatVector av;
            av = FloatVector.broadcast(S, a[ak + 0]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, a[ak + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, a[ak + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, a[ak + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, a[ak + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, a[ak + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            av = FloatVector.broadcast(S, a[ak + 6]);
            c60 = av.fma(b0, c60);
            c61 = av.fma(b1, c61);
            av = FloatVector.broadcast(S, a[ak + 7]);
            c70 = av.fma(b0, c70);
            c71 = av.fma(b1, c71);
        }
        FloatVector vlo = FloatVector.broadcast(S, lo);
        FloatVector vhi = FloatVector.broadcast(S, hi);
        long row = at;
        long step = plane * 4;
        FloatVector k16 = c00.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k16 = k16.blend(vlo, k16.compare(VectorOperators.LT, vlo));
        k16 = k16.blend(vhi, k16.compare(VectorOperators.GT, vhi));
        k16.intoMemorySegment(y, row, LE);
        FloatVector k17 = c01.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k17 = k17.blend(vlo, k17.compare(VectorOperators.LT, vlo));
        k17 = k17.blend(vhi, k17.compare(VectorOperators.GT, vhi));
        k17.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k18 = c10.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k18 = k18.blend(vlo, k18.compare(VectorOperators.LT, vlo));
        k18 = k18.blend(vhi, k18.compare(VectorOperators.GT, vhi));
        k18.intoMemorySegment(y, row, LE);
        FloatVector k19 = c11.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k19 = k19.blend(vlo, k19.compare(VectorOperators.LT, vlo));
        k19 = k19.blend(vhi, k19.compare(VectorOperators.GT, vhi));
        k19.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k20 = c20.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k20 = k20.blend(vlo, k20.compare(VectorOperators.LT, vlo));
        k20 = k20.blend(vhi, k20.compare(VectorOperators.GT, vhi));
        k20.intoMemorySegment(y, row, LE);
        FloatVector k21 = c21.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k21 = k21.blend(vlo, k21.compare(VectorOperators.LT, vlo));
        k21 = k21.blend(vhi, k21.compare(VectorOperators.GT, vhi));
        k21.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k22 = c30.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k22 = k22.blend(vlo, k22.compare(VectorOperators.LT, vlo));
        k22 = k22.blend(vhi, k22.compare(VectorOperators.GT, vhi));
        k22.intoMemorySegment(y, row, LE);
        FloatVector k23 = c31.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k23 = k23.blend(vlo, k23.compare(VectorOperators.LT, vlo));
        k23 = k23.blend(vhi, k23.compare(VectorOperators.GT, vhi));
        k23.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k24 = c40.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k24 = k24.blend(vlo, k24.compare(VectorOperators.LT, vlo));
        k24 = k24.blend(vhi, k24.compare(VectorOperators.GT, vhi));
        k24.intoMemorySegment(y, row, LE);
        FloatVector k25 = c41.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k25 = k25.blend(vlo, k25.compare(VectorOperators.LT, vlo));
        k25 = k25.blend(vhi, k25.compare(VectorOperators.GT, vhi));
        k25.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k26 = c50.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k26 = k26.blend(vlo, k26.compare(VectorOperators.LT, vlo));
        k26 = k26.blend(vhi, k26.compare(VectorOperators.GT, vhi));
        k26.intoMemorySegment(y, row, LE);
        FloatVector k27 = c51.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k27 = k27.blend(vlo, k27.compare(VectorOperators.LT, vlo));
        k27 = k27.blend(vhi, k27.compare(VectorOperators.GT, vhi));
        k27.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k28 = c60.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k28 = k28.blend(vlo, k28.compare(VectorOperators.LT, vlo));
        k28 = k28.blend(vhi, k28.compare(VectorOperators.GT, vhi));
        k28.intoMemorySegment(y, row, LE);
        FloatVector k29 = c61.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k29 = k29.blend(vlo, k29.compare(VectorOperators.LT, vlo));
        k29 = k29.blend(vhi, k29.compare(VectorOperators.GT, vhi));
        k29.intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        FloatVector k30 = c70.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE));
        k30 = k30.blend(vlo, k30.compare(VectorOperators.LT, vlo));
        k30 = k30.blend(vhi, k30.compare(VectorOperators.GT, vhi));
        k30.intoMemorySegment(y, row, LE);
        FloatVector k31 = c71.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE));
        k31 = k31.blend(vlo, k31.compare(VectorOperators.LT, vlo));
        k31 = k31.blend(vhi, k31.compare(VectorOperators.GT, vhi));
        k31.intoMemorySegment(y, row + 4L * VL, LE);
    }
}
