package dev.gatun.engine.quant;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.io.Npy;
import dev.gatun.engine.models.OrtReference;
import dev.gatun.engine.onnx.proto.Onnx.ModelProto;
import dev.gatun.engine.onnx.proto.Onnx.NodeProto;
import dev.gatun.engine.onnx.proto.Onnx.TensorProto;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Quantizer} on small seeded models: the nodes it writes, the accuracy of the quantized model against the
 * float one on Gatun, and ONNX Runtime loading the output and agreeing with Gatun.
 */
class QuantizerTest {
    @TempDir
    Path tmp;

    /** Outputs of {@code model} on Gatun for input x. */
    static float[] run(byte[] model, Tensor x) {
        try (Model m = Model.load(model, "m"); Session s = m.newSession(); Result r = s.run(Map.of("x", x))) {
            return r.get(0).toFloatArray();
        }
    }

    static Tensor input(Arena arena, long seed, long... dims) {
        Random r = new Random(seed);
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return Tensor.ofFloats(arena, v, dims);
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    static List<String> ops(byte[] model) throws Exception {
        return ModelProto.parseFrom(model).getGraph().getNodeList().stream().map(NodeProto::getOpType).toList();
    }

    static TensorProto initializer(byte[] model, String name) throws Exception {
        return ModelProto.parseFrom(model).getGraph().getInitializerList().stream().filter(t -> t.getName().equals(name))
                .findFirst().orElseThrow(() -> new AssertionError("no initializer " + name));
    }

    /** ONNX Runtime's output on the model bytes (written to a file). */
    float[] ort(byte[] model, Tensor x, Arena arena) throws Exception {
        Path f = Files.createTempFile(tmp, "q", ".onnx");
        Files.write(f, model);
        return OrtReference.run(f, Map.of("x", x), arena).values().iterator().next().toFloatArray();
    }

    @Test
    void dynamicPerChannelWritesTheMatMulIntegerChainAndStaysClose() throws Exception {
        byte[] fp32 = TestModels.mlp(17, 1);
        Quantizer.Quantized q = Quantizer.quantize(fp32, "mlp", QuantOptions.dynamic(), null);
        List<String> ops = ops(q.bytes());
        assertEquals(3, ops.stream().filter("MatMulInteger"::equals).count(), ops.toString());
        assertFalse(ops.contains("MatMul") || ops.contains("Gemm"), ops.toString());
        assertEquals(List.of(40L), initializer(q.bytes(), "fc1_W_scale").getDimsList());
        assertEquals(3, q.report().layers().size());
        assertTrue(q.report().layers().stream().allMatch(l -> l.perChannel() && l.relError() < 0.02), q.report().format());
        // Per-tensor activations: the int8 weights make the file smaller (per row, this tiny model's extra constants,
        // the column sums and the row-quantization nodes, outweigh what its 1,300 weights save).
        Quantizer.Quantized perTensor = Quantizer.quantize(fp32, "mlp", QuantOptions.dynamic().withPerRowActivations(false), null);
        assertTrue(perTensor.report().bytesAfter() < perTensor.report().bytesBefore());
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 5, 7, 24);
            float[] ref = run(fp32, x);
            float[] got = run(q.bytes(), x);
            assertTrue(cosine(ref, got) > 0.999, "cosine " + cosine(ref, got));
            float[] ort = ort(q.bytes(), x, arena);
            for (int i = 0; i < got.length; i++) {
                assertEquals(ort[i], got[i], 2e-2 * maxAbs(ort), "element " + i);
            }
        }
    }

    @Test
    void prunedModelWithSparseInitializersQuantizes() throws Exception {
        byte[] fp32 = TestModels.mlp(17, 1);
        byte[] pruned = dev.gatun.engine.prune.Pruner.prune(fp32, "mlp", dev.gatun.engine.prune.PruneOptions.of(0.7),
                dev.gatun.engine.prune.Pruner.Progress.NONE).toByteArray();
        assertTrue(ModelProto.parseFrom(pruned).getGraph().getSparseInitializerCount() > 0, "the pruned file stores sparse weights");
        Quantizer.Quantized q = Quantizer.quantize(pruned, "mlp-70", QuantOptions.dynamic(), null);
        ModelProto out = ModelProto.parseFrom(q.bytes());
        assertEquals(0, out.getGraph().getSparseInitializerCount());
        assertEquals(3, ops(q.bytes()).stream().filter("MatMulInteger"::equals).count(), ops(q.bytes()).toString());
        // the pruned zeros stay zeros: at least 70% of fc1's int8 weights are 0 (symmetric weights, zero point 0)
        TensorProto w = out.getGraph().getInitializerList().stream().filter(t -> t.getDataType() == 3 && t.getDimsCount() == 2)
                .findFirst().orElseThrow();
        byte[] q8 = w.getRawData().toByteArray();
        long zeros = 0;
        for (byte b : q8) {
            zeros += b == 0 ? 1 : 0;
        }
        assertTrue(zeros >= 0.7 * q8.length, zeros + " zeros of " + q8.length);
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 9, 5, 24);
            float[] ref = run(pruned, x);
            float[] got = run(q.bytes(), x);
            assertTrue(cosine(ref, got) > 0.999, "cosine " + cosine(ref, got));
        }
    }

    @Test
    void dynamicShareOneDynamicQuantizeLinearPerActivation() throws Exception {
        Quantizer.Quantized q = Quantizer.quantize(TestModels.mlp(17, 1), "mlp", QuantOptions.dynamic().withPerRowActivations(false), null);
        // fc1 reads x, fc2 reads r1, head reads a2: three distinct activations.
        assertEquals(3, ops(q.bytes()).stream().filter("DynamicQuantizeLinear"::equals).count());
        List<String> rows = ops(Quantizer.quantize(TestModels.mlp(17, 1), "mlp", QuantOptions.dynamic(), null).bytes());
        assertEquals(3, rows.stream().filter("ReduceMax"::equals).count(), rows.toString());
        assertFalse(rows.contains("DynamicQuantizeLinear"), rows.toString());
    }

    @Test
    void dynamicPerRowRunsFusedLikeItsStandardOpsAndLikeOnnxRuntime() throws Exception {
        for (int opset : new int[] {17, 18}) {
            byte[] fp32 = TestModels.mlp(opset, 4);
            byte[] q = Quantizer.quantize(fp32, "mlp", QuantOptions.dynamic(), null).bytes();
            try (Arena arena = Arena.ofShared()) {
                Tensor x = input(arena, 9, 11, 24);
                // Row 3 all zeros (the scale floor), row 4 all negative, row 5 one outlier.
                for (int c = 0; c < 24; c++) {
                    x.data().setAtIndex(Tensor.F32, 3 * 24 + c, 0f);
                    x.data().setAtIndex(Tensor.F32, 4 * 24 + c, -1f - c);
                }
                x.data().setAtIndex(Tensor.F32, 5 * 24 + 7, 300f);
                float[] fused = run(q, x);
                float[] unfused = withPassesSkipped("DynamicQuantizeRowsFusion,QuantMatMulFusion", () -> run(q, x));
                for (int i = 0; i < fused.length; i++) {
                    assertEquals(Float.floatToIntBits(unfused[i]), Float.floatToIntBits(fused[i]),
                            "opset " + opset + " element " + i + ": fused " + fused[i] + " vs standard ops " + unfused[i]);
                }
                float[] ref = run(fp32, x);
                assertTrue(cosine(ref, fused) > 0.999, "cosine " + cosine(ref, fused));
                float[] ort = ort(q, x, arena);
                for (int i = 0; i < fused.length; i++) {
                    assertEquals(ort[i], fused[i], 1e-5 * maxAbs(ort), "opset " + opset + " element " + i + " vs ONNX Runtime");
                }
            }
        }
    }

    /** {@code body} run with the optimiser passes {@code skip} (comma-separated) left out. */
    static float[] withPassesSkipped(String skip, java.util.function.Supplier<float[]> body) {
        String before = System.getProperty("gatun.optimize.skip");
        System.setProperty("gatun.optimize.skip", skip);
        try {
            return body.get();
        } finally {
            if (before == null) {
                System.clearProperty("gatun.optimize.skip");
            } else {
                System.setProperty("gatun.optimize.skip", before);
            }
        }
    }

    @Test
    void dynamicPerTensorHasScalarScales() throws Exception {
        byte[] fp32 = TestModels.mlp(17, 2);
        Quantizer.Quantized q = Quantizer.quantize(fp32, "mlp", QuantOptions.dynamic().withPerChannel(false), null);
        assertEquals(0, initializer(q.bytes(), "fc1_W_scale").getDimsCount());
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 6, 3, 24);
            assertTrue(cosine(run(fp32, x), run(q.bytes(), x)) > 0.99);
        }
    }

    @Test
    void excludedNodesStayInFloatAndAreReported() throws Exception {
        Quantizer.Quantized q = Quantizer.quantize(TestModels.mlp(17, 1), "mlp", QuantOptions.dynamic().withExclude(Set.of("fc2")), null);
        List<NodeProto> nodes = ModelProto.parseFrom(q.bytes()).getGraph().getNodeList();
        assertTrue(nodes.stream().anyMatch(n -> n.getName().equals("fc2") && n.getOpType().equals("MatMul")));
        assertEquals(2, q.report().layers().size());
        assertEquals(List.of(new QuantReport.Skipped("fc2", "MatMul", "excluded by name")), q.report().keptFloat());
        assertTrue(q.report().format().contains("excluded by name"));
    }

    @Test
    void dynamicConvUsesConvIntegerThatOnnxRuntimeRuns() throws Exception {
        byte[] fp32 = TestModels.cnn(3);
        Quantizer.Quantized plain = Quantizer.quantize(fp32, "cnn", QuantOptions.dynamic(), null);
        assertEquals(3, plain.report().keptFloat().size(), plain.report().format());
        Quantizer.Quantized q = Quantizer.quantize(fp32, "cnn", QuantOptions.dynamic().withConv(true), null);
        assertEquals(3, ops(q.bytes()).stream().filter("ConvInteger"::equals).count());
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 7, 2, 3, 12, 12);
            float[] got = run(q.bytes(), x);
            assertTrue(cosine(run(fp32, x), got) > 0.99);
            float[] ort = ort(q.bytes(), x, arena);
            for (int i = 0; i < got.length; i++) {
                assertEquals(ort[i], got[i], 2e-2 * maxAbs(ort), "element " + i);
            }
        }
    }

    @Test
    void staticQdqAbsorbsReluAndAgreesWithFloatAndOnnxRuntime() throws Exception {
        byte[] fp32 = TestModels.cnn(3);
        QuantOptions o = QuantOptions.staticInt8().withCalibrationSamples(16).withDims(Map.of("batch", 2L));
        Quantizer.Quantized q = Quantizer.quantize(fp32, "cnn", o, null);
        List<String> ops = ops(q.bytes());
        assertEquals(3, ops.stream().filter("Conv"::equals).count());
        assertEquals(1, ops.stream().filter("Relu"::equals).count(), "relu1 and relu2 absorbed, relu3 (after the Add) kept: " + ops);
        assertTrue(ops.contains("QuantizeLinear") && ops.contains("DequantizeLinear"));
        assertEquals(16, q.report().samples());
        assertEquals(4, q.report().layers().size());
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 8, 4, 3, 12, 12);
            float[] ref = run(fp32, x);
            float[] got = run(q.bytes(), x);
            assertTrue(cosine(ref, got) > 0.99, "cosine " + cosine(ref, got));
            float[] ort = ort(q.bytes(), x, arena);
            assertTrue(cosine(ort, got) > 0.999, "Gatun vs ONNX Runtime cosine " + cosine(ort, got));
        }
    }

    @Test
    void staticQOperatorWritesQLinearConv() throws Exception {
        byte[] fp32 = TestModels.cnn(4);
        QuantOptions o = QuantOptions.staticInt8().withFormat(QuantOptions.Format.QOPERATOR).withCalibrationSamples(8);
        Quantizer.Quantized q = Quantizer.quantize(fp32, "cnn", o, null);
        List<String> ops = ops(q.bytes());
        assertEquals(3, ops.stream().filter("QLinearConv"::equals).count(), ops.toString());
        assertTrue(ops.contains("MatMulInteger"), "the Gemm with a float output: " + ops);
        assertFalse(ops.contains("Conv"));
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 9, 3, 3, 12, 12);
            float[] got = run(q.bytes(), x);
            assertTrue(cosine(run(fp32, x), got) > 0.99);
            assertTrue(cosine(ort(q.bytes(), x, arena), got) > 0.999);
        }
    }

    @Test
    void staticQOperatorMatMulPerTensorOnOldOpset() throws Exception {
        byte[] fp32 = TestModels.mlp(11, 5, false);
        QuantOptions o = QuantOptions.staticInt8().withFormat(QuantOptions.Format.QOPERATOR).withPerChannel(false);
        Quantizer.Quantized q = Quantizer.quantize(fp32, "mlp", o, null);
        List<String> ops = ops(q.bytes());
        assertEquals(1, ops.stream().filter("QLinearMatMul"::equals).count(), "fc1 (its Relu absorbed): " + ops);
        assertEquals(2, ops.stream().filter("MatMulInteger"::equals).count(), "fc2 + bias, head: " + ops);
        assertFalse(ops.contains("Relu"), ops.toString());
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 10, 5, 24);
            float[] got = run(q.bytes(), x);
            assertTrue(cosine(run(fp32, x), got) > 0.99);
            assertTrue(cosine(ort(q.bytes(), x, arena), got) > 0.999);
        }
        EngineException e = assertThrows(EngineException.class, () -> Quantizer.quantize(fp32, "mlp", QuantOptions.staticInt8(), null));
        assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("opset >= 13"), e.getMessage());
    }

    @Test
    void percentileAndEntropyNarrowTheRangeAndStillWork() throws Exception {
        byte[] fp32 = TestModels.cnn(3);
        try (Arena arena = Arena.ofShared()) {
            Tensor x = input(arena, 11, 2, 3, 12, 12);
            float[] ref = run(fp32, x);
            for (QuantOptions.Method m : List.of(QuantOptions.Method.PERCENTILE, QuantOptions.Method.ENTROPY)) {
                Quantizer.Quantized q = Quantizer.quantize(fp32, "cnn", QuantOptions.staticInt8().withMethod(m).withCalibrationSamples(8)
                        .withPercentile(99.9), null);
                assertTrue(cosine(ref, run(q.bytes(), x)) > 0.98, m + ": cosine " + cosine(ref, run(q.bytes(), x)));
            }
        }
    }

    @Test
    void entropyThresholdCutsAFarTail() {
        long[] h = new long[Calibrator.BINS];
        Random r = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            int bin = (int) Math.abs(r.nextGaussian() * 60);
            h[Math.min(Calibrator.BINS - 1, bin)]++;
        }
        h[Calibrator.BINS - 1] += 3;
        float t = Calibrator.entropyThreshold(h, 2048f);
        assertTrue(t > 150 && t < 600, "threshold " + t + " for a N(0, 60) bulk with outliers at 2048");
        float[] p = Calibrator.percentile(h, 0, 2048, 99.0);
        assertEquals(0f, p[0]);
        assertTrue(p[1] > 100 && p[1] < 250, "99% range " + p[1]);
    }

    @Test
    void calibrationFromAFolderOfNpyFiles() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("cal"));
        try (Arena arena = Arena.ofShared()) {
            for (int i = 0; i < 3; i++) {
                Npy.write(dir.resolve("s" + i + ".npy"), input(arena, 20 + i, 1, 3, 12, 12));
            }
        }
        QuantOptions o = QuantOptions.staticInt8().withCalibrationDir(dir);
        Quantizer.Quantized q = Quantizer.quantize(TestModels.cnn(3), "cnn", o, null);
        assertEquals(3, q.report().samples());
        Path bad = Files.createDirectories(tmp.resolve("empty"));
        EngineException e = assertThrows(EngineException.class,
                () -> Quantizer.quantize(TestModels.cnn(3), "cnn", o.withCalibrationDir(bad), null));
        assertTrue(e.getMessage().contains("no calibration inputs"), e.getMessage());
    }

    @Test
    void progressIsReportedPerCalibrationRun() {
        List<String> seen = new java.util.ArrayList<>();
        Quantizer.quantize(TestModels.cnn(3), "cnn", QuantOptions.staticInt8().withCalibrationSamples(4)
                .withMethod(QuantOptions.Method.ENTROPY), (phase, done, total) -> seen.add(phase + " " + done + "/" + total));
        assertEquals(List.of("calibrating 1/4", "calibrating 2/4", "calibrating 3/4", "calibrating 4/4",
                "histograms 1/4", "histograms 2/4", "histograms 3/4", "histograms 4/4"), seen);
    }

    @Test
    void loadQuantizesWithoutAFile() throws Exception {
        Path f = tmp.resolve("mlp.onnx");
        Files.write(f, TestModels.mlp(17, 1));
        try (Model m = Quantizer.load(f, QuantOptions.dynamic()); Session s = m.newSession(); Arena arena = Arena.ofShared()) {
            Set<String> ops = m.nodes().stream().map(n -> n.opType()).collect(Collectors.toSet());
            assertTrue(ops.contains("MatMulInteger"), ops.toString());
            try (Result r = s.run(Map.of("x", input(arena, 1, 2, 24)))) {
                assertEquals(12, r.get(0).size());
            }
        }
    }

    @Test
    void notAModelIsAClearError() {
        EngineException e = assertThrows(EngineException.class,
                () -> Quantizer.quantize(new byte[] {1, 2, 3}, "junk.onnx", QuantOptions.dynamic(), null));
        assertEquals(EngineException.Kind.MODEL_LOAD, e.kind());
        assertTrue(e.getMessage().startsWith("junk.onnx"), e.getMessage());
    }
}
