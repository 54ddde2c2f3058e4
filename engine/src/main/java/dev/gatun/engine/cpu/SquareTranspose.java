package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * In-register transposes of VL x VL float squares (VL = the preferred vector length), for {@link Spmm} (A into its
 * K-major scratch and the column sums out into row-major C) and the attention kernel (query tiles in and out of
 * their transposed layout). log2(VL) stages of two-vector permutes
 * ({@code selectFrom} with constant index vectors, one vpermt2ps each): stage s pairs rows d = VL >> (s+1) apart and
 * interleaves their d-float chunks. With 16 lanes the 16 rows stay in registers (64 permutes a square, about 28 ns
 * on the reference machine); other lengths go through a scratch array. Every vector stays inside the method that
 * loads it (a vector passed to a method the JIT does not inline is boxed).
 */
public final class SquareTranspose {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    private static final long AM = SgemmKernel.ADDRESS_MASK;
    private static final long SM = SgemmKernel.STRIDE_MASK;

    private SquareTranspose() {}

    /** log2(VL): stages of the in-register transpose. */
    private static final int STAGES = Integer.numberOfTrailingZeros(VL);
    /** Two-vector permutes of transpose stage s (pairs of rows d = VL >> (s+1) apart): the low and high outputs. */
    private static final FloatVector[] LO = new FloatVector[STAGES];
    private static final FloatVector[] HI = new FloatVector[STAGES];

    static {
        for (int st = 0; st < STAGES; st++) {
            LO[st] = permute(st, false);
            HI[st] = permute(st, true);
        }
    }

    /** The same permutes as constants for 16 lanes (what {@link #square16} needs to keep them in registers). */
    private static final FloatVector L0 = VL == 16 ? LO[0] : null, L1 = VL == 16 ? LO[1] : null;
    private static final FloatVector L2 = VL == 16 ? LO[2] : null, L3 = VL == 16 ? LO[3] : null;
    private static final FloatVector H0 = VL == 16 ? HI[0] : null, H1 = VL == 16 ? HI[1] : null;
    private static final FloatVector H2 = VL == 16 ? HI[2] : null, H3 = VL == 16 ? HI[3] : null;

    /**
     * Stage {@code st}'s permute of a pair of rows (x, y) d = VL >> (st+1) apart, as two-vector indices (y's lanes
     * from VL): the low output takes the even d-float chunks of x and y interleaved, the high output the odd ones.
     */
    private static FloatVector permute(int st, boolean high) {
        int d = VL >> (st + 1);
        float[] idx = new float[VL];
        for (int l = 0; l < VL; l++) {
            int c = l / d;
            idx[l] = ((c & 1) == 0 ? 0 : VL) + (c / 2) * 2 * d + (high ? d : 0) + l % d;
        }
        return FloatVector.fromArray(S, idx, 0);
    }

