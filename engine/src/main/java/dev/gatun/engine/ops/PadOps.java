package dev.gatun.engine.ops;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Padding and cropping.
 *
 * <p>Specs: https://onnx.ai/onnx/operators/onnx__Pad.html, https://onnx.ai/onnx/operators/onnx__CenterCropPad.html
 *
 * <ul>
 *   <li>Pad: out dims o_k = d_k + begin_k + end_k (pads [x1_begin, x2_begin, ..., x1_end, x2_end]; negative pads
 *       crop). out[i] = in[m(i - begin)] where m maps an index outside [0, d) by mode: constant (the value),
 *       edge (clamp), reflect (mirror without repeating the edge, period 2(d-1)), wrap (mod d, opset 19+).
 *       Opset 2-10: pads and value attributes; opset 11+: pads input and optional constant_value input;
 *       opset 18+: optional axes input naming the padded axes. Each output row (innermost axis) is its borders plus
 *       one contiguous copy of the source row.</li>
 *   <li>CenterCropPad: for each axis in {@code axes} (default all) with target size s: crop the centred window
 *       (start floor((d - s) / 2)) when d &gt; s, zero-pad centred (floor((s - d) / 2) before) when d &lt; s.</li>
 * </ul>
 */
public final class PadOps implements OpFamily {
    private static final DType[] TYPES = {DType.FLOAT, DType.DOUBLE, DType.FLOAT16, DType.BFLOAT16, DType.INT8, DType.INT16,
        DType.INT32, DType.INT64, DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64, DType.BOOL};

    private enum Mode { CONSTANT, REFLECT, EDGE, WRAP }

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("Pad", 2, TYPES), OpInfo.of("CenterCropPad", 18, TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        node.requireType(0, TYPES);
        return switch (node.opType()) {
            case "Pad" -> planPad(node);
            case "CenterCropPad" -> planCenterCropPad(node);
            default -> throw node.unsupported("op " + node.opType());
        };
    }

