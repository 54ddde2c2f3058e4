package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.GatherOps.ALL;
import static dev.gatun.engine.ops.GatherOps.INDEX;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Scatter ops: ScatterND, ScatterElements and the deprecated Scatter (opset 9-10, the same as ScatterElements).
 * <ul>
 *   <li>https://onnx.ai/onnx/operators/onnx__ScatterND.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__ScatterElements.html</li>
 *   <li>https://onnx.ai/onnx/operators/onnx__Scatter.html</li>
 * </ul>
 * The output starts as a copy of data; updates are then written (reduction "none") or combined with what is
 * there ("add", "mul" from opset 16, "max", "min" from opset 18) in the order the indices list them, so with
 * reduction "none" the last of duplicate indices wins. Negative indices count from the end of their dim;
 * an index out of range is a run-time error naming it and the bound.
 */
public final class ScatterOps implements OpFamily {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("ScatterND", 11, ALL),
                OpInfo.of("ScatterElements", 11, ALL),
                OpInfo.of("Scatter", 9, ALL));
    }

    @Override
    public Planned plan(NodeSpec node) {
        DType t = node.requireType(0, ALL);
        node.requireType(1, INDEX);
        if (node.requireType(2, ALL) != t) {
            throw node.unsupported("updates of type " + node.inputType(2) + " with data of type " + t);
        }
        Combine combine = combine(node, t, reduction(node));
        return switch (node.opType()) {
            case "ScatterND" -> Planned.of((ctx, in) -> scatterND(node, ctx, in[0], in[1], in[2], combine), t);
            case "ScatterElements", "Scatter" -> {
                long axis = node.attrs().getInt("axis", 0);
                yield Planned.of((ctx, in) -> scatterElements(node, ctx, in[0], in[1], in[2], axis, combine), t);
            }
            default -> throw node.unsupported("operator " + node.opType() + " in ScatterOps");
        };
    }

    private static String reduction(NodeSpec node) {
        String r = node.attrs().getString("reduction", "none");
        if (node.opType().equals("Scatter") && node.attrs().has("reduction")) {
            throw node.unsupported("attribute reduction on Scatter");
        }
        int since = switch (r) {
            case "none" -> 1;
            case "add", "mul" -> 16;
            case "max", "min" -> 18;
            default -> throw node.unsupported("reduction '" + r + "'");
        };
        if (node.opset() < since) {
            throw node.unsupported("reduction '" + r + "' before opset " + since);
        }
        return r;
    }

    // ---------------------------------------------------------------------------------------------------------
    // ScatterND: data [D1..Dm, R..], indices [T.., m], updates [T.., R..] -> out = data with the slice
    // out[i1..im, :] (prod(R) contiguous elements) replaced by / combined with updates[t, :] for each tuple t.

    private static Tensor[] scatterND(NodeSpec node, KernelContext ctx, Tensor data, Tensor indices, Tensor updates, Combine combine) {
        Shape ds = data.shape();
        Shape is = indices.shape();
        int r = ds.rank();
        int q = is.rank();
        if (r < 1 || q < 1) {
            throw node.error("data " + ds + " and indices " + is + " must have rank >= 1");
        }
        long mDim = is.dim(q - 1);
        if (mDim < 1 || mDim > r) {
            throw node.error("indices " + is + ": last dim must be between 1 and the rank " + r + " of data " + ds);
        }
        int m = (int) mDim;
        long[] expected = new long[q - 1 + r - m];
        System.arraycopy(is.dims(), 0, expected, 0, q - 1);
        System.arraycopy(ds.dims(), m, expected, q - 1, r - m);
        if (!updates.shape().equals(Shape.of(expected))) {
            throw node.error("updates " + updates.shape() + " must have shape " + Shape.of(expected)
                    + " (indices " + is + ", data " + ds + ")");
        }
        Tensor out = copyOf(ctx, data);
        long tuples = is.sizeOf(0, q - 1);
        long slice = ds.sizeOf(m, r);
        long[] strides = new long[m];
        for (int j = 0; j < m; j++) {
            strides[j] = ds.sizeOf(j + 1, r);
        }
        int es = data.dtype().byteSize();
        for (long t = 0; t < tuples; t++) {
            long off = 0;
            for (int j = 0; j < m; j++) {
                long pos = t * m + j;
                long k = GatherOps.checkIndex(node, GatherOps.readIndex(indices, pos), ds.dim(j), pos, is, j, ds);
                off += k * strides[j];
            }
            if (combine == null) {
                GatherOps.copyRun(updates.data(), t * slice, out.data(), off, slice, es);
            } else {
                combine.apply(out, off, updates, t * slice, slice);
            }
        }
        return new Tensor[] {out};
    }

    // ---------------------------------------------------------------------------------------------------------
    // ScatterElements / Scatter: data of rank r, indices and updates of one shape (rank r, each dim other than
    // `axis` at most data's) -> out = data with out[p with p[axis] = indices[p]] replaced by / combined with
    // updates[p] for every position p of indices, in row-major order.

    private static Tensor[] scatterElements(NodeSpec node, KernelContext ctx, Tensor data, Tensor indices, Tensor updates,
                                            long axisAttr, Combine combine) {
        int axis = GatherOps.checkElementwiseIndices(node, data.shape(), indices.shape(), axisAttr);
        if (!updates.shape().equals(indices.shape())) {
            throw node.error("updates " + updates.shape() + " must have the shape of indices " + indices.shape());
        }
        Tensor out = copyOf(ctx, data);
        GatherOps.ElementWalk w = new GatherOps.ElementWalk(data.shape(), indices.shape(), axis);
        long n = data.shape().dim(axis);
        long axisStride = w.axisStride();
        int es = data.dtype().byteSize();
        for (long p = 0, size = indices.size(); p < size; p++) {
            long k = GatherOps.checkIndex(node, GatherOps.readIndex(indices, p), n, p, indices.shape(), axis, data.shape());
            long target = w.base() + k * axisStride;
            if (combine == null) {
                GatherOps.copyElement(updates.data(), p, out.data(), target, es);
            } else {
                combine.apply(out, target, updates, p, 1);
            }
            w.next();
        }
        return new Tensor[] {out};
    }

    private static Tensor copyOf(KernelContext ctx, Tensor data) {
        Tensor out = ctx.allocate(data.dtype(), data.shape());
        MemorySegment.copy(data.data(), 0, out.data(), 0, data.byteSize());
        return out;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Reductions: out[oi + j] = op(out[oi + j], upd[ui + j]) for j < n. float32 and double are read directly
    // (float32 vectorized); float16/bfloat16 go through double, integers through long (wrapping to the type),
    // uint64 compares unsigned. bool: add/max = or, mul/min = and (through long, stored as v != 0).

    /** Combines {@code n} update elements into the output; null means plain assignment. */
    @FunctionalInterface
    interface Combine {
        void apply(Tensor out, long oi, Tensor upd, long ui, long n);
    }

    private static Combine combine(NodeSpec node, DType t, String reduction) {
        int op = switch (reduction) {
            case "none" -> -1;
            case "add" -> 0;
            case "mul" -> 1;
            case "max" -> 2;
            default -> 3;
        };
        if (op < 0) {
            return null;
        }
        if (t == DType.BOOL) {
            return (out, oi, upd, ui, n) -> {
                for (long j = 0; j < n; j++) {
                    boolean a = out.getAsLong(oi + j) != 0;
                    boolean b = upd.getAsLong(ui + j) != 0;
                    out.setLong(oi + j, (op == 0 || op == 2) ? (a || b ? 1 : 0) : (a && b ? 1 : 0));
                }
            };
        }
        return switch (t) {
            case FLOAT -> (out, oi, upd, ui, n) -> combineF32(op, out.data(), oi, upd.data(), ui, n);
            case DOUBLE -> (out, oi, upd, ui, n) -> {
                MemorySegment o = out.data();
                MemorySegment u = upd.data();
                for (long j = 0; j < n; j++) {
                    o.setAtIndex(Tensor.F64, oi + j, apply(op, o.getAtIndex(Tensor.F64, oi + j), u.getAtIndex(Tensor.F64, ui + j)));
                }
            };
            case FLOAT16, BFLOAT16 -> (out, oi, upd, ui, n) -> {
                for (long j = 0; j < n; j++) {
                    out.setDouble(oi + j, apply(op, out.getDouble(oi + j), upd.getDouble(ui + j)));
                }
            };
            default -> {
                boolean unsigned64 = t == DType.UINT64;
                yield (out, oi, upd, ui, n) -> {
                    for (long j = 0; j < n; j++) {
                        long a = out.getAsLong(oi + j);
                        long b = upd.getAsLong(ui + j);
                        long v = switch (op) {
                            case 0 -> a + b;
                            case 1 -> a * b;
                            case 2 -> (unsigned64 ? Long.compareUnsigned(a, b) : Long.compare(a, b)) >= 0 ? a : b;
                            default -> (unsigned64 ? Long.compareUnsigned(a, b) : Long.compare(a, b)) <= 0 ? a : b;
                        };
                        out.setLong(oi + j, v);
                    }
                };
            }
        };
    }

    private static double apply(int op, double a, double b) {
        return switch (op) {
            case 0 -> a + b;
            case 1 -> a * b;
            case 2 -> Math.max(a, b);
            default -> Math.min(a, b);
        };
    }

    private static void combineF32(int op, MemorySegment o, long oi, MemorySegment u, long ui, long n) {
        long j = 0;
        if (n >= F.length()) {
            VectorOperators.Binary vop = switch (op) {
                case 0 -> VectorOperators.ADD;
                case 1 -> VectorOperators.MUL;
                case 2 -> VectorOperators.MAX;
                default -> VectorOperators.MIN;
            };
            ByteOrder bo = ByteOrder.nativeOrder();
            for (long bound = n - F.length(); j <= bound; j += F.length()) {
                FloatVector a = FloatVector.fromMemorySegment(F, o, (oi + j) * 4, bo);
                FloatVector b = FloatVector.fromMemorySegment(F, u, (ui + j) * 4, bo);
                a.lanewise(vop, b).intoMemorySegment(o, (oi + j) * 4, bo);
            }
        }
        for (; j < n; j++) {
            float a = o.getAtIndex(Tensor.F32, oi + j);
            float b = u.getAtIndex(Tensor.F32, ui + j);
            o.setAtIndex(Tensor.F32, oi + j, switch (op) {
                case 0 -> a + b;
                case 1 -> a * b;
                case 2 -> Math.max(a, b);
                default -> Math.min(a, b);
            });
        }
    }
}