    /** {@link #square} for 16 lanes: the 16 rows in registers, 4 stages of 16 two-vector permutes. */
    static void square16(float[] src, int so, int ss, float[] dst, int dof, int ds) {
        FloatVector r0 = FloatVector.fromArray(S, src, so + 0 * ss);
        FloatVector r1 = FloatVector.fromArray(S, src, so + 1 * ss);
        FloatVector r2 = FloatVector.fromArray(S, src, so + 2 * ss);
        FloatVector r3 = FloatVector.fromArray(S, src, so + 3 * ss);
        FloatVector r4 = FloatVector.fromArray(S, src, so + 4 * ss);
        FloatVector r5 = FloatVector.fromArray(S, src, so + 5 * ss);
        FloatVector r6 = FloatVector.fromArray(S, src, so + 6 * ss);
        FloatVector r7 = FloatVector.fromArray(S, src, so + 7 * ss);
        FloatVector r8 = FloatVector.fromArray(S, src, so + 8 * ss);
        FloatVector r9 = FloatVector.fromArray(S, src, so + 9 * ss);
        FloatVector r10 = FloatVector.fromArray(S, src, so + 10 * ss);
        FloatVector r11 = FloatVector.fromArray(S, src, so + 11 * ss);
        FloatVector r12 = FloatVector.fromArray(S, src, so + 12 * ss);
        FloatVector r13 = FloatVector.fromArray(S, src, so + 13 * ss);
        FloatVector r14 = FloatVector.fromArray(S, src, so + 14 * ss);
        FloatVector r15 = FloatVector.fromArray(S, src, so + 15 * ss);
        FloatVector a0 = L0.selectFrom(r0, r8), a8 = H0.selectFrom(r0, r8);
        FloatVector a1 = L0.selectFrom(r1, r9), a9 = H0.selectFrom(r1, r9);
        FloatVector a2 = L0.selectFrom(r2, r10), a10 = H0.selectFrom(r2, r10);
        FloatVector a3 = L0.selectFrom(r3, r11), a11 = H0.selectFrom(r3, r11);
        FloatVector a4 = L0.selectFrom(r4, r12), a12 = H0.selectFrom(r4, r12);
        FloatVector a5 = L0.selectFrom(r5, r13), a13 = H0.selectFrom(r5, r13);
        FloatVector a6 = L0.selectFrom(r6, r14), a14 = H0.selectFrom(r6, r14);
        FloatVector a7 = L0.selectFrom(r7, r15), a15 = H0.selectFrom(r7, r15);
        FloatVector b0 = L1.selectFrom(a0, a4), b4 = H1.selectFrom(a0, a4);
        FloatVector b1 = L1.selectFrom(a1, a5), b5 = H1.selectFrom(a1, a5);
        FloatVector b2 = L1.selectFrom(a2, a6), b6 = H1.selectFrom(a2, a6);
        FloatVector b3 = L1.selectFrom(a3, a7), b7 = H1.selectFrom(a3, a7);
        FloatVector b8 = L1.selectFrom(a8, a12), b12 = H1.selectFrom(a8, a12);
        FloatVector b9 = L1.selectFrom(a9, a13), b13 = H1.selectFrom(a9, a13);
        FloatVector b10 = L1.selectFrom(a10, a14), b14 = H1.selectFrom(a10, a14);
        FloatVector b11 = L1.selectFrom(a11, a15), b15 = H1.selectFrom(a11, a15);
        FloatVector c0 = L2.selectFrom(b0, b2), c2 = H2.selectFrom(b0, b2);
        FloatVector c1 = L2.selectFrom(b1, b3), c3 = H2.selectFrom(b1, b3);
        FloatVector c4 = L2.selectFrom(b4, b6), c6 = H2.selectFrom(b4, b6);
        FloatVector c5 = L2.selectFrom(b5, b7), c7 = H2.selectFrom(b5, b7);
        FloatVector c8 = L2.selectFrom(b8, b10), c10 = H2.selectFrom(b8, b10);
        FloatVector c9 = L2.selectFrom(b9, b11), c11 = H2.selectFrom(b9, b11);
        FloatVector c12 = L2.selectFrom(b12, b14), c14 = H2.selectFrom(b12, b14);
        FloatVector c13 = L2.selectFrom(b13, b15), c15 = H2.selectFrom(b13, b15);
        FloatVector d0 = L3.selectFrom(c0, c1), d1 = H3.selectFrom(c0, c1);
        FloatVector d2 = L3.selectFrom(c2, c3), d3 = H3.selectFrom(c2, c3);
        FloatVector d4 = L3.selectFrom(c4, c5), d5 = H3.selectFrom(c4, c5);
        FloatVector d6 = L3.selectFrom(c6, c7), d7 = H3.selectFrom(c6, c7);
        FloatVector d8 = L3.selectFrom(c8, c9), d9 = H3.selectFrom(c8, c9);
        FloatVector d10 = L3.selectFrom(c10, c11), d11 = H3.selectFrom(c10, c11);
        FloatVector d12 = L3.selectFrom(c12, c13), d13 = H3.selectFrom(c12, c13);
        FloatVector d14 = L3.selectFrom(c14, c15), d15 = H3.selectFrom(c14, c15);
        d0.intoArray(dst, dof + 0 * ds);
        d1.intoArray(dst, dof + 1 * ds);
        d2.intoArray(dst, dof + 2 * ds);
        d3.intoArray(dst, dof + 3 * ds);
        d4.intoArray(dst, dof + 4 * ds);
        d5.intoArray(dst, dof + 5 * ds);
        d6.intoArray(dst, dof + 6 * ds);
        d7.intoArray(dst, dof + 7 * ds);
        d8.intoArray(dst, dof + 8 * ds);
        d9.intoArray(dst, dof + 9 * ds);
        d10.intoArray(dst, dof + 10 * ds);
        d11.intoArray(dst, dof + 11 * ds);
        d12.intoArray(dst, dof + 12 * ds);
        d13.intoArray(dst, dof + 13 * ds);
        d14.intoArray(dst, dof + 14 * ds);
        d15.intoArray(dst, dof + 15 * ds);
    }

