package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Shared helpers of the MatMul and Conv family tests: building attributes, random tensors, running a node, comparing. */
final class DenseOpsTestSupport {
    private DenseOpsTestSupport() {}

    /** Attributes from name/value pairs: Integer/Long -> int, Float -> float, String, long[] -> ints. */
    static Attributes attrs(Object... kv) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            Attribute a = switch (v) {
                case Integer x -> new Attribute.Int(x);
                case Long x -> new Attribute.Int(x);
                case Float x -> new Attribute.Float(x);
                case String x -> new Attribute.Str(x);
                case long[] x -> new Attribute.Ints(x);
                default -> throw new IllegalArgumentException(String.valueOf(v));
            };
            m.put((String) kv[i], a);
        }
        return new Attributes(m);
    }

    /** Plans and runs one node of {@code family} on {@code inputs} (null entries: omitted optional inputs). */
    static Tensor run(Arena arena, OpFamily family, String op, int opset, Attributes attrs, Tensor... inputs) {
        DType[] types = new DType[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            types[i] = inputs[i] == null ? null : inputs[i].dtype();
        }
        Planned p = family.plan(NodeSpec.of(op, opset, attrs, 1, types));
        Tensor[] out = p.kernel().run(new ArenaContext(arena), inputs);
        assertEquals(p.outputTypes()[0], out[0].dtype());
        return out[0];
    }

    /** A tensor of random values: floats in [-1, 1), signed ints in [-5, 5], unsigned in [0, 9]. */
    static Tensor random(Arena arena, Random rnd, DType t, long... dims) {
        Tensor x = Tensor.allocate(arena, t, Shape.of(dims));
        for (long i = 0; i < x.size(); i++) {
            if (t.isFloating()) {
                x.setDouble(i, rnd.nextDouble() * 2 - 1);
            } else if (t.isSigned()) {
                x.setLong(i, rnd.nextInt(11) - 5);
            } else {
                x.setLong(i, rnd.nextInt(10));
            }
        }
        return x;
    }

    /** The elements as doubles. */
    static double[] values(Tensor t) {
        double[] v = new double[Math.toIntExact(t.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.getDouble(i);
        }
        return v;
    }

    /** Tolerance (relative above 1, absolute below) for a dtype after a sum of {@code terms} products: float32 accumulation error, or the rounding of the 16-bit result. */
    static double tolerance(DType t, long terms) {
        return switch (t) {
            case FLOAT -> 1e-5 * (terms + 1);
            case FLOAT16 -> 2e-3;
            case BFLOAT16 -> 1.6e-2;
            case DOUBLE -> 1e-12 * (terms + 1);
            default -> 0;
        };
    }

    static void assertClose(String what, Shape shape, double[] expected, Tensor got, double tol) {
        assertEquals(shape, got.shape(), what + ": shape");
        double[] g = values(got);
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            if (!(Math.abs(g[i] - e) <= tol * Math.max(1, Math.abs(e)))) {
                fail(what + ": element " + i + " is " + g[i] + ", expected " + e);
            }
        }
    }
}
