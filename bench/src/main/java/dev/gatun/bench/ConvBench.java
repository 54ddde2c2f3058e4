package dev.gatun.bench;

import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.ops.Kernel;
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
 * Conv layers of ResNet-18 and MobileNetV2 (NCHW, float32, with bias as after BatchNorm folding), planned through
 * the registry with constant weights and bias (so prepacking happens at plan time), on 1 or 2 intra-op threads.
 * Layer names: {@code net_kind_channels_size}, or {@code C-M-HW-K-S-P[-G]} for any other layer:
 * <ul>
 *   <li>{@code r18_3x3_64_56}: 3x3 stride 1 pad 1, 64 -> 64 channels, 56x56 (ResNet-18 layer1);</li>
 *   <li>{@code r18_1x1s2_64to128_56}: 1x1 stride 2, 64 -> 128, 56x56 -> 28x28 (layer2 downsample; layer3's and
 *       layer4's: {@code r18_1x1s2_128to256_28}, {@code r18_1x1s2_256to512_14});</li>
 *   <li>{@code r18_3x3_512_7}: 3x3 stride 1 pad 1, 512 -> 512, 7x7 (layer4: small plane, 9.4 MB of weights);</li>
 *   <li>{@code r18_stem}: 7x7 stride 2 pad 3, 3 -> 64, 224x224 -> 112x112;</li>
 *   <li>{@code r18_3x3_128_28}, {@code r18_3x3_256_14}: 3x3 stride 1 pad 1 (layer2, layer3);</li>
 *   <li>{@code r18_3x3s2_64to128_56}, {@code r18_3x3s2_128to256_28}, {@code r18_3x3s2_256to512_14}: 3x3 stride 2
 *       pad 1, the first conv of layer2..4;</li>
 *   <li>{@code mnv2_1x1_160to960_7}: 1x1 expansion, 160 -> 960, 7x7;</li>
 *   <li>{@code mnv2_1x1_24to144_56}: 1x1 expansion, 24 -> 144, 56x56;</li>
 *   <li>{@code mnv2_dw3x3_144_56}: depthwise 3x3 stride 1 pad 1, 144 channels, 56x56;</li>
 *   <li>{@code mnv2_dw3x3s2_144_56}: depthwise 3x3 stride 2 pad 1, 144 channels, 56x56 -> 28x28.</li>
 * </ul>
 * Secondary results: {@code gflop} (GFLOP/s, 2 * N * M * C/group * kh * kw * OH * OW per run) and {@code peakPct}.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {BenchSupport.VECTOR, BenchSupport.NATIVE})
@State(Scope.Benchmark)
public class ConvBench {
    @Param({"r18_3x3_64_56", "r18_1x1s2_64to128_56", "r18_3x3_512_7", "mnv2_1x1_24to144_56", "mnv2_1x1_160to960_7", "mnv2_dw3x3_144_56", "mnv2_dw3x3s2_144_56"})
    public String layer;

    @Param({"1"})
    public int batch;

    @Param({"1", "2"})
    public int threads;

    Arena arena;
    Workspace ws;
    Kernel kernel;
    Tensor[] inputs;
    double flops;

    /** One layer: in/out channels, input size, kernel, stride, pad, group. */
    record Layer(int c, int m, int hw, int kernel, int stride, int pad, int group) {
        int out() {
            return (hw + 2 * pad - kernel) / stride + 1;
        }
    }

