package dev.gatun.engine.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The scalar definition of {@link Igemm}'s integer product, for tests:
 * {@code c[i*ldc + j] = sum_p (A[i][p] - za_i) * (B[p][j] - zb_j)} in int32 arithmetic (wrapping), A element
 * (i, p) the byte at {@code aOff + i*lda + p}, B element (p, j) the byte at {@code bOff + p*ldb + j}, each read
 * as u8 or s8; {@code za} holds 1 or m zero points, {@code zb} 1 or n.
 */
public final class IgemmReference {
    private IgemmReference() {}

    public static void gemm(int m, int n, int k, MemorySegment a, long aOff, long lda, boolean aSigned, int[] za,
                            MemorySegment b, long bOff, long ldb, boolean bSigned, int[] zb, int[] c, int ldc) {
        for (int i = 0; i < m; i++) {
            int zai = za[za.length == 1 ? 0 : i];
            for (int j = 0; j < n; j++) {
                int zbj = zb[zb.length == 1 ? 0 : j];
                int s = 0;
                for (int p = 0; p < k; p++) {
                    byte av = a.get(ValueLayout.JAVA_BYTE, aOff + i * lda + p);
                    byte bv = b.get(ValueLayout.JAVA_BYTE, bOff + p * ldb + j);
                    s += ((aSigned ? av : av & 0xff) - zai) * ((bSigned ? bv : bv & 0xff) - zbj);
                }
                c[i * ldc + j] = s;
            }
        }
    }
}
