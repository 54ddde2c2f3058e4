package dev.gatun.engine.ops;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-blocked products of {@link AttentionKernel}, per head: scores {@code S = Q K^T} and the context
 * update {@code O += P V}, each an {@value #R} x {@code 2*VL} micro-kernel (16 zmm accumulators on AVX-512) over
 * operands packed so that one int induction variable derives every index (C2 then removes the array bounds checks
 * from the loop and the broadcasts share one base register with constant displacements).
 *
 * <p>Layouts (offsets in floats, NC = 2*VL columns per panel, R = {@value #R} rows per panel):
 * <ul>
 *   <li>Q panel (R query rows, scaled): {@code qp[qAt + c*R + r]} = Q[r, c], c < d; rows past the tile are zero.</li>
 *   <li>K panels (NC keys each): {@code kp[kAt + (jp*d + c)*NC + l]} = K[jp*NC + l, c]; keys past Sk are zero.</li>
 *   <li>V panels (NC head columns each): {@code vp[vAt + (cp*sk + j)*NC + l]} = V[j, cp*NC + l]; columns past
 *       d are zero.</li>
 *   <li>Scores / probabilities: {@code sc[i*TK + j]} (row i of the query tile, key j of the block, TK constant).</li>
 *   <li>Output accumulator: {@code o[i*dPad + c]}, dPad = d rounded up to NC.</li>
 * </ul>
 * The scalar twin is {@link AttentionKernel#reference} (the whole op, in double).
 */
final class AttentionTiles {
    /** Rows per panel: query rows of Q for the scores, rows of P for P V. */
    static final int R = 8;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    /** Columns per panel: keys of K^T, head columns of V. */
    static final int NC = 2 * VL;
    /** K floats per Q float in one step of {@link #qk8x2}: NC keys per R rows. */
    private static final int KPQ = NC / R;
    private static final int TK = AttentionKernel.TK;

    private AttentionTiles() {}

    /** {@code n} rounded up to a multiple of {@code m}. */
    static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    /**
     * Scores of one query tile against one key block: {@code sc[i*TK + j] = sum_c qp(i, c) * K(j0 + j, c)} for
     * i < nqPad (a multiple of R: whole Q panels from {@code qp[0]}) and j < nkPad (a multiple of NC; j0 a
     * multiple of NC). {@code kAt} is the head's first K panel.
     */
    static void scores(float[] qp, float[] kp, int kAt, int j0, float[] sc, int nqPad, int d, int nkPad) {
        int panel = d * NC;
        for (int i = 0; i < nqPad; i += R) {
            for (int j = 0; j < nkPad; j += NC) {
                qk8x2(qp, i * d, kp, kAt + (j0 + j) / NC * panel, d, sc, i * TK + j);
            }
        }
    }

    /**
     * One Q panel (R rows) times one K panel (NC keys): 16 accumulators; the loop runs one index {@code o} over
     * the Q panel and reads K at {@code kBase + o*KPQ}; unrolled by two steps.
     */
    private static void qk8x2(float[] qp, int qAt, float[] kp, int kAt, int d, float[] sc, int s0) {
        FloatVector a0 = FloatVector.zero(S), b0 = FloatVector.zero(S), a1 = FloatVector.zero(S), b1 = FloatVector.zero(S);
        FloatVector a2 = FloatVector.zero(S), b2 = FloatVector.zero(S), a3 = FloatVector.zero(S), b3 = FloatVector.zero(S);
        FloatVector a4 = FloatVector.zero(S), b4 = FloatVector.zero(S), a5 = FloatVector.zero(S), b5 = FloatVector.zero(S);
        FloatVector a6 = FloatVector.zero(S), b6 = FloatVector.zero(S), a7 = FloatVector.zero(S), b7 = FloatVector.zero(S);
        FloatVector k0, k1, x;
        int kBase = kAt - qAt * KPQ;
        int end = qAt + R * d;
        int o = qAt;
        for (; o + R < end; o += 2 * R) {
            k0 = FloatVector.fromArray(S, kp, kBase + o * KPQ);
            k1 = FloatVector.fromArray(S, kp, kBase + o * KPQ + VL);
            x = FloatVector.broadcast(S, qp[o]);
            a0 = x.fma(k0, a0); b0 = x.fma(k1, b0);
            x = FloatVector.broadcast(S, qp[o + 1]);
            a1 = x.fma(k0, a1); b1 = x.fma(k1, b1);
            x = FloatVector.broadcast(S, qp[o + 2]);
            a2 = x.fma(k0, a2); b2 = x.fma(k1, b2);
            x = FloatVector.broadcast(S, qp[o + 3]);
            a3 = x.fma(k0, a3); b3 = x.fma(k1, b3);
            x = FloatVector.broadcast(S, qp[o + 4]);
            a4 = x.fma(k0, a4); b4 = x.fma(k1, b4);
            x = FloatVector.broadcast(S, qp[o + 5]);
            a5 = x.fma(k0, a5); b5 = x.fma(k1, b5);
            x = FloatVector.broadcast(S, qp[o + 6]);
            a6 = x.fma(k0, a6); b6 = x.fma(k1, b6);
            x = FloatVector.broadcast(S, qp[o + 7]);
            a7 = x.fma(k0, a7); b7 = x.fma(k1, b7);
            k0 = FloatVector.fromArray(S, kp, kBase + o * KPQ + NC);
            k1 = FloatVector.fromArray(S, kp, kBase + o * KPQ + NC + VL);
            x = FloatVector.broadcast(S, qp[o + 8]);
            a0 = x.fma(k0, a0); b0 = x.fma(k1, b0);
            x = FloatVector.broadcast(S, qp[o + 9]);
            a1 = x.fma(k0, a1); b1 = x.fma(k1, b1);
            x = FloatVector.broadcast(S, qp[o + 10]);
            a2 = x.fma(k0, a2); b2 = x.fma(k1, b2);
            x = FloatVector.broadcast(S, qp[o + 11]);
            a3 = x.fma(k0, a3); b3 = x.fma(k1, b3);
            x = FloatVector.broadcast(S, qp[o + 12]);
            a4 = x.fma(k0, a4); b4 = x.fma(k1, b4);
            x = FloatVector.broadcast(S, qp[o + 13]);
            a5 = x.fma(k0, a5); b5 = x.fma(k1, b5);
            x = FloatVector.broadcast(S, qp[o + 14]);
            a6 = x.fma(k0, a6); b6 = x.fma(k1, b6);
            x = FloatVector.broadcast(S, qp[o + 15]);
            a7 = x.fma(k0, a7); b7 = x.fma(k1, b7);
        }
        for (; o < end; o += R) {
            k0 = FloatVector.fromArray(S, kp, kBase + o * KPQ);
            k1 = FloatVector.fromArray(S, kp, kBase + o * KPQ + VL);
            x = FloatVector.broadcast(S, qp[o]);
            a0 = x.fma(k0, a0); b0 = x.fma(k1, b0);
            x = FloatVector.broadcast(S, qp[o + 1]);
            a1 = x.fma(k0, a1); b1 = x.fma(k1, b1);
            x = FloatVector.broadcast(S, qp[o + 2]);
            a2 = x.fma(k0, a2); b2 = x.fma(k1, b2);
            x = FloatVector.broadcast(S, qp[o + 3]);
            a3 = x.fma(k0, a3); b3 = x.fma(k1, b3);
            x = FloatVector.broadcast(S, qp[o + 4]);
            a4 = x.fma(k0, a4); b4 = x.fma(k1, b4);
            x = FloatVector.broadcast(S, qp[o + 5]);
            a5 = x.fma(k0, a5); b5 = x.fma(k1, b5);
            x = FloatVector.broadcast(S, qp[o + 6]);
            a6 = x.fma(k0, a6); b6 = x.fma(k1, b6);
            x = FloatVector.broadcast(S, qp[o + 7]);
            a7 = x.fma(k0, a7); b7 = x.fma(k1, b7);
        }
        a0.intoArray(sc, s0); b0.intoArray(sc, s0 + VL);
        a1.intoArray(sc, s0 + TK); b1.intoArray(sc, s0 + TK + VL);
        a2.intoArray(sc, s0 + 2 * TK); b2.intoArray(sc, s0 + 2 * TK + VL);
        a3.intoArray(sc, s0 + 3 * TK); b3.intoArray(sc, s0 + 3 * TK + VL);
        a4.intoArray(sc, s0 + 4 * TK); b4.intoArray(sc, s0 + 4 * TK + VL);
        a5.intoArray(sc, s0 + 5 * TK); b5.intoArray(sc, s0 + 5 * TK + VL);
        a6.intoArray(sc, s0 + 6 * TK); b6.intoArray(sc, s0 + 6 * TK + VL);
        a7.intoArray(sc, s0 + 7 * TK); b7.intoArray(sc, s0 + 7 * TK + VL);
    }

    /**
     * {@code o[i*dPad + c] += sum_{j < nk} sc[i*TK + j] * V(j0 + j, c)} for i < nqPad (whole P panels) and
     * c < dPad; {@code vAt} is the head's first V panel, {@code sk} its key count.
     */
    static void accumulatePV(float[] sc, float[] vp, int vAt, int sk, int j0, float[] o, int nqPad, int nk, int dPad) {
        for (int i = 0; i < nqPad; i += R) {
            for (int c = 0; c < dPad; c += NC) {
                pv8x2(sc, i * TK, vp, vAt + (c / NC * sk + j0) * NC, o, i * dPad + c, nk, dPad);
            }
        }
    }

    /**
     * R rows of P times one V panel (NC columns): 16 accumulators loaded from and stored back to {@code o}; the
     * loop runs one index {@code p} over the P rows (the R broadcasts at constant displacements TK apart) and reads
     * V at {@code vBase + p*NC}; unrolled by two keys.
     */
    private static void pv8x2(float[] sc, int p0, float[] vp, int vAt, float[] o, int o0, int nk, int dPad) {
        FloatVector a0 = FloatVector.fromArray(S, o, o0), b0 = FloatVector.fromArray(S, o, o0 + VL);
        FloatVector a1 = FloatVector.fromArray(S, o, o0 + dPad), b1 = FloatVector.fromArray(S, o, o0 + dPad + VL);
        FloatVector a2 = FloatVector.fromArray(S, o, o0 + 2 * dPad), b2 = FloatVector.fromArray(S, o, o0 + 2 * dPad + VL);
        FloatVector a3 = FloatVector.fromArray(S, o, o0 + 3 * dPad), b3 = FloatVector.fromArray(S, o, o0 + 3 * dPad + VL);
        FloatVector a4 = FloatVector.fromArray(S, o, o0 + 4 * dPad), b4 = FloatVector.fromArray(S, o, o0 + 4 * dPad + VL);
        FloatVector a5 = FloatVector.fromArray(S, o, o0 + 5 * dPad), b5 = FloatVector.fromArray(S, o, o0 + 5 * dPad + VL);
        FloatVector a6 = FloatVector.fromArray(S, o, o0 + 6 * dPad), b6 = FloatVector.fromArray(S, o, o0 + 6 * dPad + VL);
        FloatVector a7 = FloatVector.fromArray(S, o, o0 + 7 * dPad), b7 = FloatVector.fromArray(S, o, o0 + 7 * dPad + VL);
        FloatVector v0, v1, x;
        int vBase = vAt - p0 * NC;
        int end = p0 + nk;
        int p = p0;
        for (; p + 1 < end; p += 2) {
            v0 = FloatVector.fromArray(S, vp, vBase + p * NC);
            v1 = FloatVector.fromArray(S, vp, vBase + p * NC + VL);
            x = FloatVector.broadcast(S, sc[p]);
            a0 = x.fma(v0, a0); b0 = x.fma(v1, b0);
            x = FloatVector.broadcast(S, sc[p + TK]);
            a1 = x.fma(v0, a1); b1 = x.fma(v1, b1);
            x = FloatVector.broadcast(S, sc[p + 2 * TK]);
            a2 = x.fma(v0, a2); b2 = x.fma(v1, b2);
            x = FloatVector.broadcast(S, sc[p + 3 * TK]);
            a3 = x.fma(v0, a3); b3 = x.fma(v1, b3);
            x = FloatVector.broadcast(S, sc[p + 4 * TK]);
            a4 = x.fma(v0, a4); b4 = x.fma(v1, b4);
            x = FloatVector.broadcast(S, sc[p + 5 * TK]);
            a5 = x.fma(v0, a5); b5 = x.fma(v1, b5);
            x = FloatVector.broadcast(S, sc[p + 6 * TK]);
            a6 = x.fma(v0, a6); b6 = x.fma(v1, b6);
            x = FloatVector.broadcast(S, sc[p + 7 * TK]);
            a7 = x.fma(v0, a7); b7 = x.fma(v1, b7);
            v0 = FloatVector.fromArray(S, vp, vBase + p * NC + NC);
            v1 = FloatVector.fromArray(S, vp, vBase + p * NC + NC + VL);
            x = FloatVector.broadcast(S, sc[p + 1]);
            a0 = x.fma(v0, a0); b0 = x.fma(v1, b0);
            x = FloatVector.broadcast(S, sc[p + 1 + TK]);
            a1 = x.fma(v0, a1); b1 = x.fma(v1, b1);
            x = FloatVector.broadcast(S, sc[p + 1 + 2 * TK]);
            a2 = x.fma(v0, a2); b2 = x.fma(v1, b2);
            x = FloatVector.broadcast(S, sc[p + 1 + 3 * TK]);
            a3 = x.fma(v0, a3); b3 = x.fma(v1, b3);
            x = FloatVector.broadcast(S, sc[p + 1 + 4 * TK]);
            a4 = x.fma(v0, a4); b4 = x.fma(v1, b4);
            x = FloatVector.broadcast(S, sc[p + 1 + 5 * TK]);
            a5 = x.fma(v0, a5); b5 = x.fma(v1, b5);
            x = FloatVector.broadcast(S, sc[p + 1 + 6 * TK]);
            a6 = x.fma(v0, a6); b6 = x.fma(v1, b6);
            x = FloatVector.broadcast(S, sc[p + 1 + 7 * TK]);
            a7 = x.fma(v0, a7); b7 = x.fma(v1, b7);
        }
        for (; p < end; p++) {
            v0 = FloatVector.fromArray(S, vp, vBase + p * NC);
            v1 = FloatVector.fromArray(S, vp, vBase + p * NC + VL);
            x = FloatVector.broadcast(S, sc[p]);
            a0 = x.fma(v0, a0); b0 = x.fma(v1, b0);
            x = FloatVector.broadcast(S, sc[p + TK]);
            a1 = x.fma(v0, a1); b1 = x.fma(v1, b1);
            x = FloatVector.broadcast(S, sc[p + 2 * TK]);
            a2 = x.fma(v0, a2); b2 = x.fma(v1, b2);
            x = FloatVector.broadcast(S, sc[p + 3 * TK]);
            a3 = x.fma(v0, a3); b3 = x.fma(v1, b3);
            x = FloatVector.broadcast(S, sc[p + 4 * TK]);
            a4 = x.fma(v0, a4); b4 = x.fma(v1, b4);
            x = FloatVector.broadcast(S, sc[p + 5 * TK]);
            a5 = x.fma(v0, a5); b5 = x.fma(v1, b5);
            x = FloatVector.broadcast(S, sc[p + 6 * TK]);
            a6 = x.fma(v0, a6); b6 = x.fma(v1, b6);
            x = FloatVector.broadcast(S, sc[p + 7 * TK]);
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
