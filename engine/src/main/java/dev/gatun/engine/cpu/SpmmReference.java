package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The scalar twin of {@link Spmm}: {@code C[M, N] = epi(A[M, K] x op(B))} for a {@link SparseB}, each output a sum
 * in double over its column's nonzeros read back from the packed form ({@link SparseB#get} for every k), then
 * {@link Epilogue#reference}. Tests compare {@link Spmm} and the dense {@link Sgemm} against it; not for hot paths.
 */
public final class SpmmReference {
    private SpmmReference() {}

    /** See {@link Spmm#multiply}; {@code epi} may be null. */
    public static void multiply(int m, MemorySegment a, long aOff, int lda, SparseB b, MemorySegment c, long cOff, int ldc,
                                Epilogue epi) {
        int k = b.k();
        int n = b.n();
        float[] w = new float[k];
        for (int j = 0; j < n; j++) {
            for (int p = 0; p < k; p++) {
                w[p] = b.get(p, j);
            }
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    if (w[p] != 0f) {
                        acc += (double) w[p] * a.getAtIndex(Tensor.F32, aOff + (long) i * lda + p);
                    }
                }
                float v = (float) acc;
                c.setAtIndex(Tensor.F32, cOff + (long) i * ldc + j, epi == null ? v : epi.reference(v, i, j));
            }
        }
    }
}
