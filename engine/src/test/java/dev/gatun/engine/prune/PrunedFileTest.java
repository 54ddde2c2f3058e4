package dev.gatun.engine.prune;

import static dev.gatun.engine.prune.PruneTestModels.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.Model;
import dev.gatun.engine.onnx.proto.Onnx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Prune, write, load in Gatun and in ONNX Runtime: both read the sparse_initializers and compute the same outputs. */
class PrunedFileTest {
    @TempDir
    Path dir;

    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5f * Math.max(1, Math.abs(want[i])), what + " at " + i);
        }
    }

    @Test
    void prunedMlpRoundTripsThroughAFileInGatunAndOrt() throws Exception {
        Onnx.ModelProto m = mlp(11);
        Path in = dir.resolve("mlp.onnx");
        Files.write(in, m.toByteArray());
        float[] x = random(new Random(12), 16, 1f);
        long[] shape = {2, 8};
        for (PruneOptions.IndexType it : PruneOptions.IndexType.values()) {
            PrunedModel p = Pruner.prune(in, PruneOptions.of(0.8).withPerLayer(true).withIndexType(it));
            Path out = dir.resolve("mlp-" + it + ".onnx");
            p.write(out);
            assertEquals(Files.size(out), p.serializedBytes());
            assertEquals(Files.size(in), p.originalBytes());
            assertEquals(3, p.proto().getGraph().getSparseInitializerCount(), it.toString());
            int want = it == PruneOptions.IndexType.INT64 ? 7 : 3; // W1 has 96 elements: int8 indices hold them
            assertEquals(want, p.proto().getGraph().getSparseInitializer(0).getIndices().getDataType(), it.toString());
            for (String output : new String[] {"y", "z"}) {
                float[] memory;
                try (Model g = p.load()) {
                    memory = gatun(g, "x", x, shape, output);
                }
                float[] file;
                try (Model g = Model.load(out)) {
                    file = gatun(g, "x", x, shape, output);
                }
                assertArrayEquals(memory, file, it + " " + output);
                assertClose(ort(out, "x", x, shape, output), file, it + " " + output + " Gatun vs ONNX Runtime");
                float[] dense;
                try (Model g = Model.load(in)) {
                    dense = gatun(g, "x", x, shape, output);
                }
                assertFalse(java.util.Arrays.equals(dense, file), "pruning 80% changed nothing in " + output);
            }
        }
    }

    @Test
    void twoFourConvRoundTripsAndLargerWeightsUseWiderIndices() throws Exception {
        Onnx.ModelProto m = conv(13);
        PrunedModel p = Pruner.prune(m.toByteArray(), "conv.onnx", PruneOptions.twoFour(), Pruner.Progress.NONE);
        // 108 weights, 2:4 leaves 56 nonzeros: 56 * (4 + 1) bytes sparse < 432 dense.
        assertTrue(p.report().layers().getFirst().sparse());
        Path out = dir.resolve("conv.onnx");
        p.write(out);
        float[] x = random(new Random(14), 108, 1f);
        long[] shape = {1, 3, 6, 6};
        try (Model g = Model.load(out)) {
            assertClose(ort(out, "x", x, shape, "y"), gatun(g, "x", x, shape, "y"), "conv 2:4");
        }
        // With int64 indices 56 * 12 bytes > 432: the weight stays dense (zeros included) and the file is still valid.
        PrunedModel p64 = Pruner.prune(m.toByteArray(), "conv.onnx", PruneOptions.twoFour().withIndexType(PruneOptions.IndexType.INT64),
                Pruner.Progress.NONE);
        assertFalse(p64.report().layers().getFirst().sparse());
        assertEquals(0, p64.proto().getGraph().getSparseInitializerCount());
        assertEquals(52, p64.report().layers().getFirst().zeros());

        float[] big = random(new Random(15), 300 * 200, 1f);
        Onnx.TensorProto w = floats("W", big, 300, 200);
        Onnx.ModelProto wide = model(Onnx.GraphProto.newBuilder().setName("wide").addInput(value("x", 1, 300)).addOutput(value("y", 1, 200))
                .addInitializer(w).addNode(node("mm", "MatMul", "x", "W", ">y"))).build();
        PrunedModel pw = Pruner.prune(wide.toByteArray(), "wide.onnx", PruneOptions.of(0.9), Pruner.Progress.NONE);
        assertEquals(6, pw.proto().getGraph().getSparseInitializer(0).getIndices().getDataType(), "60000 elements: int32 indices");
        Path wout = dir.resolve("wide.onnx");
        pw.write(wout);
        float[] xw = random(new Random(16), 300, 1f);
        try (Model g = Model.load(wout)) {
            assertClose(ort(wout, "x", xw, new long[] {1, 300}, "y"), gatun(g, "x", xw, new long[] {1, 300}, "y"), "wide");
        }
        // 10% of 60000 weights at 8 bytes each against 240000 dense bytes.
        assertEquals(6000L * 8, pw.report().storedBytes());
        assertTrue(pw.serializedBytes() * 4 < wide.getSerializedSize(), pw.serializedBytes() + " vs " + wide.getSerializedSize());
    }
}
