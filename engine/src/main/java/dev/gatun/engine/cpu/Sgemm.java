package dev.gatun.engine.cpu;

import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM: {@code C[M,N] = alpha * op(A)[M,K] x op(B)[K,N] + beta * C}, row-major with row strides.
 *
 * <p>Layout: {@code op(A)[i,p]} is {@code a[aOff + i*lda + p]}, or with {@code transA} {@code a[aOff + p*lda + i]}
 * (A stored as [K,M]); {@code op(B)[p,j]} is {@code b[bOff + p*ldb + j]}, or with {@code transB}
 * {@code b[bOff + j*ldb + p]} (B stored as [N,K]); {@code C[i,j]} is {@code c[cOff + i*ldc + j]}. Offsets and
 * strides count floats. With {@code beta == 0} C is only written (NaNs in it do not propagate).
 *
 * <p>Algorithm (the BLIS loop nest): B is cut into [KC x NC] blocks packed into panels of {@link #NR} columns,
 * A into [MC x KC] blocks packed into panels of {@link #MR} rows (transposes are absorbed by the packing;
 * edges are zero-padded), and a register-blocked {@link #MR} x {@link #NR} micro-kernel accumulates
 * {@code MR * NR/VL} vectors of {@link FloatVector#SPECIES_PREFERRED} with fused multiply-adds. Alpha and beta
 * are applied when a tile is stored (beta only on the first K block). Packing buffers are per-thread heap arrays.
 * A product with one row or one column (M or N of 1) is a matrix-vector product and skips the packing.
 * A constant B can be packed once ({@link #packB}) and multiplied by row / column ranges ({@link #sgemmPacked}),
 * which is how FusedMatMul splits a product over the session's threads. One call is single-threaded; per-CPU
 * block sizes come with the kernel tuning work.
 */
public final class Sgemm {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** Rows of the micro-kernel tile (callers splitting a product over threads cut rows in multiples of it). */
    public static final int MR = 6;
    /** Columns of the micro-kernel tile: two vectors (column ranges of {@link #sgemmPacked} start at multiples of it). */
    public static final int NR = 2 * VL;
    /** Depth of a packed block (A block and B micro-panel stay in L2 / L1). */
    static final int KC = 256;
    /** Rows of a packed A block (a multiple of MR). */
    static final int MC = 16 * MR;
    /** Columns of a packed B block (a multiple of NR). */
    static final int NC = 64 * NR;

    private static final ThreadLocal<float[][]> BUFFERS = ThreadLocal.withInitial(() -> new float[3][]);

    private Sgemm() {}

    /** GEMM on memory segments; see the class comment for the layout. */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda,
                             MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("negative GEMM size " + m + "x" + n + "x" + k);
        }
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0f) {
            scaleC(m, n, beta, c, cOff, ldc);
            return;
        }
        if (m == 1) {
            // C[0, j] = sum_p op(A)[0, p] * op(B)[p, j]: op(B)^T times the vector A.
            float[] x = gather(a, aOff, transA ? lda : 1, k);
            gemv(!transB, n, k, alpha, b, bOff, ldb, x, beta, c, cOff, 1);
            return;
        }
        if (n == 1) {
            // C[i, 0] = sum_p op(A)[i, p] * op(B)[p, 0]: op(A) times the vector B.
            float[] x = gather(b, bOff, transB ? 1 : ldb, k);
            gemv(transA, m, k, alpha, a, aOff, lda, x, beta, c, cOff, ldc);
            return;
        }
        float[][] bufs = BUFFERS.get();
        int ncMax = Math.min(NC, roundUp(n, NR));
        int mcMax = Math.min(MC, roundUp(m, MR));
        int kcMax = Math.min(KC, k);
        float[] bp = bufs[0] == null || bufs[0].length < kcMax * ncMax ? (bufs[0] = new float[KC * ncMax]) : bufs[0];
        float[] ap = bufs[1] == null || bufs[1].length < kcMax * mcMax ? (bufs[1] = new float[KC * mcMax]) : bufs[1];
        float[] tile = new float[MR * NR];

        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float betaBlock = pc == 0 ? beta : 1f;
                packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp);
                for (int ic = 0; ic < m; ic += MC) {
                    int mc = Math.min(MC, m - ic);
                    packA(transA, a, aOff, lda, ic, mc, pc, kc, ap);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            long cTile = cOff + (long) (ic + ir) * ldc + jc + jr;
                            kernel(ap, ir * kc, bp, jr * kc, kc, tile);
                            storeTile(tile, alpha, betaBlock, c, cTile, ldc, mr, nr);
                        }
                    }
                }
            }
        }
    }

    /**
     * B [K, N] packed once into the micro-kernel's panel layout (for a constant weight: see {@link #packB}).
     * For each K block {@code pc} (steps of {@link #KC}, depth kc) the panels of all N columns follow each other:
     * element (p, j) of op(B) sits at {@code data[pc * nPad + (j / NR) * NR * kc + (p - pc) * NR + j % NR]},
     * nPad = N rounded up to NR, the padding columns zero.
     */
    public record PackedB(float[] data, int k, int n) {
        int nPad() {
            return roundUp(n, NR);
        }
    }

    /** Packs op(B) [K, N] (row stride {@code ldb}, transposed when {@code transB}) for {@link #sgemmPacked}. */
    public static PackedB packB(boolean transB, MemorySegment b, long bOff, int ldb, int k, int n) {
        int nPad = roundUp(Math.max(n, 1), NR);
        float[] data = new float[Math.multiplyExact(k, nPad)];
        for (int pc = 0; pc < k; pc += KC) {
            packB(transB, b, bOff, ldb, pc, Math.min(KC, k - pc), 0, n, data, pc * nPad);
        }
        return new PackedB(data, k, n);
    }

    /**
     * {@code C[0:m, n0:n1] = A[0:m, 0:k] x B[:, n0:n1]} with B prepacked (C is only written): the column range
     * lets callers split one product over threads; {@code n0} must be a multiple of {@link #NR}.
     * A is row-major with row stride {@code lda}; offsets and strides count floats.
     */
    public static void sgemmPacked(int m, int n0, int n1, MemorySegment a, long aOff, int lda, PackedB b,
                                   MemorySegment c, long cOff, int ldc) {
        int k = b.k();
        if (n0 % NR != 0 || n0 < 0 || n1 > b.n() || m < 0) {
            throw new IllegalArgumentException("bad packed GEMM range m=" + m + " columns [" + n0 + "," + n1 + ") of " + b.n());
        }
        if (m == 0 || n1 <= n0) {
            return;
        }
        if (k == 0) {
            for (int i = 0; i < m; i++) {
                c.asSlice((cOff + (long) i * ldc + n0) * 4, (n1 - n0) * 4L).fill((byte) 0);
            }
            return;
        }
        float[][] bufs = BUFFERS.get();
        int mcMax = Math.min(MC, roundUp(m, MR));
        int kcMax = Math.min(KC, k);
        float[] ap = bufs[1] == null || bufs[1].length < kcMax * mcMax ? (bufs[1] = new float[KC * mcMax]) : bufs[1];
        float[] tile = bufs[2] == null ? (bufs[2] = new float[MR * NR]) : bufs[2];
        float[] bp = b.data();
        int nPad = b.nPad();
        for (int jc = n0; jc < n1; jc += NC) {
            int nc = Math.min(NC, n1 - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float beta = pc == 0 ? 0f : 1f;
                int base = pc * nPad;
                for (int ic = 0; ic < m; ic += MC) {
                    int mc = Math.min(MC, m - ic);
                    packA(false, a, aOff, lda, ic, mc, pc, kc, ap);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        int bo = base + (jc + jr) * kc;
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            kernel(ap, ir * kc, bp, bo, kc, tile);
                            storeTile(tile, 1f, beta, c, cOff + (long) (ic + ir) * ldc + jc + jr, ldc, mr, nr);
                        }
                    }
                }
            }
        }
    }

    /** {@code count} floats of {@code s} from {@code off}, {@code stride} apart, as an array. */
    private static float[] gather(MemorySegment s, long off, int stride, int count) {
        float[] x = new float[count];
        if (stride == 1) {
            MemorySegment.copy(s, Tensor.F32, off * 4, x, 0, count);
        } else {
            for (int i = 0; i < count; i++) {
                x[i] = s.getAtIndex(Tensor.F32, off + (long) i * stride);
            }
        }
        return x;
    }

    /**
     * Matrix-vector product {@code y[i] = alpha * sum_j M[i,j] x[j] + beta * y[i]} for i < rows, j < cols, with
     * {@code M[i,j] = mat[off + i*ld + j]}, or {@code mat[off + j*ld + i]} when {@code trans}; y elements are
     * {@code yStride} apart. Untransposed rows are dot products; transposed, columns are accumulated as axpys.
     */
    private static void gemv(boolean trans, int rows, int cols, float alpha, MemorySegment mat, long off, int ld,
                             float[] x, float beta, MemorySegment y, long yOff, long yStride) {
        float[] acc = new float[rows];
        float[] lanes = new float[VL];
        if (!trans) {
            for (int i = 0; i < rows; i++) {
                long row = (off + (long) i * ld) * 4;
                FloatVector s0 = FloatVector.zero(S);
                FloatVector s1 = FloatVector.zero(S);
                int j = 0;
                for (; j <= cols - 2 * VL; j += 2 * VL) {
                    s0 = FloatVector.fromMemorySegment(S, mat, row + j * 4L, LE).fma(FloatVector.fromArray(S, x, j), s0);
                    s1 = FloatVector.fromMemorySegment(S, mat, row + (j + VL) * 4L, LE).fma(FloatVector.fromArray(S, x, j + VL), s1);
                }
                // Lanes summed in a fixed order: reduceLanes may order them differently once compiled, and equal
                // rows must give equal results.
                s0.add(s1).intoArray(lanes, 0);
                float sum = 0f;
                for (float l : lanes) {
                    sum += l;
                }
                for (; j < cols; j++) {
                    sum += mat.getAtIndex(Tensor.F32, off + (long) i * ld + j) * x[j];
                }
                acc[i] = sum;
            }
        } else {
            for (int j = 0; j < cols; j++) {
                long col = (off + (long) j * ld) * 4;
                FloatVector xv = FloatVector.broadcast(S, x[j]);
                int i = 0;
                for (; i <= rows - VL; i += VL) {
                    FloatVector.fromMemorySegment(S, mat, col + i * 4L, LE).fma(xv, FloatVector.fromArray(S, acc, i)).intoArray(acc, i);
                }
                for (; i < rows; i++) {
                    acc[i] = Math.fma(mat.getAtIndex(Tensor.F32, off + (long) j * ld + i), x[j], acc[i]);
                }
            }
        }
        for (int i = 0; i < rows; i++) {
            long at = yOff + i * yStride;
            float v = alpha * acc[i];
            if (beta != 0f) {
                v += beta * y.getAtIndex(Tensor.F32, at);
            }
            y.setAtIndex(Tensor.F32, at, v);
        }
    }

    /** C = beta * C (C = 0 when beta is 0). */
    private static void scaleC(int m, int n, float beta, MemorySegment c, long cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            long row = cOff + (long) i * ldc;
            if (beta == 0f) {
                c.asSlice(row * 4, n * 4L).fill((byte) 0);
            } else if (beta != 1f) {
                for (int j = 0; j < n; j++) {
                    c.setAtIndex(Tensor.F32, row + j, beta * c.getAtIndex(Tensor.F32, row + j));
                }
            }
        }
    }

    private static int roundUp(int x, int to) {
        return (x + to - 1) / to * to;
    }

    /** Packs op(B)[pc:pc+kc, jc:jc+nc] into panels of NR columns: panel q holds bp[q*NR*kc + p*NR + j]. */
    private static void packB(boolean transB, MemorySegment b, long bOff, int ldb, int pc, int kc, int jc, int nc, float[] bp) {
        packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp, 0);
    }

    /** As above, the panels written from {@code bp[at]} on. */
    private static void packB(boolean transB, MemorySegment b, long bOff, int ldb, int pc, int kc, int jc, int nc, float[] bp, int at) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int base = at + jr * kc;
            if (!transB) {
                for (int p = 0; p < kc; p++) {
                    long src = bOff + (long) (pc + p) * ldb + jc + jr;
                    int dst = base + p * NR;
                    if (nr == NR) {
                        FloatVector.fromMemorySegment(S, b, src * 4, LE).intoArray(bp, dst);
                        FloatVector.fromMemorySegment(S, b, (src + VL) * 4, LE).intoArray(bp, dst + VL);
                    } else {
                        for (int j = 0; j < nr; j++) {
                            bp[dst + j] = b.getAtIndex(Tensor.F32, src + j);
                        }
                        for (int j = nr; j < NR; j++) {
                            bp[dst + j] = 0f;
                        }
                    }
                }
            } else {
                for (int j = 0; j < nr; j++) {
                    long src = bOff + (long) (jc + jr + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) {
                        bp[base + p * NR + j] = b.getAtIndex(Tensor.F32, src + p);
                    }
                }
                for (int j = nr; j < NR; j++) {
                    for (int p = 0; p < kc; p++) {
                        bp[base + p * NR + j] = 0f;
                    }
                }
            }
        }
    }

    /** Packs op(A)[ic:ic+mc, pc:pc+kc] into panels of MR rows: panel q holds ap[q*MR*kc + p*MR + r]. */
    private static void packA(boolean transA, MemorySegment a, long aOff, int lda, int ic, int mc, int pc, int kc, float[] ap) {
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int base = ir * kc;
            if (!transA) {
                for (int r = 0; r < mr; r++) {
                    long src = aOff + (long) (ic + ir + r) * lda + pc;
                    for (int p = 0; p < kc; p++) {
                        ap[base + p * MR + r] = a.getAtIndex(Tensor.F32, src + p);
                    }
                }
            } else {
                for (int p = 0; p < kc; p++) {
                    long src = aOff + (long) (pc + p) * lda + ic + ir;
                    int dst = base + p * MR;
                    for (int r = 0; r < mr; r++) {
                        ap[dst + r] = a.getAtIndex(Tensor.F32, src + r);
                    }
                }
            }
            if (mr < MR) {
                for (int p = 0; p < kc; p++) {
                    for (int r = mr; r < MR; r++) {
                        ap[base + p * MR + r] = 0f;
                    }
                }
            }
        }
    }

    /**
     * The MR x NR micro-kernel: {@code tile[MR,NR] = Ap[MR,kc] x Bp[kc,NR]}. The accumulators never leave this
     * method as vectors (a vector passed to a call that is not inlined would be boxed).
     */
    private static void kernel(float[] ap, int ao, float[] bp, int bo, int kc, float[] tile) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        for (int p = 0; p < kc; p++) {
            FloatVector b0 = FloatVector.fromArray(S, bp, bo);
            FloatVector b1 = FloatVector.fromArray(S, bp, bo + VL);
            FloatVector av = FloatVector.broadcast(S, ap[ao]);
            c00 = av.fma(b0, c00);
            c01 = av.fma(b1, c01);
            av = FloatVector.broadcast(S, ap[ao + 1]);
            c10 = av.fma(b0, c10);
            c11 = av.fma(b1, c11);
            av = FloatVector.broadcast(S, ap[ao + 2]);
            c20 = av.fma(b0, c20);
            c21 = av.fma(b1, c21);
            av = FloatVector.broadcast(S, ap[ao + 3]);
            c30 = av.fma(b0, c30);
            c31 = av.fma(b1, c31);
            av = FloatVector.broadcast(S, ap[ao + 4]);
            c40 = av.fma(b0, c40);
            c41 = av.fma(b1, c41);
            av = FloatVector.broadcast(S, ap[ao + 5]);
            c50 = av.fma(b0, c50);
            c51 = av.fma(b1, c51);
            ao += MR;
            bo += NR;
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, VL);
        c10.intoArray(tile, NR);
        c11.intoArray(tile, NR + VL);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + VL);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + VL);
        c40.intoArray(tile, 4 * NR);
        c41.intoArray(tile, 4 * NR + VL);
        c50.intoArray(tile, 5 * NR);
        c51.intoArray(tile, 5 * NR + VL);
    }

    /** {@code C = alpha * tile + beta * C} on the valid mr x nr corner of the tile. */
    private static void storeTile(float[] tile, float alpha, float beta, MemorySegment c, long cOff, int ldc, int mr, int nr) {
        int nv = nr == NR ? NR : 0;
        FloatVector va = FloatVector.broadcast(S, alpha);
        FloatVector vb = FloatVector.broadcast(S, beta);
        for (int r = 0; r < mr; r++) {
            long row = cOff + (long) r * ldc;
            for (int j = 0; j < nv; j += VL) {
                long at = (row + j) * 4;
                FloatVector v = FloatVector.fromArray(S, tile, r * NR + j).mul(va);
                if (beta != 0f) {
                    v = FloatVector.fromMemorySegment(S, c, at, LE).fma(vb, v);
                }
                v.intoMemorySegment(c, at, LE);
            }
            for (int j = nv; j < nr; j++) {
                float v = alpha * tile[r * NR + j];
                if (beta != 0f) {
                    v += beta * c.getAtIndex(Tensor.F32, row + j);
                }
                c.setAtIndex(Tensor.F32, row + j, v);
            }
        }
    }
}
