package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code dev.gatun:Attention(Q, K, V, mask?)}, attributes {@code num_heads} (H, required) and {@code scale}
 * (default 1/sqrt(D)): the multi-head self-attention of a BERT layer (see {@link FusedOps}), in place of the
 * exported Reshape / Transpose / MatMul / Div / Add / Softmax / MatMul / Transpose / Reshape chain.
 *
 * <p>Shapes: Q [B, Sq, H*D], K and V [B, Sk, H*D] (the projection outputs, head h in columns [h*D, (h+1)*D));
 * mask broadcastable to [B, H, Sq, Sk] (numpy rules, rank at most 4), added to the scaled scores; output
 * [B, Sq, H*D]. Math per (b, h): {@code O = softmax(scale * Q_h K_h^T + mask) V_h}, softmax over the keys.
 *
 * <p>Kernel: one task per (batch, head, tile of {@value #TQ} queries) on the session's threads. A task copies
 * its scaled query rows, then walks the keys in blocks of {@value #TK}: K block packed transposed [D, TK] and
 * V block [TK, D] (head slices read in place with stride H*D, no transposes), scores = Q K^T for 4 rows x
 * 2 vectors at a time, mask added, and the online (streaming) softmax: the running row max m and sum l,
 * {@code l = l * exp(m_old - m) + sum exp(s - m)}, the output accumulator rescaled by {@code exp(m_old - m)}
 * before adding P V. The S x S score matrix is never formed: memory per task is O(TQ * TK + TK * D).
 * {@link #reference} is the scalar twin.
 */
final class AttentionKernel {
    /** Query rows per task. */
    static final int TQ = 32;
    /** Keys per block (a multiple of two vectors). */
    static final int TK = 128;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[7][]);

    private AttentionKernel() {}

    static Planned plan(NodeSpec node) {
        FusedOps.requireFloats(node);
        if (!node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2)) {
            throw node.unsupported("Attention without Q, K and V");
        }
        long heads = node.attrs().getInt("num_heads", 0);
        if (heads < 1 || heads > Integer.MAX_VALUE) {
            throw node.unsupported("num_heads=" + heads + " (must be >= 1)");
        }
        boolean hasScale = node.attrs().has("scale");
        float scaleAttr = node.attrs().getFloat("scale", 1f);
        return Planned.of((ctx, in) -> {
            Geometry g = geometry(node, in[0], in[1], in[2], in.length > 3 ? in[3] : null, (int) heads);
            float scale = hasScale ? scaleAttr : (float) (1 / Math.sqrt(g.d));
            Tensor out = ctx.allocate(DType.FLOAT, in[0].shape());
            if (out.size() == 0) {
                return new Tensor[] {out};
            }
            if (g.sk == 0) {
                out.data().fill((byte) 0);
                return new Tensor[] {out};
            }
            int tiles = (g.sq + TQ - 1) / TQ;
            Tensor mask = in.length > 3 ? in[3] : null;
            ctx.parallelFor(g.b * g.h * tiles, t -> {
                int b = t / (g.h * tiles);
                int h = (t / tiles) % g.h;
                int i0 = (t % tiles) * TQ;
                tile(g, in[0].data(), in[1].data(), in[2].data(), mask == null ? null : mask.data(), out.data(),
                        b, h, i0, Math.min(g.sq, i0 + TQ), scale);
            });
            return new Tensor[] {out};
        }, DType.FLOAT);
    }

    /** Sizes of one call: batch, heads, query and key lengths, head size, row stride, and the mask's strides. */
    record Geometry(int b, int h, int sq, int sk, int d, int hd, long[] maskStrides) {}

    static Geometry geometry(NodeSpec node, Tensor q, Tensor k, Tensor v, Tensor mask, int heads) {
        Shape qs = q.shape();
        Shape ks = k.shape();
        Shape vs = v.shape();
        if (qs.rank() != 3 || ks.rank() != 3 || vs.rank() != 3) {
            throw node.error("Q, K and V must be [batch, sequence, heads*head_size], got " + qs + ", " + ks + ", " + vs);
        }
        long hd = qs.dim(2);
        if (ks.dim(0) != qs.dim(0) || vs.dim(0) != qs.dim(0) || ks.dim(2) != hd || vs.dim(2) != hd || vs.dim(1) != ks.dim(1)) {
            throw node.error("Q " + qs + ", K " + ks + " and V " + vs + " do not agree");
        }
        if (hd % heads != 0) {
            throw node.error("hidden size " + hd + " is not a multiple of num_heads=" + heads);
        }
        int b = MatMulOps.toInt(node, qs.dim(0));
        int sq = MatMulOps.toInt(node, qs.dim(1));
        int sk = MatMulOps.toInt(node, ks.dim(1));
        long[] strides = null;
        if (mask != null) {
            long[] target = {b, heads, sq, sk};
            long[] md = mask.shape().dims();
            if (md.length > 4) {
                throw node.error("mask " + mask.shape() + " has rank above 4");
            }
            strides = new long[4];
            long acc = 1;
            for (int i = 3; i >= 0; i--) {
                int mi = i - (4 - md.length);
                long dim = mi >= 0 ? md[mi] : 1;
                if (dim != 1 && dim != target[i]) {
                    throw node.error("mask " + mask.shape() + " does not broadcast to [" + b + "," + heads + "," + sq + "," + sk + "]");
                }
                strides[i] = dim == 1 ? 0 : acc;
                acc *= dim;
            }
        }
        return new Geometry(b, heads, sq, sk, (int) (hd / heads), MatMulOps.toInt(node, hd), strides);
    }

    private static float[] scratch(float[][] s, int i, int n) {
        return s[i] == null || s[i].length < n ? (s[i] = new float[n]) : s[i];
    }

    /** Query rows [i0, i1) of head h of batch b. */
    static void tile(Geometry g, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment mask, MemorySegment out,
                     int b, int h, int i0, int i1, float scale) {
        int d = g.d;
        int hd = g.hd;
        int dPad = (d + VL - 1) / VL * VL;
        int nq = i1 - i0;
        float[][] s = SCRATCH.get();
        float[] qt = scratch(s, 0, TQ * d);
        float[] kt = scratch(s, 1, d * TK);
        float[] vb = scratch(s, 2, TK * dPad);
        float[] sc = scratch(s, 3, TQ * TK);
        float[] o = scratch(s, 4, TQ * dPad);
        float[] m = scratch(s, 5, TQ);
        float[] l = scratch(s, 6, TQ);
        long qBase = ((long) b * g.sq + i0) * hd + (long) h * d;
        for (int i = 0; i < nq; i++) {
            for (int c = 0; c < d; c++) {
                qt[i * d + c] = q.getAtIndex(F32, qBase + (long) i * hd + c) * scale;
            }
            m[i] = Float.NEGATIVE_INFINITY;
            l[i] = 0f;
        }
        java.util.Arrays.fill(o, 0, nq * dPad, 0f);
        long[] ms = g.maskStrides;
        for (int j0 = 0; j0 < g.sk; j0 += TK) {
            int nk = Math.min(TK, g.sk - j0);
            int nkPad = (nk + 2 * VL - 1) / (2 * VL) * (2 * VL);
            long kvBase = ((long) b * g.sk + j0) * hd + (long) h * d;
            for (int j = 0; j < nk; j++) {
                long row = kvBase + (long) j * hd;
                for (int c = 0; c < d; c++) {
                    kt[c * TK + j] = k.getAtIndex(F32, row + c);
                    vb[j * dPad + c] = v.getAtIndex(F32, row + c);
                }
                for (int c = d; c < dPad; c++) {
                    vb[j * dPad + c] = 0f;
                }
            }
            for (int c = 0; c < d; c++) {
                java.util.Arrays.fill(kt, c * TK + nk, c * TK + nkPad, 0f);
            }
            scores(qt, kt, sc, nq, d, nkPad);
            for (int i = 0; i < nq; i++) {
                int row = i * TK;
                if (mask != null) {
                    long mb = b * ms[0] + h * ms[1] + (long) (i0 + i) * ms[2] + j0 * ms[3];
                    addMask(sc, row, mask, mb, ms[3], nk);
                }
                float mOld = m[i];
                float mNew = Math.max(mOld, rowMax(sc, row, nk));
                if (mNew == Float.NEGATIVE_INFINITY) {
                    java.util.Arrays.fill(sc, row, row + nk, 0f);
                    continue;
                }
                float corr = mOld == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(mOld - mNew);
                float sum = expInPlace(sc, row, nk, mNew);
                l[i] = l[i] * corr + sum;
                m[i] = mNew;
                if (j0 > 0 && corr != 1f) {
                    for (int c = 0; c < dPad; c++) {
                        o[i * dPad + c] *= corr;
                    }
                }
            }
            accumulatePV(sc, vb, o, nq, nk, dPad);
        }
        long outBase = ((long) b * g.sq + i0) * hd + (long) h * d;
        for (int i = 0; i < nq; i++) {
            float inv = 1f / l[i];
            for (int c = 0; c < d; c++) {
                out.setAtIndex(F32, outBase + (long) i * hd + c, o[i * dPad + c] * inv);
            }
        }
    }

    /** sc[i*TK + j] = sum_c qt[i*d + c] * kt[c*TK + j] for i < nq, j < nkPad (a multiple of 2 vectors). */
    private static void scores(float[] qt, float[] kt, float[] sc, int nq, int d, int nkPad) {
        int i = 0;
        for (; i + 4 <= nq; i += 4) {
            int q0 = i * d;
            for (int j = 0; j < nkPad; j += 2 * VL) {
                FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S), a3 = FloatVector.zero(S);
                FloatVector b0 = FloatVector.zero(S), b1 = FloatVector.zero(S), b2 = FloatVector.zero(S), b3 = FloatVector.zero(S);
                for (int c = 0; c < d; c++) {
                    FloatVector k0 = FloatVector.fromArray(S, kt, c * TK + j);
                    FloatVector k1 = FloatVector.fromArray(S, kt, c * TK + j + VL);
                    FloatVector x = FloatVector.broadcast(S, qt[q0 + c]);
                    a0 = x.fma(k0, a0);
                    b0 = x.fma(k1, b0);
                    x = FloatVector.broadcast(S, qt[q0 + d + c]);
                    a1 = x.fma(k0, a1);
                    b1 = x.fma(k1, b1);
                    x = FloatVector.broadcast(S, qt[q0 + 2 * d + c]);
                    a2 = x.fma(k0, a2);
                    b2 = x.fma(k1, b2);
                    x = FloatVector.broadcast(S, qt[q0 + 3 * d + c]);
                    a3 = x.fma(k0, a3);
                    b3 = x.fma(k1, b3);
                }
                int r = i * TK + j;
                a0.intoArray(sc, r);
                b0.intoArray(sc, r + VL);
                a1.intoArray(sc, r + TK);
                b1.intoArray(sc, r + TK + VL);
                a2.intoArray(sc, r + 2 * TK);
                b2.intoArray(sc, r + 2 * TK + VL);
                a3.intoArray(sc, r + 3 * TK);
                b3.intoArray(sc, r + 3 * TK + VL);
            }
        }
        for (; i < nq; i++) {
            int q0 = i * d;
            for (int j = 0; j < nkPad; j += 2 * VL) {
                FloatVector a0 = FloatVector.zero(S), b0 = FloatVector.zero(S);
                for (int c = 0; c < d; c++) {
                    FloatVector x = FloatVector.broadcast(S, qt[q0 + c]);
                    a0 = x.fma(FloatVector.fromArray(S, kt, c * TK + j), a0);
                    b0 = x.fma(FloatVector.fromArray(S, kt, c * TK + j + VL), b0);
                }
                a0.intoArray(sc, i * TK + j);
                b0.intoArray(sc, i * TK + j + VL);
            }
        }
    }

    /** sc[row + j] += mask[mb + j * stride] for j < n. */
    private static void addMask(float[] sc, int row, MemorySegment mask, long mb, long stride, int n) {
        if (stride == 1) {
            int bound = S.loopBound(n);
            int j = 0;
            for (; j < bound; j += VL) {
                FloatVector.fromArray(S, sc, row + j).add(FloatVector.fromMemorySegment(S, mask, (mb + j) * 4, ORDER)).intoArray(sc, row + j);
            }
            for (; j < n; j++) {
                sc[row + j] += mask.getAtIndex(F32, mb + j);
            }
        } else {
            for (int j = 0; j < n; j++) {
                sc[row + j] += mask.getAtIndex(F32, mb + j * stride);
            }
        }
    }

    private static float rowMax(float[] sc, int row, int n) {
        int bound = S.loopBound(n);
        int j = 0;
        float m = Float.NEGATIVE_INFINITY;
        if (bound > 0) {
            FloatVector acc = FloatVector.fromArray(S, sc, row);
            for (j = VL; j < bound; j += VL) {
                acc = acc.max(FloatVector.fromArray(S, sc, row + j));
            }
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; j < n; j++) {
            m = Math.max(m, sc[row + j]);
        }
        return m;
    }

    /** sc[row + j] = exp(sc[row + j] - shift) for j < n; returns their sum. */
    private static float expInPlace(float[] sc, int row, int n, float shift) {
        int bound = S.loopBound(n);
        int j = 0;
        FloatVector vs = FloatVector.broadcast(S, shift);
        FloatVector acc = FloatVector.zero(S);
        for (; j < bound; j += VL) {
            FloatVector e = FloatVector.fromArray(S, sc, row + j).sub(vs).lanewise(VectorOperators.EXP);
            e.intoArray(sc, row + j);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; j < n; j++) {
            float e = (float) Math.exp(sc[row + j] - shift);
            sc[row + j] = e;
            sum += e;
        }
        return sum;
    }

    /** o[i*dPad + c] += sum_j sc[i*TK + j] * vb[j*dPad + c] for i < nq, j < nk, c < dPad. */
    private static void accumulatePV(float[] sc, float[] vb, float[] o, int nq, int nk, int dPad) {
        int i = 0;
        for (; i + 4 <= nq; i += 4) {
            for (int c = 0; c < dPad; c += VL) {
                int o0 = i * dPad + c;
                FloatVector a0 = FloatVector.fromArray(S, o, o0);
                FloatVector a1 = FloatVector.fromArray(S, o, o0 + dPad);
                FloatVector a2 = FloatVector.fromArray(S, o, o0 + 2 * dPad);
                FloatVector a3 = FloatVector.fromArray(S, o, o0 + 3 * dPad);
                int p = i * TK;
                for (int j = 0; j < nk; j++) {
                    FloatVector x = FloatVector.fromArray(S, vb, j * dPad + c);
                    a0 = FloatVector.broadcast(S, sc[p + j]).fma(x, a0);
                    a1 = FloatVector.broadcast(S, sc[p + TK + j]).fma(x, a1);
                    a2 = FloatVector.broadcast(S, sc[p + 2 * TK + j]).fma(x, a2);
                    a3 = FloatVector.broadcast(S, sc[p + 3 * TK + j]).fma(x, a3);
                }
                a0.intoArray(o, o0);
                a1.intoArray(o, o0 + dPad);
                a2.intoArray(o, o0 + 2 * dPad);
                a3.intoArray(o, o0 + 3 * dPad);
            }
        }
        for (; i < nq; i++) {
            for (int c = 0; c < dPad; c += VL) {
                int o0 = i * dPad + c;
                FloatVector a0 = FloatVector.fromArray(S, o, o0);
                for (int j = 0; j < nk; j++) {
                    a0 = FloatVector.broadcast(S, sc[i * TK + j]).fma(FloatVector.fromArray(S, vb, j * dPad + c), a0);
                }
                a0.intoArray(o, o0);
            }
        }
    }

    /**
     * The scalar twin: the unfused computation, in double, on the same layouts: scores, mask, a two-pass softmax
     * over all keys, times V. For tests.
     */
    static void reference(Geometry g, Tensor q, Tensor k, Tensor v, Tensor mask, Tensor out, float scale) {
        double[] p = new double[g.sk];
        for (int b = 0; b < g.b; b++) {
            for (int h = 0; h < g.h; h++) {
                for (int i = 0; i < g.sq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < g.sk; j++) {
                        double acc = 0;
                        for (int c = 0; c < g.d; c++) {
                            acc += (double) q.getFloat(((long) b * g.sq + i) * g.hd + (long) h * g.d + c)
                                    * k.getFloat(((long) b * g.sk + j) * g.hd + (long) h * g.d + c);
                        }
                        acc *= scale;
                        if (mask != null) {
                            long[] ms = g.maskStrides;
                            acc += mask.getFloat(b * ms[0] + h * ms[1] + i * ms[2] + j * ms[3]);
                        }
                        p[j] = acc;
                        max = Math.max(max, acc);
                    }
                    double sum = 0;
                    for (int j = 0; j < g.sk; j++) {
                        p[j] = Math.exp(p[j] - max);
                        sum += p[j];
                    }
                    for (int c = 0; c < g.d; c++) {
                        double acc = 0;
                        for (int j = 0; j < g.sk; j++) {
                            acc += p[j] * v.getFloat(((long) b * g.sk + j) * g.hd + (long) h * g.d + c);
                        }
                        out.data().setAtIndex(F32, ((long) b * g.sq + i) * g.hd + (long) h * g.d + c, (float) (acc / sum));
                    }
                }
            }
        }
    }
}
