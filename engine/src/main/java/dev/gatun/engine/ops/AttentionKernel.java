package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.cpu.SquareTranspose;
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
 * <p>Kernel: one task per (batch, group of heads) on the session's threads (the groups as wide as the thread
 * count allows; query tiles split too when there are fewer heads than two per thread). A task reads its group's
 * columns of the Q, K and V rows once, row by row (no transposes of the tensors), into row-major copies (Q
 * scaled); then for each head and tile of TQ = 2 * VL queries (transposed into the vector lanes by in-register
 * squares) walks the keys in blocks of {@value #TK}: scores S^T = K Qt by the 8 x 2-vector micro-kernel of
 * {@link AttentionTiles}, with the mask (when it is one value per key) and the block's column maxima in its
 * epilogue, and the online (streaming) softmax per query lane, reduced down the rows (no horizontal sums): the
 * running max m and sum l, {@code l = l * exp(m_old - m) + sum exp(s - m)}, the output accumulator rescaled by
 * {@code exp(m_old - m)} before adding P V (the same micro-kernel shape). The S x S score matrix is never formed:
 * memory per task is O(TQ * TK + S * H * D). Every loop of the tile lives in a small method of its own (the task's
 * own method only calls them), so that none depends on when or how the JIT compiles one large method.
 * {@link #reference} is the scalar twin.
 */
final class AttentionKernel {
    /** Query rows per tile (the vector lanes of the transposed tiles). */
    static final int TQ = AttentionTiles.TQ;
    /** Keys per block (a multiple of {@link AttentionTiles#NC}). */
    static final int TK = 128;
    /** Q, K and V sizes up to which heads are read one by one (a group per head) (they are in cache anyway). */
    static final long CACHED_BYTES = 1L << 20;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int VL = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[10][]);

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
        Memo<Geometry> geometries = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        Tasks region = new Tasks();
        return Planned.of((ctx, in) -> {
            Tensor m = in.length > 3 ? in[3] : null;
            Shape ms = m == null ? null : m.shape();
            Geometry g = geometries.get(in[0].shape(), in[1].shape(), in[2].shape(), ms);
            if (g == null) {
                g = geometries.put(in[0].shape(), in[1].shape(), in[2].shape(), ms,
                        geometry(node, in[0], in[1], in[2], m, (int) heads));
            }
            Geometry geo = g;
            float scale = hasScale ? scaleAttr : (float) (1 / Math.sqrt(geo.d));
            Tensor out = ctx.allocate(DType.FLOAT, in[0].shape());
            if (out.size() == 0) {
                return Memo.outputs(outputs, out);
            }
            if (geo.sk == 0) {
                out.data().fill((byte) 0);
                return Memo.outputs(outputs, out);
            }
            Tensor mask = in.length > 3 ? in[3] : null;
            // Work units: (batch, group of heads). While Q, K and V fit in cache a group is one head; beyond,
            // groups are as wide as the thread count allows, so that rows are read in long runs. With fewer
            // heads than two per thread, the query tiles of a head are split as well.
            int want = 2 * ctx.threads();
            boolean cached = 4L * geo.hd * ((long) geo.sq + 2L * geo.sk) * geo.b <= CACHED_BYTES;
            int groups = cached ? geo.h : Math.min(geo.h, Math.max(1, (want + geo.b - 1) / geo.b));
            int perGroup = (geo.h + groups - 1) / groups;
            int units = geo.b * groups;
            int tiles = (geo.sq + TQ - 1) / TQ;
            int parts = Math.min(tiles, Math.max(1, (want + units - 1) / units));
            int rows = (tiles + parts - 1) / parts * TQ;
            region.set(geo, in[0].data(), in[1].data(), in[2].data(), mask == null ? null : mask.data(), out.data(),
                    parts, groups, perGroup, rows, scale);
            try {
                ctx.parallelFor(units * parts, region);
            } finally {
                region.set(null, null, null, null, null, null, 0, 0, 0, 0, 0f);
            }
            return Memo.outputs(outputs, out);
        }, DType.FLOAT);
    }

    /**
     * One Attention node's region: task t is query rows [i0, i0 + rows) of the heads of group u (t = u * parts +
     * part). A reused object (one per planned node; fields set before each region and cleared after) instead of a
     * capturing lambda, so that a steady-state run allocates nothing.
     */
    private static final class Tasks implements java.util.function.IntConsumer {
        private Geometry geo;
        private MemorySegment q, k, v, mask, out;
        private int parts, groups, perGroup, rows;
        private float scale;

        void set(Geometry geo, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment mask, MemorySegment out,
                 int parts, int groups, int perGroup, int rows, float scale) {
            this.geo = geo;
            this.q = q;
            this.k = k;
            this.v = v;
            this.mask = mask;
            this.out = out;
            this.parts = parts;
            this.groups = groups;
            this.perGroup = perGroup;
            this.rows = rows;
            this.scale = scale;
        }

        @Override
        public void accept(int t) {
            int u = t / parts;
            int h0 = (u % groups) * perGroup;
            int i0 = (t % parts) * rows;
            group(geo, q, k, v, mask, out, u / groups, h0, Math.min(geo.h, h0 + perGroup), i0, Math.min(geo.sq, i0 + rows), scale);
        }
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

    /**
     * Queries [q0, q1) of heads [h0, h1) of batch b. The group's columns of the K, V and Q rows are read once, row
     * by row (contiguous runs of (h1 - h0) * D floats, which the hardware prefetcher streams), into row-major
     * copies (Q scaled); then each head's query tiles, transposed into Qt by in-register squares, stream over the
     * key blocks (scores and mask, online softmax, P V: see {@link AttentionTiles}), and each tile's output rows,
     * divided by the sums, go back into the Q copy's place (those Q values are consumed by then), whose rows are
     * finally written out whole.
     */
    static void group(Geometry g, MemorySegment q, MemorySegment k, MemorySegment v, MemorySegment mask, MemorySegment out,
                      int b, int h0, int h1, int q0, int q1, float scale) {
        if (q0 >= q1 || h0 >= h1) {
            return;
        }
        int d = g.d;
        int hd = g.hd;
        int sk = g.sk;
        int nh = h1 - h0;
        int w = nh * d;
        int nrows = q1 - q0;
        int r = AttentionTiles.R;
        float[][] s = SCRATCH.get();
        float[] ka = scratch(s, 0, AttentionTiles.roundUp(sk, r) * w);
        int nc = AttentionTiles.NC;
        int dPad = AttentionTiles.roundUp(d, nc);
        float[] va = scratch(s, 1, sk * w + nc);
        float[] qa = scratch(s, 2, nrows * w);
        float[] qt = scratch(s, 3, d * TQ);
        float[] sc = scratch(s, 4, (TK + 1) * TQ);
        float[] o = scratch(s, 5, TQ * dPad);
        float[] st = scratch(s, 6, STATE * TQ);
        float[] tr = scratch(s, 7, 2 * VL * VL);
        int skPad = AttentionTiles.roundUp(sk, r);
        float[] mrow = scratch(s, 8, skPad);
        float[] part = scratch(s, 9, VL * TQ);
        java.util.Arrays.fill(ka, sk * w, skPad * w, 0f);
        long kvBase = (long) b * sk * hd + (long) h0 * d;
        for (int j = 0; j < sk; j++) {
            copyRow(k, kvBase + (long) j * hd, ka, j * w, w, 1f);
            copyRow(v, kvBase + (long) j * hd, va, j * w, w, 1f);
        }
        long qBase = ((long) b * g.sq + q0) * hd + (long) h0 * d;
        for (int i = 0; i < nrows; i++) {
            copyRow(q, qBase + (long) i * hd, qa, i * w, w, scale);
        }
        long[] ms = g.maskStrides;
        // The mask as one term per key when it does not vary over the queries (the BERT case, [B, 1, 1, S]):
        // mrow, filled once per group (per head if it varies over the heads); otherwise zeros and addMask.
        boolean keyMask = mask != null && ms[2] == 0;
        java.util.Arrays.fill(mrow, 0, sk, 0f);
        java.util.Arrays.fill(mrow, sk, skPad, Float.NEGATIVE_INFINITY);
        for (int hh = 0; hh < nh; hh++) {
            int h = h0 + hh;
            if (keyMask && (hh == 0 || ms[1] != 0)) {
                long mb = b * ms[0] + h * ms[1];
                for (int j = 0; j < sk; j++) {
                    mrow[j] = mask.getAtIndex(F32, mb + j * ms[3]);
                }
            }
            for (int i0 = 0; i0 < nrows; i0 += TQ) {
                int nq = Math.min(TQ, nrows - i0);
                int at = i0 * w + hh * d;
                transposeIn(qa, at, w, nq, d, qt, tr);
                java.util.Arrays.fill(st, 0, TQ, Float.NEGATIVE_INFINITY);
                java.util.Arrays.fill(st, TQ, 2 * TQ, 0f);
                int nq8 = AttentionTiles.roundUp(nq, r);
                java.util.Arrays.fill(o, 0, nq8 * dPad, 0f);
                for (int j0 = 0; j0 < sk; j0 += TK) {
                    int nk = Math.min(TK, sk - j0);
                    AttentionTiles.scores(qt, ka, j0 * w + hh * d, w, d, sc, AttentionTiles.roundUp(nk, r), mrow, j0, st, BLOCK_MAX);
                    if (mask != null && !keyMask) {
                        addMask(sc, nk, nq, mask, b * ms[0] + h * ms[1] + (long) (q0 + i0) * ms[2] + j0 * ms[3], ms[2], ms[3]);
                        columnMax(sc, nk, st);
                    }
                    updateMax(sc, st);
                    expRows(sc, TK, TK + 1, st);
                    expRows(sc, 0, nk, st);
                    blockSums(sc, nk, st, part);
                    updateSums(sc, st);
                    if (j0 > 0) {
                        scaleRows(o, nq8, dPad, sc, TK * TQ);
                    }
                    AttentionTiles.accumulatePV(sc, va, j0 * w + hh * d, w, o, nq8, nk, dPad);
                }
                finish(o, dPad, st, nq, d, qa, at, w);
            }
        }
        for (int i = 0; i < nrows; i++) {
            storeRow(qa, i * w, 1f, out, qBase + (long) i * hd, w);
        }
    }

    /**
     * Rows of the per-tile softmax state {@code st} (TQ floats each): running max, running sum, shift, block sums,
     * block maxima.
     */
    static final int STATE = 5;
    static final int MAX = 0;
    static final int SUM = TQ;
    static final int SHIFT = 2 * TQ;
    static final int BLOCK_SUM = 3 * TQ;
    static final int BLOCK_MAX = 4 * TQ;

    /**
     * Qt of one tile: {@code qt[c*TQ + i] = qa[at + i*w + c]} for i < nq, c < d, zero for nq <= i < TQ; whole
     * VL x VL squares in registers ({@link SquareTranspose}), the rest element by element.
     */
    static void transposeIn(float[] qa, int at, int w, int nq, int d, float[] qt, float[] tr) {
        int dv = d / VL * VL;
        int nv = nq / VL * VL;
        for (int i = 0; i < nv; i += VL) {
            for (int c = 0; c < dv; c += VL) {
                SquareTranspose.square(qa, at + i * w + c, w, qt, c * TQ + i, TQ, tr);
            }
        }
        for (int c = 0; c < d; c++) {
            for (int i = c < dv ? nv : 0; i < TQ; i++) {
                qt[c * TQ + i] = i < nq ? qa[at + i * w + c] : 0f;
            }
        }
    }

    /** sc[j*TQ + i] += mask[mb + i*si + j*sj] for j < nk, i < nq: a mask that varies over the queries. */
    private static void addMask(float[] sc, int nk, int nq, MemorySegment mask, long mb, long si, long sj) {
        for (int j = 0; j < nk; j++) {
            for (int i = 0; i < nq; i++) {
                sc[j * TQ + i] += mask.getAtIndex(F32, mb + i * si + j * sj);
            }
        }
    }

    /** st[BLOCK_MAX + i] = max_{j<nk} sc[j*TQ + i]: the block's column maxima after {@link #addMask}. */
    private static void columnMax(float[] sc, int nk, float[] st) {
        FloatVector m0 = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        FloatVector m1 = m0;
        for (int j = 0; j < nk; j++) {
            FloatVector x0 = FloatVector.fromArray(S, sc, j * TQ);
            FloatVector x1 = FloatVector.fromArray(S, sc, j * TQ + VL);
            m0 = m0.blend(x0, m0.lt(x0));
            m1 = m1.blend(x1, m1.lt(x1));
        }
        m0.intoArray(st, BLOCK_MAX);
        m1.intoArray(st, BLOCK_MAX + VL);
    }

    /**
     * The online softmax's max step, per query lane: the new running max {@code m = max(m_old, block max)} into
     * {@code st[MAX]}, the shift that exponentiates ({@code m}, or 0 where m is -inf: the lane's keys so far all
     * masked, so that exp sees -inf, not NaN) into {@code st[SHIFT]}, and m_old into the extra row TK of sc, for
     * {@link #expRows} to turn into the correction {@code exp(m_old - shift)}.
     */
    private static void updateMax(float[] sc, float[] st) {
        for (int l = 0; l < TQ; l += VL) {
            FloatVector old = FloatVector.fromArray(S, st, MAX + l);
            FloatVector bm = FloatVector.fromArray(S, st, BLOCK_MAX + l);
            FloatVector m = old.blend(bm, old.lt(bm));
            m.intoArray(st, MAX + l);
            m.blend(0f, m.eq(Float.NEGATIVE_INFINITY)).intoArray(st, SHIFT + l);
            old.intoArray(sc, TK * TQ + l);
        }
    }

    /**
     * Running sums: {@code l = l * corr + block sum} (a product, then a sum: two roundings), corr in sc's row TK
     * (see {@link #updateMax}).
     */
    private static void updateSums(float[] sc, float[] st) {
        for (int l = 0; l < TQ; l += VL) {
            FloatVector corr = FloatVector.fromArray(S, sc, TK * TQ + l);
            FloatVector.fromArray(S, st, SUM + l).mul(corr).add(FloatVector.fromArray(S, st, BLOCK_SUM + l)).intoArray(st, SUM + l);
        }
    }

    /**
     * The block's sums per query lane, {@code st[BLOCK_SUM + i] = sum_{j<nk} sc[j*TQ + i]}, in a fixed order: the
     * order of a row-major softmax that sums a row's vectors lane-wise (partial m takes the keys j = m mod VL,
     * ascending, for j below nk rounded down to VL), folds the VL partials in halves
     * ({@link dev.gatun.engine.cpu.VectorMath#sumLanes}'s tree: partial m += partial m + VL/2, then + VL/4, ...) and adds the tail keys
     * one by one. The partials are rows of {@code part} (VL * TQ floats).
     */
    static void blockSums(float[] sc, int nk, float[] st, float[] part) {
        int bound = nk / VL * VL;
        // four partials of both lane vectors at once: eight independent chains of adds
        for (int m = 0; m < VL; m += 4) {
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int j = m; j < bound; j += VL) {
                int at = j * TQ;
                a0 = a0.add(FloatVector.fromArray(S, sc, at));
                b0 = b0.add(FloatVector.fromArray(S, sc, at + VL));
                a1 = a1.add(FloatVector.fromArray(S, sc, at + TQ));
                b1 = b1.add(FloatVector.fromArray(S, sc, at + TQ + VL));
                a2 = a2.add(FloatVector.fromArray(S, sc, at + 2 * TQ));
                b2 = b2.add(FloatVector.fromArray(S, sc, at + 2 * TQ + VL));
                a3 = a3.add(FloatVector.fromArray(S, sc, at + 3 * TQ));
                b3 = b3.add(FloatVector.fromArray(S, sc, at + 3 * TQ + VL));
            }
            int at = m * TQ;
            a0.intoArray(part, at);
            b0.intoArray(part, at + VL);
            a1.intoArray(part, at + TQ);
            b1.intoArray(part, at + TQ + VL);
            a2.intoArray(part, at + 2 * TQ);
            b2.intoArray(part, at + 2 * TQ + VL);
            a3.intoArray(part, at + 3 * TQ);
            b3.intoArray(part, at + 3 * TQ + VL);
        }
        for (int l = 0; l < TQ; l += VL) {
            for (int half = VL / 2; half >= 1; half /= 2) {
                for (int m = 0; m < half; m++) {
                    FloatVector.fromArray(S, part, m * TQ + l).add(FloatVector.fromArray(S, part, (m + half) * TQ + l)).intoArray(part, m * TQ + l);
                }
            }
            FloatVector sum = FloatVector.fromArray(S, part, l);
            for (int j = bound; j < nk; j++) {
                sum = sum.add(FloatVector.fromArray(S, sc, j * TQ + l));
            }
            sum.intoArray(st, BLOCK_SUM + l);
        }
    }

    /** o[i*dPad + c] *= f[fAt + i] for i < rows: the output accumulator rescaled by the correction. */
    private static void scaleRows(float[] o, int rows, int dPad, float[] f, int fAt) {
        for (int i = 0; i < rows; i++) {
            float fi = f[fAt + i];
            for (int c = 0; c < dPad; c += VL) {
                FloatVector.fromArray(S, o, i * dPad + c).mul(fi).intoArray(o, i * dPad + c);
            }
        }
    }

    /**
     * The tile's output rows, divided by the softmax's sums: {@code qa[at + i*w + c] = o[i*dPad + c] / l[i]} (as
     * o times 1 / l) for i < nq, c < d.
     */
    private static void finish(float[] o, int dPad, float[] st, int nq, int d, float[] qa, int at, int w) {
        int bound = S.loopBound(d);
        for (int i = 0; i < nq; i++) {
            float inv = 1f / st[SUM + i];
            int c = 0;
            for (; c < bound; c += VL) {
                FloatVector.fromArray(S, o, i * dPad + c).mul(inv).intoArray(qa, at + i * w + c);
            }
            for (; c < d; c++) {
                qa[at + i * w + c] = o[i * dPad + c] * inv;
            }
        }
    }

    /** dst[at + c] = src[off + c] * mul for c < n (offsets in floats). */
    private static void copyRow(MemorySegment src, long off, float[] dst, int at, int n, float mul) {
        int bound = S.loopBound(n);
        int c = 0;
        for (; c < bound; c += VL) {
            FloatVector.fromMemorySegment(S, src, (off + c) * 4, ORDER).mul(mul).intoArray(dst, at + c);
        }
        for (; c < n; c++) {
            dst[at + c] = src.getAtIndex(F32, off + c) * mul;
        }
    }

    /** dst[off + c] = src[at + c] * mul for c < n. */
    private static void storeRow(float[] src, int at, float mul, MemorySegment dst, long off, int n) {
        int bound = S.loopBound(n);
        int c = 0;
        for (; c < bound; c += VL) {
            FloatVector.fromArray(S, src, at + c).mul(mul).intoMemorySegment(dst, (off + c) * 4, ORDER);
        }
        for (; c < n; c++) {
            dst.setAtIndex(F32, off + c, src[at + c] * mul);
        }
    }

    /*
     * exp for the softmax, inline (the lanewise EXP stub is a call per vector): Cephes' expf. n = round(x * log2 e)
     * by the 1.5 * 2^23 trick (t = x * log2 e + MAGIC, n = t - MAGIC, and the low bits of t hold n), r = x - n * ln 2
     * in two parts (|r| <= ln2 / 2), exp(r) = 1 + r + r^2 * P(r) (degree 5, about 1 ulp), times 2^n built from n's
     * bits; 0 below EXP_LO (where 2^n would leave the normal range), chosen by a blend, so x is not clamped first
     * (what the lanes below EXP_LO compute, -inf and NaN included, is discarded; a Java-semantics max is a sequence
     * of several instructions per vector: a third of this exp's time). {@link #exp} is the scalar twin, the same
     * operations (fused where the vector code fuses): bit-identical.
     */
    private static final float EXP_LO = -87.33654f;
    private static final float LOG2E = 1.44269504088896341f;
    private static final float MAGIC = 12582912f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    /**
     * sc[j*TQ + i] = exp(sc[j*TQ + i] - st[SHIFT + i]) for from <= j < to (the polynomial above), one exp per
     * loop body, one lane vector at a time.
     */
    static void expRows(float[] sc, int from, int to, float[] st) {
        for (int l = 0; l < TQ; l += VL) {
            FloatVector vs = FloatVector.fromArray(S, st, SHIFT + l);
            for (int j = from; j < to; j++) {
                FloatVector x = FloatVector.fromArray(S, sc, j * TQ + l).sub(vs);
                FloatVector t = x.fma(LOG2E, MAGIC);
                FloatVector nf = t.sub(MAGIC);
                FloatVector r = nf.fma(FloatVector.broadcast(S, -LN2_HI), x);
                r = nf.fma(FloatVector.broadcast(S, -LN2_LO), r);
                FloatVector p = r.fma(P0, P1);
                p = p.fma(r, FloatVector.broadcast(S, P2));
                p = p.fma(r, FloatVector.broadcast(S, P3));
                p = p.fma(r, FloatVector.broadcast(S, P4));
                p = p.fma(r, FloatVector.broadcast(S, P5));
                FloatVector y = p.fma(r.mul(r), r.add(1f));
                FloatVector pow2 = t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23).add(127 << 23).reinterpretAsFloats();
                FloatVector e = y.mul(pow2).blend(0f, x.lt(EXP_LO));
                e.intoArray(sc, j * TQ + l);
            }
        }
    }

    /** The scalar twin of {@link #expRows}'s exp (for x <= 0; bit-identical to a vector lane). */
    static float exp(float x) {
        float t = Math.fma(x, LOG2E, MAGIC);
        float nf = t - MAGIC;
        float r = Math.fma(nf, -LN2_HI, x);
        r = Math.fma(nf, -LN2_LO, r);
        float p = Math.fma(r, P0, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        float y = Math.fma(p, r * r, r + 1f);
        float pow2 = Float.intBitsToFloat((Float.floatToRawIntBits(t) << 23) + (127 << 23));
        return x < EXP_LO ? 0f : y * pow2;
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
