package dev.gatun.engine.ops;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked products of {@link AttentionKernel}, per head and query tile of TQ = 2 * VL queries:
 * <ul>
 *   <li>scores, transposed (keys in rows, the tile's queries in the vector lanes, so that the softmax over the keys
 *       reduces down the rows, lane by lane, with no horizontal sums): {@code S^T[j, i] = sum_c K[j, c] * Qt[c, i]},
 *       {@link #scores}, an {@value #R} x 2-vector micro-kernel (R keys broadcast from K's rows, two vectors of
 *       queries), the per-key mask and the column maxima in its epilogue;</li>
 *   <li>context {@code O[i, c] += sum_j P^T[j, i] * V[j, c]}: {@link #accumulatePV}, the same shape (R queries'
 *       probabilities broadcast from one row of P^T, two vectors of one V row).</li>
 * </ul>
 * Layouts (offsets in floats):
 * <ul>
 *   <li>Qt (the tile's scaled queries, transposed): {@code qt[c*TQ + i]} = Q[i, c], c < d; lanes past the tile are zero.</li>
 *   <li>K and V: their rows as read, {@code ka[kAt + j*w + c]} = K[j, c] (row stride w); no packing.</li>
 *   <li>Scores / probabilities: {@code sc[j*TQ + i]} (key j of the block, query i of the tile).</li>
 *   <li>Output accumulator: {@code o[i*dPad + c]}, dPad = d rounded up to NC = 2 * VL.</li>
 * </ul>
 * Each micro-kernel's loop has one induction variable; the broadcasts are at constant displacements from one base
 * ({@link #accumulatePV}) or at loop-invariant ones (the R key rows of {@link #scores}). The scalar twin is
 * {@link AttentionKernel#reference} (the whole op, in double).
 */
final class AttentionTiles {
    /** Rows per micro-kernel: keys of S^T, queries of O. */
    static final int R = 8;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Queries per tile: two vectors of lanes. */
    static final int TQ = 2 * VL;
    /** Head columns per P V micro-kernel: two vectors. */
    static final int NC = 2 * VL;

    private AttentionTiles() {}

    /** {@code n} rounded up to a multiple of {@code m}. */
    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    /**
     * Scores of one query tile against keys [0, nk8) of a block (nk8 a multiple of R), plus a per-key term:
     * {@code sc[j*TQ + i] = sum_{c<d} K(kAt + j*w + c) * qt[c*TQ + i] + mrow[mAt + j]} (the mask, when it does not
     * vary over the queries, and -inf on the padding keys past the sequence), and the block's column maxima
     * {@code max_j sc[j*TQ + i]} into {@code st[mx + i]}.
     */
    static void scores(float[] qt, float[] ka, int kAt, int w, int d, float[] sc, int nk8, float[] mrow, int mAt, float[] st, int mx) {
        java.util.Arrays.fill(st, mx, mx + TQ, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < nk8; j += R) {
            qk(qt, ka, kAt + j * w, w, d, sc, j * TQ, mrow, mAt + j, st, mx);
        }
    }

    /**
     * R keys (rows kAt, kAt + w, ...) times the tile's two query vectors: 16 accumulators, c ascending (fma); then
     * the keys' mask terms added, the rows stored and their maxima folded into {@code st[mx ..]}.
     */
    private static void qk(float[] qt, float[] ka, int kAt, int w, int d, float[] sc, int s0, float[] mrow, int mAt, float[] st, int mx) {
        FloatVector a0 = FloatVector.zero(S), b0 = FloatVector.zero(S), a1 = FloatVector.zero(S), b1 = FloatVector.zero(S);
        FloatVector a2 = FloatVector.zero(S), b2 = FloatVector.zero(S), a3 = FloatVector.zero(S), b3 = FloatVector.zero(S);
        FloatVector a4 = FloatVector.zero(S), b4 = FloatVector.zero(S), a5 = FloatVector.zero(S), b5 = FloatVector.zero(S);
        FloatVector a6 = FloatVector.zero(S), b6 = FloatVector.zero(S), a7 = FloatVector.zero(S), b7 = FloatVector.zero(S);
        FloatVector q0, q1, x;
        int k1 = kAt + w, k2 = kAt + 2 * w, k3 = kAt + 3 * w, k4 = kAt + 4 * w, k5 = kAt + 5 * w, k6 = kAt + 6 * w, k7 = kAt + 7 * w;
        for (int c = 0; c < d; c++) {
            q0 = FloatVector.fromArray(S, qt, c * TQ);
            q1 = FloatVector.fromArray(S, qt, c * TQ + VL);
            x = FloatVector.broadcast(S, ka[kAt + c]);
            a0 = x.fma(q0, a0); b0 = x.fma(q1, b0);
            x = FloatVector.broadcast(S, ka[k1 + c]);
            a1 = x.fma(q0, a1); b1 = x.fma(q1, b1);
            x = FloatVector.broadcast(S, ka[k2 + c]);
            a2 = x.fma(q0, a2); b2 = x.fma(q1, b2);
            x = FloatVector.broadcast(S, ka[k3 + c]);
            a3 = x.fma(q0, a3); b3 = x.fma(q1, b3);
            x = FloatVector.broadcast(S, ka[k4 + c]);
            a4 = x.fma(q0, a4); b4 = x.fma(q1, b4);
            x = FloatVector.broadcast(S, ka[k5 + c]);
            a5 = x.fma(q0, a5); b5 = x.fma(q1, b5);
            x = FloatVector.broadcast(S, ka[k6 + c]);
            a6 = x.fma(q0, a6); b6 = x.fma(q1, b6);
            x = FloatVector.broadcast(S, ka[k7 + c]);
            a7 = x.fma(q0, a7); b7 = x.fma(q1, b7);
        }
        x = FloatVector.broadcast(S, mrow[mAt]);
        a0 = a0.add(x); b0 = b0.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 1]);
        a1 = a1.add(x); b1 = b1.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 2]);
        a2 = a2.add(x); b2 = b2.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 3]);
        a3 = a3.add(x); b3 = b3.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 4]);
        a4 = a4.add(x); b4 = b4.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 5]);
        a5 = a5.add(x); b5 = b5.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 6]);
        a6 = a6.add(x); b6 = b6.add(x);
        x = FloatVector.broadcast(S, mrow[mAt + 7]);
        a7 = a7.add(x); b7 = b7.add(x);
        a0.intoArray(sc, s0); b0.intoArray(sc, s0 + VL);
        a1.intoArray(sc, s0 + TQ); b1.intoArray(sc, s0 + TQ + VL);
        a2.intoArray(sc, s0 + 2 * TQ); b2.intoArray(sc, s0 + 2 * TQ + VL);
        a3.intoArray(sc, s0 + 3 * TQ); b3.intoArray(sc, s0 + 3 * TQ + VL);
        a4.intoArray(sc, s0 + 4 * TQ); b4.intoArray(sc, s0 + 4 * TQ + VL);
        a5.intoArray(sc, s0 + 5 * TQ); b5.intoArray(sc, s0 + 5 * TQ + VL);
        a6.intoArray(sc, s0 + 6 * TQ); b6.intoArray(sc, s0 + 6 * TQ + VL);
        a7.intoArray(sc, s0 + 7 * TQ); b7.intoArray(sc, s0 + 7 * TQ + VL);
        // maxima as compare + blend (a Java-semantics max() is several instructions a vector); NaN scores are
        // not carried into the max, their exp is NaN all the same
        a0 = a0.blend(a1, a0.lt(a1)); a2 = a2.blend(a3, a2.lt(a3)); a4 = a4.blend(a5, a4.lt(a5)); a6 = a6.blend(a7, a6.lt(a7));
        b0 = b0.blend(b1, b0.lt(b1)); b2 = b2.blend(b3, b2.lt(b3)); b4 = b4.blend(b5, b4.lt(b5)); b6 = b6.blend(b7, b6.lt(b7));
        a0 = a0.blend(a2, a0.lt(a2)); a4 = a4.blend(a6, a4.lt(a6));
        b0 = b0.blend(b2, b0.lt(b2)); b4 = b4.blend(b6, b4.lt(b6));
        a0 = a0.blend(a4, a0.lt(a4));
        b0 = b0.blend(b4, b0.lt(b4));
        a1 = FloatVector.fromArray(S, st, mx);
        b1 = FloatVector.fromArray(S, st, mx + VL);
        a1.blend(a0, a1.lt(a0)).intoArray(st, mx);
        b1.blend(b0, b1.lt(b0)).intoArray(st, mx + VL);
    }

    /**
     * {@code o[i*dPad + c] += sum_{j<nk} sc[j*TQ + i] * V(vAt + j*w + c)} for i < nq8 (a multiple of R) and
     * c < dPad (a multiple of NC; the columns past the head's d read whatever follows in va, into columns of o
     * that are not written out).
     */
    static void accumulatePV(float[] sc, float[] va, int vAt, int w, float[] o, int nq8, int nk, int dPad) {
        for (int i = 0; i < nq8; i += R) {
            for (int c = 0; c < dPad; c += NC) {
                pv(sc, i, va, vAt + c, w, o, i * dPad + c, nk, dPad);
            }
        }
    }

    /**
     * R queries' probabilities (broadcast from P^T's row j at constant displacements) times NC columns of V's row
     * j: 16 accumulators loaded from and stored back to {@code o}, keys ascending (fma).
     */
    private static void pv(float[] sc, int i0, float[] va, int vAt, int w, float[] o, int o0, int nk, int dPad) {
        FloatVector a0 = FloatVector.fromArray(S, o, o0), b0 = FloatVector.fromArray(S, o, o0 + VL);
        FloatVector a1 = FloatVector.fromArray(S, o, o0 + dPad), b1 = FloatVector.fromArray(S, o, o0 + dPad + VL);
        FloatVector a2 = FloatVector.fromArray(S, o, o0 + 2 * dPad), b2 = FloatVector.fromArray(S, o, o0 + 2 * dPad + VL);
        FloatVector a3 = FloatVector.fromArray(S, o, o0 + 3 * dPad), b3 = FloatVector.fromArray(S, o, o0 + 3 * dPad + VL);
        FloatVector a4 = FloatVector.fromArray(S, o, o0 + 4 * dPad), b4 = FloatVector.fromArray(S, o, o0 + 4 * dPad + VL);
        FloatVector a5 = FloatVector.fromArray(S, o, o0 + 5 * dPad), b5 = FloatVector.fromArray(S, o, o0 + 5 * dPad + VL);
        FloatVector a6 = FloatVector.fromArray(S, o, o0 + 6 * dPad), b6 = FloatVector.fromArray(S, o, o0 + 6 * dPad + VL);
        FloatVector a7 = FloatVector.fromArray(S, o, o0 + 7 * dPad), b7 = FloatVector.fromArray(S, o, o0 + 7 * dPad + VL);
        FloatVector v0, v1, x;
        for (int j = 0; j < nk; j++) {
            int v = vAt + j * w;
            int p = j * TQ + i0;
            v0 = FloatVector.fromArray(S, va, v);
            v1 = FloatVector.fromArray(S, va, v + VL);
            x = FloatVector.broadcast(S, sc[p]);
            a0 = x.fma(v0, a0); b0 = x.fma(v1, b0);
            x = FloatVector.broadcast(S, sc[p + 1]);
            a1 = x.fma(v0, a1); b1 = x.fma(v1, b1);
            x = FloatVector.broadcast(S, sc[p + 2]);
            a2 = x.fma(v0, a2); b2 = x.fma(v1, b2);
            x = FloatVector.broadcast(S, sc[p + 3]);
            a3 = x.fma(v0, a3); b3 = x.fma(v1, b3);
            x = FloatVector.broadcast(S, sc[p + 4]);
            a4 = x.fma(v0, a4); b4 = x.fma(v1, b4);
            x = FloatVector.broadcast(S, sc[p + 5]);
            a5 = x.fma(v0, a5); b5 = x.fma(v1, b5);
            x = FloatVector.broadcast(S, sc[p + 6]);
            a6 = x.fma(v0, a6); b6 = x.fma(v1, b6);
            x = FloatVector.broadcast(S, sc[p + 7]);
            a7 = x.fma(v0, a7); b7 = x.fma(v1, b7);
        }
        a0.intoArray(o, o0); b0.intoArray(o, o0 + VL);
        a1.intoArray(o, o0 + dPad); b1.intoArray(o, o0 + dPad + VL);
        a2.intoArray(o, o0 + 2 * dPad); b2.intoArray(o, o0 + 2 * dPad + VL);
        a3.intoArray(o, o0 + 3 * dPad); b3.intoArray(o, o0 + 3 * dPad + VL);
        a4.intoArray(o, o0 + 4 * dPad); b4.intoArray(o, o0 + 4 * dPad + VL);
        a5.intoArray(o, o0 + 5 * dPad); b5.intoArray(o, o0 + 5 * dPad + VL);
        a6.intoArray(o, o0 + 6 * dPad); b6.intoArray(o, o0 + 6 * dPad + VL);
        a7.intoArray(o, o0 + 7 * dPad); b7.intoArray(o, o0 + 7 * dPad + VL);
    }
}
