package dev.gatun.cli;

import static dev.gatun.cli.GatunTest.floats;
import static dev.gatun.cli.GatunTest.gatun;
import static dev.gatun.cli.GatunTest.model;
import static dev.gatun.cli.GatunTest.value;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.Model;
import dev.gatun.engine.onnx.proto.Onnx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gatun prune}: the report, the written file, usage errors, and the built-in MiniLM as input. */
class PruneCommandTest {
    @TempDir
    Path dir;

    /** x float[batch, 16] -> MatMul "mm1" (W1 [16, 32]) -> Relu -> MatMul "mm2" (W2 [32, 8]) -> y [batch, 8]. */
    private Path twoLayers() throws IOException {
        Random r = new Random(3);
        float[] w1 = new float[16 * 32];
        float[] w2 = new float[32 * 8];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < w2.length; i++) {
            w2[i] = (float) r.nextGaussian();
        }
        Onnx.ModelProto m = model(Onnx.GraphProto.newBuilder().setName("two")
                .addInput(value("x", 1, "batch", 16))
                .addOutput(value("y", 1, "batch", 8))
                .addInitializer(floats("W1", w1, 16, 32))
                .addInitializer(floats("W2", w2, 32, 8))
                .addNode(Onnx.NodeProto.newBuilder().setName("mm1").setOpType("MatMul").addInput("x").addInput("W1").addOutput("h"))
                .addNode(Onnx.NodeProto.newBuilder().setName("relu").setOpType("Relu").addInput("h").addOutput("hr"))
                .addNode(Onnx.NodeProto.newBuilder().setName("mm2").setOpType("MatMul").addInput("hr").addInput("W2").addOutput("y"))).build();
        Path f = dir.resolve("two.onnx");
        Files.write(f, m.toByteArray());
        return f;
    }

    @Test
    void prunesWritesAndReports() throws IOException {
        Path in = twoLayers();
        Path out = dir.resolve("two-pruned.onnx");
        GatunTest.Outcome o = gatun("prune", in.toString(), out.toString(), "--sparsity", "75%", "--per-layer", "--check", "--dim", "batch=3");
        assertEquals(0, o.code(), o.err());
        assertEquals("", o.err(), "no progress bar when stderr is not a terminal");
        assertTrue(o.out().matches("(?s).*layer\\s+op\\s+weight\\s+shape\\s+sparsity\\s+rel.error\\s+stored.*"), o.out());
        assertTrue(o.out().matches("(?s).*\\nmm1\\s+MatMul\\s+W1\\s+16x32\\s+75\\.0%\\s+0\\.\\d{4}\\s+sparse .*"), o.out());
        assertTrue(o.out().matches("(?s).*\\nmm2\\s+MatMul\\s+W2\\s+32x8\\s+75\\.0%.*"), o.out());
        assertTrue(o.out().contains("pruned:   2 layers, 768 weights, 75.0% zeros (unstructured, per layer)"), o.out());
        assertTrue(o.out().matches("(?s).*file:     .* -> .* \\(\\d\\.\\d\\dx smaller\\).*"), o.out());
        assertTrue(o.out().matches("(?s).*check:    y cosine vs the original: mean 0\\.\\d{4}, min 0\\.\\d{4} over 3 rows.*"), o.out());
        assertTrue(Files.size(out) < Files.size(in));
        try (Model m = Model.load(out)) {
            assertEquals(1, m.inputs().size());
        }
        GatunTest.Outcome v = gatun("verify", out.toString(), "--against", "ort", "--dim", "batch=2");
        assertEquals(0, v.code(), v.out() + v.err());
        assertTrue(v.out().contains("PASS"));
    }

    @Test
    void patternsAndLayerChoice() throws IOException {
        Path in = twoLayers();
        Path out = dir.resolve("p.onnx");
        GatunTest.Outcome twoFour = gatun("prune", in.toString(), out.toString(), "--pattern", "2:4", "--include", "mm1");
        assertEquals(0, twoFour.code(), twoFour.err());
        assertTrue(twoFour.out().contains("pruned:   1 layers, 512 weights, 50.0% zeros (2:4, global)"), twoFour.out());
        assertTrue(twoFour.out().contains("not pruned: mm2 (MatMul, W2): not included"), twoFour.out());
        GatunTest.Outcome block = gatun("prune", in.toString(), out.toString(), "--sparsity", "0.5", "--pattern", "block:4x4",
                "--exclude", "mm*2", "--index-type", "int64");
        assertEquals(0, block.code(), block.err());
        assertTrue(block.out().contains("pruned:   1 layers, 512 weights, 50.0% zeros (block:4x4, global)"), block.out());
        assertTrue(block.out().contains("not pruned: mm2 (MatMul, W2): excluded"), block.out());
    }

    @Test
    void usageErrorsAreOneLineWithExitCode2() throws IOException {
        Path in = twoLayers();
        String out = dir.resolve("x.onnx").toString();
        String[][] cases = {
                {"--sparsity S is required"},
                {"--pattern", "2:4", "--sparsity", "0.8", "|", "its sparsity is 0.5"},
                {"--sparsity", "abc", "|", "not a number"},
                {"--sparsity", "1.5", "|", "sparsity must be in [0, 1)"},
                {"--sparsity", "0.5", "--pattern", "3:4", "|", "unknown pattern '3:4'"},
                {"--sparsity", "0.5", "--include", "nope", "|", "include 'nope' matches no MatMul/Gemm/Conv node"},
                {"--sparsity", "0.5", "--index-type", "int16", "|", "use auto or int64"},
        };
        for (String[] c : cases) {
            int bar = java.util.Arrays.asList(c).indexOf("|");
            String[] opts = bar < 0 ? new String[0] : java.util.Arrays.copyOf(c, bar);
            String want = c[c.length - 1];
            String[] args = new String[3 + opts.length];
            args[0] = "prune";
            args[1] = in.toString();
            args[2] = out;
            System.arraycopy(opts, 0, args, 3, opts.length);
            GatunTest.Outcome o = gatun(args);
            assertEquals(2, o.code(), String.join(" ", args) + "\n" + o.err());
            assertEquals(1, o.errLines().size(), o.err());
            assertTrue(o.err().startsWith("gatun: ") && o.err().contains(want), o.err());
        }
        GatunTest.Outcome same = gatun("prune", in.toString(), in.toString(), "--sparsity", "0.5");
        assertEquals(2, same.code());
        assertTrue(same.err().contains("is the input file"), same.err());
        GatunTest.Outcome missing = gatun("prune", dir.resolve("none.onnx").toString(), out, "--sparsity", "0.5");
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("no such file"), missing.err());
    }

    @Test
    void miniLmByItsBuiltInName() throws IOException {
        Path out = dir.resolve("minilm-l0.onnx");
        String before = System.getProperty("gatun.cache.dir");
        System.setProperty("gatun.cache.dir", dir.resolve("cache").toString());
        GatunTest.Outcome o;
        try {
            o = gatun("prune", "minilm", out.toString(), "--sparsity", "0.8", "--include", "/encoder/layer.0/*");
        } finally {
            if (before == null) {
                System.clearProperty("gatun.cache.dir");
            } else {
                System.setProperty("gatun.cache.dir", before);
            }
        }
        assertEquals(0, o.code(), o.err());
        assertTrue(o.out().contains("pruned:   6 layers, 1,769,472 weights, 80.0% zeros"), o.out());
        assertTrue(o.out().contains("/encoder/layer.0/intermediate/dense/MatMul"), o.out());
        GatunTest.Outcome v = gatun("verify", out.toString(), "--against", "ort", "--dim", "batch_size=1", "--dim", "sequence_length=8");
        assertEquals(0, v.code(), v.out() + v.err());
        assertTrue(v.out().contains("PASS"), v.out());
    }
}
