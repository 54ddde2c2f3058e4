package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.DType.BFLOAT16;
import static dev.gatun.engine.tensor.DType.DOUBLE;
import static dev.gatun.engine.tensor.DType.FLOAT;
import static dev.gatun.engine.tensor.DType.FLOAT16;
import static dev.gatun.engine.tensor.DType.INT64;
import static dev.gatun.engine.tensor.DType.INT8;
import static dev.gatun.engine.tensor.DType.UINT8;

import dev.gatun.engine.cpu.PhaseLayout;
import dev.gatun.engine.cpu.VectorMath;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Pooling over the spatial dims of an {@code [N, C, D1..Dk]} tensor (k = 1, 2, 3, ...):
 * <ul>
 *   <li>https://onnx.ai/onnx/operators/onnx__MaxPool.html: {@code y = max over the window}; optional second output
 *       Indices (int64): the flattened index into X of each maximum (first one on ties), over all of X
 *       ({@code ((n*C + c)*D1 + d1)*D2 + ...} for storage_order 0, column-major spatial order for storage_order 1).</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__AveragePool.html: {@code y = sum / count}, count = taps inside the input,
 *       or with count_include_pad also taps in the pads (never the extra end region ceil_mode adds).</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__LpPool.html: {@code y = (sum |x|^p)^(1/p)}; padding contributes zeros.
 *       {@code p} is a float attribute at opset 1 and an int from opset 2.</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html, onnx__GlobalMaxPool.html, onnx__GlobalLpPool.html:
 *       the same over the whole plane; output {@code [N, C, 1, .., 1]}.</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__MaxUnpool.html: scatters X into zeros at MaxPool's Indices, which index
 *       the inferred shape {@code [N, C, (in-1)*s + k - padBegin - padEnd ...]}; an output_shape input larger than
 *       that gets the inferred block in its low corner (as the ONNX reference does), otherwise indices are its own.</li>
 * </ul>
 * Window geometry (kernel_shape, strides, pads, auto_pad, dilations, ceil_mode) is {@link PoolGeometry}.
 *
 * <p>Float32 without Indices runs a row-accumulating kernel: for each output row along the last spatial dim, each
 * valid window row of the input is copied to a heap row buffer and folded into a float accumulator row for every
 * kernel column, vectorised over output positions when the last stride is 1 or 2 (stride 2 splits each row into its
 * even and odd elements first). Global pools sum chunks of planes copied to the heap, lanes added in a fixed order.
 * Other dtypes and Indices use a scalar kernel over a {@code double[]} copy of each plane.
 */
public final class PoolOps implements OpFamily {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private static final DType[] FLOATS = {FLOAT, DOUBLE, FLOAT16, BFLOAT16};
    private static final DType[] MAX_TYPES = {FLOAT, DOUBLE, FLOAT16, BFLOAT16, INT8, UINT8};

