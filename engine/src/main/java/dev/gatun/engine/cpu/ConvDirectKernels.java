package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The unrolled register code of {@link ConvDirect}: the 14-position x 32-channel micro-kernels over all of K (one
 * output row, or two rows of 7) and the 16 x 16 register transpose of a tile to {@code [channel][position]}. Layout
 * and math at each method; see {@link ConvDirect} for the buffers they read and write.
 */
final class ConvDirectKernels {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final int MR = ConvDirect.MR;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Lane indices 0, 2, .., 2VL - 2 into two concatenated vectors: the even columns of 2VL inputs. */
    static final FloatVector EVEN = selection(0, false);
    private static final FloatVector LO8 = selection(8, false), HI8 = selection(8, true), LO4 = selection(4, false),
            HI4 = selection(4, true), LO2 = selection(2, false), HI2 = selection(2, true), LO1 = selection(1, false),
            HI1 = selection(1, true);

    /**
     * Lane indices into two concatenated vectors (a: 0..VL-1, b: VL..2VL-1) for one stage of {@link #transpose}: the
     * low output keeps a's lanes with bit b clear and takes b's lanes l - b for the others, the high output takes a's
     * lanes l + b and keeps b's lanes with bit b set. For b = 0: the even lanes 0, 2, .., 2VL - 2.
     */
    private static FloatVector selection(int b, boolean high) {
        float[] idx = new float[VL];
        for (int l = 0; l < VL; l++) {
            if (b == 0) {
                idx[l] = 2 * l;
                continue;
            }
            boolean set = (l & b) != 0;
            idx[l] = high ? (set ? VL + l : l + b) : (set ? VL + l - b : l);
        }
        return FloatVector.fromArray(S, idx, 0);
    }

    private ConvDirectKernels() {}

