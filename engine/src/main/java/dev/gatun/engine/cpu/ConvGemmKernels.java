package dev.gatun.engine.cpu;

import static dev.gatun.engine.cpu.ConvGemm.MR;
import static dev.gatun.engine.cpu.ConvGemm.NR;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
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
        c00.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c01.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c10.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c11.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c20.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c21.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c30.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c31.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c40.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c41.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c50.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c51.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c60.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c61.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c70.max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c71.max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
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
        c00.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c01.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c10.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c11.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c20.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c21.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c30.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c31.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c40.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c41.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c50.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c51.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c60.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c61.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
        row += step;
        c70.add(FloatVector.fromMemorySegment(S, res, row + rDelta, LE)).max(vlo).min(vhi).intoMemorySegment(y, row, LE);
        c71.add(FloatVector.fromMemorySegment(S, res, row + rDelta + 4L * VL, LE)).max(vlo).min(vhi).intoMemorySegment(y, row + 4L * VL, LE);
    }
}
