package dev.gatun.bench;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.PrepackCache;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.Kernel;
import dev.gatun.engine.ops.NodeSpec;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What the JMH benchmarks share: the machine's peaks, random tensors, and nodes planned through
 * {@link OpRegistry} exactly as a model's planner would (constant inputs marked constant, so that prepacking
 * happens at plan time and not in the timed loop), run on a {@link Workspace} whose intra-op pool has the
 * benchmark's thread count and which is reset after every invocation (as a session resets it after every run).
 */
final class BenchSupport {
    /** JVM flags every forked benchmark JVM needs (also inherited from the launching JVM, see bench/jmh.sh). */
    static final String VECTOR = "--add-modules=jdk.incubator.vector";
    static final String NATIVE = "--enable-native-access=ALL-UNNAMED";

    /** FP32 FMA peak of the reference machine (2 cores AMD Zen 5, AVX-512): one core, two cores. */
    static final double PEAK_GFLOPS_1T = 230;
    static final double PEAK_GFLOPS_2T = 455;
    /** Sustained DRAM read bandwidth of the reference machine, GB/s (measured 33-36). */
    static final double DRAM_GBPS = 33;

    private BenchSupport() {}

    /** The FP32 peak for {@code threads} threads on the reference machine (two cores at most). */
    static double peakGflops(int threads) {
        return threads <= 1 ? PEAK_GFLOPS_1T : PEAK_GFLOPS_2T;
    }

    /** A float tensor of {@code dims} filled uniformly in [-1, 1) from {@code seed}. */
    static Tensor random(Arena arena, long seed, long... dims) {
        Tensor t = Tensor.allocate(arena, DType.FLOAT, Shape.of(dims));
        MemorySegment s = t.data();
        SplittableRandom r = new SplittableRandom(seed);
        for (long i = 0; i < t.size(); i++) {
            s.setAtIndex(Tensor.F32, i, (float) (r.nextDouble() * 2 - 1));
        }
        return t;
    }

    /** Attributes from alternating names and values (Long, Float, String, long[] or float[]). */
    static Attributes attrs(Object... nameValue) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (int i = 0; i < nameValue.length; i += 2) {
            Object v = nameValue[i + 1];
            Attribute a = switch (v) {
                case Long l -> new Attribute.Int(l);
                case Integer n -> new Attribute.Int(n);
                case Float f -> new Attribute.Float(f);
                case String s -> new Attribute.Str(s);
                case long[] ls -> new Attribute.Ints(ls);
                case float[] fs -> new Attribute.Floats(fs);
                default -> throw new IllegalArgumentException("attribute value " + v);
            };
            m.put((String) nameValue[i], a);
        }
        return new Attributes(m);
    }

    /**
     * Plans one node with {@code inputs} (static shapes known; those with {@code constant[i]} set are constants,
     * as initializers are) and returns its kernel. The prepack cache lives in {@code arena}.
     */
    static Kernel plan(Arena arena, String domain, String opType, int opset, Attributes attrs, Tensor[] inputs,
                       boolean... constant) {
        DType[] types = new DType[inputs.length];
        Shape[] shapes = new Shape[inputs.length];
        Tensor[] consts = new Tensor[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            types[i] = inputs[i] == null ? null : inputs[i].dtype();
            shapes[i] = inputs[i] == null ? null : inputs[i].shape();
            consts[i] = i < constant.length && constant[i] ? inputs[i] : null;
        }
        NodeSpec spec = new NodeSpec(opType.toLowerCase() + "_bench", opType, domain, opset, attrs, types, shapes, consts, 1)
                .withPrepack(new PrepackCache(arena));
        return OpRegistry.plan(spec).kernel();
    }

    /** A workspace with {@code threads} intra-op threads, as a session has. */
    static Workspace workspace(Arena arena, int threads) {
        return new Workspace(arena, Long.MAX_VALUE, threads);
    }
}
