package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * <a href="https://onnx.ai/onnx/operators/onnx__Einsum.html">Einsum</a> (opset 12), numpy's einsum: an equation
 * {@code "bij,bjk->bik"} names each operand's axes with letters (case-sensitive); {@code ...} stands for the
 * leading/omitted axes, right-aligned and broadcast across operands. Without {@code ->} (implicit mode) the output
 * is the ellipsis axes followed by the letters that occur exactly once, in ASCII order. Letters absent from the
 * output are summed; a letter repeated within one operand takes its diagonal. Axes of size 1 broadcast.
 *
 * <p>Evaluation, for any number of operands and any dtype: each operand is first reduced on its own (diagonals
 * taken, letters summed that no other operand and not the output needs); then operands are folded left to right,
 * each pair contracted as a batched matrix product: both sides are permuted (copied, broadcasting) to
 * {@code [batch, M, K]} and {@code [batch, K, N]} and multiplied by {@link MatMulOps#gemm} (Sgemm for float32).
 * The result is finally permuted to the output's axis order. float16 / bfloat16 operands are computed in float32.
 */
final class Einsum {
    /** Labels of ellipsis axes are ELLIPSIS + position among the (right-aligned) ellipsis axes; letters are their char. */
    private static final int ELLIPSIS = 256;
    /** Bound on labels: at most MAX_LABEL - ELLIPSIS ellipsis axes. */
    private static final int MAX_LABEL = ELLIPSIS + 64;

    private Einsum() {}

    /** An operand term: its letters, and where its ellipsis sits among them (-1: none). */
    private record Term(char[] letters, int ellipsisAt) {}

    /** A tensor and the label of each of its axes. */
    private record Labeled(Tensor t, int[] labels) {}

    static Planned plan(NodeSpec node, DType[] types) {
        String eq = node.attrs().getString("equation", null);
        if (eq == null) {
            throw node.unsupported("Einsum without an 'equation' attribute");
        }
        if (node.inputCount() == 0) {
            throw node.unsupported("Einsum with no inputs");
        }
        DType t = node.requireType(0, types);
        for (int i = 1; i < node.inputCount(); i++) {
            node.requireType(i, t);
        }
        String s = eq.replaceAll("\\s", "");
        int arrow = s.indexOf("->");
        String lhs = arrow < 0 ? s : s.substring(0, arrow);
        String[] parts = lhs.split(",", -1);
        if (parts.length != node.inputCount()) {
            throw node.unsupported("equation '" + eq + "' with " + parts.length + " operands for " + node.inputCount() + " inputs");
        }
        Term[] terms = new Term[parts.length];
        for (int i = 0; i < parts.length; i++) {
            terms[i] = parseTerm(node, eq, parts[i]);
        }
        Term out = arrow < 0 ? null : parseTerm(node, eq, s.substring(arrow + 2));
        if (out != null) {
            for (int i = 0; i < out.letters.length; i++) {
                char c = out.letters[i];
                if (new String(out.letters).indexOf(c) != i) {
                    throw node.unsupported("equation '" + eq + "' repeating output letter '" + c + "'");
                }
                if (!lhs.contains(String.valueOf(c))) {
                    throw node.unsupported("equation '" + eq + "' with output letter '" + c + "' that no operand has");
                }
            }
        }
        if (MatMulOps.isHalf(t)) {
            return Planned.of((ctx, in) -> {
                Tensor[] wide = new Tensor[in.length];
                for (int i = 0; i < in.length; i++) {
                    wide[i] = MatMulOps.widen(ctx, in[i]);
                }
                return new Tensor[] {MatMulOps.narrow(ctx, run(ctx, node, terms, out, wide), t)};
            }, t);
        }
        return Planned.of((ctx, in) -> new Tensor[] {run(ctx, node, terms, out, in)}, t);
    }

    private static Term parseTerm(NodeSpec node, String eq, String term) {
        StringBuilder letters = new StringBuilder();
        int ellipsisAt = -1;
        for (int i = 0; i < term.length(); i++) {
            char c = term.charAt(i);
            if (c == '.') {
                if (ellipsisAt >= 0 || !term.startsWith("...", i)) {
                    throw node.unsupported("malformed ellipsis in equation '" + eq + "'");
                }
                ellipsisAt = letters.length();
                i += 2;
            } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                letters.append(c);
            } else {
                throw node.unsupported("character '" + c + "' in equation '" + eq + "'");
            }
        }
        return new Term(letters.toString().toCharArray(), ellipsisAt);
    }

    private static Tensor run(KernelContext ctx, NodeSpec node, Term[] terms, Term out, Tensor[] in) {
        int n = in.length;
        int ell = 0;
        for (int i = 0; i < n; i++) {
            int extra = in[i].shape().rank() - terms[i].letters.length;
            if (extra < 0 || (extra > 0 && terms[i].ellipsisAt < 0)) {
                throw node.error("operand " + i + " of shape " + in[i].shape() + " does not match its term '"
                        + new String(terms[i].letters) + (terms[i].ellipsisAt >= 0 ? "' with ellipsis" : "'"));
            }
            ell = Math.max(ell, extra);
        }
        if (ELLIPSIS + ell > MAX_LABEL) {
            throw node.error("ellipsis covering " + ell + " axes (at most " + (MAX_LABEL - ELLIPSIS) + ")");
        }
        long[] size = new long[ELLIPSIS + ell];
        Arrays.fill(size, -1);
        Labeled[] ops = new Labeled[n];
        for (int i = 0; i < n; i++) {
            int[] labels = labels(terms[i], in[i].shape().rank(), ell);
            for (int d = 0; d < labels.length; d++) {
                long dim = in[i].shape().dim(d);
                long prev = size[labels[d]];
                if (prev != -1 && prev != dim && prev != 1 && dim != 1) {
                    throw node.error("axis " + name(labels[d]) + " has sizes " + prev + " and " + dim + " (operand " + i
                            + " of shape " + in[i].shape() + ")");
                }
                size[labels[d]] = prev == -1 || prev == 1 ? dim : prev;
            }
            ops[i] = new Labeled(in[i], labels);
        }
        int[] outLabels = out != null ? labels(out, out.letters.length + (out.ellipsisAt >= 0 ? ell : 0), ell) : implicitOutput(terms, ell);

        for (int i = 0; i < n; i++) {
            ops[i] = reduce(ctx, ops[i], needed(ops, i, false, outLabels));
        }
        Labeled acc = ops[0];
        for (int i = 1; i < n; i++) {
            acc = contract(ctx, node, acc, ops[i], needed(ops, i, true, outLabels), size);
        }
        acc = reduce(ctx, acc, outLabels);
        return permute(ctx, acc, outLabels, size);
    }

    /** The axis labels of a term on an operand of {@code rank} axes, given {@code ell} ellipsis axes overall. */
    private static int[] labels(Term term, int rank, int ell) {
        int[] l = new int[rank];
        int extra = rank - term.letters.length;
        int at = 0;
        for (int i = 0; i <= term.letters.length; i++) {
            if (i == term.ellipsisAt) {
                for (int e = 0; e < extra; e++) {
                    l[at++] = ELLIPSIS + ell - extra + e;
                }
            }
            if (i < term.letters.length) {
                l[at++] = term.letters[i];
            }
        }
        return l;
    }

    private static int[] implicitOutput(Term[] terms, int ell) {
        int[] count = new int[128];
        for (Term t : terms) {
            for (char c : t.letters) {
                count[c]++;
            }
        }
        int[] l = new int[ell + 128];
        int at = 0;
        for (int e = 0; e < ell; e++) {
            l[at++] = ELLIPSIS + e;
        }
        for (int c = 0; c < 128; c++) {
            if (count[c] == 1) {
                l[at++] = c;
            }
        }
        return Arrays.copyOf(l, at);
    }

    /** Labels the output needs, or any operand after {@code self} (with {@code onlyLater}) or other than it. */
    private static boolean[] needed(Labeled[] ops, int self, boolean onlyLater, int[] outLabels) {
        boolean[] keep = new boolean[MAX_LABEL];
        for (int l : outLabels) {
            keep[l] = true;
        }
        for (int j = onlyLater ? self + 1 : 0; j < ops.length; j++) {
            if (j == self) {
                continue;
            }
            for (int l : ops[j].labels) {
                keep[l] = true;
            }
        }
        return keep;
    }

    private static String name(int label) {
        return label >= ELLIPSIS ? "..." + (label - ELLIPSIS) : "'" + (char) label + "'";
    }

    private static boolean contains(int[] a, int v) {
        for (int x : a) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    /**
     * Takes diagonals of repeated labels and sums the labels not in {@code keep}: the result has
     * each kept label once, in first-occurrence order. Returns {@code x} itself when there is nothing to do.
     */
    private static Labeled reduce(KernelContext ctx, Labeled x, boolean[] keep) {
        int[] labels = x.labels;
        int[] uniq = Arrays.stream(labels).distinct().toArray();
        int[] kept = Arrays.stream(uniq).filter(l -> keep[l]).toArray();
        if (uniq.length == labels.length && kept.length == uniq.length) {
            return x;
        }
        int[] summed = Arrays.stream(uniq).filter(l -> !keep[l]).toArray();
        long[] inStrides = x.t.shape().strides();
        int u = kept.length + summed.length;
        int[] all = new int[u];
        System.arraycopy(kept, 0, all, 0, kept.length);
        System.arraycopy(summed, 0, all, kept.length, summed.length);
        long[] dims = new long[u];
        long[] strides = new long[u];
        for (int i = 0; i < u; i++) {
            for (int d = 0; d < labels.length; d++) {
                if (labels[d] == all[i]) {
                    dims[i] = x.t.shape().dim(d);
                    strides[i] += inStrides[d];
                }
            }
        }
        long[] outDims = Arrays.copyOf(dims, kept.length);
        Tensor y = ctx.allocate(x.t.dtype(), Shape.of(outDims));
        long outCount = y.size();
        long inner = Shape.of(Arrays.copyOfRange(dims, kept.length, u)).size();
        long[] idx = new long[u];
        DType dt = x.t.dtype();
        boolean integer = dt.isInteger();
        MemorySegment src = x.t.data();
        for (long o = 0; o < outCount; o++) {
            double accD = 0;
            long accL = 0;
            for (long q = 0; q < inner; q++) {
                long off = 0;
                for (int i = 0; i < u; i++) {
                    off += idx[i] * strides[i];
                }
                if (dt == DType.FLOAT) {
                    accD += src.getAtIndex(Tensor.F32, off);
                } else if (integer) {
                    accL += x.t.getAsLong(off);
                } else {
                    accD += x.t.getDouble(off);
                }
                for (int i = u - 1; i >= 0 && ++idx[i] == dims[i]; i--) {
                    idx[i] = 0;
                }
            }
            if (inner == 0) {
                for (int i = kept.length - 1; i >= 0 && ++idx[i] == dims[i]; i--) {
                    idx[i] = 0;
                }
            }
            if (integer) {
                y.setLong(o, accL);
            } else {
                y.setDouble(o, accD);
            }
        }
        return new Labeled(y, kept);
    }

    private static Labeled reduce(KernelContext ctx, Labeled x, int[] keepLabels) {
        boolean[] keep = new boolean[MAX_LABEL];
        for (int l : keepLabels) {
            keep[l] = true;
        }
        return reduce(ctx, x, keep);
    }

    /** Contracts two operands (each label at most once per operand) into one holding the labels in {@code keep}. */
    private static Labeled contract(KernelContext ctx, NodeSpec node, Labeled x, Labeled y, boolean[] keep, long[] size) {
        boolean[] keepX = keep.clone();
        boolean[] keepY = keep.clone();
        for (int l : y.labels) {
            keepX[l] = true;
        }
        for (int l : x.labels) {
            keepY[l] = true;
        }
        x = reduce(ctx, x, keepX);
        y = reduce(ctx, y, keepY);
        int[] xl = x.labels;
        int[] yl = y.labels;
        int[] batch = Arrays.stream(xl).filter(l -> contains(yl, l) && keep[l]).toArray();
        int[] ks = Arrays.stream(xl).filter(l -> contains(yl, l) && !keep[l]).toArray();
        int[] ms = Arrays.stream(xl).filter(l -> !contains(yl, l)).toArray();
        int[] ns = Arrays.stream(yl).filter(l -> !contains(xl, l)).toArray();
        long bt = product(batch, size);
        int m = MatMulOps.toInt(node, product(ms, size));
        int k = MatMulOps.toInt(node, product(ks, size));
        int n = MatMulOps.toInt(node, product(ns, size));
        // Operands already laid out as [batch, K, M] / [batch, N, K] are used transposed rather than copied.
        boolean ta = !inPlace(x, concat(batch, ms, ks), size) && inPlace(x, concat(batch, ks, ms), size);
        boolean tb = !inPlace(y, concat(batch, ks, ns), size) && inPlace(y, concat(batch, ns, ks), size);
        Tensor xp = permute(ctx, x, ta ? concat(batch, ks, ms) : concat(batch, ms, ks), size);
        Tensor yp = permute(ctx, y, tb ? concat(batch, ns, ks) : concat(batch, ks, ns), size);
        int[] outLabels = concat(batch, ms, ns);
        long[] outDims = new long[outLabels.length];
        for (int i = 0; i < outLabels.length; i++) {
            outDims[i] = size[outLabels[i]];
        }
        Tensor out = ctx.allocate(x.t.dtype(), Shape.of(outDims));
        for (long b = 0; b < bt; b++) {
            MatMulOps.gemm(ta, tb, m, n, k, 1f, xp, b * m * k, ta ? m : k, yp, b * k * n, tb ? k : n, 0f, out, b * m * n, n);
        }
        return new Labeled(out, outLabels);
    }

    private static long product(int[] labels, long[] size) {
        long p = 1;
        for (int l : labels) {
            p = Math.multiplyExact(p, size[l]);
        }
        return p;
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    /**
     * {@code x} as a contiguous tensor whose axes are {@code order} (each a label of x) with the full sizes of
     * {@code size} (axes of size 1 in x broadcast). Returns x's own data when no copy is needed.
     */
    private static Tensor permute(KernelContext ctx, Labeled x, int[] order, long[] size) {
        int r = order.length;
        long[] dims = new long[r];
        long[] strides = new long[r];
        long[] xStrides = x.t.shape().strides();
        for (int i = 0; i < r; i++) {
            int d = indexOf(x.labels, order[i]);
            dims[i] = size[order[i]];
            strides[i] = x.t.shape().dim(d) == 1 && dims[i] != 1 ? 0 : xStrides[d];
        }
        if (inPlace(x, order, size)) {
            return x.t.reshape(Shape.of(dims));
        }
        Tensor y = ctx.allocate(x.t.dtype(), Shape.of(dims));
        long count = y.size();
        if (count == 0) {
            return y;
        }
        int es = x.t.dtype().byteSize();
        MemorySegment src = x.t.data();
        MemorySegment dst = y.data();
        long row = r == 0 ? 1 : dims[r - 1];
        boolean rowContiguous = r > 0 && strides[r - 1] == 1;
        long[] idx = new long[r];
        for (long o = 0; o < count; o += row) {
            long off = 0;
            for (int i = 0; i < r - 1; i++) {
                off += idx[i] * strides[i];
            }
            if (rowContiguous) {
                MemorySegment.copy(src, off * es, dst, o * es, row * es);
            } else {
                long step = r == 0 ? 0 : strides[r - 1];
                copyStrided(src, off, step, dst, o, row, es);
            }
            for (int i = r - 2; i >= 0 && ++idx[i] == dims[i]; i--) {
                idx[i] = 0;
            }
        }
        return y;
    }

    /** {@code dst[o + j] = src[off + j*step]} for j < count, elements of {@code es} bytes. */
    private static void copyStrided(MemorySegment src, long off, long step, MemorySegment dst, long o, long count, int es) {
        switch (es) {
            case 8 -> {
                for (long j = 0; j < count; j++) {
                    dst.setAtIndex(Tensor.I64, o + j, src.getAtIndex(Tensor.I64, off + j * step));
                }
            }
            case 4 -> {
                for (long j = 0; j < count; j++) {
                    dst.setAtIndex(Tensor.I32, o + j, src.getAtIndex(Tensor.I32, off + j * step));
                }
            }
            case 2 -> {
                for (long j = 0; j < count; j++) {
                    dst.setAtIndex(Tensor.I16, o + j, src.getAtIndex(Tensor.I16, off + j * step));
                }
            }
            default -> {
                for (long j = 0; j < count; j++) {
                    dst.set(Tensor.I8, o + j, src.get(Tensor.I8, off + j * step));
                }
            }
        }
    }

    /** Whether x's axes are exactly {@code order} at their full sizes (no copy needed to see it that way). */
    private static boolean inPlace(Labeled x, int[] order, long[] size) {
        if (order.length != x.labels.length) {
            return false;
        }
        for (int i = 0; i < order.length; i++) {
            if (x.labels[i] != order[i] || x.t.shape().dim(i) != size[order[i]]) {
                return false;
            }
        }
        return true;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        throw new IllegalStateException("label " + v + " missing");
    }
}