    /**
     * {@link #square16(float[], int, int, float[], int, int)} with its 16 output rows stored at the absolute addresses
     * {@code dst + l*ds} through {@link #ALL}: the SpMM's output squares without an epilogue, with no round trip
     * through a scratch array.
     */
    static void square16ToC(float[] src, int so, int ss, long dst, long ds) {
        dst &= AM;
        ds &= SM;
        FloatVector r0 = FloatVector.fromArray(S, src, so + 0 * ss);
        FloatVector r1 = FloatVector.fromArray(S, src, so + 1 * ss);
        FloatVector r2 = FloatVector.fromArray(S, src, so + 2 * ss);
        FloatVector r3 = FloatVector.fromArray(S, src, so + 3 * ss);
        FloatVector r4 = FloatVector.fromArray(S, src, so + 4 * ss);
        FloatVector r5 = FloatVector.fromArray(S, src, so + 5 * ss);
        FloatVector r6 = FloatVector.fromArray(S, src, so + 6 * ss);
        FloatVector r7 = FloatVector.fromArray(S, src, so + 7 * ss);
        FloatVector r8 = FloatVector.fromArray(S, src, so + 8 * ss);
        FloatVector r9 = FloatVector.fromArray(S, src, so + 9 * ss);
        FloatVector r10 = FloatVector.fromArray(S, src, so + 10 * ss);
        FloatVector r11 = FloatVector.fromArray(S, src, so + 11 * ss);
        FloatVector r12 = FloatVector.fromArray(S, src, so + 12 * ss);
        FloatVector r13 = FloatVector.fromArray(S, src, so + 13 * ss);
        FloatVector r14 = FloatVector.fromArray(S, src, so + 14 * ss);
        FloatVector r15 = FloatVector.fromArray(S, src, so + 15 * ss);
        FloatVector a0 = L0.selectFrom(r0, r8), a8 = H0.selectFrom(r0, r8);
        FloatVector a1 = L0.selectFrom(r1, r9), a9 = H0.selectFrom(r1, r9);
        FloatVector a2 = L0.selectFrom(r2, r10), a10 = H0.selectFrom(r2, r10);
        FloatVector a3 = L0.selectFrom(r3, r11), a11 = H0.selectFrom(r3, r11);
        FloatVector a4 = L0.selectFrom(r4, r12), a12 = H0.selectFrom(r4, r12);
        FloatVector a5 = L0.selectFrom(r5, r13), a13 = H0.selectFrom(r5, r13);
        FloatVector a6 = L0.selectFrom(r6, r14), a14 = H0.selectFrom(r6, r14);
        FloatVector a7 = L0.selectFrom(r7, r15), a15 = H0.selectFrom(r7, r15);
        FloatVector b0 = L1.selectFrom(a0, a4), b4 = H1.selectFrom(a0, a4);
        FloatVector b1 = L1.selectFrom(a1, a5), b5 = H1.selectFrom(a1, a5);
        FloatVector b2 = L1.selectFrom(a2, a6), b6 = H1.selectFrom(a2, a6);
        FloatVector b3 = L1.selectFrom(a3, a7), b7 = H1.selectFrom(a3, a7);
        FloatVector b8 = L1.selectFrom(a8, a12), b12 = H1.selectFrom(a8, a12);
        FloatVector b9 = L1.selectFrom(a9, a13), b13 = H1.selectFrom(a9, a13);
        FloatVector b10 = L1.selectFrom(a10, a14), b14 = H1.selectFrom(a10, a14);
        FloatVector b11 = L1.selectFrom(a11, a15), b15 = H1.selectFrom(a11, a15);
        FloatVector c0 = L2.selectFrom(b0, b2), c2 = H2.selectFrom(b0, b2);
        FloatVector c1 = L2.selectFrom(b1, b3), c3 = H2.selectFrom(b1, b3);
        FloatVector c4 = L2.selectFrom(b4, b6), c6 = H2.selectFrom(b4, b6);
        FloatVector c5 = L2.selectFrom(b5, b7), c7 = H2.selectFrom(b5, b7);
        FloatVector c8 = L2.selectFrom(b8, b10), c10 = H2.selectFrom(b8, b10);
        FloatVector c9 = L2.selectFrom(b9, b11), c11 = H2.selectFrom(b9, b11);
        FloatVector c12 = L2.selectFrom(b12, b14), c14 = H2.selectFrom(b12, b14);
        FloatVector c13 = L2.selectFrom(b13, b15), c15 = H2.selectFrom(b13, b15);
        FloatVector d0 = L3.selectFrom(c0, c1), d1 = H3.selectFrom(c0, c1);
        FloatVector d2 = L3.selectFrom(c2, c3), d3 = H3.selectFrom(c2, c3);
        FloatVector d4 = L3.selectFrom(c4, c5), d5 = H3.selectFrom(c4, c5);
        FloatVector d6 = L3.selectFrom(c6, c7), d7 = H3.selectFrom(c6, c7);
        FloatVector d8 = L3.selectFrom(c8, c9), d9 = H3.selectFrom(c8, c9);
        FloatVector d10 = L3.selectFrom(c10, c11), d11 = H3.selectFrom(c10, c11);
        FloatVector d12 = L3.selectFrom(c12, c13), d13 = H3.selectFrom(c12, c13);
        FloatVector d14 = L3.selectFrom(c14, c15), d15 = H3.selectFrom(c14, c15);
        d0.intoMemorySegment(ALL, dst + 0 * ds, LE);
        d1.intoMemorySegment(ALL, dst + 1 * ds, LE);
        d2.intoMemorySegment(ALL, dst + 2 * ds, LE);
        d3.intoMemorySegment(ALL, dst + 3 * ds, LE);
        d4.intoMemorySegment(ALL, dst + 4 * ds, LE);
        d5.intoMemorySegment(ALL, dst + 5 * ds, LE);
        d6.intoMemorySegment(ALL, dst + 6 * ds, LE);
        d7.intoMemorySegment(ALL, dst + 7 * ds, LE);
        d8.intoMemorySegment(ALL, dst + 8 * ds, LE);
        d9.intoMemorySegment(ALL, dst + 9 * ds, LE);
        d10.intoMemorySegment(ALL, dst + 10 * ds, LE);
        d11.intoMemorySegment(ALL, dst + 11 * ds, LE);
        d12.intoMemorySegment(ALL, dst + 12 * ds, LE);
        d13.intoMemorySegment(ALL, dst + 13 * ds, LE);
        d14.intoMemorySegment(ALL, dst + 14 * ds, LE);
        d15.intoMemorySegment(ALL, dst + 15 * ds, LE);
    }

