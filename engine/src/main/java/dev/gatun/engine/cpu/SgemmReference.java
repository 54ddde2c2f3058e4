package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The scalar twin of {@link Sgemm}: the same contract (layout, transposes, alpha, beta) as a plain triple loop
 * accumulating in double. Tests compare {@link Sgemm} against it; it is not used on hot paths.
 */
public final class SgemmReference {
    private SgemmReference() {}

    /** {@code C[M,N] = alpha * op(A) x op(B) + beta * C}; see {@link Sgemm} for the layout. */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda,
                             MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    float av = a.getAtIndex(Tensor.F32, aOff + (transA ? (long) p * lda + i : (long) i * lda + p));
                    float bv = b.getAtIndex(Tensor.F32, bOff + (transB ? (long) j * ldb + p : (long) p * ldb + j));
                    acc += (double) av * bv;
                }
                long at = cOff + (long) i * ldc + j;
                double v = alpha * acc;
                if (beta != 0f) {
                    v += beta * (double) c.getAtIndex(Tensor.F32, at);
                }
                c.setAtIndex(Tensor.F32, at, (float) v);
            }
        }
    }
}