    /**
     * Transposes the 16 x 16 block {@code t[to + p*MR + r]} (position p, channel r; rows 14 and 15 are whatever the
     * array holds) into {@code acc[ao + r*stride + p]}: four stages, each swapping bit b of the position with bit b of
     * the lane by two-vector selections ({@code vpermt2ps}) between rows p and p | b. VL = 16 only.
     */
    static void transpose(float[] t, int to, float[] acc, int ao, int stride) {
        FloatVector r0s0 = FloatVector.fromArray(S, t, to + 0 * MR);
        FloatVector r1s0 = FloatVector.fromArray(S, t, to + 1 * MR);
        FloatVector r2s0 = FloatVector.fromArray(S, t, to + 2 * MR);
        FloatVector r3s0 = FloatVector.fromArray(S, t, to + 3 * MR);
        FloatVector r4s0 = FloatVector.fromArray(S, t, to + 4 * MR);
        FloatVector r5s0 = FloatVector.fromArray(S, t, to + 5 * MR);
        FloatVector r6s0 = FloatVector.fromArray(S, t, to + 6 * MR);
        FloatVector r7s0 = FloatVector.fromArray(S, t, to + 7 * MR);
        FloatVector r8s0 = FloatVector.fromArray(S, t, to + 8 * MR);
        FloatVector r9s0 = FloatVector.fromArray(S, t, to + 9 * MR);
        FloatVector r10s0 = FloatVector.fromArray(S, t, to + 10 * MR);
        FloatVector r11s0 = FloatVector.fromArray(S, t, to + 11 * MR);
        FloatVector r12s0 = FloatVector.fromArray(S, t, to + 12 * MR);
        FloatVector r13s0 = FloatVector.fromArray(S, t, to + 13 * MR);
        FloatVector r14s0 = FloatVector.fromArray(S, t, to + 14 * MR);
        FloatVector r15s0 = FloatVector.fromArray(S, t, to + 15 * MR);
        FloatVector r0s1 = LO8.selectFrom(r0s0, r8s0);
        FloatVector r8s1 = HI8.selectFrom(r0s0, r8s0);
        FloatVector r1s1 = LO8.selectFrom(r1s0, r9s0);
        FloatVector r9s1 = HI8.selectFrom(r1s0, r9s0);
        FloatVector r2s1 = LO8.selectFrom(r2s0, r10s0);
        FloatVector r10s1 = HI8.selectFrom(r2s0, r10s0);
        FloatVector r3s1 = LO8.selectFrom(r3s0, r11s0);
        FloatVector r11s1 = HI8.selectFrom(r3s0, r11s0);
        FloatVector r4s1 = LO8.selectFrom(r4s0, r12s0);
        FloatVector r12s1 = HI8.selectFrom(r4s0, r12s0);
        FloatVector r5s1 = LO8.selectFrom(r5s0, r13s0);
        FloatVector r13s1 = HI8.selectFrom(r5s0, r13s0);
        FloatVector r6s1 = LO8.selectFrom(r6s0, r14s0);
        FloatVector r14s1 = HI8.selectFrom(r6s0, r14s0);
        FloatVector r7s1 = LO8.selectFrom(r7s0, r15s0);
        FloatVector r15s1 = HI8.selectFrom(r7s0, r15s0);
        FloatVector r0s2 = LO4.selectFrom(r0s1, r4s1);
        FloatVector r4s2 = HI4.selectFrom(r0s1, r4s1);
        FloatVector r1s2 = LO4.selectFrom(r1s1, r5s1);
        FloatVector r5s2 = HI4.selectFrom(r1s1, r5s1);
        FloatVector r2s2 = LO4.selectFrom(r2s1, r6s1);
        FloatVector r6s2 = HI4.selectFrom(r2s1, r6s1);
        FloatVector r3s2 = LO4.selectFrom(r3s1, r7s1);
        FloatVector r7s2 = HI4.selectFrom(r3s1, r7s1);
        FloatVector r8s2 = LO4.selectFrom(r8s1, r12s1);
        FloatVector r12s2 = HI4.selectFrom(r8s1, r12s1);
        FloatVector r9s2 = LO4.selectFrom(r9s1, r13s1);
        FloatVector r13s2 = HI4.selectFrom(r9s1, r13s1);
        FloatVector r10s2 = LO4.selectFrom(r10s1, r14s1);
        FloatVector r14s2 = HI4.selectFrom(r10s1, r14s1);
        FloatVector r11s2 = LO4.selectFrom(r11s1, r15s1);
        FloatVector r15s2 = HI4.selectFrom(r11s1, r15s1);
        FloatVector r0s3 = LO2.selectFrom(r0s2, r2s2);
        FloatVector r2s3 = HI2.selectFrom(r0s2, r2s2);
        FloatVector r1s3 = LO2.selectFrom(r1s2, r3s2);
        FloatVector r3s3 = HI2.selectFrom(r1s2, r3s2);
        FloatVector r4s3 = LO2.selectFrom(r4s2, r6s2);
        FloatVector r6s3 = HI2.selectFrom(r4s2, r6s2);
        FloatVector r5s3 = LO2.selectFrom(r5s2, r7s2);
        FloatVector r7s3 = HI2.selectFrom(r5s2, r7s2);
        FloatVector r8s3 = LO2.selectFrom(r8s2, r10s2);
        FloatVector r10s3 = HI2.selectFrom(r8s2, r10s2);
        FloatVector r9s3 = LO2.selectFrom(r9s2, r11s2);
        FloatVector r11s3 = HI2.selectFrom(r9s2, r11s2);
        FloatVector r12s3 = LO2.selectFrom(r12s2, r14s2);
        FloatVector r14s3 = HI2.selectFrom(r12s2, r14s2);
        FloatVector r13s3 = LO2.selectFrom(r13s2, r15s2);
        FloatVector r15s3 = HI2.selectFrom(r13s2, r15s2);
        FloatVector r0s4 = LO1.selectFrom(r0s3, r1s3);
        FloatVector r1s4 = HI1.selectFrom(r0s3, r1s3);
        FloatVector r2s4 = LO1.selectFrom(r2s3, r3s3);
        FloatVector r3s4 = HI1.selectFrom(r2s3, r3s3);
        FloatVector r4s4 = LO1.selectFrom(r4s3, r5s3);
        FloatVector r5s4 = HI1.selectFrom(r4s3, r5s3);
        FloatVector r6s4 = LO1.selectFrom(r6s3, r7s3);
        FloatVector r7s4 = HI1.selectFrom(r6s3, r7s3);
        FloatVector r8s4 = LO1.selectFrom(r8s3, r9s3);
        FloatVector r9s4 = HI1.selectFrom(r8s3, r9s3);
        FloatVector r10s4 = LO1.selectFrom(r10s3, r11s3);
        FloatVector r11s4 = HI1.selectFrom(r10s3, r11s3);
        FloatVector r12s4 = LO1.selectFrom(r12s3, r13s3);
        FloatVector r13s4 = HI1.selectFrom(r12s3, r13s3);
        FloatVector r14s4 = LO1.selectFrom(r14s3, r15s3);
        FloatVector r15s4 = HI1.selectFrom(r14s3, r15s3);
        r0s4.intoArray(acc, ao + 0 * stride);
        r1s4.intoArray(acc, ao + 1 * stride);
        r2s4.intoArray(acc, ao + 2 * stride);
        r3s4.intoArray(acc, ao + 3 * stride);
        r4s4.intoArray(acc, ao + 4 * stride);
        r5s4.intoArray(acc, ao + 5 * stride);
        r6s4.intoArray(acc, ao + 6 * stride);
        r7s4.intoArray(acc, ao + 7 * stride);
        r8s4.intoArray(acc, ao + 8 * stride);
        r9s4.intoArray(acc, ao + 9 * stride);
        r10s4.intoArray(acc, ao + 10 * stride);
        r11s4.intoArray(acc, ao + 11 * stride);
        r12s4.intoArray(acc, ao + 12 * stride);
        r13s4.intoArray(acc, ao + 13 * stride);
        r14s4.intoArray(acc, ao + 14 * stride);
        r15s4.intoArray(acc, ao + 15 * stride);
    }