    /**
     * {@link #square16ToC} with each output row plus the 16 floats at the absolute address {@code biasAt} (a column
     * bias; passed by address, as a vector argument to a method the JIT compiles on its own is boxed). No variant
     * adds a residual too: at 1763 bytecodes it was too large for C1 ("out of virtual registers"), and in some JVM
     * runs then stayed on uncompiled Vector API code, the whole model 2x slower.
     */
    static void square16ToC(float[] src, int so, int ss, long dst, long ds, long biasAt) {
        dst &= AM;
        ds &= SM;
        FloatVector bias = FloatVector.fromMemorySegment(S, ALL, biasAt, LE);
        FloatVector r0 = FloatVector.fromArray(S, src, so + 0 * ss);
        FloatVector r1 = FloatVector.fromArray(S, src, so + 1 * ss);
        FloatVector r2 = FloatVector.fromArray(S, src, so + 2 * ss);
        FloatVector r3 = FloatVector.fromArray(S, src, so + 3 * ss);
        FloatVector r4 = FloatVector.fromArray(S, src, so + 4 * ss);
        FloatVector r5 = FloatVector.fromArray(S, src, so + 5 * ss);
        FloatVector r6 = FloatVector.fromArray(S, src, so + 6 * ss);
        FloatVector r7 = FloatVector.fromArray(S, src, so + 7 * ss);
        FloatVector r8 = FloatVector.fromArray(S, src, so + 8 * ss);
        FloatVector r9 = FloatVector.fromArray(S, src, so + 9 * ss);
        FloatVector r10 = FloatVector.fromArray(S, src, so + 10 * ss);
        FloatVector r11 = FloatVector.fromArray(S, src, so + 11 * ss);
        FloatVector r12 = FloatVector.fromArray(S, src, so + 12 * ss);
        FloatVector r13 = FloatVector.fromArray(S, src, so + 13 * ss);
        FloatVector r14 = FloatVector.fromArray(S, src, so + 14 * ss);
        FloatVector r15 = FloatVector.fromArray(S, src, so + 15 * ss);
        FloatVector a0 = L0.selectFrom(r0, r8), a8 = H0.selectFrom(r0, r8);
        FloatVector a1 = L0.selectFrom(r1, r9), a9 = H0.selectFrom(r1, r9);
        FloatVector a2 = L0.selectFrom(r2, r10), a10 = H0.selectFrom(r2, r10);
        FloatVector a3 = L0.selectFrom(r3, r11), a11 = H0.selectFrom(r3, r11);
        FloatVector a4 = L0.selectFrom(r4, r12), a12 = H0.selectFrom(r4, r12);
        FloatVector a5 = L0.selectFrom(r5, r13), a13 = H0.selectFrom(r5, r13);
        FloatVector a6 = L0.selectFrom(r6, r14), a14 = H0.selectFrom(r6, r14);
        FloatVector a7 = L0.selectFrom(r7, r15), a15 = H0.selectFrom(r7, r15);
        FloatVector b0 = L1.selectFrom(a0, a4), b4 = H1.selectFrom(a0, a4);
        FloatVector b1 = L1.selectFrom(a1, a5), b5 = H1.selectFrom(a1, a5);
        FloatVector b2 = L1.selectFrom(a2, a6), b6 = H1.selectFrom(a2, a6);
        FloatVector b3 = L1.selectFrom(a3, a7), b7 = H1.selectFrom(a3, a7);
        FloatVector b8 = L1.selectFrom(a8, a12), b12 = H1.selectFrom(a8, a12);
        FloatVector b9 = L1.selectFrom(a9, a13), b13 = H1.selectFrom(a9, a13);
        FloatVector b10 = L1.selectFrom(a10, a14), b14 = H1.selectFrom(a10, a14);
        FloatVector b11 = L1.selectFrom(a11, a15), b15 = H1.selectFrom(a11, a15);
        FloatVector c0 = L2.selectFrom(b0, b2), c2 = H2.selectFrom(b0, b2);
        FloatVector c1 = L2.selectFrom(b1, b3), c3 = H2.selectFrom(b1, b3);
        FloatVector c4 = L2.selectFrom(b4, b6), c6 = H2.selectFrom(b4, b6);
        FloatVector c5 = L2.selectFrom(b5, b7), c7 = H2.selectFrom(b5, b7);
        FloatVector c8 = L2.selectFrom(b8, b10), c10 = H2.selectFrom(b8, b10);
        FloatVector c9 = L2.selectFrom(b9, b11), c11 = H2.selectFrom(b9, b11);
        FloatVector c12 = L2.selectFrom(b12, b14), c14 = H2.selectFrom(b12, b14);
        FloatVector c13 = L2.selectFrom(b13, b15), c15 = H2.selectFrom(b13, b15);
        FloatVector d0 = L3.selectFrom(c0, c1), d1 = H3.selectFrom(c0, c1);
        FloatVector d2 = L3.selectFrom(c2, c3), d3 = H3.selectFrom(c2, c3);
        FloatVector d4 = L3.selectFrom(c4, c5), d5 = H3.selectFrom(c4, c5);
        FloatVector d6 = L3.selectFrom(c6, c7), d7 = H3.selectFrom(c6, c7);
        FloatVector d8 = L3.selectFrom(c8, c9), d9 = H3.selectFrom(c8, c9);
        FloatVector d10 = L3.selectFrom(c10, c11), d11 = H3.selectFrom(c10, c11);
        FloatVector d12 = L3.selectFrom(c12, c13), d13 = H3.selectFrom(c12, c13);
        FloatVector d14 = L3.selectFrom(c14, c15), d15 = H3.selectFrom(c14, c15);
        d0.add(bias).intoMemorySegment(ALL, dst + 0 * ds, LE);
        d1.add(bias).intoMemorySegment(ALL, dst + 1 * ds, LE);
        d2.add(bias).intoMemorySegment(ALL, dst + 2 * ds, LE);
        d3.add(bias).intoMemorySegment(ALL, dst + 3 * ds, LE);
        d4.add(bias).intoMemorySegment(ALL, dst + 4 * ds, LE);
        d5.add(bias).intoMemorySegment(ALL, dst + 5 * ds, LE);
        d6.add(bias).intoMemorySegment(ALL, dst + 6 * ds, LE);
        d7.add(bias).intoMemorySegment(ALL, dst + 7 * ds, LE);
        d8.add(bias).intoMemorySegment(ALL, dst + 8 * ds, LE);
        d9.add(bias).intoMemorySegment(ALL, dst + 9 * ds, LE);
        d10.add(bias).intoMemorySegment(ALL, dst + 10 * ds, LE);
        d11.add(bias).intoMemorySegment(ALL, dst + 11 * ds, LE);
        d12.add(bias).intoMemorySegment(ALL, dst + 12 * ds, LE);
        d13.add(bias).intoMemorySegment(ALL, dst + 13 * ds, LE);
        d14.add(bias).intoMemorySegment(ALL, dst + 14 * ds, LE);
        d15.add(bias).intoMemorySegment(ALL, dst + 15 * ds, LE);
    }

