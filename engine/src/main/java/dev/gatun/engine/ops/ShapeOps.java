package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.Arrays;
import java.util.List;

/**
 * Ops that only look at or change a tensor's shape, and small tensor generators.
 *
 * <p>Specs: https://onnx.ai/onnx/operators/onnx__Shape.html, onnx__Size.html, onnx__Reshape.html,
 * onnx__Flatten.html, onnx__Squeeze.html, onnx__Unsqueeze.html, onnx__Identity.html, onnx__Dropout.html,
 * onnx__ConstantOfShape.html, onnx__Range.html, onnx__EyeLike.html (all under https://onnx.ai/onnx/operators/).
 *
 * <ul>
 *   <li>Shape: int64 [end-start] = dims[start:end] (start/end attributes from opset 15, negative counts from the
 *       end, clamped to [0, rank]). Size: int64 scalar = product of dims.</li>
 *   <li>Reshape, Flatten, Squeeze, Unsqueeze, Identity and inference-mode Dropout return a view of their input
 *       (same segment, new shape): no data moves. Reshape: shape input (opset 5+); 0 copies the input dim unless
 *       allowzero=1 (opset 14+); one -1 is inferred. Flatten: [prod(d[0:axis]), prod(d[axis:])]. Squeeze/Unsqueeze:
 *       axes attribute before opset 13, input from 13.</li>
 *   <li>Dropout: output = input; the optional mask is all ones (bool from opset 10, the input type before).
 *       Training mode (opset 12+ input, {@code is_test=0} before opset 7) is refused unless ratio is 0.</li>
 *   <li>ConstantOfShape: output of shape {@code input} filled with the one element of {@code value} (float 0 by default).</li>
 *   <li>Range: out[i] = start + i * delta for i in [0, max(ceil((limit - start) / delta), 0)).</li>
 *   <li>EyeLike: 2-D [R, C], out[i][j] = (j - i == k) ? 1 : 0, type {@code dtype} or the input's.</li>
 * </ul>
 */