    /**
     * The ConvDirect.TP (14) x MR micro-kernel over all of K: {@code acc[to + p*MR + r] = bias[bo + r] + sum_{k < kdim} a[ao + k*MR + r]
     * * X[xa + 4*(koff[k] + p)]} (X at absolute byte address xa, read through {@link SgemmKernel#ALL}), one fused
     * multiply-add chain per element in increasing k: 28 accumulators, per k two weight vectors and 14 broadcasts.
     */
    static void kernel(float[] a, int ao, long xa, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
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
        MemorySegment all = SgemmKernel.ALL;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long o = 4L * koff[k];
            long i = xa + o;
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 4));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 12));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 20));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, i + 28));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, i + 32));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, i + 36));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, i + 40));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, i + 44));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, i + 48));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, i + 52));
            c130 = w0.fma(v, c130);
            c131 = w1.fma(v, c131);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
        c070.intoArray(acc, to + 7 * MR);
        c071.intoArray(acc, to + 7 * MR + VL);
        c080.intoArray(acc, to + 8 * MR);
        c081.intoArray(acc, to + 8 * MR + VL);
        c090.intoArray(acc, to + 9 * MR);
        c091.intoArray(acc, to + 9 * MR + VL);
        c100.intoArray(acc, to + 10 * MR);
        c101.intoArray(acc, to + 10 * MR + VL);
        c110.intoArray(acc, to + 11 * MR);
        c111.intoArray(acc, to + 11 * MR + VL);
        c120.intoArray(acc, to + 12 * MR);
        c121.intoArray(acc, to + 12 * MR + VL);
        c130.intoArray(acc, to + 13 * MR);
        c131.intoArray(acc, to + 13 * MR + VL);
    }

    /**
     * {@link #kernel} for planes 7 outputs wide (ConvDirect.TP / 2): the tile is two output rows, positions 0..6 of the row at
     * {@code xa} and 0..6 of the row {@code rowBytes} further (the next output row, or the next image's first; an
     * odd last row runs alone in {@link #kernelRow7}).
     */
    static void kernelPair(float[] a, int ao, long xa, long rowBytes, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
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
        MemorySegment all = SgemmKernel.ALL;
        long xb = xa + rowBytes;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long o = 4L * koff[k];
            long i = xa + o;
            long j = xb + o;
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 4));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 12));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 20));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, j + 0));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, j + 4));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, j + 8));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, j + 12));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, j + 16));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, j + 20));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, j + 24));
            c130 = w0.fma(v, c130);
            c131 = w1.fma(v, c131);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
        c070.intoArray(acc, to + 7 * MR);
        c071.intoArray(acc, to + 7 * MR + VL);
        c080.intoArray(acc, to + 8 * MR);
        c081.intoArray(acc, to + 8 * MR + VL);
        c090.intoArray(acc, to + 9 * MR);
        c091.intoArray(acc, to + 9 * MR + VL);
        c100.intoArray(acc, to + 10 * MR);
        c101.intoArray(acc, to + 10 * MR + VL);
        c110.intoArray(acc, to + 11 * MR);
        c111.intoArray(acc, to + 11 * MR + VL);
        c120.intoArray(acc, to + 12 * MR);
        c121.intoArray(acc, to + 12 * MR + VL);
        c130.intoArray(acc, to + 13 * MR);
        c131.intoArray(acc, to + 13 * MR + VL);
    }

    /**
     * {@link #kernelPair}'s first row alone: positions 0..6 of the row at {@code xa} (a plane 7 wide whose row has no
     * partner: the last of an odd number of rows), 14 accumulators, half the FMAs of a pair; positions 7..13 of the
     * tile are left as they were (past the span, never stored).
     */
    static void kernelRow7(float[] a, int ao, long xa, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
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
        MemorySegment all = SgemmKernel.ALL;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 4));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 12));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 20));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
    }

    /** {@link #kernelPair} reading its positions two floats apart ({@code X[xa + 8p]}, the second row {@code rowBytes} further):
     * a 1x1 stride-2 convolution into 7-wide rows straight from X, with no phase planes. */
    static void kernelPairS2(float[] a, int ao, long xa, long rowBytes, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
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
        MemorySegment all = SgemmKernel.ALL;
        long xb = xa + rowBytes;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long o = 4L * koff[k];
            long i = xa + o;
            long j = xb + o;
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 32));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 40));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 48));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
            v = FloatVector.broadcast(S, all.get(F, j + 0));
            c070 = w0.fma(v, c070);
            c071 = w1.fma(v, c071);
            v = FloatVector.broadcast(S, all.get(F, j + 8));
            c080 = w0.fma(v, c080);
            c081 = w1.fma(v, c081);
            v = FloatVector.broadcast(S, all.get(F, j + 16));
            c090 = w0.fma(v, c090);
            c091 = w1.fma(v, c091);
            v = FloatVector.broadcast(S, all.get(F, j + 24));
            c100 = w0.fma(v, c100);
            c101 = w1.fma(v, c101);
            v = FloatVector.broadcast(S, all.get(F, j + 32));
            c110 = w0.fma(v, c110);
            c111 = w1.fma(v, c111);
            v = FloatVector.broadcast(S, all.get(F, j + 40));
            c120 = w0.fma(v, c120);
            c121 = w1.fma(v, c121);
            v = FloatVector.broadcast(S, all.get(F, j + 48));
            c130 = w0.fma(v, c130);
            c131 = w1.fma(v, c131);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
        c070.intoArray(acc, to + 7 * MR);
        c071.intoArray(acc, to + 7 * MR + VL);
        c080.intoArray(acc, to + 8 * MR);
        c081.intoArray(acc, to + 8 * MR + VL);
        c090.intoArray(acc, to + 9 * MR);
        c091.intoArray(acc, to + 9 * MR + VL);
        c100.intoArray(acc, to + 10 * MR);
        c101.intoArray(acc, to + 10 * MR + VL);
        c110.intoArray(acc, to + 11 * MR);
        c111.intoArray(acc, to + 11 * MR + VL);
        c120.intoArray(acc, to + 12 * MR);
        c121.intoArray(acc, to + 12 * MR + VL);
        c130.intoArray(acc, to + 13 * MR);
        c131.intoArray(acc, to + 13 * MR + VL);
    }

    /** {@link #kernelRow7} reading its positions two floats apart (the odd last row of {@link #kernelPairS2}). */
    static void kernelRow7S2(float[] a, int ao, long xa, int[] koff, int kdim, float[] bias, int bo, float[] acc, int to) {
        FloatVector b0 = FloatVector.fromArray(S, bias, bo);
        FloatVector b1 = FloatVector.fromArray(S, bias, bo + VL);
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
        MemorySegment all = SgemmKernel.ALL;
        for (int k = 0; k < kdim; k++) {
            FloatVector w0 = FloatVector.fromArray(S, a, ao + k * MR);
            FloatVector w1 = FloatVector.fromArray(S, a, ao + k * MR + VL);
            long i = xa + 4L * koff[k];
            FloatVector v;
            v = FloatVector.broadcast(S, all.get(F, i + 0));
            c000 = w0.fma(v, c000);
            c001 = w1.fma(v, c001);
            v = FloatVector.broadcast(S, all.get(F, i + 8));
            c010 = w0.fma(v, c010);
            c011 = w1.fma(v, c011);
            v = FloatVector.broadcast(S, all.get(F, i + 16));
            c020 = w0.fma(v, c020);
            c021 = w1.fma(v, c021);
            v = FloatVector.broadcast(S, all.get(F, i + 24));
            c030 = w0.fma(v, c030);
            c031 = w1.fma(v, c031);
            v = FloatVector.broadcast(S, all.get(F, i + 32));
            c040 = w0.fma(v, c040);
            c041 = w1.fma(v, c041);
            v = FloatVector.broadcast(S, all.get(F, i + 40));
            c050 = w0.fma(v, c050);
            c051 = w1.fma(v, c051);
            v = FloatVector.broadcast(S, all.get(F, i + 48));
            c060 = w0.fma(v, c060);
            c061 = w1.fma(v, c061);
        }
        c000.intoArray(acc, to + 0 * MR);
        c001.intoArray(acc, to + 0 * MR + VL);
        c010.intoArray(acc, to + 1 * MR);
        c011.intoArray(acc, to + 1 * MR + VL);
        c020.intoArray(acc, to + 2 * MR);
        c021.intoArray(acc, to + 2 * MR + VL);
        c030.intoArray(acc, to + 3 * MR);
        c031.intoArray(acc, to + 3 * MR + VL);
        c040.intoArray(acc, to + 4 * MR);
        c041.intoArray(acc, to + 4 * MR + VL);
        c050.intoArray(acc, to + 5 * MR);
        c051.intoArray(acc, to + 5 * MR + VL);
        c060.intoArray(acc, to + 6 * MR);
        c061.intoArray(acc, to + 6 * MR + VL);
    }
}