    private static Planned planPad(NodeSpec node) {
        String m = node.attrs().getString("mode", "constant");
        Mode mode = switch (m) {
            case "constant" -> Mode.CONSTANT;
            case "reflect" -> Mode.REFLECT;
            case "edge" -> Mode.EDGE;
            case "wrap" -> node.opset() >= 19 ? Mode.WRAP : null;
            default -> null;
        };
        if (mode == null) {
            throw node.unsupported("mode '" + m + "'");
        }
        DType t = node.inputType(0);
        boolean attrs = node.opset() < 11;
        long[] padsAttr = attrs ? node.attrs().getInts("pads", null) : null;
        if (attrs && padsAttr == null) {
            throw node.unsupported("Pad without the pads attribute");
        }
        Tensor attrValue = null;
        if (attrs) {
            float v = node.attrs().getFloat("value", 0f);
            attrValue = Tensor.allocate(Arena.ofAuto(), t, Shape.scalar());
            attrValue.setDouble(0, v);
        } else {
            node.requireType(1, DType.INT64);
            if (node.hasInput(2) && node.inputType(2) != t) {
                throw node.unsupported("constant_value of type " + node.inputType(2) + " for data of type " + t);
            }
            if (node.hasInput(3)) {
                node.requireType(3, DType.INT64, DType.INT32);
            }
        }
        Tensor fixedValue = attrValue;
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            int r = s.rank();
            long[] pads = attrs ? padsAttr : ShapeOps.longs(in[1]);
            long[] axes = !attrs && node.opset() >= 18 && in.length > 3 && in[3] != null ? ShapeOps.longs(in[3]) : null;
            long[] begin = new long[r];
            long[] end = new long[r];
            int na = axes == null ? r : axes.length;
            if (pads.length != 2 * na) {
                throw node.error("pads " + Arrays.toString(pads) + " must have " + 2 * na + " entries for input " + s
                        + (axes == null ? "" : " and axes " + Arrays.toString(axes)));
            }
            for (int i = 0; i < na; i++) {
                int a = axes == null ? i : ShapeOps.axis(node, axes[i], r, "axis");
                begin[a] = pads[i];
                end[a] = pads[i + na];
            }
            Tensor value = fixedValue;
            if (value == null) {
                value = in.length > 2 && in[2] != null ? in[2] : null;
                if (value != null && value.size() != 1) {
                    throw node.error("constant_value must hold one element, got shape " + value.shape());
                }
            }
            return new Tensor[] {pad(ctx, node, in[0], begin, end, mode, value)};
        }, t);
    }

    /** Pads (or crops, for negative pads) {@code x}; {@code value} null means zero. */
    static Tensor pad(KernelContext ctx, NodeSpec node, Tensor x, long[] begin, long[] end, Mode mode, Tensor value) {
        long[] dims = x.shape().dims();
        int r = dims.length;
        long[] outDims = new long[r];
        for (int k = 0; k < r; k++) {
            outDims[k] = dims[k] + begin[k] + end[k];
            if (outDims[k] < 0) {
                throw node.error("pads " + begin[k] + ", " + end[k] + " on axis " + k + " of input " + x.shape()
                        + " give a negative size");
            }
            if (mode != Mode.CONSTANT && dims[k] == 0 && outDims[k] > 0) {
                throw node.error(mode.name().toLowerCase() + " padding of the empty axis " + k + " of input " + x.shape());
            }
        }
        Tensor out = ctx.allocate(x.dtype(), Shape.of(outDims));
        long total = out.size();
        if (total == 0) {
            return out;
        }
        if (r == 0) {
            copyElem(x, 0, out, 0);
            return out;
        }
        long[] inStrides = StridedCopy.strides(dims);
        int last = r - 1;
        long rowLen = outDims[last];
        long d = dims[last];
        long pb = begin[last];
        long lo = Math.max(0, pb);
        long hi = Math.min(rowLen, pb + d);
        long[] idx = new long[r];
        for (long row = 0; row < total; row += rowLen) {
            long srcBase = 0;
            boolean inside = true;
            for (int k = 0; k < last; k++) {
                long si = map(idx[k] - begin[k], dims[k], mode);
                if (si < 0) {
                    inside = false;
                    break;
                }
                srcBase += si * inStrides[k];
            }
            if (!inside) {
                fill(value, out, row, rowLen);
            } else {
                if (hi > lo) {
                    StridedCopy.copy(x, srcBase + lo - pb, new long[] {1}, out, row + lo, new long[] {1}, new long[] {hi - lo});
                }
                long lEnd = Math.min(lo, rowLen);
                long rStart = Math.max(hi, lEnd);
                if (mode == Mode.CONSTANT) {
                    fill(value, out, row, lEnd);
                    fill(value, out, row + rStart, rowLen - rStart);
                } else {
                    for (long o = 0; o < lEnd; o++) {
                        copyElem(x, srcBase + map(o - pb, d, mode), out, row + o);
                    }
                    for (long o = rStart; o < rowLen; o++) {
                        copyElem(x, srcBase + map(o - pb, d, mode), out, row + o);
                    }
                }
            }
            for (int k = last - 1; k >= 0; k--) {
                if (++idx[k] < outDims[k]) {
                    break;
                }
                idx[k] = 0;
            }
        }
        return out;
    }

    /** Source index for position {@code i} of an axis of size {@code d}, or -1 for the constant value. */
    private static long map(long i, long d, Mode mode) {
        if (i >= 0 && i < d) {
            return i;
        }
        return switch (mode) {
            case CONSTANT -> -1;
            case EDGE -> i < 0 ? 0 : d - 1;
            case WRAP -> Math.floorMod(i, d);
            case REFLECT -> {
                if (d == 1) {
                    yield 0;
                }
                long p = 2 * (d - 1);
                long j = Math.floorMod(i, p);
                yield j < d ? j : p - j;
            }
        };
    }

    private static void fill(Tensor value, Tensor out, long from, long n) {
        if (n <= 0) {
            return;
        }
        if (value == null) {
            int esz = out.dtype().byteSize();
            out.data().asSlice(from * esz, n * esz).fill((byte) 0);
        } else {
            StridedCopy.fillFrom(value, 0, out, from, n);
        }
    }

    private static void copyElem(Tensor s, long si, Tensor t, long ti) {
        MemorySegment a = s.data();
        MemorySegment b = t.data();
        switch (s.dtype().byteSize()) {
            case 4 -> b.setAtIndex(Tensor.I32, ti, a.getAtIndex(Tensor.I32, si));
            case 8 -> b.setAtIndex(Tensor.I64, ti, a.getAtIndex(Tensor.I64, si));
            case 2 -> b.setAtIndex(Tensor.I16, ti, a.getAtIndex(Tensor.I16, si));
            default -> b.set(Tensor.I8, ti, a.get(Tensor.I8, si));
        }
    }

    private static Planned planCenterCropPad(NodeSpec node) {
        node.requireType(1, DType.INT64, DType.INT32);
        long[] axesAttr = node.attrs().getInts("axes", null);
        return Planned.of((ctx, in) -> {
            Shape s = in[0].shape();
            int r = s.rank();
            long[] target = ShapeOps.longs(in[1]);
            int na = axesAttr == null ? r : axesAttr.length;
            if (target.length != na) {
                throw node.error("shape " + Arrays.toString(target) + " must have " + na + " entries for input " + s);
            }
            long[] dims = s.dims();
            long[] begin = new long[r];
            long[] end = new long[r];
            for (int i = 0; i < na; i++) {
                int a = axesAttr == null ? i : ShapeOps.axis(node, axesAttr[i], r, "axis");
                if (target[i] < 0) {
                    throw node.error("negative target size in shape " + Arrays.toString(target));
                }
                long diff = target[i] - dims[a];
                // diff >= 0: pad floor(diff / 2) before; diff < 0: crop floor(-diff / 2) before
                begin[a] = diff >= 0 ? diff / 2 : -((-diff) / 2);
                end[a] = diff - begin[a];
            }
            return new Tensor[] {pad(ctx, node, in[0], begin, end, Mode.CONSTANT, null)};
        }, node.inputType(0));
    }
}
