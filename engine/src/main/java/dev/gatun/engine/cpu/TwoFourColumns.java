package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Spmm}'s 2:4 columns: yt[to .. + nv*VL) = column j of a row block of nv 16-float vectors over groups
 * [g0, g1) of 4 k rows, {@code acc += broadcast(w) * At[4g + position][0 .. nv*VL)} per slot (slot 0 then slot 1,
 * group by group: the chain {@link SpmmTwoFour} and {@link SpmmReference} follow too), the transposed A
 * ({@code At[p][r]}, rows of nv*VL floats) at the absolute address {@code base}, read through {@link SgemmKernel#ALL}
 * at masked addresses. Accumulators start at 0 on the first K block, else continue the previous block's sums.
 *
 * <p>8 vectors (128-row blocks, the path from 65 rows): a K block's whole column panel per call, positions 16 groups
 * per long ({@link SparseB#positions}), values by K block ({@link SparseB#blockValues}); 384x1536 at M = 128, one
 * thread, K blocks of 64 rows: about 0.17 ns per useful 16-lane FMA, 423-445 us against the dense GEMM's 600. Fewer
 * vectors (run only where {@link SpmmTwoFour} and the sliced GEMV do not: 8-float vectors, tests) decode the
 * nibbles from {@link SparseB#meta} group by group.
 */
final class TwoFourColumns {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;
    private static final long AM = SgemmKernel.ADDRESS_MASK;

    private TwoFourColumns() {}

    /** As {@link Spmm}'s CSR column for a 2:4 weight: two slots per group of 4 rows. */
    static void column(int nv, SparseB b, int j, int p0, int p1, long base, float[] yt, int to) {
        int g0 = p0 / 4;
        int g1 = Math.min(b.groups(), (p1 + 3) / 4);
        boolean first = p0 == 0;
        switch (nv) {
            case 8 -> twoFour8(b, j, j + 1, g0, g1, base, yt, to, first);
            case 4 -> twoFour4(b, j, g0, g1, base, yt, to, first);
            case 2 -> twoFour2(b, j, g0, g1, base, yt, to, first);
            default -> twoFour1(b, j, g0, g1, base, yt, to, first);
        }
    }

    /**
     * 2:4 columns [ja, jb) of an 8-vector row block over groups [g0, g1), column j's sums at
     * {@code yt[toA + (j - ja)*8*VL ..)} (a K block's whole panel in one call: per column 8 accumulator loads and
     * stores around 256 multiply-adds at 64 k rows, so a call per column cost about 8%): the positions read 16
     * groups per long ({@link SparseB#positions}), the values by K block ({@link SparseB#blockValues}), each slot's
     * transposed-A row at {@code base + (4g + position) * stride}.
     */
    static void twoFour8(SparseB b, int ja, int jb, int g0, int g1, long base, float[] yt, int toA,
                         boolean first) {
        float[] values = b.blockValues();
        long[] positions = b.positions();
        int n = b.n();
        int words = (b.groups() + 15) / 16;
        for (int j = ja; j < jb; j++) {
            int to = toA + (j - ja) * 8 * VL;
            FloatVector c0 = Spmm.acc(first, yt, to), c1 = Spmm.acc(first, yt, to + 1 * VL), c2 = Spmm.acc(first, yt, to + 2 * VL), c3 = Spmm.acc(first, yt, to + 3 * VL);
            FloatVector c4 = Spmm.acc(first, yt, to + 4 * VL), c5 = Spmm.acc(first, yt, to + 5 * VL), c6 = Spmm.acc(first, yt, to + 6 * VL), c7 = Spmm.acc(first, yt, to + 7 * VL);
            long stride = 8L * VL * 4;
            long vb = VL * 4L;
            for (int g = g0; g < g1; ) {
                int end = Math.min(g1, (g & ~15) + 16);
                long bits = positions[j * words + (g >> 4)] >>> (4 * (g & 15));
                long gb = base + 4L * g * stride;
                int v = ((g >> 4) * n + j) * 32 + 2 * (g & 15);
                int i1 = v + 2 * (end - g);
                for (int i = v; i < i1; i += 2, bits >>>= 4, gb += 4 * stride) {
                    long o = (gb + (bits & 3) * stride) & AM;
                    FloatVector w = FloatVector.broadcast(S, values[i]);
                    c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
                    c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
                    c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
                    c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
                    c4 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 4 * vb, LE), c4);
                    c5 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 5 * vb, LE), c5);
                    c6 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 6 * vb, LE), c6);
                    c7 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 7 * vb, LE), c7);
                    o = (gb + ((bits >> 2) & 3) * stride) & AM;
                    w = FloatVector.broadcast(S, values[i + 1]);
                    c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
                    c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
                    c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
                    c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
                    c4 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 4 * vb, LE), c4);
                    c5 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 5 * vb, LE), c5);
                    c6 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 6 * vb, LE), c6);
                    c7 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 7 * vb, LE), c7);
                }
                g = end;
            }
            c0.intoArray(yt, to);
            c1.intoArray(yt, to + VL);
            c2.intoArray(yt, to + 2 * VL);
            c3.intoArray(yt, to + 3 * VL);
            c4.intoArray(yt, to + 4 * VL);
            c5.intoArray(yt, to + 5 * VL);
            c6.intoArray(yt, to + 6 * VL);
            c7.intoArray(yt, to + 7 * VL);
        }
    }

    private static void twoFour4(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = Spmm.acc(first, yt, to), c1 = Spmm.acc(first, yt, to + 1 * VL), c2 = Spmm.acc(first, yt, to + 2 * VL), c3 = Spmm.acc(first, yt, to + 3 * VL);
        long stride = 4L * VL * 4;
        long vb = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o = (base + (4L * g + (nib & 3)) * stride) & AM;
            FloatVector w = FloatVector.broadcast(S, values[v]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
            o = (base + (4L * g + ((nib >> 2) & 3)) * stride) & AM;
            w = FloatVector.broadcast(S, values[v + 1]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            c2 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 2 * vb, LE), c2);
            c3 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + 3 * vb, LE), c3);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
        c2.intoArray(yt, to + 2 * VL);
        c3.intoArray(yt, to + 3 * VL);
    }

    private static void twoFour2(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = Spmm.acc(first, yt, to), c1 = Spmm.acc(first, yt, to + 1 * VL);
        long stride = 2L * VL * 4;
        long vb = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o = (base + (4L * g + (nib & 3)) * stride) & AM;
            FloatVector w = FloatVector.broadcast(S, values[v]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
            o = (base + (4L * g + ((nib >> 2) & 3)) * stride) & AM;
            w = FloatVector.broadcast(S, values[v + 1]);
            c0 = w.fma(FloatVector.fromMemorySegment(S, ALL, o, LE), c0);
            c1 = w.fma(FloatVector.fromMemorySegment(S, ALL, o + vb, LE), c1);
        }
        c0.intoArray(yt, to);
        c1.intoArray(yt, to + VL);
    }

    private static void twoFour1(SparseB b, int j, int g0, int g1, long base, float[] yt, int to,
                                 boolean first) {
        float[] values = b.values();
        byte[] meta = b.meta();
        int groups = b.groups();
        int v = 2 * (j * groups + g0);
        int q = j * b.groupsPadded() / 2;
        FloatVector c0 = Spmm.acc(first, yt, to);
        long stride = VL * 4L;
        for (int g = g0; g < g1; g++, v += 2) {
            int nib = meta[q + (g >> 1)] >> ((g & 1) * 4);
            long o0 = base + (4L * g + (nib & 3)) * stride;
            long o1 = base + (4L * g + ((nib >> 2) & 3)) * stride;
            c0 = FloatVector.broadcast(S, values[v]).fma(FloatVector.fromMemorySegment(S, ALL, o0, LE), c0);
            c0 = FloatVector.broadcast(S, values[v + 1]).fma(FloatVector.fromMemorySegment(S, ALL, o1, LE), c0);
        }
        c0.intoArray(yt, to);
    }
}
