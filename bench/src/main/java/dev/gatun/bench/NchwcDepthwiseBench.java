package dev.gatun.bench;

import dev.gatun.engine.cpu.ConvEpilogue;
import dev.gatun.engine.cpu.Nchwc;
import dev.gatun.engine.cpu.NchwcDepthwise;
import dev.gatun.engine.graph.Workspace;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * The depthwise 3x3 layers of MobileNetV2 (batch 1, pad 1, ReLU6 fused as clamp(0, 6)) through
 * {@link NchwcDepthwise#conv} in the blocked layout, on 1 or 2 intra-op threads; microseconds a call. Layer names
 * {@code cCHANNELS_hSIZE_sSTRIDE}; ONNX Runtime's NCHWc time for the same node at one thread on the reference machine
 * (us): c32_h112_s1 103, c96_h112_s2 113, c144_h56_s1 106, c144_h56_s2 37, c192_h28_s1 36, c192_h28_s2 14,
 * c384_h14_s1 20, c576_h14_s1 29, c576_h14_s2 12, c960_h7_s1 18.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class NchwcDepthwiseBench {
    @Param({"c32_h112_s1", "c96_h112_s2", "c144_h56_s1", "c144_h56_s2", "c192_h28_s1", "c192_h28_s2", "c384_h14_s1",
            "c576_h14_s1", "c576_h14_s2", "c960_h7_s1"})
    public String layer;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    Workspace ws;
    NchwcDepthwise.Packed packed;
    Nchwc.Geometry geometry;
    MemorySegment x;
    MemorySegment y;
    final ConvEpilogue relu6 = ConvEpilogue.clamp(0f, 6f);

    @Setup(Level.Trial)
    public void setUp() {
        String[] f = layer.split("_");
        int c = Integer.parseInt(f[0].substring(1));
        int hw = Integer.parseInt(f[1].substring(1));
        int s = Integer.parseInt(f[2].substring(1));
        int out = (hw + 2 - 3) / s + 1;
        geometry = new Nchwc.Geometry(1, c, c, c, hw, hw, 3, 3, out, out, s, s, 1, 1, 1, 1);
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        x = BenchSupport.random(arena, 1, geometry.inputFloats()).data();
        y = arena.allocate(geometry.outputFloats() * 4, 64);
        MemorySegment w = BenchSupport.random(arena, 2, c, 1, 3, 3).data();
        MemorySegment b = BenchSupport.random(arena, 3, c).data();
        packed = NchwcDepthwise.pack(arena, w, b, c, 3, 3);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment conv() {
        NchwcDepthwise.conv(ws, packed, geometry, x, y, relu6);
        return y;
    }
}