    static Layer layer(String name) {
        return switch (name) {
            case "r18_3x3_64_56" -> new Layer(64, 64, 56, 3, 1, 1, 1);
            case "r18_1x1s2_64to128_56" -> new Layer(64, 128, 56, 1, 2, 0, 1);
            case "r18_1x1s2_128to256_28" -> new Layer(128, 256, 28, 1, 2, 0, 1);
            case "r18_1x1s2_256to512_14" -> new Layer(256, 512, 14, 1, 2, 0, 1);
            case "r18_3x3_512_7" -> new Layer(512, 512, 7, 3, 1, 1, 1);
            case "r18_stem" -> new Layer(3, 64, 224, 7, 2, 3, 1);
            case "r18_3x3_128_28" -> new Layer(128, 128, 28, 3, 1, 1, 1);
            case "r18_3x3_256_14" -> new Layer(256, 256, 14, 3, 1, 1, 1);
            case "r18_3x3s2_64to128_56" -> new Layer(64, 128, 56, 3, 2, 1, 1);
            case "r18_3x3s2_128to256_28" -> new Layer(128, 256, 28, 3, 2, 1, 1);
            case "r18_3x3s2_256to512_14" -> new Layer(256, 512, 14, 3, 2, 1, 1);
            case "mnv2_1x1_160to960_7" -> new Layer(160, 960, 7, 1, 1, 0, 1);
            case "mnv2_1x1_24to144_56" -> new Layer(24, 144, 56, 1, 1, 0, 1);
            case "mnv2_1x1_16to96_112" -> new Layer(16, 96, 112, 1, 1, 0, 1);
            case "mnv2_1x1_32to192_28" -> new Layer(32, 192, 28, 1, 1, 0, 1);
            case "mnv2_1x1_32to16_112" -> new Layer(32, 16, 112, 1, 1, 0, 1);
            case "mnv2_1x1_96to24_56" -> new Layer(96, 24, 56, 1, 1, 0, 1);
            case "mnv2_1x1_144to24_56" -> new Layer(144, 24, 56, 1, 1, 0, 1);
            case "mnv2_1x1_192to32_28" -> new Layer(192, 32, 28, 1, 1, 0, 1);
            case "mnv2_1x1_576to96_14" -> new Layer(576, 96, 14, 1, 1, 0, 1);
            case "mnv2_1x1_960to160_7" -> new Layer(960, 160, 7, 1, 1, 0, 1);
            case "mnv2_dw3x3_144_56" -> new Layer(144, 144, 56, 3, 1, 1, 144);
            case "mnv2_dw3x3s2_144_56" -> new Layer(144, 144, 56, 3, 2, 1, 144);
            default -> custom(name);
        };
    }

    /** {@code C-M-HW-K-S-P[-G]}: any layer, e.g. {@code 64-128-28-1-1-0} (C -> M channels, HW input, kernel, stride, pad, group). */
    private static Layer custom(String name) {
        String[] f = name.split("-");
        if (f.length < 6 || f.length > 7) {
            throw new IllegalArgumentException("unknown layer " + name + " (a named layer, or C-M-HW-K-S-P[-G])");
        }
        int[] v = new int[7];
        v[6] = 1;
        for (int i = 0; i < f.length; i++) {
            v[i] = Integer.parseInt(f[i]);
        }
        return new Layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
    }

    @Setup(Level.Trial)
    public void setUp() {
        Layer l = layer(layer);
        arena = Arena.ofShared();
        ws = BenchSupport.workspace(arena, threads);
        inputs = new Tensor[] {
            BenchSupport.random(arena, 1, batch, l.c(), l.hw(), l.hw()),
            BenchSupport.random(arena, 2, l.m(), l.c() / l.group(), l.kernel(), l.kernel()),
            BenchSupport.random(arena, 3, l.m())
        };
        long k = l.kernel();
        long p = l.pad();
        long s = l.stride();
        kernel = BenchSupport.plan(arena, "", "Conv", 17, BenchSupport.attrs("kernel_shape", new long[] {k, k},
                "pads", new long[] {p, p, p, p}, "strides", new long[] {s, s}, "group", (long) l.group()),
                inputs, false, true, true);
        flops = 2.0 * batch * l.m() * (l.c() / l.group()) * k * k * l.out() * l.out();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ws.close();
        arena.close();
    }

    @Benchmark
    public Tensor[] conv(Rates.Flops r) {
        Tensor[] out = kernel.run(ws, inputs);
        ws.reset();
        r.add(flops, BenchSupport.peakGflops(threads));
        return out;
    }
}
