package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.GatherOps.ALL;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntBinaryOperator;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Ordering and scanning ops: TopK, ArgMax, ArgMin, CumSum, CumProd, Unique.
 * <ul>
 *   <li>https://onnx.ai/onnx/operators/onnx__TopK.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__ArgMax.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__ArgMin.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__CumSum.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__CumProd.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__Unique.html</li>
 * </ul>
 * All work along one axis of an input seen as [outer, n, inner] (row-major), element (o, j, i) at
 * {@code (o * n + j) * inner + i}. Values are ordered through a sortable long key per element (floats by value
 * with -0 = +0 and NaN above +inf, uint64 unsigned), ties broken by the smaller index.
 */
public final class SortOps implements OpFamily {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final DType[] NUMERIC = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64};

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("TopK", 1, NUMERIC),
                OpInfo.of("ArgMax", 1, NUMERIC),
                OpInfo.of("ArgMin", 1, NUMERIC),
                OpInfo.of("CumSum", 11, NUMERIC),
                OpInfo.of("CumProd", 26, NUMERIC),
                OpInfo.of("Unique", 11, ALL));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "TopK" -> planTopK(node);
            case "ArgMax" -> planArg(node, true);
            case "ArgMin" -> planArg(node, false);
            case "CumSum" -> planCumulative(node, false);
            case "CumProd" -> planCumulative(node, true);
            case "Unique" -> planUnique(node);
            default -> throw node.unsupported("operator " + node.opType() + " in SortOps");
        };
    }

    // ---------------------------------------------------------------------------------------------------------
    // TopK: x [A.., n, B..] -> values, indices (int64) [A.., k, B..]: the k largest (largest = 1) or smallest
    // elements along `axis` (default -1), sorted best first, equal values in index order. k is an attribute
    // before opset 10 and a 1-element int64 input from 10; largest and sorted exist from 11 (sorted = 0 allows
    // any order: we still sort). Each slice is ordered by sorting (key, index) pairs: for float32 packed into one
    // long (32-bit sortable value, 32-bit index) and selected with a bounded heap when k is small against n (else
    // sorted with Arrays.sort); other types by a stable merge sort of positions by 64-bit key.

    private static Planned planTopK(NodeSpec node) {
        DType t = node.requireType(0, NUMERIC);
        long kAttr;
        if (node.opset() < 10) {
            if (!node.attrs().has("k")) {
                throw node.unsupported("TopK without the k attribute");
            }
            kAttr = node.attrs().getInt("k", 0);
        } else {
            node.requireType(1, DType.INT64);
            kAttr = -1;
        }
        long axisAttr = node.attrs().getInt("axis", -1);
        boolean largest = node.opset() < 11 || node.attrs().getInt("largest", 1) != 0;
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            long k = kAttr >= 0 ? kAttr : GatherOps.scalarLong(node, in[1], "k");
            Shape xs = x.shape();
            if (xs.rank() == 0) {
                throw node.error("input must have rank >= 1, got a scalar");
            }
            int axis = ShapeOps.axis(node, axisAttr, xs.rank(), "axis");
            long n = xs.dim(axis);
            if (k < 0 || k > n) {
                throw node.error("k = " + k + " is out of range for axis " + axis + " of size " + n + " (input " + xs + ")");
            }
            if (n > Integer.MAX_VALUE) {
                throw node.error("axis " + axis + " of input " + xs + " is too long to sort");
            }
            long[] od = xs.dims();
            od[axis] = k;
            Tensor values = ctx.allocate(x.dtype(), Shape.of(od));
            Tensor indices = ctx.allocate(DType.INT64, Shape.of(od));
            long outer = xs.sizeOf(0, axis);
            long inner = xs.sizeOf(axis + 1, xs.rank());
            int len = (int) n;
            int es = x.dtype().byteSize();
            long[] keys = new long[len];
            int[] order = x.dtype() == DType.FLOAT ? null : new int[len];
            int[] tmp = order == null ? null : new int[len];
            IntBinaryOperator byKey = (a, b) -> Long.compare(keys[a], keys[b]);
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long base = o * n * inner + i;
                    long outBase = o * k * inner + i;
                    if (order == null) {
                        MemorySegment s = x.data();
                        for (int j = 0; j < len; j++) {
                            int key = sortableF32(s.getAtIndex(Tensor.F32, base + j * inner));
                            keys[j] = ((long) (largest ? ~key : key) << 32) | j;
                        }
                        smallestFirst(keys, len, (int) k);
                        for (int r = 0; r < k; r++) {
                            int j = (int) keys[r];
                            values.data().setAtIndex(Tensor.F32, outBase + r * inner, s.getAtIndex(Tensor.F32, base + j * inner));
                            indices.data().setAtIndex(Tensor.I64, outBase + r * inner, j);
                        }
                    } else {
                        for (int j = 0; j < len; j++) {
                            long key = sortKey(x, base + j * inner);
                            keys[j] = largest ? ~key : key;
                            order[j] = j;
                        }
                        mergeSort(order, tmp, len, byKey);
                        for (int r = 0; r < k; r++) {
                            int j = order[r];
                            GatherOps.copyElement(x.data(), base + (long) j * inner, values.data(), outBase + r * inner, es);
                            indices.data().setAtIndex(Tensor.I64, outBase + r * inner, j);
                        }
                    }
                }
            }
            return new Tensor[] {values, indices};
        }, t, DType.INT64);
    }

    // ---------------------------------------------------------------------------------------------------------
    // ArgMax / ArgMin: x [A.., n, B..] -> int64 [A.., 1, B..] (keepdims = 1, default) or [A.., B..]: the index
    // of the largest / smallest element along `axis` (default 0); on ties the first index, or the last when
    // select_last_index = 1 (opset 12). NaN wins over any number (numpy's rule). float32 walks whole rows of
    // `inner` contiguous elements, keeping the best so far per column.

    private static Planned planArg(NodeSpec node, boolean max) {
        node.requireType(0, NUMERIC);
        long axisAttr = node.attrs().getInt("axis", 0);
        boolean keepDims = node.attrs().getInt("keepdims", 1) != 0;
        boolean last = node.opset() >= 12 && node.attrs().getInt("select_last_index", 0) != 0;
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape xs = x.shape();
            if (xs.rank() == 0) {
                throw node.error("input must have rank >= 1, got a scalar");
            }
            int axis = ShapeOps.axis(node, axisAttr, xs.rank(), "axis");
            long n = xs.dim(axis);
            if (n == 0) {
                throw node.error("cannot take " + node.opType() + " over the empty axis " + axis + " of input " + xs);
            }
            long[] dims = xs.dims();
            long[] od;
            if (keepDims) {
                od = dims;
                od[axis] = 1;
            } else {
                od = new long[dims.length - 1];
                System.arraycopy(dims, 0, od, 0, axis);
                System.arraycopy(dims, axis + 1, od, axis, dims.length - axis - 1);
            }
            Tensor out = ctx.allocate(DType.INT64, Shape.of(od));
            long outer = xs.sizeOf(0, axis);
            long inner = xs.sizeOf(axis + 1, xs.rank());
            if (x.dtype() == DType.FLOAT) {
                argF32(x.data(), out.data(), outer, n, inner, max, last);
            } else {
                argGeneric(x, out.data(), outer, n, inner, max, last);
            }
            return new Tensor[] {out};
        }, DType.INT64);
    }

    private static void argF32(MemorySegment x, MemorySegment out, long outer, long n, long inner, boolean max, boolean last) {
        if (inner == 1) {
            for (long o = 0; o < outer; o++) {
                long base = o * n;
                float b = x.getAtIndex(Tensor.F32, base);
                long bestIdx = 0;
                for (long j = 1; j < n; j++) {
                    float v = x.getAtIndex(Tensor.F32, base + j);
                    if (last ? (max ? v >= b : v <= b) || v != v : (max ? v > b : v < b) || (v != v && b == b)) {
                        b = v;
                        bestIdx = j;
                    }
                }
                out.setAtIndex(Tensor.I64, o, bestIdx);
            }
            return;
        }
        int w = Math.toIntExact(inner);
        float[] best = new float[w];
        long[] bestIdx = new long[w];
        for (long o = 0; o < outer; o++) {
            long base = o * n * inner;
            MemorySegment.copy(x, Tensor.F32, base * 4, best, 0, w);
            Arrays.fill(bestIdx, 0);
            for (long j = 1; j < n; j++) {
                long row = base + j * inner;
                for (int i = 0; i < w; i++) {
                    float v = x.getAtIndex(Tensor.F32, row + i);
                    float b = best[i];
                    boolean take;
                    if (last) {
                        take = (max ? v >= b : v <= b) || v != v;
                    } else {
                        take = (max ? v > b : v < b) || (v != v && b == b);
                    }
                    if (take) {
                        best[i] = v;
                        bestIdx[i] = j;
                    }
                }
            }
            MemorySegment.copy(bestIdx, 0, out, Tensor.I64, o * inner * 8, w);
        }
    }

    private static void argGeneric(Tensor x, MemorySegment out, long outer, long n, long inner, boolean max, boolean last) {
        boolean floating = x.dtype().isFloating();
        boolean u64 = x.dtype() == DType.UINT64;
        for (long o = 0; o < outer; o++) {
            for (long i = 0; i < inner; i++) {
                long base = o * n * inner + i;
                long bestIdx = 0;
                if (floating) {
                    double b = x.getDouble(base);
                    for (long j = 1; j < n; j++) {
                        double v = x.getDouble(base + j * inner);
                        boolean take = last ? (max ? v >= b : v <= b) || v != v : (max ? v > b : v < b) || (v != v && b == b);
                        if (take) {
                            b = v;
                            bestIdx = j;
                        }
                    }
                } else {
                    long b = x.getAsLong(base);
                    for (long j = 1; j < n; j++) {
                        long v = x.getAsLong(base + j * inner);
                        int c = u64 ? Long.compareUnsigned(v, b) : Long.compare(v, b);
                        if (max ? (last ? c >= 0 : c > 0) : (last ? c <= 0 : c < 0)) {
                            b = v;
                            bestIdx = j;
                        }
                    }
                }
                out.setAtIndex(Tensor.I64, o * inner + i, bestIdx);
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // CumSum (opset 11) / CumProd (opset 26): x [A.., n, B..], axis (int32/int64, 1 element) -> y of x's shape,
    // y[.., j, ..] = x[.., 0, ..] op .. op x[.., j, ..]; exclusive = 1 leaves out x[.., j, ..] itself (y starts at
    // the identity, 0 or 1), reverse = 1 runs from the end. Each step combines a whole row of `inner` contiguous
    // elements with the previous output row (float32 vectorized). Other types read the previous output back, so
    // float16 rounds and integers wrap at every step as the type does.

    private static Planned planCumulative(NodeSpec node, boolean product) {
        DType t = node.requireType(0, NUMERIC);
        node.requireType(1, GatherOps.INDEX);
        boolean exclusive = node.attrs().getInt("exclusive", 0) != 0;
        boolean reverse = node.attrs().getInt("reverse", 0) != 0;
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape xs = x.shape();
            if (xs.rank() == 0) {
                throw node.error("input must have rank >= 1, got a scalar");
            }
            int axis = ShapeOps.axis(node, GatherOps.scalarLong(node, in[1], "axis"), xs.rank(), "axis");
            long n = xs.dim(axis);
            long outer = xs.sizeOf(0, axis);
            long inner = xs.sizeOf(axis + 1, xs.rank());
            Tensor y = ctx.allocate(x.dtype(), xs);
            for (long o = 0; o < outer; o++) {
                for (long s = 0; s < n; s++) {
                    long j = reverse ? n - 1 - s : s;
                    long prev = reverse ? j + 1 : j - 1;
                    long row = (o * n + j) * inner;
                    long prevRow = (o * n + prev) * inner;
                    if (s == 0) {
                        if (exclusive) {
                            fillIdentity(y, row, inner, product);
                        } else {
                            MemorySegment.copy(x.data(), row * x.dtype().byteSize(), y.data(), row * x.dtype().byteSize(),
                                    inner * x.dtype().byteSize());
                        }
                    } else {
                        combineRow(y, row, y, prevRow, x, exclusive ? prevRow : row, inner, product);
                    }
                }
            }
            return new Tensor[] {y};
        }, t);
    }

    private static void fillIdentity(Tensor y, long at, long count, boolean product) {
        if (!product) {
            y.data().asSlice(at * y.dtype().byteSize(), count * y.dtype().byteSize()).fill((byte) 0);
            return;
        }
        for (long i = 0; i < count; i++) {
            y.setLong(at + i, 1);
        }
    }

    /** dst[d + i] = a[ai + i] (+ or *) b[bi + i] for i < count. */
    private static void combineRow(Tensor dst, long d, Tensor a, long ai, Tensor b, long bi, long count, boolean product) {
        switch (dst.dtype()) {
            case FLOAT -> {
                MemorySegment ds = dst.data();
                MemorySegment as = a.data();
                MemorySegment bs = b.data();
                ByteOrder bo = ByteOrder.nativeOrder();
                long i = 0;
                for (long bound = count - F.length(); i <= bound; i += F.length()) {
                    FloatVector va = FloatVector.fromMemorySegment(F, as, (ai + i) * 4, bo);
                    FloatVector vb = FloatVector.fromMemorySegment(F, bs, (bi + i) * 4, bo);
                    (product ? va.mul(vb) : va.add(vb)).intoMemorySegment(ds, (d + i) * 4, bo);
                }
                for (; i < count; i++) {
                    float x = as.getAtIndex(Tensor.F32, ai + i);
                    float y = bs.getAtIndex(Tensor.F32, bi + i);
                    ds.setAtIndex(Tensor.F32, d + i, product ? x * y : x + y);
                }
            }
            case DOUBLE, FLOAT16, BFLOAT16 -> {
                for (long i = 0; i < count; i++) {
                    double x = a.getDouble(ai + i);
                    double y = b.getDouble(bi + i);
                    dst.setDouble(d + i, product ? x * y : x + y);
                }
            }
            default -> {
                for (long i = 0; i < count; i++) {
                    long x = a.getAsLong(ai + i);
                    long y = b.getAsLong(bi + i);
                    dst.setLong(d + i, product ? x * y : x + y);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Unique (opset 11): without `axis` the input is flattened and its elements compared; with `axis` the slices
    // x[.., j, ..] are compared as whole (lexicographically by element when sorting). Outputs: Y (the unique
    // elements / slices, ascending when sorted = 1 (default), else in order of first occurrence), indices (int64
    // [U], first occurrence of each in x), inverse_indices (int64 [N], position in Y of each element / slice of x),
    // counts (int64 [U]). Found by a stable sort of positions by key, then one pass grouping equal neighbours.

    private static Planned planUnique(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        boolean hasAxis = node.attrs().has("axis");
        long axisAttr = node.attrs().getInt("axis", 0);
        boolean sorted = node.attrs().getInt("sorted", 1) != 0;
        int outputs = Math.min(Math.max(node.outputCount(), 1), 4);
        DType[] types = Arrays.copyOf(new DType[] {t, DType.INT64, DType.INT64, DType.INT64}, outputs);
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape xs = x.shape();
            int axis = hasAxis ? ShapeOps.axis(node, axisAttr, xs.rank(), "axis") : 0;
            long nl = hasAxis ? xs.dim(axis) : x.size();
            long outer = hasAxis ? xs.sizeOf(0, axis) : 1;
            long inner = hasAxis ? xs.sizeOf(axis + 1, xs.rank()) : 1;
            long width = outer * inner;
            if (nl > Integer.MAX_VALUE || Math.multiplyExact(nl, width) > Integer.MAX_VALUE) {
                throw node.error("input " + xs + " is too large for Unique");
            }
            int n = (int) nl;
            int wi = (int) width;
            long[] keys = new long[n * wi];
            for (int j = 0; j < n; j++) {
                for (long o = 0; o < outer; o++) {
                    for (long i = 0; i < inner; i++) {
                        keys[(int) (j * width + o * inner + i)] = sortKey(x, (o * n + j) * inner + i);
                    }
                }
            }
            IntBinaryOperator cmp = (a, b) -> Arrays.compare(keys, a * wi, a * wi + wi, keys, b * wi, b * wi + wi);
            int[] order = new int[n];
            for (int j = 0; j < n; j++) {
                order[j] = j;
            }
            mergeSort(order, new int[n], n, cmp);
            // group[j]: group of x's slice j, numbered in sorted order; groups' first members are the first occurrences.
            int[] group = new int[n];
            int groups = 0;
            for (int r = 0; r < n; r++) {
                if (r > 0 && cmp.applyAsInt(order[r - 1], order[r]) != 0) {
                    groups++;
                }
                group[order[r]] = groups;
            }
            int u = n == 0 ? 0 : groups + 1;
            int[] rank = new int[u];
            if (sorted) {
                for (int g = 0; g < u; g++) {
                    rank[g] = g;
                }
            } else {
                Arrays.fill(rank, -1);
                for (int j = 0, next = 0; j < n; j++) {
                    if (rank[group[j]] < 0) {
                        rank[group[j]] = next++;
                    }
                }
            }
            long[] first = new long[u];
            long[] counts = new long[u];
            Arrays.fill(first, -1);
            long[] inverse = new long[n];
            for (int j = 0; j < n; j++) {
                int pos = rank[group[j]];
                inverse[j] = pos;
                counts[pos]++;
                if (first[pos] < 0) {
                    first[pos] = j;
                }
            }
            long[] yd;
            if (hasAxis) {
                yd = xs.dims();
                yd[axis] = u;
            } else {
                yd = new long[] {u};
            }
            Tensor y = ctx.allocate(x.dtype(), Shape.of(yd));
            int es = x.dtype().byteSize();
            for (long o = 0; o < outer; o++) {
                for (int p = 0; p < u; p++) {
                    GatherOps.copyRun(x.data(), (o * n + first[p]) * inner, y.data(), (o * u + p) * inner, inner, es);
                }
            }
            Tensor[] out = {y, longs(ctx, first), longs(ctx, inverse), longs(ctx, counts)};
            return Arrays.copyOf(out, outputs);
        }, types);
    }

    private static Tensor longs(KernelContext ctx, long[] values) {
        Tensor t = ctx.allocate(DType.INT64, Shape.of(values.length));
        MemorySegment.copy(values, 0, t.data(), Tensor.I64, 0, values.length);
        return t;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Keys and sorting.

    /** float32 as an int whose signed order is the float order (-0 = +0, NaN above +inf). */
    private static int sortableF32(float f) {
        int bits = Float.floatToIntBits(f == 0f ? 0f : f);
        return bits >= 0 ? bits : bits ^ 0x7fffffff;
    }

    /** Element {@code i} as a long whose signed order is the value order of the dtype. */
    static long sortKey(Tensor x, long i) {
        DType t = x.dtype();
        if (t.isFloating()) {
            double d = x.getDouble(i);
            long bits = Double.doubleToLongBits(d == 0.0 ? 0.0 : d);
            return bits >= 0 ? bits : bits ^ Long.MAX_VALUE;
        }
        long v = x.getAsLong(i);
        return t == DType.UINT64 ? v ^ Long.MIN_VALUE : v;
    }

    /**
     * Moves the {@code k} smallest of the distinct {@code keys[0, n)} to {@code keys[0, k)}, ascending: a full sort
     * when k is a sizeable part of n, else a bounded max-heap (O(n log k)) then a sort of the k kept.
     */
    static void smallestFirst(long[] keys, int n, int k) {
        if (k == 0) {
            return;
        }
        if ((long) k * 8 >= n) {
            Arrays.sort(keys, 0, n);
            return;
        }
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDown(keys, i, k);
        }
        for (int j = k; j < n; j++) {
            if (keys[j] < keys[0]) {
                keys[0] = keys[j];
                siftDown(keys, 0, k);
            }
        }
        Arrays.sort(keys, 0, k);
    }

    private static void siftDown(long[] heap, int i, int size) {
        long v = heap[i];
        while (true) {
            int c = 2 * i + 1;
            if (c >= size) {
                break;
            }
            if (c + 1 < size && heap[c + 1] > heap[c]) {
                c++;
            }
            if (heap[c] <= v) {
                break;
            }
            heap[i] = heap[c];
            i = c;
        }
        heap[i] = v;
    }

    /** Stable merge sort of {@code a[0, n)} by {@code cmp}; {@code tmp} has at least n slots. */
    static void mergeSort(int[] a, int[] tmp, int n, IntBinaryOperator cmp) {
        for (int i = 0; i < n; i += 16) {
            int end = Math.min(i + 16, n);
            for (int j = i + 1; j < end; j++) {
                int v = a[j];
                int k = j - 1;
                while (k >= i && cmp.applyAsInt(a[k], v) > 0) {
                    a[k + 1] = a[k];
                    k--;
                }
                a[k + 1] = v;
            }
        }
        int[] src = a;
        int[] dst = tmp;
        for (int width = 16; width < n; width *= 2) {
            for (int lo = 0; lo < n; lo += 2 * width) {
                int mid = Math.min(lo + width, n);
                int hi = Math.min(lo + 2 * width, n);
                int i = lo;
                int j = mid;
                int k = lo;
                while (i < mid && j < hi) {
                    dst[k++] = cmp.applyAsInt(src[j], src[i]) < 0 ? src[j++] : src[i++];
                }
                while (i < mid) {
                    dst[k++] = src[i++];
                }
                while (j < hi) {
                    dst[k++] = src[j++];
                }
            }
            int[] s = src;
            src = dst;
            dst = s;
        }
        if (src != a) {
            System.arraycopy(src, 0, a, 0, n);
        }
    }
}