public final class ShapeOps implements OpFamily {
    private static final DType[] ALL = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64, DType.BOOL, DType.STRING};
    private static final DType[] NUMERIC = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64, DType.BOOL};
    private static final DType[] FLOATS = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16};
    private static final DType[] RANGE = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT16, DType.INT32,
        DType.INT64};

    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("Shape", ALL),
                OpInfo.of("Size", ALL),
                OpInfo.of("Reshape", 5, ALL),
                OpInfo.of("Flatten", ALL),
                OpInfo.of("Squeeze", ALL),
                OpInfo.of("Unsqueeze", ALL),
                OpInfo.of("Identity", ALL),
                OpInfo.of("Dropout", FLOATS),
                OpInfo.of("ConstantOfShape", 9, NUMERIC),
                OpInfo.of("Range", 11, RANGE),
                OpInfo.of("EyeLike", 9, NUMERIC));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Shape" -> planShape(node);
            case "Size" -> Planned.of((ctx, in) -> {
                Tensor t = ctx.allocate(DType.INT64, Shape.scalar());
                t.data().setAtIndex(Tensor.I64, 0, in[0].size());
                return new Tensor[] {t};
            }, DType.INT64);
            case "Reshape" -> planReshape(node);
            case "Flatten" -> planFlatten(node);
            case "Squeeze" -> planSqueeze(node);
            case "Unsqueeze" -> planUnsqueeze(node);
            case "Identity" -> Planned.of((ctx, in) -> new Tensor[] {in[0]}, node.inputType(0));
            case "Dropout" -> planDropout(node);
            case "ConstantOfShape" -> planConstantOfShape(node);
            case "Range" -> planRange(node);
            case "EyeLike" -> planEyeLike(node);
            default -> throw node.unsupported("op " + node.opType());
        };
    }

    /** Normalises {@code axis} into [0, rank), throwing a run-time error naming the node when out of range. */
    static int axis(NodeSpec node, long axis, int rank, String what) {
        if (axis < -rank || axis >= rank) {
            throw node.error(what + " " + axis + " is out of range for rank " + rank);
        }
        return (int) (axis < 0 ? axis + rank : axis);
    }

    /** The values of a 1-D (or scalar) integer tensor. */
    static long[] longs(Tensor t) {
        return t.toLongArray();
    }

    private static Planned planShape(NodeSpec node) {
        long start = node.opset() >= 15 ? node.attrs().getInt("start", 0) : 0;
        Long end = node.opset() >= 15 && node.attrs().has("end") ? node.attrs().getInt("end", 0) : null;
        Memo<Shape> outShapes = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            Shape shape = in[0].shape();
            int r = shape.rank();
            long s = clamp(start < 0 ? start + r : start, 0, r);
            long e = end == null ? r : clamp(end < 0 ? end + r : end, 0, r);
            int n = (int) Math.max(e - s, 0);
            Shape os = outShapes.get(shape);
            if (os == null) {
                os = outShapes.put(shape, Shape.of(n));
            }
            Tensor t = ctx.allocate(DType.INT64, os);
            for (int i = 0; i < n; i++) {
                t.data().setAtIndex(Tensor.I64, i, shape.dim((int) s + i));
            }
            return Memo.outputs(outputs, t);
        }, DType.INT64);
    }

    private static long clamp(long v, long lo, long hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    private static Planned planReshape(NodeSpec node) {
        if (node.opset() < 5) {
            throw node.unsupported("Reshape with the shape attribute (opset < 5)");
        }
        node.requireType(1, DType.INT64);
        boolean allowZero = node.opset() >= 14 && node.attrs().getInt("allowzero", 0) != 0;
        return Planned.of((ctx, in) -> {
            Shape out = reshapeTarget(node, in[0].shape(), longs(in[1]), allowZero);
            return new Tensor[] {in[0].reshape(out)};
        }, node.inputType(0));
    }

    /** Resolves Reshape's requested shape (0 and -1 entries) against the input shape. */
    static Shape reshapeTarget(NodeSpec node, Shape in, long[] req, boolean allowZero) {
        long[] out = req.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < out.length; i++) {
            if (out[i] == -1) {
                if (infer >= 0) {
                    throw node.error("cannot reshape " + in + " to " + Arrays.toString(req) + ": more than one -1");
                }
                infer = i;
            } else if (out[i] == 0 && !allowZero) {
                if (i >= in.rank()) {
                    throw node.error("cannot reshape " + in + " to " + Arrays.toString(req) + ": 0 at index " + i
                            + " copies a dim the input does not have");
                }
                out[i] = in.dim(i);
            } else if (out[i] < 0) {
                throw node.error("cannot reshape " + in + " to " + Arrays.toString(req) + ": negative dim " + out[i]);
            }
            if (i != infer) {
                try {
                    known = Math.multiplyExact(known, out[i]);
                } catch (ArithmeticException e) {
                    throw node.error("cannot reshape " + in + " to " + Arrays.toString(req) + ": its element count overflows");
                }
            }
        }
        long size = in.size();
        if (infer >= 0) {
            if (known == 0 || size % known != 0) {
                throw node.error("cannot reshape " + in + " (" + size + " elements) to " + Arrays.toString(req)
                        + ": the -1 dim cannot be inferred");
            }
            out[infer] = size / known;
        } else if (known != size) {
            throw node.error("cannot reshape " + in + " (" + size + " elements) to " + Arrays.toString(req)
                    + " (" + known + " elements)");
        }
        return Shape.of(out);
    }

    private static Planned planFlatten(NodeSpec node) {
        long axis = node.attrs().getInt("axis", 1);
        if (axis < 0 && node.opset() < 11) {
            throw node.unsupported("negative axis " + axis + " before opset 11");
        }
        Memo<Tensor[]> views = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor[] same = views.get(in[0]);
            if (same != null) {
                return same;
            }
            Shape s = in[0].shape();
            int r = s.rank();
            if (axis < -r || axis > r) {
                throw node.error("axis " + axis + " is out of range for input " + s);
            }
            int a = (int) (axis < 0 ? axis + r : axis);
            return views.put(in[0], new Tensor[] {in[0].reshape(Shape.of(s.sizeOf(0, a), s.sizeOf(a, r)))});
        }, node.inputType(0));
    }

    /** The axes of Squeeze/Unsqueeze: attribute before opset 13, optional input 1 from 13 (null = none given). */
    private static long[] attrAxes(NodeSpec node) {
        return node.opset() < 13 ? node.attrs().getInts("axes", null) : null;
    }

    private static long[] runAxes(NodeSpec node, long[] attr, Tensor[] in) {
        if (node.opset() < 13) {
            return attr;
        }
        return in.length > 1 && in[1] != null ? longs(in[1]) : null;
    }

    private static Planned planSqueeze(NodeSpec node) {
        long[] attr = attrAxes(node);
        if (node.opset() >= 13 && node.hasInput(1)) {
            node.requireType(1, DType.INT64);
        }
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            long[] axes = runAxes(node, attr, in);
            int r = s.rank();
            boolean[] drop = new boolean[r];
            if (axes == null) {
                for (int i = 0; i < r; i++) {
                    drop[i] = s.dim(i) == 1;
                }
            } else {
                for (long a : axes) {
                    int k = axis(node, a, r, "axis");
                    if (s.dim(k) != 1) {
                        throw node.error("cannot squeeze axis " + a + " of input " + s + ": its size is not 1");
                    }
                    drop[k] = true;
                }
            }
            long[] out = new long[r];
            int n = 0;
            for (int i = 0; i < r; i++) {
                if (!drop[i]) {
                    out[n++] = s.dim(i);
                }
            }
            return new Tensor[] {in[0].reshape(Shape.of(Arrays.copyOf(out, n)))};
        }, node.inputType(0));
    }

    private static Planned planUnsqueeze(NodeSpec node) {
        long[] attr = attrAxes(node);
        if (node.opset() < 13 && attr == null) {
            throw node.unsupported("Unsqueeze without the axes attribute");
        }
        if (node.opset() >= 13) {
            if (!node.hasInput(1)) {
                throw node.unsupported("Unsqueeze without the axes input");
            }
            node.requireType(1, DType.INT64);
        }
        // With constant axes the result depends only on the input tensor: a replayed run gets the same view.
        boolean constantAxes = node.opset() < 13 || node.constant(1) != null;
        Memo<Tensor[]> views = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor[] cached = constantAxes ? views.get(in[0]) : null;
            if (cached != null) {
                return cached;
            }
            Shape s = in[0].shape();
            long[] axes = runAxes(node, attr, in);
            int r = s.rank() + axes.length;
            boolean[] ins = new boolean[r];
            for (long a : axes) {
                int k = axis(node, a, r, "axis");
                if (ins[k]) {
                    throw node.error("axis " + a + " is repeated in axes " + Arrays.toString(axes));
                }
                ins[k] = true;
            }
            long[] out = new long[r];
            for (int i = 0, j = 0; i < r; i++) {
                out[i] = ins[i] ? 1 : s.dim(j++);
            }
            Tensor[] result = {in[0].reshape(Shape.of(out))};
            return constantAxes ? views.put(in[0], result) : result;
        }, node.inputType(0));
    }

    private static Planned planDropout(NodeSpec node) {
        DType t = node.requireType(0, FLOATS);
        DType maskType = node.opset() >= 10 ? DType.BOOL : t;
        if (node.opset() < 7 && node.attrs().getInt("is_test", 0) == 0 && node.attrs().getFloat("ratio", 0.5f) != 0) {
            throw node.unsupported("training-mode Dropout (is_test=0)");
        }
        if (node.opset() >= 12 && node.hasInput(2)) {
            Tensor mode = node.constant(2);
            Tensor ratio = node.constant(1);
            if (mode != null && mode.getAsLong(0) != 0 && (!node.hasInput(1) || ratio != null && ratio.getDouble(0) != 0)) {
                throw node.unsupported("training-mode Dropout (training_mode=true with a non-zero ratio)");
            }
        }
        boolean mask = node.outputCount() > 1;
        Kernel k = (ctx, in) -> {
            if (in.length > 2 && in[2] != null && in[2].getAsLong(0) != 0) {
                double ratio = in[1] != null ? in[1].getDouble(0) : 0.5;
                if (ratio != 0) {
                    throw node.error("training-mode Dropout (training_mode=true, ratio " + ratio + ") is not supported");
                }
            }
            if (!mask) {
                return new Tensor[] {in[0]};
            }
            Tensor m = ctx.allocate(maskType, in[0].shape());
            if (maskType == DType.BOOL) {
                m.data().fill((byte) 1);
            } else {
                for (long i = 0, n = m.size(); i < n; i++) {
                    m.setDouble(i, 1);
                }
            }
            return new Tensor[] {in[0], m};
        };
        return mask ? Planned.of(k, t, maskType) : Planned.of(k, t);
    }

    private static Planned planConstantOfShape(NodeSpec node) {
        node.requireType(0, DType.INT64);
        Tensor value = node.attrs().getTensor("value");
        if (value != null && value.size() != 1) {
            throw node.unsupported("value attribute with " + value.size() + " elements (must be 1)");
        }
        if (value != null && value.dtype() == DType.STRING) {
            throw node.unsupported("string value");
        }
        DType type = value == null ? DType.FLOAT : value.dtype();
        return Planned.of((ctx, in) -> {
            long[] dims = longs(in[0]);
            for (long d : dims) {
                if (d < 0) {
                    throw node.error("negative dim in shape " + Arrays.toString(dims));
                }
            }
            Tensor t = ctx.allocate(type, Shape.of(dims));
            if (value == null) {
                t.data().fill((byte) 0);
            } else {
                StridedCopy.fillFrom(value, 0, t, 0, t.size());
            }
            return new Tensor[] {t};
        }, type);
    }

    private static Planned planRange(NodeSpec node) {
        DType t = node.requireType(0, RANGE);
        for (int i = 1; i < 3; i++) {
            if (node.inputType(i) != t) {
                throw node.unsupported("input " + i + " of type " + node.inputType(i) + " differing from start's " + t);
            }
        }
        return Planned.of((ctx, in) -> {
            for (int i = 0; i < 3; i++) {
                if (in[i].size() != 1) {
                    throw node.error("input " + i + " must be a scalar, got shape " + in[i].shape());
                }
            }
            Tensor out;
            if (t.isFloating()) {
                double start = in[0].getDouble(0);
                double limit = in[1].getDouble(0);
                double delta = in[2].getDouble(0);
                if (delta == 0) {
                    throw node.error("delta is 0");
                }
                long n = (long) Math.max(Math.ceil((limit - start) / delta), 0);
                out = ctx.allocate(t, Shape.of(n));
                if (t == DType.FLOAT) {
                    float s = (float) start;
                    float d = (float) delta;
                    for (long i = 0; i < n; i++) {
                        out.data().setAtIndex(Tensor.F32, i, s + i * d);
                    }
                } else {
                    for (long i = 0; i < n; i++) {
                        out.setDouble(i, start + i * delta);
                    }
                }
            } else {
                long start = in[0].getAsLong(0);
                long limit = in[1].getAsLong(0);
                long delta = in[2].getAsLong(0);
                if (delta == 0) {
                    throw node.error("delta is 0");
                }
                long span = limit - start;
                long n = Math.max(Math.ceilDiv(span, delta), 0);
                out = ctx.allocate(t, Shape.of(n));
                for (long i = 0; i < n; i++) {
                    out.setLong(i, start + i * delta);
                }
            }
            return new Tensor[] {out};
        }, t);
    }

    private static Planned planEyeLike(NodeSpec node) {
        node.requireType(0, NUMERIC);
        long k = node.attrs().getInt("k", 0);
        DType type = node.attrs().has("dtype") ? DType.fromOnnxOrNull((int) node.attrs().getInt("dtype", 1)) : node.inputType(0);
        if (type == null || type == DType.STRING) {
            throw node.unsupported("dtype " + DType.onnxTypeName((int) node.attrs().getInt("dtype", 0)));
        }
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            if (s.rank() != 2) {
                throw node.error("input must be 2-D, got shape " + s);
            }
            Tensor out = ctx.allocateZeroed(type, s);
            long rows = s.dim(0);
            long cols = s.dim(1);
            for (long i = Math.max(0, -k); i < rows && i + k < cols; i++) {
                out.setDouble(i * cols + i + k, 1);
            }
            return new Tensor[] {out};
        }, type);
    }
}
