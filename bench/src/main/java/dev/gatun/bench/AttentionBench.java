package dev.gatun.bench;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.Kernel;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Scaled dot-product attention at MiniLM's shapes: Q, K, V [batch, 12 heads, 128 tokens, 32], output
 * {@code softmax(Q K^T / sqrt(32)) V}, on 1 or 2 intra-op threads; time per run in us.
 * <ul>
 *   <li>{@code unfused}: the chain an exported model holds, each op planned through the registry:
 *       MatMul(Q, K^T) (K^T given as [batch, 12, 32, 128]), Mul by the constant scale, Softmax(axis -1), MatMul(., V).</li>
 *   <li>{@code attention}: the fused op {@code dev.gatun:Attention} (Q, K, V as [batch, seq, heads * head size],
 *       {@code num_heads} = 12, default scale 1/sqrt(head size)) when the registry has it and plans with those
 *       inputs; otherwise the unfused chain again, with a note on stderr saying why.</li>
 * </ul>
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class AttentionBench {
    static final int HEADS = 12;
    static final int SEQ = 128;
    static final int HEAD_SIZE = 32;
    static final String FUSED_DOMAIN = "dev.gatun";

    @Param({"1", "32"})
    public int batch;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    Workspace ws;
    Tensor q;
    Tensor kT;
    Tensor v;
    Tensor scale;
    Kernel scores;
    Kernel scaled;
    Kernel softmax;
    Kernel context;
    Kernel fused;
    Tensor[] fusedInputs;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        q = BenchSupport.random(arena, 1, batch, HEADS, SEQ, HEAD_SIZE);
        kT = BenchSupport.random(arena, 2, batch, HEADS, HEAD_SIZE, SEQ);
        v = BenchSupport.random(arena, 3, batch, HEADS, SEQ, HEAD_SIZE);
        scale = Tensor.ofFloats(arena, new float[] {(float) (1 / Math.sqrt(HEAD_SIZE))});
        Tensor s = BenchSupport.random(arena, 4, batch, HEADS, SEQ, SEQ);
        scores = BenchSupport.plan(arena, "", "MatMul", 13, BenchSupport.attrs(), new Tensor[] {q, kT});
        scaled = BenchSupport.plan(arena, "", "Mul", 14, BenchSupport.attrs(), new Tensor[] {s, scale}, false, true);
        softmax = BenchSupport.plan(arena, "", "Softmax", 13, BenchSupport.attrs("axis", -1L), new Tensor[] {s});
        context = BenchSupport.plan(arena, "", "MatMul", 13, BenchSupport.attrs(), new Tensor[] {s, v});
        fused = planFused();
    }

    /**
     * The fused kernel, or null (with a note) when the registry has no usable dev.gatun:Attention. Its inputs are
     * the projection outputs Q, K, V as [batch, seq, heads * head size] with {@code num_heads} (the layout the
     * attention fusion feeds it), so the unfused chain's transposes to [batch, heads, seq, size] are not counted
     * on either side.
     */
    private Kernel planFused() {
        if (OpRegistry.find(FUSED_DOMAIN, "Attention") == null) {
            System.err.println("AttentionBench: no " + FUSED_DOMAIN + ":Attention in the registry; 'attention' runs the unfused chain");
            return null;
        }
        fusedInputs = new Tensor[] {
            BenchSupport.random(arena, 5, batch, SEQ, HEADS * HEAD_SIZE),
            BenchSupport.random(arena, 6, batch, SEQ, HEADS * HEAD_SIZE),
            BenchSupport.random(arena, 7, batch, SEQ, HEADS * HEAD_SIZE)
        };
        try {
            return BenchSupport.plan(arena, FUSED_DOMAIN, "Attention", 1, BenchSupport.attrs("num_heads", (long) HEADS),
                    fusedInputs);
        } catch (EngineException e) {
            System.err.println("AttentionBench: " + FUSED_DOMAIN + ":Attention does not plan with Q, K, V [batch, seq, heads * size]"
                    + " and num_heads (" + e.getMessage() + "); 'attention' runs the unfused chain");
            return null;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    private Tensor chain() {
        Tensor s = scores.run(ws, new Tensor[] {q, kT})[0];
        s = scaled.run(ws, new Tensor[] {s, scale})[0];
        s = softmax.run(ws, new Tensor[] {s})[0];
        return context.run(ws, new Tensor[] {s, v})[0];
    }

    @Benchmark
    public Tensor unfused() {
        Tensor out = chain();
        ws.reset();
        return out;
    }

    @Benchmark
    public Tensor attention() {
        Tensor out = fused != null ? fused.run(ws, fusedInputs)[0] : chain();
        ws.reset();
        return out;
    }
}
