package dev.gatun.engine.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Helpers shared by the shape, layout and pad op tests: building nodes, random tensors and index arithmetic. */
final class LayoutTestSupport {
    private LayoutTestSupport() {}

    /** Attributes from name/value pairs: Long, long[], Float, String or Tensor values. */
    static Attributes attrs(Object... kv) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            String name = (String) kv[i];
            Object v = kv[i + 1];
            m.put(name, switch (v) {
                case Integer x -> new Attribute.Int(x);
                case Long x -> new Attribute.Int(x);
                case long[] x -> new Attribute.Ints(x);
                case Float x -> new Attribute.Float(x);
                case String x -> new Attribute.Str(x);
                case Tensor x -> new Attribute.TensorValue(x);
                default -> throw new IllegalArgumentException(v.toString());
            });
        }
        return new Attributes(m);
    }

    /** Plans the node through the registry (null inputs are omitted optional ones) and runs it. */
    static Tensor[] run(Arena arena, String op, int opset, Attributes attrs, int outputs, Tensor... inputs) {
        DType[] types = new DType[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            types[i] = inputs[i] == null ? null : inputs[i].dtype();
        }
        Planned p = OpRegistry.plan(NodeSpec.of(op, opset, attrs, outputs, types));
        Tensor[] out = p.kernel().run(new ArenaContext(arena), inputs);
        assertEquals(outputs, out.length);
        for (int i = 0; i < out.length; i++) {
            assertEquals(p.outputTypes()[i], out[i].dtype(), "output " + i + " dtype");
        }
        return out;
    }

    static Tensor run1(Arena arena, String op, int opset, Attributes attrs, Tensor... inputs) {
        return run(arena, op, opset, attrs, 1, inputs)[0];
    }

    /** A tensor of {@code dtype} with distinct pseudo-random values (small integers fit every type). */
    static Tensor random(Arena arena, Random rnd, DType dtype, long... dims) {
        Shape s = Shape.of(dims);
        if (dtype == DType.STRING) {
            String[] v = new String[Math.toIntExact(s.size())];
            for (int i = 0; i < v.length; i++) {
                v[i] = "s" + rnd.nextInt(1000);
            }
            return Tensor.ofStrings(s, v);
        }
        Tensor t = Tensor.allocate(arena, dtype, s);
        for (long i = 0; i < t.size(); i++) {
            if (dtype == DType.FLOAT || dtype == DType.DOUBLE) {
                t.setDouble(i, rnd.nextGaussian());
            } else if (dtype == DType.BOOL) {
                t.setLong(i, rnd.nextInt(2));
            } else {
                t.setLong(i, rnd.nextInt(100));
            }
        }
        return t;
    }

    static Tensor longs(Arena arena, long... v) {
        return Tensor.ofLongs(arena, v, v.length);
    }

    static Tensor scalarLong(Arena arena, long v) {
        return Tensor.ofLongs(arena, new long[] {v});
    }

    static Tensor floats(Arena arena, float[] v, long... dims) {
        return Tensor.ofFloats(arena, v, dims);
    }

    /** Element {@code i} as an object comparable across dtypes (bit-exact for numbers). */
    static Object elem(Tensor t, long i) {
        if (t.dtype() == DType.STRING) {
            return t.strings()[Math.toIntExact(i)];
        }
        int esz = t.dtype().byteSize();
        return switch (esz) {
            case 1 -> (long) t.data().get(Tensor.I8, i);
            case 2 -> (long) t.data().getAtIndex(Tensor.I16, i);
            case 4 -> (long) t.data().getAtIndex(Tensor.I32, i);
            default -> t.data().getAtIndex(Tensor.I64, i);
        };
    }

    /** Flat row-major index of {@code idx} in {@code dims}. */
    static long flat(long[] idx, long[] dims) {
        long f = 0;
        for (int k = 0; k < dims.length; k++) {
            f = f * dims[k] + idx[k];
        }
        return f;
    }

    /** The multi-index of flat index {@code f} in {@code dims}. */
    static long[] unflat(long f, long[] dims) {
        long[] idx = new long[dims.length];
        for (int k = dims.length - 1; k >= 0; k--) {
            idx[k] = f % dims[k];
            f /= dims[k];
        }
        return idx;
    }
}
