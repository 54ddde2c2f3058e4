package dev.gatun.engine.ops;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Helpers shared by the indexing, scatter and sort op tests: planning and running a node, tensors, coordinates. */
final class IndexingTestSupport {
    private IndexingTestSupport() {}

    /** Attributes from alternating name, value pairs (Long, Float, String or long[] values). */
    static Attributes attrs(Object... kv) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            Attribute a = switch (v) {
                case Integer n -> new Attribute.Int(n);
                case Long n -> new Attribute.Int(n);
                case Float f -> new Attribute.Float(f);
                case String s -> new Attribute.Str(s);
                case long[] l -> new Attribute.Ints(l);
                default -> throw new IllegalArgumentException(String.valueOf(v));
            };
            m.put((String) kv[i], a);
        }
        return new Attributes(m);
    }

    /** Plans the node through the registry (types from the inputs; null = omitted) and runs it once. */
    static Tensor[] run(Arena arena, String op, int opset, Attributes attrs, int outputs, Tensor... inputs) {
        DType[] types = new DType[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            types[i] = inputs[i] == null ? null : inputs[i].dtype();
        }
        Planned p = OpRegistry.plan(NodeSpec.of(op, opset, attrs, outputs, types));
        Tensor[] out = p.kernel().run(new ArenaContext(arena), inputs);
        for (int i = 0; i < out.length; i++) {
            if (out[i].dtype() != p.outputTypes()[i]) {
                throw new AssertionError("output " + i + " is " + out[i].dtype() + ", planned " + p.outputTypes()[i]);
            }
        }
        return out;
    }

    /** A tensor of {@code dtype} holding {@code values} converted (via setDouble). */
    static Tensor tensor(Arena arena, DType dtype, double[] values, long... dims) {
        Tensor t = Tensor.allocate(arena, dtype, Shape.of(dims));
        for (int i = 0; i < values.length; i++) {
            t.setDouble(i, values[i]);
        }
        return t;
    }

    /** A scalar int64 tensor. */
    static Tensor scalar(Arena arena, long v) {
        return Tensor.ofLongs(arena, new long[] {v});
    }

    /** Random small integers in [lo, hi] (small ranges give ties). */
    static double[] randomInts(Random rnd, long n, int lo, int hi) {
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = lo + rnd.nextInt(hi - lo + 1);
        }
        return v;
    }

    /** Random dims of the given rank, drawn from sizes with odd tails. */
    static long[] randomDims(Random rnd, int rank) {
        long[] sizes = {1, 2, 3, 5, 7, 17};
        long[] d = new long[rank];
        for (int i = 0; i < rank; i++) {
            d[i] = sizes[rnd.nextInt(sizes.length)];
        }
        return d;
    }

    static long size(long[] dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /** Row-major coordinates of flat index {@code flat}. */
    static long[] unravel(long flat, long[] dims) {
        long[] c = new long[dims.length];
        for (int d = dims.length - 1; d >= 0; d--) {
            c[d] = flat % dims[d];
            flat /= dims[d];
        }
        return c;
    }

    /** Flat row-major index of {@code coord}. */
    static long ravel(long[] coord, long[] dims) {
        long f = 0;
        for (int d = 0; d < dims.length; d++) {
            f = f * dims[d] + coord[d];
        }
        return f;
    }

    /** The elements as doubles. */
    static double[] values(Tensor t) {
        double[] v = new double[Math.toIntExact(t.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.getDouble(i);
        }
        return v;
    }
}
