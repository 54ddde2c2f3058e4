package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;
import static dev.gatun.engine.tensor.Tensor.F64;
import static dev.gatun.engine.tensor.Tensor.I16;
import static dev.gatun.engine.tensor.Tensor.I32;
import static dev.gatun.engine.tensor.Tensor.I64;
import static dev.gatun.engine.tensor.Tensor.I8;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Cast and CastLike: every element converted to the target type, same shape.
 *
 * <p>Specs: https://onnx.ai/onnx/operators/onnx__Cast.html, https://onnx.ai/onnx/operators/onnx__CastLike.html.
 *
 * <p>Targets: float, double, float16, bfloat16, int8..int64, uint8..uint64, bool. Cast's {@code to} is a type
 * id (opset 6+) or a type name (opset 1); CastLike takes the type of its second input (opset 15+). Conversions:
 * floats to narrower floats round to nearest even (double to float16/bfloat16 rounds once, not twice); floats to
 * integers truncate toward zero, then wrap to the width like a C cast through int64 (NaN gives 0); integers wrap;
 * anything to bool is {@code x != 0} (NaN is true); bool is 0/1. {@code saturate} only concerns float8 targets,
 * which are refused, as are string, int4/uint4, int2/uint2, float4 and float8 types.
 * Casting to the input's own type returns a view of the input. Layout: contiguous row-major.
 */
public final class CastOps implements OpFamily {
    private static final DType[] TYPES = Elementwise.ALL;

    @Override
    public List<OpInfo> ops() {
        return List.of(OpInfo.of("Cast", TYPES), OpInfo.of("CastLike", 15, TYPES));
    }

    @Override
    public Planned plan(NodeSpec node) {
        DType from = node.requireType(0, TYPES);
        DType to;
        if (node.opType().equals("CastLike")) {
            to = node.inputType(1);
            if (to == null) {
                throw node.unsupported("CastLike without its target_type input");
            }
            if (to == DType.STRING) {
                throw node.unsupported("cast to string");
            }
        } else {
            to = target(node);
        }
        if (node.attrs().has("round_mode") && !node.attrs().getString("round_mode", "up").equals("up")) {
            throw node.unsupported("round_mode (only used for float8e8m0 targets)");
        }
        DType target = to;
        Memo<Tensor[]> outputs = new Memo<>();
        return Planned.of((ctx, in) -> {
            Tensor x = in[0];
            if (x.dtype() == target) {
                return new Tensor[] {x.reshape(x.shape())};
            }
            Tensor o = ctx.allocate(target, x.shape());
            convert(x, o);
            return Memo.outputs(outputs, o);
        }, to);
    }

    private static DType target(NodeSpec node) {
        var a = node.attrs().get("to");
        if (a == null) {
            throw node.unsupported("Cast without the 'to' attribute");
        }
        if (a instanceof Attribute.Str s) {
            for (DType t : DType.values()) {
                if (t.onnxName().equalsIgnoreCase(s.value())) {
                    return checkTarget(node, t, s.value());
                }
            }
            throw node.unsupported("cast to '" + s.value() + "'");
        }
        int id = (int) node.attrs().getInt("to", 0);
        DType t = DType.fromOnnxOrNull(id);
        if (t == null) {
            throw node.unsupported("cast to " + DType.onnxTypeName(id) + " (type " + id + ")");
        }
        return checkTarget(node, t, t.onnxName());
    }

    private static DType checkTarget(NodeSpec node, DType t, String name) {
        if (t == DType.STRING) {
            throw node.unsupported("cast to " + name);
        }
        return t;
    }

