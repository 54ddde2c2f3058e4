package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.function.DoubleBinaryOperator;
import java.util.function.LongBinaryOperator;
import java.util.function.LongUnaryOperator;

/**
 * What the elementwise families share: broadcast drivers over {@link Broadcast} rows, generic (any dtype)
 * row loops through {@code long}/{@code double}, Expand's broadcast copy, and dtype lists.
 */
final class Elementwise {
    static final DType[] FLOATS = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};
    static final DType[] SIGNED = {DType.INT8, DType.INT16, DType.INT32, DType.INT64};
    static final DType[] UNSIGNED = {DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64};
    static final DType[] INTS = concat(SIGNED, UNSIGNED);
    static final DType[] NUMERIC = concat(FLOATS, INTS);
    static final DType[] SIGNED_NUMERIC = concat(FLOATS, SIGNED);
    static final DType[] ALL = concat(NUMERIC, new DType[] {DType.BOOL});

    private Elementwise() {}

    static DType[] concat(DType[] a, DType[] b) {
        DType[] r = new DType[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /**
     * One row of a binary op: {@code n} output elements from {@code oo}, input a read from {@code ao} at stride
     * {@code as} (0 or 1), b likewise; indices in elements.
     */
    @FunctionalInterface
    interface Row2 {
        void row(Tensor a, long ao, long as, Tensor b, long bo, long bs, Tensor out, long oo, long n);
    }

    /** The broadcast of the shapes, or a run-time error naming the node and the shapes. */
    static Shape broadcastShape(NodeSpec node, Shape... shapes) {
        try {
            return Broadcast.shape(shapes);
        } catch (IllegalArgumentException e) {
            throw node.error(e.getMessage());
        }
    }

    /** a op b with numpy broadcasting into a new tensor of {@code outType}. */
    static Tensor binary(KernelContext ctx, NodeSpec node, Tensor a, Tensor b, DType outType, Row2 op) {
        return binary(ctx, node, a, b, outType, op, null);
    }

    /** As {@link #binary(KernelContext, NodeSpec, Tensor, Tensor, DType, Row2)}, the broadcast plan cached in {@code memo}. */
    static Tensor binary(KernelContext ctx, NodeSpec node, Tensor a, Tensor b, DType outType, Row2 op, Memo<Broadcast> memo) {
        Broadcast p = memo == null ? null : memo.get(a.shape(), b.shape(), null);
        if (p == null) {
            Shape out = broadcastShape(node, a.shape(), b.shape());
            p = Broadcast.plan(out, a.shape(), b.shape());
            if (memo != null) {
                memo.put(a.shape(), b.shape(), null, p);
            }
        }
        Tensor o = ctx.allocate(outType, p.out());
        binaryInto(p, a, b, o, op);
        return o;
    }

    /** a op b into {@code o}, whose shape is the broadcast of a's and b's (o may be a itself). */
    static void binaryInto(Tensor a, Tensor b, Tensor o, Row2 op) {
        binaryInto(Broadcast.plan(o.shape(), a.shape(), b.shape()), a, b, o, op);
    }

    private static void binaryInto(Broadcast p, Tensor a, Tensor b, Tensor o, Row2 op) {
        long as = p.innerStride(0);
        long bs = p.innerStride(1);
        long n = p.inner();
        if (p.rows() == 1) {
            // Equal shapes, or a scalar operand: one row from offset 0, without a capturing visitor.
            if (o.size() != 0) {
                op.row(a, 0, as, b, 0, bs, o, 0, n);
            }
            return;
        }
        p.forEachRow((oo, off) -> op.row(a, off[0], as, b, off[1], bs, o, oo, n));
    }

    /** The float32 row of {@link FloatLoops#binary}. */
    static Row2 f32(int code) {
        return (a, ao, as, b, bo, bs, o, oo, n) -> FloatLoops.binary(code, a.data(), ao, as, b.data(), bo, bs, o.data(), oo, n);
    }

    /** A row through double: inputs read with {@link Tensor#getDouble}, the output written with setDouble. */
    static Row2 viaDouble(DoubleBinaryOperator f) {
        return (a, ao, as, b, bo, bs, o, oo, n) -> {
            for (long i = 0; i < n; i++) {
                o.setDouble(oo + i, f.applyAsDouble(a.getDouble(ao + i * as), b.getDouble(bo + i * bs)));
            }
        };
    }

    /** A row through long (integers and bool; uint64 values arrive as their bit pattern). */
    static Row2 viaLong(LongBinaryOperator f) {
        return (a, ao, as, b, bo, bs, o, oo, n) -> {
            for (long i = 0; i < n; i++) {
                o.setLong(oo + i, f.applyAsLong(a.getAsLong(ao + i * as), b.getAsLong(bo + i * bs)));
            }
        };
    }

    /** The generic row of a float-coded op for a non-float32 dtype. */
    static Row2 generic(int code) {
        return viaDouble((x, y) -> FloatLoops.binary(code, x, y));
    }

    /**
     * {@code x} broadcast to {@code shape} (which must be the broadcast of x's shape and itself): contiguous rows
     * are copied, repeated values filled.
     */
    static Tensor expand(KernelContext ctx, Tensor x, Shape shape) {
        Tensor o = ctx.allocate(x.dtype(), shape);
        if (x.dtype() == DType.STRING) {
            String[] src = x.strings();
            String[] dst = o.strings();
            Broadcast p = Broadcast.plan(shape, x.shape());
            long s = p.innerStride(0);
            long n = p.inner();
            p.forEachRow((oo, off) -> {
                for (long i = 0; i < n; i++) {
                    dst[(int) (oo + i)] = src[(int) (off[0] + i * s)];
                }
            });
            return o;
        }
        if (shape.equals(x.shape())) {
            MemorySegment.copy(x.data(), 0, o.data(), 0, x.byteSize());
            return o;
        }
        int es = x.dtype().byteSize();
        Broadcast p = Broadcast.plan(shape, x.shape());
        long s = p.innerStride(0);
        long n = p.inner();
        MemorySegment src = x.data();
        MemorySegment dst = o.data();
        p.forEachRow((oo, off) -> {
            if (s == 1) {
                MemorySegment.copy(src, off[0] * es, dst, oo * es, n * es);
            } else {
                fill(src, off[0], dst, oo, n, es);
            }
        });
        return o;
    }

    /** Writes element {@code from} of src (element size es) to n consecutive elements of dst from {@code at}. */
    static void fill(MemorySegment src, long from, MemorySegment dst, long at, long n, int es) {
        switch (es) {
            case 1 -> dst.asSlice(at, n).fill(src.get(Tensor.I8, from));
            case 2 -> {
                short v = src.getAtIndex(Tensor.I16, from);
                for (long i = 0; i < n; i++) {
                    dst.setAtIndex(Tensor.I16, at + i, v);
                }
            }
            case 4 -> {
                int v = src.getAtIndex(Tensor.I32, from);
                for (long i = 0; i < n; i++) {
                    dst.setAtIndex(Tensor.I32, at + i, v);
                }
            }
            default -> {
                long v = src.getAtIndex(Tensor.I64, from);
                for (long i = 0; i < n; i++) {
                    dst.setAtIndex(Tensor.I64, at + i, v);
                }
            }
        }
    }

    /**
     * A unary kernel: float32 through {@link FloatLoops#unary}, the other float types through its double form,
     * integer types through {@code intOp} (null when the op takes no integers). Output type = input type.
     */
    static Kernel unary(DType t, int code, double p, double q, LongUnaryOperator intOp) {
        float fp = (float) p;
        float fq = (float) q;
        return (ctx, in) -> {
            Tensor x = in[0];
            Tensor o = ctx.allocate(t, x.shape());
            long n = x.size();
            if (t == DType.FLOAT) {
                FloatLoops.unary(code, fp, fq, x.data(), 0, o.data(), 0, n);
            } else if (t.isFloating()) {
                for (long i = 0; i < n; i++) {
                    o.setDouble(i, FloatLoops.unary(code, x.getDouble(i), p, q));
                }
            } else {
                for (long i = 0; i < n; i++) {
                    o.setLong(i, intOp.applyAsLong(x.getAsLong(i)));
                }
            }
            return new Tensor[] {o};
        };
    }

    /** Whether the dtype is unsigned 64-bit, the one integer type whose long bits need unsigned arithmetic. */
    static boolean isU64(DType t) {
        return t == DType.UINT64;
    }

    /** A size-1 tensor's value as double (Clip bounds, scalar operands), or a run-time error. */
    static double scalarDouble(NodeSpec node, Tensor t, String what) {
        if (t.size() != 1) {
            throw node.error(what + " must be a scalar, got shape " + t.shape());
        }
        return t.getDouble(0);
    }

    /** A size-1 tensor's value as long, or a run-time error. */
    static long scalarLong(NodeSpec node, Tensor t, String what) {
        if (t.size() != 1) {
            throw node.error(what + " must be a scalar, got shape " + t.shape());
        }
        return t.getAsLong(0);
    }
}