    /** What a window reduces to. */
    enum Kind { MAX, AVG, LP }

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("MaxPool", 1, MAX_TYPES),
                OpInfo.of("AveragePool", 1, FLOATS),
                OpInfo.of("LpPool", 1, FLOATS),
                OpInfo.of("GlobalMaxPool", 1, FLOATS),
                OpInfo.of("GlobalAveragePool", 1, FLOATS),
                OpInfo.of("GlobalLpPool", 1, FLOATS),
                OpInfo.of("MaxUnpool", 9, FLOATS));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "MaxPool" -> planPool(node, Kind.MAX, node.requireType(0, MAX_TYPES));
            case "AveragePool" -> planPool(node, Kind.AVG, node.requireType(0, FLOATS));
            case "LpPool" -> planPool(node, Kind.LP, node.requireType(0, FLOATS));
            case "GlobalMaxPool" -> planGlobal(node, Kind.MAX);
            case "GlobalAveragePool" -> planGlobal(node, Kind.AVG);
            case "GlobalLpPool" -> planGlobal(node, Kind.LP);
            case "MaxUnpool" -> planUnpool(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    private static Planned planPool(NodeSpec node, Kind kind, DType dtype) {
        PoolGeometry.Attrs attrs = PoolGeometry.Attrs.read(node);
        boolean includePad = false;
        if (kind == Kind.AVG) {
            long cip = node.attrs().getInt("count_include_pad", 0);
            if (cip != 0 && cip != 1) {
                throw node.unsupported("count_include_pad " + cip);
            }
            includePad = cip == 1;
        }
        double p = kind == Kind.LP ? readP(node) : 0;
        boolean withIndices = kind == Kind.MAX && node.outputCount() >= 2;
        if (node.outputCount() > (kind == Kind.MAX ? 2 : 1)) {
            throw node.unsupported(node.outputCount() + " outputs");
        }
        long order = node.attrs().getInt("storage_order", 0);
        if (order != 0 && order != 1) {
            throw node.unsupported("storage_order " + order);
        }
        boolean inc = includePad;
        int storageOrder = (int) order;
        boolean fast = dtype == FLOAT && !withIndices;
        Memo<Sized> sizes = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        PoolRegion region = new PoolRegion(kind, inc, p, storageOrder);
        Kernel k = (ctx, in) -> {
            Tensor x = in[0];
            Sized sized = sizes.get(x.shape());
            if (sized == null) {
                PoolGeometry pg = PoolGeometry.of(node, attrs, x.shape());
                sized = sizes.put(x.shape(), new Sized(pg, pg.outputShape(x.shape())));
            }
            PoolGeometry g = sized.g;
            Shape outShape = sized.out;
            Tensor y = ctx.allocate(x.dtype(), outShape);
            Tensor idx = withIndices ? ctx.allocate(INT64, outShape) : null;
            int mode = !fast ? PoolRegion.GENERIC : kind == Kind.MAX && MaxPoolStride2.applies(g) ? PoolRegion.MAX_STRIDE2 : PoolRegion.F32;
            region.set(mode, g, x, y, idx);
            try {
                region.run(ctx, g.planes, g.outPlane * g.kernelSize());
            } finally {
                region.set(0, null, null, null, null);
            }
            if (!withIndices) {
                return Memo.outputs(outputs, y);
            }
            Tensor[] out = outputs.get(y, idx, null);
            return out != null ? out : outputs.put(y, idx, null, new Tensor[] {y, idx});
        };
        return withIndices ? Planned.of(k, dtype, INT64) : Planned.of(k, dtype);
    }

    /** A pooling node's geometry and output shape for one input shape (kept across replayed runs in a {@link Memo}). */
    private record Sized(PoolGeometry g, Shape out) {}

    /** One MaxPool / AveragePool / LpPool node's region over planes: a reused object instead of capturing lambdas. */
    private static final class PoolRegion extends Ranges {
        static final int MAX_STRIDE2 = 0;
        static final int F32 = 1;
        static final int GENERIC = 2;
        private final Kind kind;
        private final boolean includePad;
        private final double p;
        private final int storageOrder;
        private int mode;
        private PoolGeometry g;
        private Tensor x, y, idx;

        PoolRegion(Kind kind, boolean includePad, double p, int storageOrder) {
            this.kind = kind;
            this.includePad = includePad;
            this.p = p;
            this.storageOrder = storageOrder;
        }

        void set(int mode, PoolGeometry g, Tensor x, Tensor y, Tensor idx) {
            this.mode = mode;
            this.g = g;
            this.x = x;
            this.y = y;
            this.idx = idx;
        }

        @Override
        public void run(long from, long to) {
            switch (mode) {
                case MAX_STRIDE2 -> MaxPoolStride2.pool(g, x.data(), y.data(), from, to);
                case F32 -> poolF32(g, kind, includePad, (float) p, x.data(), y.data(), from, to);
                default -> poolGeneric(g, kind, includePad, p, x, y, idx, storageOrder, from, to);
            }
        }
    }

    private static double readP(NodeSpec node) {
        double p = node.attrs().getFloat("p", 2f);
        if (!(p > 0) || Double.isInfinite(p)) {
            throw node.unsupported("p " + p);
        }
        return p;
    }

    /** Work over a range {@code [from, to)} of independent items. */
    @FunctionalInterface
    interface RangeBody {
        void run(long from, long to);
    }

    /**
     * Splits {@code [0, n)} into contiguous ranges run on the session's intra-op threads ({@code cost} is the work
     * per item, so that small jobs stay on the calling thread).
     */
    static void parallelRanges(KernelContext ctx, long n, long cost, RangeBody body) {
        int tasks = rangeTasks(ctx, n, cost);
        if (tasks <= 1) {
            body.run(0, n);
            return;
        }
        ctx.parallelFor(tasks, i -> body.run(n * i / tasks, n * (i + 1) / tasks));
    }

    /** How many ranges {@link #parallelRanges} cuts [0, n) into. */
    private static int rangeTasks(KernelContext ctx, long n, long cost) {
        int threads = ctx.threads();
        return threads <= 1 || n * Math.max(1, cost) < (1 << 15) ? 1 : (int) Math.min(n, 4L * threads);
    }

    /**
     * A {@link RangeBody} that is its own region: reused across runs (one per planned node, its fields set before
     * {@link #run(KernelContext, long, long)} and cleared after), so that a warm run allocates no lambdas.
     */
    abstract static class Ranges implements RangeBody, java.util.function.IntConsumer {
        private long n;
        private int tasks;

        /** {@link #parallelRanges} with this as the body. */
        final void run(KernelContext ctx, long n, long cost) {
            int t = rangeTasks(ctx, n, cost);
            if (t <= 1) {
                run(0, n);
                return;
            }
            this.n = n;
            this.tasks = t;
            ctx.parallelFor(t, this);
        }

        @Override
        public final void accept(int i) {
            run(n * i / tasks, n * (i + 1) / tasks);
        }
    }

    // ---------------------------------------------------------------- float32 row-accumulating kernel

    private static final int OP_MAX = 0;
    private static final int OP_SUM = 1;
    private static final int OP_SUMSQ = 2;
    private static final int OP_POW = 3;

    /**
     * Float32 pooling, any spatial rank. x is {@code [planes, in...]}, y {@code [planes, out...]}, both row-major.
     * For each plane and each output row (a position over all spatial dims but the last), an accumulator row of
     * {@code out[last]} floats folds in input rows: for every valid tap of the outer dims and every kernel column
     * {@code kw}, {@code acc[ow] op= x[row, ow*s + kw*d - padBegin]} for the {@code ow} range that stays inside.
     */
    static void poolF32(PoolGeometry g, Kind kind, boolean includePad, float p, MemorySegment x, MemorySegment y,
                        long planeFrom, long planeTo) {
        int k = g.rank;
        int last = k - 1;
        int ow = g.out[last];
        int kw = g.kernel[last];
        int sw = g.stride[last];
        long[] off = new long[kw];
        int[] lo = new int[kw];
        int[] hi = new int[kw];
        for (int t = 0; t < kw; t++) {
            off[t] = (long) t * g.dilation[last] - g.padBegin[last];
            lo[t] = (int) Math.min(ow, Math.max(0, PoolGeometry.ceilDiv(-off[t], sw)));
            hi[t] = (int) Math.max(lo[t], Math.min(ow, Math.floorDiv(g.in[last] - 1 - off[t], sw) + 1));
        }
        int op = switch (kind) {
            case MAX -> OP_MAX;
            case AVG -> OP_SUM;
            case LP -> p == 2f ? OP_SUMSQ : OP_POW;
        };
        float[][] counts = new float[k][];
        for (int i = 0; i < k; i++) {
            int[] c = g.counts(i, includePad);
            counts[i] = new float[c.length];
            for (int j = 0; j < c.length; j++) {
                counts[i][j] = c[j];
            }
        }
        long[] inStride = new long[k];
        inStride[last] = 1;
        for (int i = last - 1; i >= 0; i--) {
            inStride[i] = inStride[i + 1] * g.in[i + 1];
        }
        long outerCount = g.outPlane / Math.max(1, ow);
        if (ow == 0) {
            return;
        }
        float init = kind == Kind.MAX ? Float.NEGATIVE_INFINITY : 0f;
        float[] acc = new float[ow];
        float[] rowBuf = new float[g.in[last]];
        float[] even = new float[(g.in[last] + 1) / 2];
        float[] odd = new float[g.in[last] / 2];
        int[] o = new int[last];
        int[] t = new int[last];
        int[] tlo = new int[last];
        int[] thi = new int[last];
        for (long plane = planeFrom; plane < planeTo; plane++) {
            long xBase = plane * g.inPlane;
            long yRow = plane * g.outPlane;
            Arrays.fill(o, 0);
            for (long r = 0; r < outerCount; r++, yRow += ow) {
                Arrays.fill(acc, init);
                float outerCnt = 1f;
                boolean empty = false;
                for (int i = 0; i < last; i++) {
                    tlo[i] = g.tapLo(i, o[i]);
                    thi[i] = g.tapHi(i, o[i]);
                    empty |= tlo[i] >= thi[i];
                    outerCnt *= counts[i][o[i]];
                    t[i] = tlo[i];
                }
                while (!empty) {
                    long row = xBase;
                    for (int i = 0; i < last; i++) {
                        row += g.pos(i, o[i], t[i]) * inStride[i];
                    }
                    MemorySegment.copy(x, Tensor.F32, row * 4, rowBuf, 0, rowBuf.length);
                    if (sw == 2) {
                        // Even and odd elements apart: every tap is then a contiguous (vectorised) run.
                        PhaseLayout.evens(rowBuf, 0, even, 0, even.length);
                        PhaseLayout.evens(rowBuf, 1, odd, 0, odd.length);
                        for (int c = 0; c < kw; c++) {
                            int e0 = (int) off[c];
                            accumulate(op, p, acc, lo[c], hi[c], 1, (e0 & 1) == 0 ? even : odd, Math.floorDiv(e0, 2));
                        }
                    } else {
                        for (int c = 0; c < kw; c++) {
                            accumulate(op, p, acc, lo[c], hi[c], sw, rowBuf, (int) off[c]);
                        }
                    }
                    int d = last - 1;
                    while (d >= 0 && ++t[d] >= thi[d]) {
                        t[d] = tlo[d];
                        d--;
                    }
                    if (d < 0) {
                        break;
                    }
                }
                finish(kind, p, acc, outerCnt, counts[last], y, yRow);
                for (int d = last - 1; d >= 0 && ++o[d] >= g.out[d]; d--) {
                    o[d] = 0;
                }
            }
        }
    }

    /** {@code acc[i] op= row[e0 + i*s]} for i in [lo, hi); e0 may be negative, e0 + lo*s is not. */
    private static void accumulate(int op, float p, float[] acc, int lo, int hi, int s, float[] row, int e0) {
        int i = lo;
        if (s == 1) {
            for (; i <= hi - L; i += L) {
                FloatVector a = FloatVector.fromArray(SP, acc, i);
                FloatVector v = FloatVector.fromArray(SP, row, e0 + i);
                a = switch (op) {
                    case OP_MAX -> a.max(v);
                    case OP_SUM -> a.add(v);
                    case OP_SUMSQ -> v.fma(v, a);
                    default -> a.add(v.abs().pow(p));
                };
                a.intoArray(acc, i);
            }
        }
        switch (op) {
            case OP_MAX -> {
                for (; i < hi; i++) {
                    acc[i] = Math.max(acc[i], row[e0 + i * s]);
                }
            }
            case OP_SUM -> {
                for (; i < hi; i++) {
                    acc[i] += row[e0 + i * s];
                }
            }
            case OP_SUMSQ -> {
                for (; i < hi; i++) {
                    float v = row[e0 + i * s];
                    acc[i] += v * v;
                }
            }
            default -> {
                for (; i < hi; i++) {
                    acc[i] += (float) Math.pow(Math.abs(row[e0 + i * s]), p);
                }
            }
        }
    }

    private static void finish(Kind kind, float p, float[] acc, float outerCnt, float[] cntW, MemorySegment y, long yRow) {
        switch (kind) {
            case MAX -> { }
            case AVG -> {
                for (int i = 0; i < acc.length; i++) {
                    acc[i] /= outerCnt * cntW[i];
                }
            }
            case LP -> {
                if (p == 2f) {
                    for (int i = 0; i < acc.length; i++) {
                        acc[i] = (float) Math.sqrt(acc[i]);
                    }
                } else {
                    double inv = 1.0 / p;
                    for (int i = 0; i < acc.length; i++) {
                        acc[i] = (float) Math.pow(acc[i], inv);
                    }
                }
            }
        }
        MemorySegment.copy(acc, 0, y, Tensor.F32, yRow * 4, acc.length);
    }

    // ---------------------------------------------------------------- generic kernel (any dtype, Indices)

    /**
     * Scalar pooling over a {@code double[]} copy of each plane, any dtype; also writes MaxPool's Indices when
     * {@code idx} is not null.
     */
    static void poolGeneric(PoolGeometry g, Kind kind, boolean includePad, double p, Tensor x, Tensor y, Tensor idx,
                            int storageOrder, long planeFrom, long planeTo) {
        int k = g.rank;
        int inPlane = Math.toIntExact(g.inPlane);
        int outPlane = Math.toIntExact(g.outPlane);
        double[] xb = new double[inPlane];
        double[] yb = new double[outPlane];
        long[] ib = idx == null ? null : new long[outPlane];
        int[][] counts = new int[k][];
        long[] rowStride = new long[k];
        long[] colStride = new long[k];
        long acc = 1;
        for (int i = k - 1; i >= 0; i--) {
            counts[i] = g.counts(i, includePad);
            rowStride[i] = acc;
            acc *= g.in[i];
        }
        acc = 1;
        for (int i = 0; i < k; i++) {
            colStride[i] = acc;
            acc *= g.in[i];
        }
        long[] idxStride = storageOrder == 0 ? rowStride : colStride;
        int[] o = new int[k];
        int[] t = new int[k];
        int[] tlo = new int[k];
        int[] thi = new int[k];
        for (long plane = planeFrom; plane < planeTo; plane++) {
            DoubleBuffers.read(x, plane * inPlane, xb, inPlane);
            Arrays.fill(o, 0);
            for (int j = 0; j < outPlane; j++) {
                boolean empty = false;
                double count = 1;
                for (int i = 0; i < k; i++) {
                    tlo[i] = g.tapLo(i, o[i]);
                    thi[i] = g.tapHi(i, o[i]);
                    t[i] = tlo[i];
                    empty |= tlo[i] >= thi[i];
                    count *= counts[i][o[i]];
                }
                double best = Double.NEGATIVE_INFINITY;
                long bestAt = -1;
                double sum = 0;
                while (!empty) {
                    int e = 0;
                    long at = 0;
                    for (int i = 0; i < k; i++) {
                        int pos = g.pos(i, o[i], t[i]);
                        e += (int) (pos * rowStride[i]);
                        at += pos * idxStride[i];
                    }
                    double v = xb[e];
                    switch (kind) {
                        case MAX -> {
                            if (bestAt < 0 || v > best) {
                                best = v;
                                bestAt = at;
                            }
                        }
                        case AVG -> sum += v;
                        case LP -> sum += Math.pow(Math.abs(v), p);
                    }
                    int d = k - 1;
                    while (d >= 0 && ++t[d] >= thi[d]) {
                        t[d] = tlo[d];
                        d--;
                    }
                    if (d < 0) {
                        break;
                    }
                }
                yb[j] = switch (kind) {
                    case MAX -> best;
                    case AVG -> sum / count;
                    case LP -> Math.pow(sum, 1.0 / p);
                };
                if (ib != null) {
                    ib[j] = plane * g.inPlane + Math.max(0, bestAt);
                }
                for (int d = k - 1; d >= 0 && ++o[d] >= g.out[d]; d--) {
                    o[d] = 0;
                }
            }
            DoubleBuffers.write(y, plane * outPlane, yb, outPlane);
            if (ib != null) {
                MemorySegment.copy(ib, 0, idx.data(), Tensor.I64, plane * outPlane * 8, outPlane);
            }
        }
    }

    // ---------------------------------------------------------------- global pools

    private static Planned planGlobal(NodeSpec node, Kind kind) {
        DType dtype = node.requireType(0, FLOATS);
        double p = kind == Kind.LP ? readP(node) : 0;
        Memo<Shape> shapes = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        GlobalRegion region = new GlobalRegion(kind, dtype, p);
        Kernel k = (ctx, in) -> {
            Tensor x = in[0];
            Shape s = x.shape();
            if (s.rank() < 2) {
                throw node.error("input of shape " + s + " has no channel dim (expected [N, C, ...])");
            }
            Shape ys = shapes.get(s);
            if (ys == null) {
                long[] od = s.dims();
                for (int i = 2; i < od.length; i++) {
                    od[i] = 1;
                }
                ys = shapes.put(s, Shape.of(od));
            }
            Tensor y = ctx.allocate(x.dtype(), ys);
            long planes = s.dim(0) * s.dim(1);
            long size = s.sizeOf(2, s.rank());
            region.set(x, y, size);
            try {
                region.run(ctx, planes, size);
            } finally {
                region.set(null, null, 0);
            }
            return Memo.outputs(outputs, y);
        };
        return Planned.of(k, dtype);
    }

    /** One GlobalMax/Average/LpPool node's region over planes of {@code size} values (reused like {@link PoolRegion}). */
    private static final class GlobalRegion extends Ranges {
        private final Kind kind;
        private final DType dtype;
        private final double p;
        private Tensor x, y;
        private long size;

        GlobalRegion(Kind kind, DType dtype, double p) {
            this.kind = kind;
            this.dtype = dtype;
            this.p = p;
        }

        void set(Tensor x, Tensor y, long size) {
            this.x = x;
            this.y = y;
            this.size = size;
        }

        @Override
        public void run(long from, long to) {
            if (dtype == FLOAT && kind != Kind.LP && size <= 1 << 16) {
                GlobalPoolF32.planes(kind == Kind.MAX, x.data(), y.data(), from, to, (int) size);
            } else if (dtype == FLOAT) {
                for (long pl = from; pl < to; pl++) {
                    y.data().setAtIndex(Tensor.F32, pl, globalF32(kind, (float) p, x.data(), pl * size * 4, size));
                }
            } else {
                double[] buf = new double[Math.toIntExact(size)];
                double[] one = new double[1];
                for (long pl = from; pl < to; pl++) {
                    DoubleBuffers.read(x, pl * size, buf, buf.length);
                    one[0] = globalDouble(kind, p, buf);
                    DoubleBuffers.write(y, pl, one, 1);
                }
            }
        }
    }

    /** Max, mean or Lp norm of {@code n} contiguous floats starting at byte {@code b}. */
    static float globalF32(Kind kind, float p, MemorySegment x, long b, long n) {
        long i = 0;
        if (kind == Kind.LP && p != 2f) {
            double s = 0;
            for (; i < n; i++) {
                s += Math.pow(Math.abs(x.get(Tensor.F32, b + 4 * i)), p);
            }
            return (float) Math.pow(s, 1.0 / p);
        }
        FloatVector a = FloatVector.broadcast(SP, kind == Kind.MAX ? Float.NEGATIVE_INFINITY : 0f);
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(SP, x, b + 4 * i, LE);
            a = switch (kind) {
                case MAX -> a.max(v);
                case AVG -> a.add(v);
                case LP -> v.fma(v, a);
            };
        }
        float r;
        if (kind == Kind.MAX) {
            r = a.reduceLanes(VectorOperators.MAX);
        } else {
            a = VectorMath.LANES > 8 ? a.add(a.rearrange(VectorMath.FOLD8)) : a;
            a = VectorMath.LANES > 4 ? a.add(a.rearrange(VectorMath.FOLD4)) : a;
            a = VectorMath.LANES > 2 ? a.add(a.rearrange(VectorMath.FOLD2)) : a;
            r = a.add(a.rearrange(VectorMath.FOLD1)).lane(0);
        }
        for (; i < n; i++) {
            float v = x.get(Tensor.F32, b + 4 * i);
            r = switch (kind) {
                case MAX -> Math.max(r, v);
                case AVG -> r + v;
                case LP -> r + v * v;
            };
        }
        return switch (kind) {
            case MAX -> r;
            case AVG -> r / n;
            case LP -> (float) Math.sqrt(r);
        };
    }

    private static double globalDouble(Kind kind, double p, double[] v) {
        double r = kind == Kind.MAX ? Double.NEGATIVE_INFINITY : 0;
        for (double e : v) {
            r = switch (kind) {
                case MAX -> Math.max(r, e);
                case AVG -> r + e;
                case LP -> r + Math.pow(Math.abs(e), p);
            };
        }
        return switch (kind) {
            case MAX -> r;
            case AVG -> r / v.length;
            case LP -> Math.pow(r, 1.0 / p);
        };
    }

    // ---------------------------------------------------------------- MaxUnpool

    private static Planned planUnpool(NodeSpec node) {
        DType dtype = node.requireType(0, FLOATS);
        node.requireType(1, INT64);
        if (node.hasInput(2)) {
            node.requireType(2, INT64);
        }
        PoolGeometry.Attrs attrs = PoolGeometry.Attrs.read(node);
        if (attrs.autoPad() != PoolGeometry.AutoPad.NOTSET) {
            throw node.unsupported("auto_pad " + attrs.autoPad() + " on MaxUnpool");
        }
        Kernel k = (ctx, in) -> {
            Tensor x = in[0];
            Tensor ind = in[1];
            int r = attrs.rank();
            if (x.shape().rank() != r + 2) {
                throw node.error("input of shape " + x.shape() + " does not match kernel_shape " + Arrays.toString(attrs.kernel()));
            }
            if (!ind.shape().equals(x.shape())) {
                throw node.error("indices of shape " + ind.shape() + " differ from X of shape " + x.shape());
            }
            long[] inferred = x.shape().dims();
            for (int i = 0; i < r; i++) {
                inferred[i + 2] = (inferred[i + 2] - 1) * attrs.strides()[i] + attrs.kernel()[i] - attrs.pads()[i] - attrs.pads()[i + r];
            }
            long[] od = inferred;
            boolean corner = false;
            if (in.length > 2 && in[2] != null) {
                od = in[2].toLongArray();
                if (od.length != r + 2) {
                    throw node.error("output_shape " + Arrays.toString(od) + " does not have rank " + (r + 2));
                }
                corner = !Arrays.equals(od, inferred);
                for (int i = 0; i < od.length; i++) {
                    corner &= od[i] >= inferred[i];
                }
            }
            Shape os;
            Shape is;
            try {
                os = Shape.of(od);
                is = Shape.of(inferred);
            } catch (IllegalArgumentException e) {
                throw node.error("output shape " + Arrays.toString(od) + " / " + Arrays.toString(inferred) + " is negative");
            }
            Tensor y = ctx.allocateZeroed(x.dtype(), os);
            long n = x.size();
            Shape space = corner ? is : os;
            long spaceSize = space.size();
            long[] spaceStride = space.strides();
            long[] outStride = os.strides();
            int es = x.dtype().byteSize();
            for (long j = 0; j < n; j++) {
                long at = ind.data().getAtIndex(Tensor.I64, j);
                if (at < 0 || at >= spaceSize) {
                    throw node.error("index " + at + " at position " + j + " is outside the output of shape " + space);
                }
                if (corner) {
                    long rest = at;
                    long to = 0;
                    for (int d = 0; d < spaceStride.length; d++) {
                        to += rest / spaceStride[d] * outStride[d];
                        rest %= spaceStride[d];
                    }
                    at = to;
                }
                MemorySegment.copy(x.data(), j * es, y.data(), at * es, es);
            }
            return new Tensor[] {y};
        };
        return Planned.of(k, dtype);
    }
}