    /** Converts every element of {@code x} into {@code o} (same element count, different types). */
    static void convert(Tensor x, Tensor o) {
        long n = x.size();
        MemorySegment s = x.data();
        MemorySegment d = o.data();
        DType from = x.dtype();
        DType to = o.dtype();
        if (from == DType.FLOAT) {
            switch (to) {
                case FLOAT16 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(I16, i, Float.floatToFloat16(s.getAtIndex(F32, i)));
                    }
                    return;
                }
                case BFLOAT16 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(I16, i, DType.floatToBf16(s.getAtIndex(F32, i)));
                    }
                    return;
                }
                case DOUBLE -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(F64, i, s.getAtIndex(F32, i));
                    }
                    return;
                }
                default -> { }
            }
        } else if (to == DType.FLOAT) {
            switch (from) {
                case FLOAT16 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(F32, i, Float.float16ToFloat(s.getAtIndex(I16, i)));
                    }
                    return;
                }
                case BFLOAT16 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(F32, i, DType.bf16ToFloat(s.getAtIndex(I16, i)));
                    }
                    return;
                }
                case DOUBLE -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(F32, i, (float) s.getAtIndex(F64, i));
                    }
                    return;
                }
                case INT64 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(F32, i, (float) s.getAtIndex(I64, i));
                    }
                    return;
                }
                case INT32 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(F32, i, (float) s.getAtIndex(I32, i));
                    }
                    return;
                }
                default -> { }
            }
        } else if (from == DType.INT32 && to == DType.INT64) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(I64, i, s.getAtIndex(I32, i));
            }
            return;
        } else if (from == DType.INT64 && to == DType.INT32) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(I32, i, (int) s.getAtIndex(I64, i));
            }
            return;
        }
        generic(x, o, n);
    }

    private static void generic(Tensor x, Tensor o, long n) {
        DType from = x.dtype();
        DType to = o.dtype();
        if (to == DType.BOOL) {
            MemorySegment d = o.data();
            for (long i = 0; i < n; i++) {
                boolean nz = from.isFloating() ? x.getDouble(i) != 0 || Double.isNaN(x.getDouble(i)) : x.getAsLong(i) != 0;
                d.set(I8, i, (byte) (nz ? 1 : 0));
            }
        } else if (to.isFloating()) {
            for (long i = 0; i < n; i++) {
                setFloating(o, i, x.getDouble(i));
            }
        } else if (from.isFloating()) {
            boolean u64 = to == DType.UINT64;
            for (long i = 0; i < n; i++) {
                o.setLong(i, toLong(x.getDouble(i), u64));
            }
        } else {
            for (long i = 0; i < n; i++) {
                o.setLong(i, x.getAsLong(i));
            }
        }
    }

    /** A double stored into a floating tensor, rounded once. */
    private static void setFloating(Tensor o, long i, double v) {
        MemorySegment d = o.data();
        switch (o.dtype()) {
            case FLOAT -> d.setAtIndex(F32, i, (float) v);
            case DOUBLE -> d.setAtIndex(F64, i, v);
            case FLOAT16 -> d.setAtIndex(I16, i, Float.floatToFloat16(toOddFloat(v)));
            case BFLOAT16 -> d.setAtIndex(I16, i, DType.floatToBf16(toOddFloat(v)));
            default -> throw new IllegalStateException("not floating: " + o.dtype());
        }
    }

    /**
     * double to float rounding to odd: truncate, then set the last bit when inexact. Rounding that float to a
     * narrower format (float16, bfloat16) to nearest even then gives the correctly rounded result of the double.
     */
    static float toOddFloat(double v) {
        float f = (float) v;
        if (Float.isInfinite(f) || Double.isNaN(v) || (double) f == v) {
            return f;
        }
        int bits = Float.floatToRawIntBits(f);
        if (Math.abs((double) f) > Math.abs(v)) {
            bits--;
        }
        return Float.intBitsToFloat(bits | 1);
    }

    /** A float value to an integer: truncated toward zero, NaN to 0, uint64 range above 2^63 kept. */
    static long toLong(double v, boolean u64) {
        if (u64 && v >= 0x1p63) {
            return v >= 0x1p64 ? -1L : (long) (v - 0x1p63) ^ Long.MIN_VALUE;
        }
        return (long) v;
    }
}
