package dev.gatun.engine.cpu;

import dev.gatun.engine.NativeMemory;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread buffers of {@link Sgemm} and {@link Sgemv}: the micro-kernel tile, an edge A panel, growable row and
 * vector arrays, and the buffer B is packed into per call. Reused across calls, so steady-state
 * GEMMs allocate nothing; grown buffers are native memory freed by the GC with the thread's scratch.
 */
final class GemmScratch {
    private static final ThreadLocal<GemmScratch> LOCAL = ThreadLocal.withInitial(GemmScratch::new);

    /** The micro-kernel's accumulators, MR x NR floats. */
    final float[] tile = new float[SgemmKernel.MR * SgemmKernel.NR];
    /** One vector's lanes, for fixed-order lane sums. */
    final float[] lanes = new float[SgemmKernel.VL];
    /** A block of op(A) copied for the micro-kernel (panels of MR interleaved rows, see {@link SgemmKernel#packA}). */
    private float[] packA = new float[0];
    private float[] rowA = new float[0];
    private float[] row = new float[0];
    private float[] vector = new float[0];
    private MemorySegment packedB = MemorySegment.NULL;

    static GemmScratch get() {
        return LOCAL.get();
    }

    /** The A-block array, at least {@code n} floats (contents undefined). */
    float[] packA(int n) {
        if (packA.length < n) {
            packA = new float[Math.max(n, SgemmKernel.MC * SgemmKernel.KC)];
        }
        return packA;
    }

    /** {@link SgemmKernel#packA}'s staging array for one row of A, at least {@code n} floats (contents undefined). */
    float[] rowA(int n) {
        if (rowA.length < n) {
            rowA = new float[Math.max(n, SgemmKernel.KC)];
        }
        return rowA;
    }

    private int[] packIndex = new int[SgemmKernel.VL];
    private int packIndexKc = -1;

    /**
     * Gather indices for {@link SgemmKernel#packA}: lane l reads row {@code l % MR}, step {@code l / MR} of MR rows
     * staged {@code kc} floats apart ({@code (l % MR) * kc + l / MR}).
     */
    int[] packIndex(int kc) {
        if (packIndexKc != kc) {
            for (int l = 0; l < packIndex.length; l++) {
                packIndex[l] = l % SgemmKernel.MR * kc + l / SgemmKernel.MR;
            }
            packIndexKc = kc;
        }
        return packIndex;
    }

    /** A float array of at least {@code n} elements (contents undefined). */
    float[] row(int n) {
        if (row.length < n) {
            row = new float[n];
        }
        return row;
    }

    /** A second float array of at least {@code n} elements, distinct from {@link #row}. */
    float[] vector(int n) {
        if (vector.length < n) {
            vector = new float[n + SgemmKernel.NR];
        }
        return vector;
    }

    /** Native memory for {@code floats} floats, 64-byte aligned (contents undefined). */
    MemorySegment packedB(long floats) {
        if (packedB.byteSize() < floats * 4) {
            packedB = NativeMemory.allocateScratch(floats * 4);
        }
        return packedB;
    }
}
