package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.Elementwise.FLOATS;
import static dev.gatun.engine.ops.Elementwise.NUMERIC;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;

/**
 * Broadcasting arithmetic: Add, Sub, Mul, Div, Pow, Mod, the variadic Min, Max, Sum, Mean, and Expand.
 *
 * <p>Specs: https://onnx.ai/onnx/operators/onnx__Add.html, onnx__Sub.html, onnx__Mul.html, onnx__Div.html,
 * onnx__Pow.html, onnx__Mod.html, onnx__Min.html, onnx__Max.html, onnx__Sum.html, onnx__Mean.html,
 * onnx__Expand.html (all under https://onnx.ai/onnx/operators/).
 *
 * <ul>
 * <li>Add/Sub/Mul/Div: {@code C = A op B}, A and B of one type, numpy broadcasting (opset 7+); before opset 7 the
 *     {@code broadcast}/{@code axis} attributes place B inside A ({@link Broadcast#legacy}). Integer division
 *     truncates toward zero like C; division by zero is a run-time error. Integer results wrap.</li>
 * <li>Pow: {@code Z = X ^ Y}, Z of X's type; Y may have another numeric type (opset 12+). Integer ^ integer is
 *     exact repeated multiplication (negative exponents give 0 except for bases 1 and -1).</li>
 * <li>Mod: fmod=0 gives the remainder with the divisor's sign (Python), fmod=1 the dividend's sign (C fmod).</li>
 * <li>Min/Max/Sum/Mean: N inputs broadcast together (opset 8+; same shapes before), folded left to right.
 *     Min/Max propagate NaN. Mean divides the sum by N.</li>
 * <li>Expand: input broadcast (both ways) with the int64 shape input.</li>
 * </ul>
 * float32 runs the {@link FloatLoops} rows (vectorised for Add/Sub/Mul/Div/Min/Max); other types go through
 * long (integers) or double (float16, bfloat16, double). Layout: contiguous row-major in and out.
 */
public final class BinaryOps implements OpFamily {
    @Override
    public List<OpInfo> ops() {
        return List.of(
                OpInfo.of("Add", NUMERIC), OpInfo.of("Sub", NUMERIC), OpInfo.of("Mul", NUMERIC), OpInfo.of("Div", NUMERIC),
                OpInfo.of("Pow", NUMERIC), OpInfo.of("Mod", 10, NUMERIC),
                OpInfo.of("Min", NUMERIC), OpInfo.of("Max", NUMERIC), OpInfo.of("Sum", FLOATS), OpInfo.of("Mean", FLOATS),
                OpInfo.of("Expand", 8, Elementwise.ALL));
    }

    @Override
    public Planned plan(NodeSpec node) {
        return switch (node.opType()) {
            case "Add" -> arithmetic(node, FloatLoops.ADD);
            case "Sub" -> arithmetic(node, FloatLoops.SUB);
            case "Mul" -> arithmetic(node, FloatLoops.MUL);
            case "Div" -> arithmetic(node, FloatLoops.DIV);
            case "Pow" -> pow(node);
            case "Mod" -> mod(node);
            case "Min" -> variadic(node, FloatLoops.MIN, NUMERIC);
            case "Max" -> variadic(node, FloatLoops.MAX, NUMERIC);
            case "Sum", "Mean" -> variadic(node, FloatLoops.ADD, FLOATS);
            case "Expand" -> expand(node);
            default -> throw node.unsupported("operator " + node.opType());
        };
    }

    /** Both inputs present and of one type, among {@code allowed}. */
    static DType sameTypes(NodeSpec node, DType[] allowed) {
        if (node.inputCount() != 2 || !node.hasInput(0) || !node.hasInput(1)) {
            throw node.unsupported("a node with other than 2 inputs");
        }
        DType t = node.requireType(0, allowed);
        if (node.inputType(1) != t) {
            throw node.unsupported("inputs of different types " + t + " and " + node.inputType(1));
        }
        return t;
    }

    /** The opset &lt; 7 broadcast attribute: whether B is placed into A by {@link Broadcast#legacy}. */
    static boolean legacyBroadcast(NodeSpec node) {
        return node.opset() < 7 && node.attrs().getInt("broadcast", 0) != 0;
    }

    /** B reshaped for old-style broadcasting against A (see {@link #legacyBroadcast}). */
    static Tensor legacyB(NodeSpec node, Tensor a, Tensor b) {
        try {
            return b.reshape(Broadcast.legacy(a.shape(), b.shape(), node.attrs().getInt("axis", 0), node.attrs().has("axis")));
        } catch (IllegalArgumentException e) {
            throw node.error(e.getMessage());
        }
    }

    /** A kernel running {@code row} on two broadcast inputs, with the old broadcast attribute honoured. */
    static Kernel binaryKernel(NodeSpec node, DType outType, Elementwise.Row2 row) {
        boolean legacy = legacyBroadcast(node);
        Memo<Broadcast> plans = new Memo<>();
        Memo<Tensor[]> outputs = new Memo<>();
        return (ctx, in) -> {
            Tensor b = legacy ? legacyB(node, in[0], in[1]) : in[1];
            return Memo.outputs(outputs, Elementwise.binary(ctx, node, in[0], b, outType, row, plans));
        };
    }

    private Planned arithmetic(NodeSpec node, int code) {
        DType t = sameTypes(node, NUMERIC);
        return Planned.of(binaryKernel(node, t, row(node, code, t)), t);
    }

