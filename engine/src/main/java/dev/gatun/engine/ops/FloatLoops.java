package dev.gatun.engine.ops;

import static dev.gatun.engine.tensor.Tensor.F32;

import dev.gatun.engine.cpu.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float32 loops of the elementwise families, and the scalar math they share with the other dtypes.
 *
 * <p>Binary rows ({@link #binary}): {@code n} elements, each input read at stride 1 or 0 (see {@link Broadcast}),
 * the output contiguous. Unary maps ({@link #unary}): {@code n} contiguous elements in, {@code n} out. The ops
 * listed before {@code LAST_VECTOR_*} run {@link FloatVector#SPECIES_PREFERRED} lanes at a time with a scalar
 * tail; the others run the scalar math (in double, rounded once to float) element by element. The op code is
 * switched on outside the loops, so each loop body is straight-line code.
 */
final class FloatLoops {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();
    static final ByteOrder ORDER = ByteOrder.nativeOrder();

    // Binary ops; those up to LAST_VECTOR_BINARY have vector loops.
    static final int ADD = 0, SUB = 1, MUL = 2, DIV = 3, MIN = 4, MAX = 5, PRELU = 6;
    static final int LAST_VECTOR_BINARY = PRELU;
    static final int POW = 7, FMOD = 8, PYMOD = 9;

    // Unary ops; those up to LAST_VECTOR_UNARY have vector loops. p and q are the op's float attributes.
    static final int ABS = 0, NEG = 1, SQRT = 2, EXP = 3, LOG = 4, TANH = 5, SIGMOID = 6, RELU = 7,
            LEAKY_RELU = 8, ERF = 9, GELU = 10, GELU_TANH = 11, HARD_SIGMOID = 12, HARD_SWISH = 13, CLIP = 14,
            RECIPROCAL = 15, SIN = 16, COS = 17, ELU = 18, SWISH = 19;
    static final int LAST_VECTOR_UNARY = SWISH;
    static final int TAN = 20, ASIN = 21, ACOS = 22, ATAN = 23, SINH = 24, COSH = 25, ASINH = 26, ACOSH = 27,
            ATANH = 28, FLOOR = 29, CEIL = 30, ROUND = 31, SIGN = 32, SELU = 33, CELU = 34, THRESHOLDED_RELU = 35,
            SOFTPLUS = 36, SOFTSIGN = 37, MISH = 38, SHRINK = 39;

    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
    private static final double INV_SQRT_2 = 1 / Math.sqrt(2);

    private FloatLoops() {}

    // ---------------------------------------------------------------- binary

    /**
     * {@code o[oo+i] = op(a[ao+i*as], b[bo+i*bs])} for i in [0, n), strides 0 or 1, indices in elements.
     * A stride-0 operand is broadcast into a vector once; each vector op has its own small loop method.
     */
    static void binary(int op, MemorySegment a, long ao, long as, MemorySegment b, long bo, long bs,
                       MemorySegment o, long oo, long n) {
        long i = 0;
        if (op <= LAST_VECTOR_BINARY && n >= L) {
            long bound = n - n % L;
            // A broadcast scalar operand is read as a vector from a small per-thread buffer filled with it, so each
            // loop has one load path (a phi between a boxed constant vector and a loaded one would defeat C2's
            // vector box elimination and allocate on every iteration).
            MemorySegment[] bc = BROADCAST.get();
            long sa = 1;
            long sb = 1;
            if (as == 0) {
                FloatVector.broadcast(S, a.getAtIndex(F32, ao)).intoMemorySegment(bc[0], 0, ORDER);
                a = bc[0];
                ao = 0;
                sa = 0;
            }
            if (bs == 0) {
                FloatVector.broadcast(S, b.getAtIndex(F32, bo)).intoMemorySegment(bc[1], 0, ORDER);
                b = bc[1];
                bo = 0;
                sb = 0;
            }
            switch (op) {
                case ADD -> bAdd(a, ao, sa, b, bo, sb, o, oo, bound);
                case SUB -> bSub(a, ao, sa, b, bo, sb, o, oo, bound);
                case MUL -> bMul(a, ao, sa, b, bo, sb, o, oo, bound);
                case DIV -> bDiv(a, ao, sa, b, bo, sb, o, oo, bound);
                case MIN -> bMin(a, ao, sa, b, bo, sb, o, oo, bound);
                case MAX -> bMax(a, ao, sa, b, bo, sb, o, oo, bound);
                case PRELU -> bPRelu(a, ao, sa, b, bo, sb, o, oo, bound);
                default -> throw new IllegalStateException("binary op " + op);
            }
            i = bound;
        }
        if (op == POW && bs == 0 && b.getAtIndex(F32, bo) == 2f) {
            for (; i < n; i++) {
                float x = a.getAtIndex(F32, ao + i * as);
                o.setAtIndex(F32, oo + i, x * x);
            }
            return;
        }
        for (; i < n; i++) {
            o.setAtIndex(F32, oo + i, binary(op, a.getAtIndex(F32, ao + i * as), b.getAtIndex(F32, bo + i * bs)));
        }
    }

    private static void bAdd(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.add(y), o, oo, i);
        }
    }

    private static void bSub(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.sub(y), o, oo, i);
        }
    }

    private static void bMul(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.mul(y), o, oo, i);
        }
    }

    private static void bDiv(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.div(y), o, oo, i);
        }
    }

    private static void bMin(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.min(y), o, oo, i);
        }
    }

    private static void bMax(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.max(y), o, oo, i);
        }
    }

    private static void bPRelu(MemorySegment a, long ao, long sa, MemorySegment b, long bo, long sb,
                             MemorySegment o, long oo, long bound) {
        for (long i = 0; i < bound; i += L) {
            FloatVector x = load(a, ao, sa, i);
            FloatVector y = load(b, bo, sb, i);
            put(x.blend(x.mul(y), x.lt(0f)), o, oo, i);
        }
    }

    /** Lanes i.. of an operand; a broadcast operand ({@code step} 0) rereads the same vector. */
    private static FloatVector load(MemorySegment s, long off, long step, long i) {
        return FloatVector.fromMemorySegment(S, s, (off + i * step) * 4, ORDER);
    }

    private static final ThreadLocal<MemorySegment[]> BROADCAST = ThreadLocal.withInitial(() -> new MemorySegment[] {
        dev.gatun.engine.NativeMemory.allocateScratch(S.vectorByteSize()), dev.gatun.engine.NativeMemory.allocateScratch(S.vectorByteSize())});

    /** The scalar float32 binary op. */
    static float binary(int op, float x, float y) {
        return switch (op) {
            case ADD -> x + y;
            case SUB -> x - y;
            case MUL -> x * y;
            case DIV -> x / y;
            case MIN -> Math.min(x, y);
            case MAX -> Math.max(x, y);
            case PRELU -> x < 0 ? x * y : x;
            default -> (float) binary(op, (double) x, (double) y);
        };
    }

    /** The scalar binary op in double (float16, bfloat16, double and the non-vector float32 ops). */
    static double binary(int op, double x, double y) {
        return switch (op) {
            case ADD -> x + y;
            case SUB -> x - y;
            case MUL -> x * y;
            case DIV -> x / y;
            case MIN -> Math.min(x, y);
            case MAX -> Math.max(x, y);
            case PRELU -> x < 0 ? x * y : x;
            case POW -> Math.pow(x, y);
            case FMOD -> x % y;
            case PYMOD -> {
                double r = x % y;
                yield r != 0 && (r < 0) != (y < 0) ? r + y : r;
            }
            default -> throw new IllegalStateException("binary op " + op);
        };
    }

    // ---------------------------------------------------------------- unary

    /**
     * {@code out[oo+i] = op(in[io+i])} for i in [0, n). Each vector op has its own small loop method, so that
     * the JIT compiles (and fully inlines) each one on its own.
     */
    static void unary(int op, float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long n) {
        long b = op <= LAST_VECTOR_UNARY ? n - n % L : 0;
        if (b > 0) {
            switch (op) {
                case ABS -> uAbs(p, q, in, io, out, oo, b);
                case NEG -> uNeg(p, q, in, io, out, oo, b);
                case SQRT -> uSqrt(p, q, in, io, out, oo, b);
                case EXP -> uExp(p, q, in, io, out, oo, b);
                case LOG -> uLog(p, q, in, io, out, oo, b);
                case TANH -> uTanh(p, q, in, io, out, oo, b);
                case SIGMOID -> uSigmoid(p, q, in, io, out, oo, b);
                case RELU -> uRelu(p, q, in, io, out, oo, b);
                case LEAKY_RELU -> uLeakyRelu(p, q, in, io, out, oo, b);
                case ERF -> uErf(p, q, in, io, out, oo, b);
                case GELU -> uGelu(p, q, in, io, out, oo, b);
                case GELU_TANH -> uGeluTanh(p, q, in, io, out, oo, b);
                case HARD_SIGMOID -> uHardSigmoid(p, q, in, io, out, oo, b);
                case HARD_SWISH -> uHardSwish(p, q, in, io, out, oo, b);
                case CLIP -> uClip(p, q, in, io, out, oo, b);
                case RECIPROCAL -> uReciprocal(p, q, in, io, out, oo, b);
                case SIN -> uSin(p, q, in, io, out, oo, b);
                case COS -> uCos(p, q, in, io, out, oo, b);
                case ELU -> uElu(p, q, in, io, out, oo, b);
                case SWISH -> uSwish(p, q, in, io, out, oo, b);
                default -> throw new IllegalStateException("unary op " + op);
            }
        }
        for (long i = b; i < n; i++) {
            out.setAtIndex(F32, oo + i, (float) unary(op, in.getAtIndex(F32, io + i), p, q));
        }
    }

    private static void uAbs(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.abs(), out, oo, i);
        }
    }

    private static void uNeg(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.neg(), out, oo, i);
        }
    }

    private static void uSqrt(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.sqrt(), out, oo, i);
        }
    }

    private static void uExp(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(VectorMath.exp(x), out, oo, i);
        }
    }

    private static void uLog(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.lanewise(VectorOperators.LOG), out, oo, i);
        }
    }

    private static void uTanh(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        VectorMath.apply(VectorMath.TANH, in, io, out, oo, b, null, 0);
    }

    private static void uSigmoid(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(sigmoid(x), out, oo, i);
        }
    }

    private static void uRelu(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.max(0f), out, oo, i);
        }
    }

    private static void uLeakyRelu(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.blend(x.mul(p), x.lt(0f)), out, oo, i);
        }
    }

    private static void uErf(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        VectorMath.apply(VectorMath.ERF, in, io, out, oo, b, null, 0);
    }

    private static void uGelu(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        VectorMath.apply(VectorMath.GELU, in, io, out, oo, b, null, 0);
    }

    private static void uGeluTanh(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        VectorMath.apply(VectorMath.GELU_TANH, in, io, out, oo, b, null, 0);
    }

    private static void uHardSigmoid(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.mul(p).add(q).max(0f).min(1f), out, oo, i);
        }
    }

    private static void uHardSwish(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.mul(x.mul(1f / 6f).add(0.5f).max(0f).min(1f)), out, oo, i);
        }
    }

    private static void uClip(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.max(p).min(q), out, oo, i);
        }
    }

    private static void uReciprocal(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(FloatVector.broadcast(S, 1f).div(x), out, oo, i);
        }
    }

    private static void uSin(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.lanewise(VectorOperators.SIN), out, oo, i);
        }
    }

    private static void uCos(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.lanewise(VectorOperators.COS), out, oo, i);
        }
    }

    private static void uElu(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.blend(x.lanewise(VectorOperators.EXPM1).mul(p), x.lt(0f)), out, oo, i);
        }
    }

    private static void uSwish(float p, float q, MemorySegment in, long io, MemorySegment out, long oo, long b) {
        for (long i = 0; i < b; i += L) {
            FloatVector x = get(in, io, i);
            put(x.mul(sigmoid(x.mul(p))), out, oo, i);
        }
    }

    private static FloatVector get(MemorySegment s, long off, long i) {
        return FloatVector.fromMemorySegment(S, s, (off + i) * 4, ORDER);
    }

    private static void put(FloatVector v, MemorySegment s, long off, long i) {
        v.intoMemorySegment(s, (off + i) * 4, ORDER);
    }

    /** 1 / (1 + e^-x) ({@link VectorMath#exp(FloatVector)}): e^-x overflows to +inf for very negative x, giving 0 as it should. */
    private static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(S, 1f).div(VectorMath.exp(x.neg()).add(1f));
    }

    /** The scalar unary op in double; p and q are its attributes. */
    static double unary(int op, double x, double p, double q) {
        return switch (op) {
            case ABS -> Math.abs(x);
            case NEG -> -x;
            case SQRT -> Math.sqrt(x);
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> sigmoid(x);
            case RELU -> x < 0 ? 0 : x;
            case LEAKY_RELU -> x < 0 ? x * p : x;
            case ERF -> erf(x);
            case GELU -> 0.5 * x * (1 + erf(x * INV_SQRT_2));
            case GELU_TANH -> 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
            case HARD_SIGMOID -> Math.max(0, Math.min(1, p * x + q));
            case HARD_SWISH -> x * Math.max(0, Math.min(1, x / 6 + 0.5));
            case CLIP -> Math.min(Math.max(x, p), q);
            case RECIPROCAL -> 1 / x;
            case SIN -> Math.sin(x);
            case COS -> Math.cos(x);
            case ELU -> x < 0 ? p * Math.expm1(x) : x;
            case SWISH -> x * sigmoid(p * x);
            case TAN -> Math.tan(x);
            case ASIN -> Math.asin(x);
            case ACOS -> Math.acos(x);
            case ATAN -> Math.atan(x);
            case SINH -> Math.sinh(x);
            case COSH -> Math.cosh(x);
            case ASINH -> Double.isInfinite(x) ? x : Math.copySign(Math.log(Math.abs(x) + Math.sqrt(x * x + 1)), x);
            case ACOSH -> Math.log(x + Math.sqrt(x * x - 1));
            case ATANH -> 0.5 * Math.log1p(2 * x / (1 - x));
            case FLOOR -> Math.floor(x);
            case CEIL -> Math.ceil(x);
            case ROUND -> Math.rint(x);
            case SIGN -> Double.isNaN(x) ? x : Math.signum(x);
            case SELU -> x > 0 ? q * x : q * p * Math.expm1(x);
            case CELU -> Math.max(0, x) + Math.min(0, p * Math.expm1(x / p));
            case THRESHOLDED_RELU -> x > p ? x : 0;
            case SOFTPLUS -> x > 30 ? x : Math.log1p(Math.exp(x));
            case SOFTSIGN -> x / (1 + Math.abs(x));
            case MISH -> x * Math.tanh(x > 30 ? x : Math.log1p(Math.exp(x)));
            case SHRINK -> x < -p ? x + q : x > p ? x - q : 0;
            default -> throw new IllegalStateException("unary op " + op);
        };
    }

    private static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }

    // ---------------------------------------------------------------- erf

    /** erf in double; see {@link VectorMath#erf(double)}. */
    static double erf(double x) {
        return VectorMath.erf(x);
    }
}