    /**
     * The 16 x 16 square of rows at the absolute addresses {@code src + i*ss} (bytes) transposed in registers, its
     * rows written at {@code dst + l*ds}, both through {@link #ALL} (the SpMM's transpose of A: no copy through an array).
     */
    static void square16(long src, long ss, long dst, long ds) {
        src &= AM;
        ss &= SM;
        dst &= AM;
        ds &= SM;
        FloatVector r0 = FloatVector.fromMemorySegment(S, ALL, src + 0 * ss, LE);
        FloatVector r1 = FloatVector.fromMemorySegment(S, ALL, src + 1 * ss, LE);
        FloatVector r2 = FloatVector.fromMemorySegment(S, ALL, src + 2 * ss, LE);
        FloatVector r3 = FloatVector.fromMemorySegment(S, ALL, src + 3 * ss, LE);
        FloatVector r4 = FloatVector.fromMemorySegment(S, ALL, src + 4 * ss, LE);
        FloatVector r5 = FloatVector.fromMemorySegment(S, ALL, src + 5 * ss, LE);
        FloatVector r6 = FloatVector.fromMemorySegment(S, ALL, src + 6 * ss, LE);
        FloatVector r7 = FloatVector.fromMemorySegment(S, ALL, src + 7 * ss, LE);
        FloatVector r8 = FloatVector.fromMemorySegment(S, ALL, src + 8 * ss, LE);
        FloatVector r9 = FloatVector.fromMemorySegment(S, ALL, src + 9 * ss, LE);
        FloatVector r10 = FloatVector.fromMemorySegment(S, ALL, src + 10 * ss, LE);
        FloatVector r11 = FloatVector.fromMemorySegment(S, ALL, src + 11 * ss, LE);
        FloatVector r12 = FloatVector.fromMemorySegment(S, ALL, src + 12 * ss, LE);
        FloatVector r13 = FloatVector.fromMemorySegment(S, ALL, src + 13 * ss, LE);
        FloatVector r14 = FloatVector.fromMemorySegment(S, ALL, src + 14 * ss, LE);
        FloatVector r15 = FloatVector.fromMemorySegment(S, ALL, src + 15 * ss, LE);
        FloatVector a0 = L0.selectFrom(r0, r8), a8 = H0.selectFrom(r0, r8);
        FloatVector a1 = L0.selectFrom(r1, r9), a9 = H0.selectFrom(r1, r9);
        FloatVector a2 = L0.selectFrom(r2, r10), a10 = H0.selectFrom(r2, r10);
        FloatVector a3 = L0.selectFrom(r3, r11), a11 = H0.selectFrom(r3, r11);
        FloatVector a4 = L0.selectFrom(r4, r12), a12 = H0.selectFrom(r4, r12);
        FloatVector a5 = L0.selectFrom(r5, r13), a13 = H0.selectFrom(r5, r13);
        FloatVector a6 = L0.selectFrom(r6, r14), a14 = H0.selectFrom(r6, r14);
        FloatVector a7 = L0.selectFrom(r7, r15), a15 = H0.selectFrom(r7, r15);
        FloatVector b0 = L1.selectFrom(a0, a4), b4 = H1.selectFrom(a0, a4);
        FloatVector b1 = L1.selectFrom(a1, a5), b5 = H1.selectFrom(a1, a5);
        FloatVector b2 = L1.selectFrom(a2, a6), b6 = H1.selectFrom(a2, a6);
        FloatVector b3 = L1.selectFrom(a3, a7), b7 = H1.selectFrom(a3, a7);
        FloatVector b8 = L1.selectFrom(a8, a12), b12 = H1.selectFrom(a8, a12);
        FloatVector b9 = L1.selectFrom(a9, a13), b13 = H1.selectFrom(a9, a13);
        FloatVector b10 = L1.selectFrom(a10, a14), b14 = H1.selectFrom(a10, a14);
        FloatVector b11 = L1.selectFrom(a11, a15), b15 = H1.selectFrom(a11, a15);
        FloatVector c0 = L2.selectFrom(b0, b2), c2 = H2.selectFrom(b0, b2);
        FloatVector c1 = L2.selectFrom(b1, b3), c3 = H2.selectFrom(b1, b3);
        FloatVector c4 = L2.selectFrom(b4, b6), c6 = H2.selectFrom(b4, b6);
        FloatVector c5 = L2.selectFrom(b5, b7), c7 = H2.selectFrom(b5, b7);
        FloatVector c8 = L2.selectFrom(b8, b10), c10 = H2.selectFrom(b8, b10);
        FloatVector c9 = L2.selectFrom(b9, b11), c11 = H2.selectFrom(b9, b11);
        FloatVector c12 = L2.selectFrom(b12, b14), c14 = H2.selectFrom(b12, b14);
        FloatVector c13 = L2.selectFrom(b13, b15), c15 = H2.selectFrom(b13, b15);
        FloatVector d0 = L3.selectFrom(c0, c1), d1 = H3.selectFrom(c0, c1);
        FloatVector d2 = L3.selectFrom(c2, c3), d3 = H3.selectFrom(c2, c3);
        FloatVector d4 = L3.selectFrom(c4, c5), d5 = H3.selectFrom(c4, c5);
        FloatVector d6 = L3.selectFrom(c6, c7), d7 = H3.selectFrom(c6, c7);
        FloatVector d8 = L3.selectFrom(c8, c9), d9 = H3.selectFrom(c8, c9);
        FloatVector d10 = L3.selectFrom(c10, c11), d11 = H3.selectFrom(c10, c11);
        FloatVector d12 = L3.selectFrom(c12, c13), d13 = H3.selectFrom(c12, c13);
        FloatVector d14 = L3.selectFrom(c14, c15), d15 = H3.selectFrom(c14, c15);
        d0.intoMemorySegment(ALL, dst + 0 * ds, LE);
        d1.intoMemorySegment(ALL, dst + 1 * ds, LE);
        d2.intoMemorySegment(ALL, dst + 2 * ds, LE);
        d3.intoMemorySegment(ALL, dst + 3 * ds, LE);
        d4.intoMemorySegment(ALL, dst + 4 * ds, LE);
        d5.intoMemorySegment(ALL, dst + 5 * ds, LE);
        d6.intoMemorySegment(ALL, dst + 6 * ds, LE);
        d7.intoMemorySegment(ALL, dst + 7 * ds, LE);
        d8.intoMemorySegment(ALL, dst + 8 * ds, LE);
        d9.intoMemorySegment(ALL, dst + 9 * ds, LE);
        d10.intoMemorySegment(ALL, dst + 10 * ds, LE);
        d11.intoMemorySegment(ALL, dst + 11 * ds, LE);
        d12.intoMemorySegment(ALL, dst + 12 * ds, LE);
        d13.intoMemorySegment(ALL, dst + 13 * ds, LE);
        d14.intoMemorySegment(ALL, dst + 14 * ds, LE);
        d15.intoMemorySegment(ALL, dst + 15 * ds, LE);
    }

