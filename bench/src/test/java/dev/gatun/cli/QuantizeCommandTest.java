package dev.gatun.cli;

import static dev.gatun.cli.GatunTest.floats;
import static dev.gatun.cli.GatunTest.gatun;
import static dev.gatun.cli.GatunTest.value;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.onnx.proto.Onnx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gatun quantize}, {@code verify --against FILE} and {@code bench --compare FILE} on a small MLP. */
class QuantizeCommandTest {
    @TempDir
    Path dir;

    /** x [batch, 16] -> MatMul [16, 32] ("fc1") -> Relu -> MatMul [32, 8] ("fc2") -> y. */
    private Path mlp() throws Exception {
        Random r = new Random(3);
        float[] w1 = new float[16 * 32];
        float[] w2 = new float[32 * 8];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) r.nextGaussian() * 0.3f;
        }
        for (int i = 0; i < w2.length; i++) {
            w2[i] = (float) r.nextGaussian() * 0.3f;
        }
        Onnx.ModelProto m = Onnx.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(Onnx.GraphProto.newBuilder().setName("mlp")
                        .addInitializer(floats("W1", w1, 16, 32)).addInitializer(floats("W2", w2, 32, 8))
                        .addInput(value("x", 1, "batch", 16)).addOutput(value("y", 1, "batch", 8))
                        .addNode(Onnx.NodeProto.newBuilder().setName("fc1").setOpType("MatMul").addInput("x").addInput("W1").addOutput("h"))
                        .addNode(Onnx.NodeProto.newBuilder().setName("relu").setOpType("Relu").addInput("h").addOutput("r"))
                        .addNode(Onnx.NodeProto.newBuilder().setName("fc2").setOpType("MatMul").addInput("r").addInput("W2").addOutput("y")))
                .build();
        Path f = dir.resolve("mlp.onnx");
        Files.write(f, m.toByteArray());
        return f;
    }

    @Test
    void dynamicQuantizeWritesAModelAndAReport() throws Exception {
        Path in = mlp();
        Path out = dir.resolve("mlp-int8.onnx");
        GatunTest.Outcome o = gatun("quantize", in.toString(), out.toString(), "--per-channel", "--exclude", "fc2");
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("quantized 1 nodes (dynamic, per-channel int8 weights)"), o.out());
        assertTrue(o.out().contains("fc1") && o.out().contains("per-channel"), o.out());
        assertTrue(o.out().contains("left in float: 1") && o.out().contains("excluded by name"), o.out());
        assertTrue(o.out().contains("size: ") && o.out().contains("wrote " + out), o.out());
        assertTrue(Files.size(out) > 0);
        Onnx.ModelProto q = Onnx.ModelProto.parseFrom(Files.readAllBytes(out));
        assertTrue(q.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("MatMulInteger")));

        GatunTest.Outcome v = gatun("verify", out.toString(), "--against", in.toString(), "--dim", "batch=4");
        assertEquals(0, v.code(), v.out() + v.err());
        assertTrue(v.out().contains("cosine 0.99") && v.out().contains("PASS"), v.out());
        GatunTest.Outcome strict = gatun("verify", out.toString(), "--against", in.toString(), "--min-cosine", "1");
        assertEquals(1, strict.code(), strict.out());
        assertTrue(strict.out().contains("FAIL: cosine below 1.0"), strict.out());

        GatunTest.Outcome b = gatun("bench", out.toString(), "--compare", in.toString(), "--warmup", "1", "--iterations", "2", "--json");
        assertEquals(0, b.code(), b.err());
        assertTrue(b.out().contains("\"reference_model\": \"mlp\"") && b.out().contains("\"speedup_p50\""), b.out());
    }

    @Test
    void staticQuantizeCalibratesOnRandomInputs() throws Exception {
        Path out = dir.resolve("mlp-static.onnx");
        GatunTest.Outcome o = gatun("quantize", mlp().toString(), out.toString(), "--mode", "static", "--format", "qoperator",
                "--method", "percentile", "--calibration-samples", "5", "--dim", "batch=3");
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("static, qoperator, percentile") && o.out().contains("on 5 inputs"), o.out());
        Onnx.ModelProto q = Onnx.ModelProto.parseFrom(Files.readAllBytes(out));
        assertTrue(q.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("QLinearMatMul")));
    }

    @Test
    void badOptionsAreUsageErrors() throws Exception {
        Path in = mlp();
        String out = dir.resolve("o.onnx").toString();
        assertEquals(2, gatun("quantize", in.toString(), out, "--mode", "fast").code());
        assertEquals(2, gatun("quantize", in.toString(), out, "--method", "entropy").code(), "--method needs --mode static");
        assertEquals(2, gatun("quantize", in.toString(), out, "--mode", "static", "--calibration-samples", "0").code());
        assertEquals(2, gatun("quantize", in.toString(), out, "--mode", "static", "--calibration", dir.resolve("none").toString()).code());
        GatunTest.Outcome missing = gatun("quantize", dir.resolve("absent.onnx").toString(), out);
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("no such file"), missing.err());
        assertEquals(2, gatun("verify", in.toString(), "--against", dir.resolve("absent.onnx").toString()).code());
        assertEquals(2, gatun("bench", in.toString(), "--compare", "tensorrt").code());
    }
}
