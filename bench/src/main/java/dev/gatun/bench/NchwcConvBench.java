package dev.gatun.bench;

import dev.gatun.engine.cpu.ConvEpilogue;
import dev.gatun.engine.cpu.Nchwc;
import dev.gatun.engine.cpu.NchwcConv;
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
 * {@link NchwcConv} on MobileNetV2's group-1 convolutions at batch 1, blocked input and output (NCHWc), us per call
 * on 1 or 2 intra-op threads. Layer names {@code c_to_m_size} are the 1x1 layers (stride 1); expansions (m &gt; c, and
 * 320 -> 1280) clamp to [0, 6], the projections 144 -> 24, 192 -> 32, 384 -> 64, 576 -> 96 and 960 -> 160 add a
 * residual (as MobileNetV2's repeated blocks do); {@code stem} is 3 -> 32, 3x3 stride 2 pad 1, 224x224 -> 112x112
 * from plain NCHW input, clamped. The ONNX Runtime (MLAS NCHWc) per-node times at one thread, in us, to compare:
 * 32_to_16_112 71, 16_to_96_112 264, 96_to_24_56 83, 24_to_144_56 162, 144_to_24_56 122, 144_to_32_28 33,
 * 32_to_192_28 55, 192_to_32_28 43, 192_to_64_14 24, 64_to_384_14 50, 384_to_64_14 43, 384_to_96_14 64,
 * 96_to_576_14 104, 576_to_96_14 95, 576_to_160_7 47, 160_to_960_7 84, 960_to_160_7 77, 960_to_320_7 145,
 * 320_to_1280_7 209, stem 164. GFLOP/s = 2 * M * C * KH * KW * OH * OW / time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class NchwcConvBench {
    @Param({"32_to_16_112", "16_to_96_112", "96_to_24_56", "24_to_144_56", "144_to_24_56", "144_to_32_28", "32_to_192_28",
        "192_to_32_28", "192_to_64_14", "64_to_384_14", "384_to_64_14", "384_to_96_14", "96_to_576_14", "576_to_96_14",
        "576_to_160_7", "160_to_960_7", "960_to_160_7", "960_to_320_7", "320_to_1280_7", "stem"})
    public String layer;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    Workspace ws;
    NchwcConv.Packed packed;
    Nchwc.Geometry geometry;
    boolean nchwInput;
    MemorySegment x;
    MemorySegment y;
    ConvEpilogue ep;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        int c;
        int m;
        int hw;
        int k = 1;
        int s = 1;
        if (layer.equals("stem")) {
            c = 3;
            m = 32;
            hw = 224;
            k = 3;
            s = 2;
            nchwInput = true;
        } else {
            String[] f = layer.split("_");
            c = Integer.parseInt(f[0]);
            m = Integer.parseInt(f[2]);
            hw = Integer.parseInt(f[3]);
        }
        int pad = k / 2;
        int out = (hw + 2 * pad - k) / s + 1;
        geometry = new Nchwc.Geometry(1, c, m, 1, hw, hw, k, k, out, out, s, s, 1, 1, pad, pad);
        long xFloats = nchwInput ? (long) c * hw * hw : geometry.inputFloats();
        x = BenchSupport.random(arena, 1, xFloats).data();
        MemorySegment w = BenchSupport.random(arena, 2, (long) m * c * k * k).data();
        MemorySegment b = BenchSupport.random(arena, 3, m).data();
        packed = NchwcConv.pack(arena, w, b, m, c, k, k);
        y = arena.allocate(geometry.outputFloats() * 4, 64);
        boolean residual = c > m && (m == 24 && c == 144 || m == 32 && c == 192 || m == 64 || m == 96 || m == 160);
        ep = m > c || nchwInput ? ConvEpilogue.clamp(0f, 6f) : ConvEpilogue.NONE;
        if (residual) {
            ep = ep.withResidual(BenchSupport.random(arena, 4, geometry.outputFloats()).data());
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment conv() {
        NchwcConv.conv(ws, packed, geometry, nchwInput, x, y, ep);
        ws.reset();
        return y;
    }
}
