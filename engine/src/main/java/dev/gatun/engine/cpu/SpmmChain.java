package dev.gatun.engine.cpu;

import dev.gatun.engine.ops.KernelContext;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Two sparse products in a row, the first one's output used only by the second (a transformer's feed-forward block):
 * {@code C[M, N2] = epi2(act(A[M, K] x B1[K, N1] + bias1) x B2[N1, N2])}, both weights CSR {@link SparseB}s, A and C
 * row-major (strides {@code lda}, {@code ldc}).
 *
 * <p>{@link Spmm} computes a product's outputs transposed: per row block of mb rows, the sums of column j are mb
 * floats in a row, so its C goes through VL x VL in-register transposes, and the next SpMM transposes that C back
 * (its A) into exactly that layout. Here the hidden activations never take the row-major form: per row block, A is
 * transposed as in {@link Spmm}, the first product's sums are computed panel by panel (its K blocks, as
 * {@link Spmm#kBlocked}), and each column's mb sums are written with bias1 and the activation into a per-thread
 * native buffer {@code H[j][r]} (N1 x mb floats: 768 KB for 1536 x 128), which is the second product's transposed
 * A as it stands; the second product then runs on it as {@link Spmm} runs a row block, its outputs stored into C
 * with epi2. Saved against two products: the first's output transposes and stores, its M x N1 tensor going to
 * memory and back, and the second's transposes of A.
 *
 * <p>The same floating-point operations in the same order as the two products run by {@link Spmm} one after the
 * other (each output one FMA chain over its column's nonzeros in increasing k, then bias, then the activation's
 * lane arithmetic), so the results are bit-equal to theirs. Taken when {@link #fused} says so: tasks own ranges of
 * row blocks (one thread, or at least two blocks per thread); otherwise the caller runs the two products.
 */
public final class SpmmChain {
    private static final VectorSpecies<Float> S = SgemmKernel.S;
    private static final int VL = SgemmKernel.VL;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final MemorySegment ALL = SgemmKernel.ALL;

    private SpmmChain() {}

    /**
     * Whether {@link #multiply} runs the chain fused for m rows on {@code ctx}'s threads: both weights CSR with
     * B1's N equal to B2's K, 16-float vectors, at least 16 rows and too many for {@link Spmm} to run either product
     * row by row (its few-row GEMVs sum in another order), enough row blocks for every thread to own two (or one
     * thread), and {@code e1} at most a column bias and a Relu, Gelu or GeluTanh (no residual).
     */
    public static boolean fused(KernelContext ctx, int m, SparseB b1, Epilogue e1, SparseB b2) {
        if (VL != 16 || m < VL || b1.format() != SparseB.Format.CSR || b2.format() != SparseB.Format.CSR
                || b1.n() != b2.k() || Spmm.rowwise(m, b1) || Spmm.rowwise(m, b2)) {
            return false;
        }
        if (e1 != null && !e1.isIdentity()) {
            Epilogue.Activation act = e1.activation();
            boolean supported = act == Epilogue.Activation.NONE || act == Epilogue.Activation.RELU
                    || act == Epilogue.Activation.GELU || act == Epilogue.Activation.GELU_TANH;
            if (!supported || e1.residual() != null || e1.bias() != null && (e1.biasPerRow() || !e1.bias().isNative())) {
                return false;
            }
        }
        int threads = threads(ctx, m, b1, b2);
        int mb = Spmm.vectorsPerBlock(m) * VL;
        int blocks = (m + mb - 1) / mb;
        return threads == 1 || blocks >= 2 * threads;
    }

    private static int threads(KernelContext ctx, int m, SparseB b1, SparseB b2) {
        return ctx.threads() <= 1 || (long) m * (b1.work() + b2.work()) < Spmm.parallelWork ? 1 : ctx.threads();
    }

    /**
     * {@code C = epi2(e1(A x B1) x B2)} (see the class comment); only when {@link #fused} is true for the same
     * arguments. {@code e1} and {@code e2} may be null.
     */
    public static void multiply(KernelContext ctx, int m, MemorySegment a, long aOff, int lda, SparseB b1, Epilogue e1,
                                SparseB b2, MemorySegment c, long cOff, int ldc, Epilogue e2) {
        if (!fused(ctx, m, b1, e1, b2)) {
            throw new IllegalArgumentException("SpmmChain: not a fused chain (" + m + " rows, " + b1.format() + " "
                    + b1.k() + "x" + b1.n() + ", " + b2.format() + " " + b2.k() + "x" + b2.n() + ")");
        }
        Epilogue h = e1 == null || e1.isIdentity() ? null : e1;
        Epilogue e = e2 == null || e2.isIdentity() ? null : e2;
        int k = b1.k();
        int hidden = b1.n();
        int n = b2.n();
        int threads = threads(ctx, m, b1, b2);
        int nv = Spmm.vectorsPerBlock(m);
        int mb = nv * VL;
        int blocks = (m + mb - 1) / mb;
        Spmm.checkA(a, aOff, lda, m, k);
        long aAt = a.isNative() && a.scope().isAlive() ? a.address() + aOff * 4 : -1;
        long cAt = Spmm.directC(c, cOff, ldc, m, n, e);
        long biasAt = h == null || h.bias() == null ? -1
                : SgemmKernel.address(h.bias(), h.biasOffset() * 4, hidden * 4L, "bias");
        SpmmRegion r = SpmmRegion.of(a, aOff, aAt, lda, m, b1, c, cOff, cAt, ldc, e, nv);
        r.b2 = b2;
        r.h = h;
        r.biasAt = biasAt;
        try {
            SpmmRegion.run(ctx, threads == 1 ? 1 : Math.min(blocks, 4 * threads), blocks, r, SpmmChain::rowBlocks);
        } finally {
            r.clear();
        }
    }

    /** Row blocks [r0, r1): A transposed, the hidden activations, then the second product into C. */
    private static void rowBlocks(SpmmRegion r, int r0, int r1) {
        Spmm.Scratch s = Spmm.SCRATCH.get();
        int k = r.b.k();
        int hidden = r.b.n();
        long atAddr = s.at((long) k * r.mb * 4);
        long hAddr = s.hidden((long) hidden * r.mb * 4);
        int kc1 = Spmm.kBlock(r.b, r.mb);
        int kc2 = Spmm.kBlock(r.b2, r.mb);
        for (int blk = r0; blk < r1; blk++) {
            int end = Math.min(r.m, (blk + 1) * r.mb);
            for (int m0 = blk * r.mb; m0 < end; ) {
                // a last block of fewer rows cut into narrower ones, as Spmm's row blocks are (the chains unchanged)
                int nv = Math.min(r.nv, Spmm.tailVectors(end - m0, SparseB.Format.CSR));
                int mb = nv * VL;
                int rows = Math.min(mb, end - m0);
                boolean full = nv == r.nv;
                Spmm.transpose(r.a, r.aOff, r.aAt, r.lda, r.m, m0, mb, 0, k, atAddr);
                hidden(nv, r.b, mb, full ? kc1 : Spmm.kBlock(r.b, mb), atAddr, s, r.h, r.biasAt, hAddr);
                Spmm.kBlocked(nv, r.b2, r.m, m0, mb, full ? kc2 : Spmm.kBlock(r.b2, mb), hAddr, s, r.c, r.cOff, r.cAt,
                        r.ldc, r.e, 0, r.b2.n());
                Spmm.heavyPass(r.cAt, r.ldc, r.e, m0, rows, 0, r.b2.n());
                m0 += rows;
            }
        }
    }

    /**
     * H[j][r] (floats from the absolute address {@code hAddr}, mb per column) = act(sum_p At[p][r] B1[p, j] + bias[j])
     * for the row block whose transposed A is at {@code atAddr}: per panel of columns, every K block of kc rows
     * runs each column's nonzeros into the panel's sums ({@link Spmm#column}); then each column's sums are written
     * to H with the bias and a light activation, and a heavy one (Gelu) runs over the panel's stretch of H in place.
     */
    private static void hidden(int nv, SparseB b, int mb, int kc, long atAddr, Spmm.Scratch s, Epilogue h,
                               long biasAt, long hAddr) {
        int k = b.k();
        int n = b.n();
        int panel = Math.max(Spmm.NB, Spmm.PANEL_BYTES / (mb * 4) / Spmm.NB * Spmm.NB);
        float[] sums = s.sums(panel * mb);
        Epilogue.Activation act = h == null ? Epilogue.Activation.NONE : h.activation();
        boolean relu = act == Epilogue.Activation.RELU;
        for (int j0 = 0; j0 < n; j0 += panel) {
            int j1 = Math.min(n, j0 + panel);
            for (int p0 = 0; p0 < k; p0 += kc) {
                int p1 = Math.min(k, p0 + kc);
                for (int j = j0; j < j1; j++) {
                    Spmm.column(nv, b, j, p0, p1, atAddr, sums, (j - j0) * mb);
                }
            }
            for (int j = j0; j < j1; j++) {
                int from = (j - j0) * mb;
                long to = hAddr + (long) j * mb * 4;
                float bias = biasAt == -1 ? 0f : ALL.get(Tensor.F32, biasAt + j * 4L);
                for (int v = 0; v < mb; v += VL) {
                    FloatVector x = FloatVector.fromArray(S, sums, from + v);
                    if (biasAt != -1) {
                        x = x.add(bias);
                    }
                    if (relu) {
                        x = x.max(0f);
                    }
                    x.intoMemorySegment(ALL, to + v * 4L, LE);
                }
            }
            if (!act.light()) {
                long at = (hAddr + (long) j0 * mb * 4) / 4;
                VectorMath.apply(act == Epilogue.Activation.GELU ? VectorMath.GELU : VectorMath.GELU_TANH,
                        ALL, at, ALL, at, (long) (j1 - j0) * mb, null, 0);
            }
        }
    }
}
