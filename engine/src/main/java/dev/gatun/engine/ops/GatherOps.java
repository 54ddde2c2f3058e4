package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Indexing ops that select or mask elements: Gather, GatherElements, GatherND, Compress, NonZero, OneHot, Trilu.
 * <ul>
 *   <li>https://onnx.ai/onnx/operators/onnx__Gather.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__GatherElements.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__GatherND.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__Compress.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__NonZero.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__OneHot.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__Trilu.html</li>
 * </ul>
 * These ops only move elements, so their kernels work on raw element bytes and handle every non-string dtype
 * alike: contiguous runs are copied with {@link MemorySegment#copy}, single elements through a 1/2/4/8-byte switch.
 * Gather also takes string tensors (copying references).
 * Negative indices count from the end of their axis (accepted at every opset); an index out of range is a
 * run-time {@link NodeSpec#error} naming the index, its position and the bound.
 *
 * <p>The static helpers here (axis normalization, index reading, element copies) are shared with
 * {@link ScatterOps} and {@link SortOps}.
 */
public final class GatherOps implements OpFamily {
    /** Every dtype whose elements live in a memory segment. */
    static final DType[] ALL = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64, DType.BOOL};
    static final DType[] INDEX = {DType.INT32, DType.INT64};
    private static final DType[] ALL_AND_STRING = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64, DType.BOOL, DType.STRING};

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("Gather", 1, ALL_AND_STRING),
                OpInfo.of("GatherElements", 11, ALL),
                OpInfo.of("GatherND", 11, ALL),
                OpInfo.of("Compress", 9, ALL),
                OpInfo.of("NonZero", 9, ALL),
                OpInfo.of("OneHot", 9, ALL),
                OpInfo.of("Trilu", 14, ALL));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Gather" -> planGather(node);
            case "GatherElements" -> planGatherElements(node);
            case "GatherND" -> planGatherND(node);
            case "Compress" -> planCompress(node);
            case "NonZero" -> planNonZero(node);
            case "OneHot" -> planOneHot(node);
            case "Trilu" -> planTrilu(node);
            default -> throw node.unsupported("operator " + node.opType() + " in GatherOps");
        };
    }

    // ---------------------------------------------------------------------------------------------------------
    // Gather: out[a.., i.., b..] = data[a.., indices[i..], b..] along `axis` (default 0).
    // data [A.., n, B..], indices [I..] -> out [A.., I.., B..]. Each (a, i) copies one contiguous run of
    // prod(B) elements, so an embedding lookup (axis 0) is one MemorySegment.copy per token.

    private static Planned planGather(NodeSpec node) {
        DType t = node.requireType(0, ALL_AND_STRING);
        node.requireType(1, INDEX);
        long axisAttr = node.attrs().getInt("axis", 0);
        Memo<Shape> shapes = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> gather(node, ctx, in[0], in[1], axisAttr, shapes, outputs), t);
    }

    private static Tensor[] gather(NodeSpec node, KernelContext ctx, Tensor data, Tensor indices, long axisAttr,
                                   Memo<Shape> shapes, Memo<Tensor[]> outputs) {
        Shape ds = data.shape();
        if (ds.rank() == 0) {
            throw node.error("data must have rank >= 1, got a scalar");
        }
        int axis = ShapeOps.axis(node, axisAttr, ds.rank(), "axis");
        long n = ds.dim(axis);
        int count = Math.toIntExact(indices.size());
        // Validated in a first pass and read again while copying: no per-run index array.
        for (int j = 0; j < count; j++) {
            checkIndex(node, readIndex(indices, j), n, j, indices.shape(), axis, ds);
        }
        Shape os = shapes.get(ds, indices.shape(), null);
        if (os == null) {
            long[] dd = ds.dims();
            long[] id = indices.shape().dims();
            long[] od = new long[dd.length - 1 + id.length];
            System.arraycopy(dd, 0, od, 0, axis);
            System.arraycopy(id, 0, od, axis, id.length);
            System.arraycopy(dd, axis + 1, od, axis + id.length, dd.length - axis - 1);
            os = shapes.put(ds, indices.shape(), null, Shape.of(od));
        }
        Tensor out = StridedCopy.allocate(ctx, data.dtype(), os);
        long outer = ds.sizeOf(0, axis);
        long inner = ds.sizeOf(axis + 1, ds.rank());
        if (data.dtype() == DType.STRING) {
            String[] src = data.strings();
            String[] dst = out.strings();
            for (long o = 0; o < outer; o++) {
                for (int j = 0; j < count; j++) {
                    long at = checkIndex(node, readIndex(indices, j), n, j, indices.shape(), axis, ds);
                    System.arraycopy(src, Math.toIntExact((o * n + at) * inner), dst, Math.toIntExact((o * count + j) * inner), (int) inner);
                }
            }
            return Memo.outputs(outputs, out);
        }
        int es = data.dtype().byteSize();
        MemorySegment src = data.data();
        MemorySegment dst = out.data();
        for (long o = 0; o < outer; o++) {
            long srcBase = o * n;
            long dstBase = o * count;
            for (int j = 0; j < count; j++) {
                long at = checkIndex(node, readIndex(indices, j), n, j, indices.shape(), axis, ds);
                copyRun(src, (srcBase + at) * inner, dst, (dstBase + j) * inner, inner, es);
            }
        }
        return Memo.outputs(outputs, out);
    }

    // ---------------------------------------------------------------------------------------------------------
    // GatherElements: out[p] = data[p with p[axis] replaced by indices[p]]. indices has data's rank and every
    // dim other than `axis` at most data's; out has indices' shape.

    private static Planned planGatherElements(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        node.requireType(1, INDEX);
        long axisAttr = node.attrs().getInt("axis", 0);
        return Planned.of((ctx, in) -> {
            Tensor data = in[0];
            Tensor indices = in[1];
            int axis = checkElementwiseIndices(node, data.shape(), indices.shape(), axisAttr);
            Tensor out = ctx.allocate(data.dtype(), indices.shape());
            ElementWalk w = new ElementWalk(data.shape(), indices.shape(), axis);
            long n = data.shape().dim(axis);
            long axisStride = w.axisStride();
            int es = data.dtype().byteSize();
            MemorySegment src = data.data();
            MemorySegment dst = out.data();
            for (long p = 0, size = indices.size(); p < size; p++) {
                long k = checkIndex(node, readIndex(indices, p), n, p, indices.shape(), axis, data.shape());
                copyElement(src, w.base() + k * axisStride, dst, p, es);
                w.next();
            }
            return new Tensor[] {out};
        }, t);
    }

    /** Checks GatherElements/ScatterElements shapes and returns the normalized axis. */
    static int checkElementwiseIndices(NodeSpec node, Shape data, Shape indices, long axisAttr) {
        if (data.rank() == 0) {
            throw node.error("data must have rank >= 1, got a scalar");
        }
        if (indices.rank() != data.rank()) {
            throw node.error("indices " + indices + " must have the rank of data " + data);
        }
        int axis = ShapeOps.axis(node, axisAttr, data.rank(), "axis");
        for (int d = 0; d < data.rank(); d++) {
            if (d != axis && indices.dim(d) > data.dim(d)) {
                throw node.error("indices " + indices + " exceed data " + data + " in dim " + d);
            }
        }
        return axis;
    }

    /**
     * Walks the positions of an index tensor in row-major order, tracking the offset of the same coordinates in
     * data (whose dims may be larger) without the axis term: the element addressed is {@code base() + k * axisStride()}.
     */
    static final class ElementWalk {
        private final long[] idims;
        private final long[] dstrides;
        private final long[] coord;
        private final int axis;
        private long base;

        ElementWalk(Shape data, Shape indices, int axis) {
            this.idims = indices.dims();
            this.dstrides = data.strides();
            this.coord = new long[idims.length];
            this.axis = axis;
        }

        long base() {
            return base;
        }

        long axisStride() {
            return dstrides[axis];
        }

        void next() {
            for (int d = idims.length - 1; d >= 0; d--) {
                coord[d]++;
                if (d != axis) {
                    base += dstrides[d];
                }
                if (coord[d] < idims[d]) {
                    return;
                }
                if (d != axis) {
                    base -= dstrides[d] * idims[d];
                }
                coord[d] = 0;
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // GatherND (batch_dims b from opset 12): data [B.., D1..Dm, R..], indices [B.., T.., m] ->
    // out [B.., T.., R..]; each index tuple picks the contiguous slice data[b.., i1..im, :] of prod(R) elements.

    private static Planned planGatherND(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        node.requireType(1, INDEX);
        long batchDims = node.opset() >= 12 ? node.attrs().getInt("batch_dims", 0) : 0;
        if (batchDims < 0) {
            throw node.unsupported("negative batch_dims " + batchDims);
        }
        int b = (int) batchDims;
        return Planned.of((ctx, in) -> {
            Tensor data = in[0];
            Tensor indices = in[1];
            Shape ds = data.shape();
            Shape is = indices.shape();
            int r = ds.rank();
            int q = is.rank();
            if (r < 1 || q < 1 || b >= Math.min(r, q)) {
                throw node.error("data " + ds + " and indices " + is + " need rank >= 1 and more than batch_dims " + b + " dims");
            }
            int m = (int) Math.min(is.dim(q - 1), Integer.MAX_VALUE);
            if (m < 1 || m > r - b) {
                throw node.error("indices " + is + ": last dim must be between 1 and " + (r - b) + " (data " + ds + ", batch_dims " + b + ")");
            }
            for (int i = 0; i < b; i++) {
                if (ds.dim(i) != is.dim(i)) {
                    throw node.error("batch dim " + i + " differs: data " + ds + ", indices " + is);
                }
            }
            long[] od = new long[q - 1 + r - b - m];
            long[] idims = is.dims();
            long[] dd = ds.dims();
            System.arraycopy(idims, 0, od, 0, q - 1);
            System.arraycopy(dd, b + m, od, q - 1, r - b - m);
            Tensor out = ctx.allocate(data.dtype(), Shape.of(od));
            long batches = ds.sizeOf(0, b);
            long batchSize = ds.sizeOf(b, r);
            long tuples = is.sizeOf(b, q - 1);
            long slice = ds.sizeOf(b + m, r);
            long[] strides = new long[m];
            for (int j = 0; j < m; j++) {
                strides[j] = ds.sizeOf(b + j + 1, r);
            }
            int es = data.dtype().byteSize();
            for (long bi = 0; bi < batches; bi++) {
                for (long t2 = 0; t2 < tuples; t2++) {
                    long tuple = bi * tuples + t2;
                    long off = bi * batchSize;
                    for (int j = 0; j < m; j++) {
                        long pos = tuple * m + j;
                        long k = checkIndex(node, readIndex(indices, pos), ds.dim(b + j), pos, is, b + j, ds);
                        off += k * strides[j];
                    }
                    copyRun(data.data(), off, out.data(), tuple * slice, slice, es);
                }
            }
            return new Tensor[] {out};
        }, t);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Compress: keeps the slices along `axis` whose condition entry is true (condition may be shorter than the
    // axis: missing entries are false). Without `axis` the input is flattened and the output is 1-D.
    // input [A.., n, B..], condition [c] bool -> out [A.., count(true), B..].

    private static Planned planCompress(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        node.requireType(1, DType.BOOL);
        boolean hasAxis = node.attrs().has("axis");
        long axisAttr = node.attrs().getInt("axis", 0);
        return Planned.of((ctx, in) -> {
            Tensor data = in[0];
            Tensor cond = in[1];
            Shape ds = data.shape();
            if (cond.shape().rank() != 1) {
                throw node.error("condition must be 1-D, got " + cond.shape());
            }
            int axis = hasAxis ? ShapeOps.axis(node, axisAttr, ds.rank(), "axis") : 0;
            long n = hasAxis ? ds.dim(axis) : data.size();
            long outer = hasAxis ? ds.sizeOf(0, axis) : 1;
            long inner = hasAxis ? ds.sizeOf(axis + 1, ds.rank()) : 1;
            long c = cond.size();
            int selected = 0;
            for (long i = 0; i < c; i++) {
                if (cond.data().get(Tensor.I8, i) != 0) {
                    if (i >= n) {
                        throw node.error("condition " + cond.shape() + " is true at " + i + ", beyond the axis size " + n + " of input " + ds);
                    }
                    selected++;
                }
            }
            long[] sel = new long[selected];
            for (int i = 0, s = 0; i < c && s < selected; i++) {
                if (cond.data().get(Tensor.I8, i) != 0) {
                    sel[s++] = i;
                }
            }
            long[] od;
            if (hasAxis) {
                od = ds.dims();
                od[axis] = selected;
            } else {
                od = new long[] {selected};
            }
            Tensor out = ctx.allocate(data.dtype(), Shape.of(od));
            int es = data.dtype().byteSize();
            for (long o = 0; o < outer; o++) {
                for (int s = 0; s < selected; s++) {
                    copyRun(data.data(), (o * n + sel[s]) * inner, out.data(), (o * selected + s) * inner, inner, es);
                }
            }
            return new Tensor[] {out};
        }, t);
    }

    // ---------------------------------------------------------------------------------------------------------
    // NonZero: out [rank, nnz] int64, column j holding the coordinates of the j-th non-zero element in
    // row-major order. A scalar is treated as a 1-element vector (as numpy does). Float -0.0 is zero, NaN is not.

    private static Planned planNonZero(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            long size = x.size();
            long nnz = 0;
            for (long i = 0; i < size; i++) {
                if (isNonZero(x, i)) {
                    nnz++;
                }
            }
            long[] dims = x.shape().rank() == 0 ? new long[] {1} : x.shape().dims();
            int r = dims.length;
            Tensor out = ctx.allocate(DType.INT64, Shape.of(r, nnz));
            long[] coord = new long[r];
            MemorySegment o = out.data();
            long j = 0;
            for (long i = 0; i < size; i++) {
                if (isNonZero(x, i)) {
                    for (int d = 0; d < r; d++) {
                        o.setAtIndex(Tensor.I64, d * nnz + j, coord[d]);
                    }
                    j++;
                }
                for (int d = r - 1; d >= 0; d--) {
                    if (++coord[d] < dims[d]) {
                        break;
                    }
                    coord[d] = 0;
                }
            }
            return new Tensor[] {out};
        }, DType.INT64);
    }

    private static boolean isNonZero(Tensor x, long i) {
        return switch (x.dtype()) {
            case FLOAT -> x.data().getAtIndex(Tensor.F32, i) != 0f;
            case DOUBLE -> x.data().getAtIndex(Tensor.F64, i) != 0.0;
            case FLOAT16, BFLOAT16 -> (x.data().getAtIndex(Tensor.I16, i) & 0x7fff) != 0;
            default -> x.getAsLong(i) != 0;
        };
    }

    // ---------------------------------------------------------------------------------------------------------
    // OneHot: indices [A.., B..] (any numeric type, truncated to integers), depth (1 element), values [off, on]
    // -> out [A.., depth, B..] with `axis` (default -1) the position of the new dim; out = on where the index
    // equals the depth position, else off. Negative indices count from depth (opset 11); indices outside
    // [-depth, depth-1] give an all-off row, as the spec says. Out has values' dtype.

    private static Planned planOneHot(NodeSpec node) {
        node.requireType(0, ALL);
        node.requireType(1, ALL);
        DType t = node.requireType(2, ALL);
        long axisAttr = node.attrs().getInt("axis", -1);
        boolean negative = node.opset() >= 11;
        return Planned.of((ctx, in) -> {
            Tensor indices = in[0];
            Tensor values = in[2];
            long depth = scalarLong(node, in[1], "depth");
            if (depth < 1) {
                throw node.error("depth must be positive, got " + depth);
            }
            if (values.size() != 2) {
                throw node.error("values must hold [off_value, on_value], got shape " + values.shape());
            }
            Shape is = indices.shape();
            int r = is.rank();
            if (axisAttr < -(r + 1) || axisAttr > r) {
                throw node.error("axis " + axisAttr + " is out of range for output of rank " + (r + 1)
                        + " (valid: " + (-(r + 1)) + ".." + r + ")");
            }
            int axis = (int) (axisAttr < 0 ? axisAttr + r + 1 : axisAttr);
            long[] id = is.dims();
            long[] od = new long[r + 1];
            System.arraycopy(id, 0, od, 0, axis);
            od[axis] = depth;
            System.arraycopy(id, axis, od, axis + 1, r - axis);
            Tensor out = ctx.allocate(values.dtype(), Shape.of(od));
            int es = values.dtype().byteSize();
            MemorySegment v = values.data();
            MemorySegment o = out.data();
            StridedCopy.fillFrom(values, 0, out, 0, out.size());
            long inner = is.sizeOf(axis, r);
            for (long p = 0, size = indices.size(); p < size; p++) {
                long k = indices.getAsLong(p);
                if (k < 0 && negative) {
                    k += depth;
                }
                if (k >= 0 && k < depth) {
                    long outer = p / inner;
                    copyElement(v, 1, o, (outer * depth + k) * inner + p % inner, es);
                }
            }
            return new Tensor[] {out};
        }, t);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Trilu: x [.., N, M], optional k (int64 scalar, default 0) -> out of the same shape keeping element (i, j)
    // of each matrix where j - i >= k (upper = 1, default) or j - i <= k (upper = 0), zeros elsewhere.
    // Each row is one copied run and one zero-filled run.

    private static Planned planTrilu(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        if (node.hasInput(1)) {
            node.requireType(1, DType.INT64);
        }
        boolean upper = node.attrs().getInt("upper", 1) != 0;
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            Shape xs = x.shape();
            if (xs.rank() < 2) {
                throw node.error("input must have rank >= 2, got " + xs);
            }
            long k = in.length > 1 && in[1] != null ? scalarLong(node, in[1], "k") : 0;
            long rows = xs.dim(-2);
            long cols = xs.dim(-1);
            long mats = xs.sizeOf(0, xs.rank() - 2);
            Tensor out = ctx.allocate(x.dtype(), xs);
            long es = x.dtype().byteSize();
            MemorySegment src = x.data();
            MemorySegment dst = out.data();
            for (long mIdx = 0; mIdx < mats; mIdx++) {
                for (long i = 0; i < rows; i++) {
                    long rowStart = (mIdx * rows + i) * cols * es;
                    // columns [0, split) and [split, cols): upper keeps the second part, lower the first.
                    long split = upper ? clamp(i + k, cols) : clamp(i + k + 1, cols);
                    long keepFrom = upper ? split : 0;
                    long keepTo = upper ? cols : split;
                    long zeroFrom = upper ? 0 : split;
                    long zeroTo = upper ? split : cols;
                    if (keepTo > keepFrom) {
                        MemorySegment.copy(src, rowStart + keepFrom * es, dst, rowStart + keepFrom * es, (keepTo - keepFrom) * es);
                    }
                    if (zeroTo > zeroFrom) {
                        dst.asSlice(rowStart + zeroFrom * es, (zeroTo - zeroFrom) * es).fill((byte) 0);
                    }
                }
            }
            return new Tensor[] {out};
        }, t);
    }

    private static long clamp(long v, long max) {
        return Math.max(0, Math.min(v, max));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Shared helpers.

    /** Element {@code i} of an int32 or int64 index tensor. */
    static long readIndex(Tensor indices, long i) {
        return indices.dtype() == DType.INT64 ? indices.data().getAtIndex(Tensor.I64, i) : indices.data().getAtIndex(Tensor.I32, i);
    }

    /**
     * {@code k} made non-negative when in [-bound, bound-1], else a run-time error naming the index, its flat
     * position in the index tensor, and the bound: the size of dim {@code dim} of data.
     */
    static long checkIndex(NodeSpec node, long k, long bound, long pos, Shape indexShape, int dim, Shape data) {
        if (k < -bound || k >= bound) {
            throw node.error("index " + k + " at flat position " + pos + " of indices " + indexShape + " is out of range for axis "
                    + dim + " of data " + data + " of size " + bound + (bound > 0 ? " (valid: " + (-bound) + ".." + (bound - 1) + ")" : ""));
        }
        return k < 0 ? k + bound : k;
    }

    /** The single value of a scalar or 1-element tensor, converted to long. */
    static long scalarLong(NodeSpec node, Tensor t, String name) {
        if (t.size() != 1 || t.shape().rank() > 1) {
            throw node.error(name + " must be a scalar or a 1-element vector, got shape " + t.shape());
        }
        return t.getAsLong(0);
    }

    /** Copies element {@code si} of {@code src} to element {@code di} of {@code dst}; {@code es} is the element size. */
    static void copyElement(MemorySegment src, long si, MemorySegment dst, long di, int es) {
        switch (es) {
            case 4 -> dst.setAtIndex(Tensor.I32, di, src.getAtIndex(Tensor.I32, si));
            case 8 -> dst.setAtIndex(Tensor.I64, di, src.getAtIndex(Tensor.I64, si));
            case 2 -> dst.setAtIndex(Tensor.I16, di, src.getAtIndex(Tensor.I16, si));
            case 1 -> dst.set(Tensor.I8, di, src.get(Tensor.I8, si));
            default -> MemorySegment.copy(src, si * es, dst, di * es, es);
        }
    }

    /** Copies {@code n} elements starting at element {@code si} of {@code src} to element {@code di} of {@code dst}. */
    static void copyRun(MemorySegment src, long si, MemorySegment dst, long di, long n, int es) {
        if (n == 1) {
            copyElement(src, si, dst, di, es);
        } else if (n > 0) {
            MemorySegment.copy(src, si * es, dst, di * es, n * es);
        }
    }
}