    /**
     * Writes the transpose of the VL x VL square at {@code src[so + i*ss + l]} (row i, lane l) to
     * {@code dst[dof + l*ds + i]}: with 16 lanes all in registers ({@link #square16}), else by log2(VL) stages of
     * two-vector permutes (stage s pairs rows d = VL >> (s+1) apart and interleaves their d-float chunks) through
     * {@code scratch} (2 * VL * VL floats).
     */
    public static void square(float[] src, int so, int ss, float[] dst, int dof, int ds, float[] scratch) {
        if (VL == 16) {
            square16(src, so, ss, dst, dof, ds);
            return;
        }
        for (int i = 0; i < VL; i++) {
            FloatVector.fromArray(S, src, so + i * ss).intoArray(scratch, i * VL);
        }
        int from = 0;
        int to = VL * VL;
        for (int st = 0; st < STAGES; st++) {
            int d = VL >> (st + 1);
            FloatVector lo = LO[st];
            FloatVector hi = HI[st];
            for (int i = 0; i < VL; i++) {
                if ((i & d) != 0) {
                    continue;
                }
                FloatVector x = FloatVector.fromArray(S, scratch, from + i * VL);
                FloatVector y = FloatVector.fromArray(S, scratch, from + (i + d) * VL);
                lo.selectFrom(x, y).intoArray(scratch, to + i * VL);
                hi.selectFrom(x, y).intoArray(scratch, to + (i + d) * VL);
            }
            int t = from;
            from = to;
            to = t;
        }
        for (int i = 0; i < VL; i++) {
            FloatVector.fromArray(S, scratch, from + i * VL).intoArray(dst, dof + i * ds);
        }
    }
}