    /** The row for a FloatLoops-coded op on dtype t (integers: wrapping long arithmetic). */
    static Elementwise.Row2 row(NodeSpec node, int code, DType t) {
        if (t == DType.FLOAT) {
            return Elementwise.f32(code);
        }
        if (t.isFloating()) {
            return Elementwise.generic(code);
        }
        boolean u64 = Elementwise.isU64(t);
        return Elementwise.viaLong(switch (code) {
            case FloatLoops.ADD -> Long::sum;
            case FloatLoops.SUB -> (x, y) -> x - y;
            case FloatLoops.MUL -> (x, y) -> x * y;
            case FloatLoops.DIV -> (x, y) -> {
                if (y == 0) {
                    throw node.error("integer division by zero");
                }
                return u64 ? Long.divideUnsigned(x, y) : x / y;
            };
            case FloatLoops.MIN -> u64 ? (x, y) -> Long.compareUnsigned(x, y) <= 0 ? x : y : Math::min;
            case FloatLoops.MAX -> u64 ? (x, y) -> Long.compareUnsigned(x, y) >= 0 ? x : y : Math::max;
            case FloatLoops.FMOD, FloatLoops.PYMOD -> {
                boolean python = code == FloatLoops.PYMOD;
                yield (x, y) -> {
                    if (y == 0) {
                        throw node.error("integer modulo by zero");
                    }
                    if (u64) {
                        return Long.remainderUnsigned(x, y);
                    }
                    long r = x % y;
                    return python && r != 0 && (r < 0) != (y < 0) ? r + y : r;
                };
            }
            default -> throw new IllegalStateException("integer op " + code);
        });
    }

    private Planned pow(NodeSpec node) {
        DType base = node.requireType(0, NUMERIC);
        DType exp = node.requireType(1, NUMERIC);
        Elementwise.Row2 row;
        if (base == DType.FLOAT && exp == DType.FLOAT) {
            row = Elementwise.f32(FloatLoops.POW);
        } else if (base.isFloating() || exp.isFloating()) {
            row = Elementwise.viaDouble(Math::pow);
        } else {
            row = Elementwise.viaLong(BinaryOps::ipow);
        }
        return Planned.of(binaryKernel(node, base, row), base);
    }

    /** Integer power by squaring; wraps on overflow like the fixed-width types do. */
    static long ipow(long base, long exp) {
        if (exp < 0) {
            return base == 1 ? 1 : base == -1 ? ((exp & 1) == 0 ? 1 : -1) : 0;
        }
        long r = 1;
        long b = base;
        long e = exp;
        while (e != 0) {
            if ((e & 1) != 0) {
                r *= b;
            }
            b *= b;
            e >>>= 1;
        }
        return r;
    }

    private Planned mod(NodeSpec node) {
        DType t = sameTypes(node, NUMERIC);
        long fmod = node.attrs().getInt("fmod", 0);
        if (fmod != 0 && fmod != 1) {
            throw node.unsupported("fmod=" + fmod + " (must be 0 or 1)");
        }
        int code = fmod == 1 ? FloatLoops.FMOD : FloatLoops.PYMOD;
        return Planned.of(binaryKernel(node, t, row(node, code, t)), t);
    }

    private Planned variadic(NodeSpec node, int code, DType[] allowed) {
        if (node.inputCount() == 0) {
            throw node.unsupported("a node with no inputs");
        }
        DType t = node.requireType(0, allowed);
        for (int i = 1; i < node.inputCount(); i++) {
            if (node.inputType(i) != t) {
                throw node.unsupported("inputs of different types " + t + " and " + node.inputType(i));
            }
        }
        Elementwise.Row2 row = row(node, code, t);
        boolean mean = node.opType().equals("Mean");
        return Planned.of((ctx, in) -> {
            Tensor acc = in.length == 1 ? Elementwise.expand(ctx, in[0], in[0].shape())
                    : Elementwise.binary(ctx, node, in[0], in[1], t, row);
            for (int j = 2; j < in.length; j++) {
                Shape s = Elementwise.broadcastShape(node, acc.shape(), in[j].shape());
                if (s.equals(acc.shape())) {
                    Elementwise.binaryInto(acc, in[j], acc, row);
                } else {
                    acc = Elementwise.binary(ctx, node, acc, in[j], t, row);
                }
            }
            if (mean && in.length > 1) {
                divideInPlace(acc, in.length);
            }
            return new Tensor[] {acc};
        }, t);
    }

    private static void divideInPlace(Tensor t, int k) {
        long n = t.size();
        if (t.dtype() == DType.FLOAT) {
            MemorySegment s = t.data();
            float fk = k;
            for (long i = 0; i < n; i++) {
                s.setAtIndex(Tensor.F32, i, s.getAtIndex(Tensor.F32, i) / fk);
            }
        } else {
            for (long i = 0; i < n; i++) {
                t.setDouble(i, t.getDouble(i) / k);
            }
        }
    }

    private Planned expand(NodeSpec node) {
        DType t = node.inputType(0);
        if (t == null) {
            throw node.unsupported("Expand without input");
        }
        node.requireType(1, DType.INT64);
        return Planned.of((ctx, in) -> {
            Tensor shapeT = in[1];
            if (shapeT.shape().rank() != 1) {
                throw node.error("shape input must be 1-D, got shape " + shapeT.shape());
            }
            long[] dims = shapeT.toLongArray();
            for (long d : dims) {
                if (d < 0) {
                    throw node.error("shape input has a negative dim: " + Arrays.toString(dims));
                }
            }
            Shape out = Elementwise.broadcastShape(node, in[0].shape(), Shape.of(dims));
            return new Tensor[] {Elementwise.expand(ctx, in[0], out)};
        }, t);
    }
}
