package dev.gatun.engine.ops;

import static dev.gatun.engine.ops.Elementwise.FLOATS;
import static dev.gatun.engine.ops.Elementwise.NUMERIC;
import static dev.gatun.engine.ops.Elementwise.SIGNED_NUMERIC;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongUnaryOperator;

/**
 * Elementwise math functions: {@code Y[i] = f(X[i])}, same shape, same type (IsNaN/IsInf: bool).
 *
 * <p>Specs (https://onnx.ai/onnx/operators/onnx__&lt;Op&gt;.html): Abs, Neg, Reciprocal, Sqrt, Exp, Log, Erf, Sin, Cos,
 * Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Floor, Ceil, Round, Sign, IsNaN, IsInf.
 *
 * <p>float32 runs {@link FloatLoops#unary} (Vector API for Abs, Neg, Sqrt, Exp, Log, Erf, Reciprocal, Sin, Cos;
 * the rest element by element in double, rounded once). float16/bfloat16/double go through double. Abs, Neg and
 * Sign also take integers (wrapping: Neg of the most negative value is itself). Round is half to even. Erf on
 * float32 vectors is a rational approximation within a few ulp; elsewhere it is accurate to double precision.
 * IsInf honours {@code detect_positive}/{@code detect_negative} (default 1). Layout: contiguous row-major.
 */
public final class UnaryOps implements OpFamily {
    private record Def(int code, int fromOpset, DType[] types) {}

    private static final Map<String, Def> DEFS = Map.ofEntries(
            Map.entry("Abs", new Def(FloatLoops.ABS, 1, NUMERIC)),
            Map.entry("Neg", new Def(FloatLoops.NEG, 1, SIGNED_NUMERIC)),
            Map.entry("Reciprocal", new Def(FloatLoops.RECIPROCAL, 1, FLOATS)),
            Map.entry("Sqrt", new Def(FloatLoops.SQRT, 1, FLOATS)),
            Map.entry("Exp", new Def(FloatLoops.EXP, 1, FLOATS)),
            Map.entry("Log", new Def(FloatLoops.LOG, 1, FLOATS)),
            Map.entry("Erf", new Def(FloatLoops.ERF, 9, FLOATS)),
            Map.entry("Sin", new Def(FloatLoops.SIN, 7, FLOATS)),
            Map.entry("Cos", new Def(FloatLoops.COS, 7, FLOATS)),
            Map.entry("Tan", new Def(FloatLoops.TAN, 7, FLOATS)),
            Map.entry("Asin", new Def(FloatLoops.ASIN, 7, FLOATS)),
            Map.entry("Acos", new Def(FloatLoops.ACOS, 7, FLOATS)),
            Map.entry("Atan", new Def(FloatLoops.ATAN, 7, FLOATS)),
            Map.entry("Sinh", new Def(FloatLoops.SINH, 9, FLOATS)),
            Map.entry("Cosh", new Def(FloatLoops.COSH, 9, FLOATS)),
            Map.entry("Asinh", new Def(FloatLoops.ASINH, 9, FLOATS)),
            Map.entry("Acosh", new Def(FloatLoops.ACOSH, 9, FLOATS)),
            Map.entry("Atanh", new Def(FloatLoops.ATANH, 9, FLOATS)),
            Map.entry("Floor", new Def(FloatLoops.FLOOR, 1, FLOATS)),
            Map.entry("Ceil", new Def(FloatLoops.CEIL, 1, FLOATS)),
            Map.entry("Round", new Def(FloatLoops.ROUND, 11, FLOATS)),
            Map.entry("Sign", new Def(FloatLoops.SIGN, 9, NUMERIC)));

    @Override
    public List<OpInfo> ops() {
        List<OpInfo> l = new ArrayList<>();
        DEFS.forEach((op, d) -> l.add(OpInfo.of(op, d.fromOpset(), d.types())));
        l.add(OpInfo.of("IsNaN", 9, FLOATS));
        l.add(OpInfo.of("IsInf", 10, FLOATS));
        return l;
    }

    @Override
    public Planned plan(NodeSpec node) {
        switch (node.opType()) {
            case "IsNaN" -> {
                node.requireType(0, FLOATS);
                return Planned.of(classify(node, true, false, false), DType.BOOL);
            }
            case "IsInf" -> {
                node.requireType(0, FLOATS);
                boolean pos = node.attrs().getInt("detect_positive", 1) != 0;
                boolean neg = node.attrs().getInt("detect_negative", 1) != 0;
                return Planned.of(classify(node, false, pos, neg), DType.BOOL);
            }
            default -> {
                Def d = DEFS.get(node.opType());
                if (d == null) {
                    throw node.unsupported("operator " + node.opType());
                }
                DType t = node.requireType(0, d.types());
                return Planned.of(Elementwise.unary(t, d.code(), 0, 0, integerOp(node.opType(), t)), t);
            }
        }
    }

    /** The integer form of Abs, Neg, Sign (null for float-only ops). */
    private static LongUnaryOperator integerOp(String op, DType t) {
        boolean unsigned = !t.isSigned();
        return switch (op) {
            case "Abs" -> unsigned ? x -> x : Math::abs;
            case "Neg" -> x -> -x;
            case "Sign" -> unsigned ? x -> x != 0 ? 1 : 0 : Long::signum;
            default -> null;
        };
    }

    /** IsNaN (nan=true) or IsInf (which infinities), bool out. */
    private static Kernel classify(NodeSpec node, boolean nan, boolean pos, boolean neg) {
        return (ctx, in) -> {
            Tensor x = in[0];
            Tensor o = ctx.allocate(DType.BOOL, x.shape());
            long n = x.size();
            MemorySegment d = o.data();
            boolean f32 = x.dtype() == DType.FLOAT;
            MemorySegment s = x.data();
            for (long i = 0; i < n; i++) {
                double v = f32 ? s.getAtIndex(Tensor.F32, i) : x.getDouble(i);
                boolean r = nan ? Double.isNaN(v) : (pos && v == Double.POSITIVE_INFINITY) || (neg && v == Double.NEGATIVE_INFINITY);
                d.set(Tensor.I8, i, (byte) (r ? 1 : 0));
            }
            return new Tensor[] {o};
        };
    }
}
