package dev.gatun.engine.prune;

import static dev.gatun.engine.prune.PruneTestModels.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.onnx.TensorDecoder;
import dev.gatun.engine.onnx.proto.Onnx;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PrunerTest {

    private static PrunedModel prune(Onnx.ModelProto m, PruneOptions o) {
        return Pruner.prune(m.toByteArray(), "test.onnx", o, Pruner.Progress.NONE);
    }

    /** Every weight of the pruned model, dense (sparse initializers densified by Gatun's decoder). */
    private static Map<String, float[]> weights(Onnx.ModelProto m) {
        Map<String, float[]> w = new HashMap<>();
        try (Arena a = Arena.ofConfined()) {
            TensorDecoder d = new TensorDecoder(a, null);
            for (Onnx.TensorProto t : m.getGraph().getInitializerList()) {
                w.put(t.getName(), d.decode(t, t.getName()).toFloatArray());
            }
            for (Onnx.SparseTensorProto s : m.getGraph().getSparseInitializerList()) {
                Tensor t = d.decodeSparse(s, s.getValues().getName());
                w.put(s.getValues().getName(), t.toFloatArray());
            }
        }
        return w;
    }

    private static long zeros(float[] w) {
        long z = 0;
        for (float v : w) {
            if (v == 0f) {
                z++;
            }
        }
        return z;
    }

    /** The largest pruned magnitude is no larger than the smallest kept one, and kept weights are unchanged. */
    private static void assertMagnitudeOrder(float[] before, float[] after, String what) {
        float maxPruned = 0;
        float minKept = Float.MAX_VALUE;
        for (int i = 0; i < before.length; i++) {
            if (after[i] == 0f) {
                maxPruned = Math.max(maxPruned, Math.abs(before[i]));
            } else {
                assertEquals(before[i], after[i], what + ": a kept weight changed at " + i);
                minKept = Math.min(minKept, Math.abs(before[i]));
            }
        }
        assertTrue(maxPruned <= minKept, what + ": pruned |w| " + maxPruned + " > kept |w| " + minKept);
    }

    @Test
    void perLayerUnstructuredReachesTheSparsityInEveryLayer() {
        Onnx.ModelProto m = mlp(1);
        PrunedModel p = prune(m, PruneOptions.of(0.7).withPerLayer(true));
        Map<String, float[]> before = weights(m);
        Map<String, float[]> after = weights(p.proto());
        assertEquals(List.of("mm", "gemm", "left"), p.report().layers().stream().map(PruneReport.Layer::node).toList());
        for (PruneReport.Layer l : p.report().layers()) {
            float[] w = after.get(l.weight());
            assertEquals(Math.round(0.7 * w.length), zeros(w), l.node());
            assertEquals(zeros(w), l.zeros(), l.node());
            assertMagnitudeOrder(before.get(l.weight()), w, l.node());
            assertTrue(l.relativeError() > 0 && l.relativeError() < 1, l.node() + " error " + l.relativeError());
        }
        assertArrayEquals(before.get("b"), after.get("b"), "the bias is not a weight to prune");
        assertTrue(p.report().skipped().isEmpty(), p.report().skipped().toString());
    }

    @Test
    void globalThresholdPrunesTheSmallWeightsFirst() {
        Onnx.ModelProto m = mlp(2);
        PrunedModel p = prune(m, PruneOptions.of(0.5));
        Map<String, float[]> before = weights(m);
        Map<String, float[]> after = weights(p.proto());
        float[] all = new float[0];
        float[] allAfter = new float[0];
        for (String w : List.of("W1", "W2", "W3")) {
            all = concat(all, before.get(w));
            allAfter = concat(allAfter, after.get(w));
        }
        assertEquals(Math.round(0.5 * all.length), zeros(allAfter));
        assertMagnitudeOrder(all, allAfter, "global");
        // W2 has weights 10x smaller than W1: a global threshold takes most of it, a per-layer one half.
        PruneReport.Layer gemm = p.report().layers().get(1);
        assertTrue(gemm.sparsity() > 0.9, "gemm sparsity " + gemm.sparsity());
        assertTrue(p.report().layers().get(0).sparsity() < 0.5);
        assertEquals(0.5, p.report().sparsity(), 1e-9);
    }

    private static float[] concat(float[] a, float[] b) {
        float[] c = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void twoFourKeepsTheTwoLargestOfEveryFourAlongK() {
        for (Onnx.ModelProto m : List.of(mlp(3), conv(3))) {
            PrunedModel p = prune(m, PruneOptions.twoFour());
            Map<String, float[]> before = weights(m);
            Map<String, float[]> after = weights(p.proto());
            for (PruneReport.Layer l : p.report().layers()) {
                WeightView v = switch (l.node()) {
                    case "mm" -> WeightView.of(l.dims(), 1, 0);       // B [K=8, N=12]
                    case "gemm" -> WeightView.of(l.dims(), 0, 1);     // B^T [N=6, K=12]
                    case "left" -> WeightView.of(l.dims(), 0, 1);     // A [M=5, K=2]
                    default -> WeightView.outputsFirst(l.dims());    // W [M=4, 27]
                };
                float[] w0 = before.get(l.weight());
                float[] w = after.get(l.weight());
                long expectedZeros = 0;
                for (long o = 0; o < v.outputs(); o++) {
                    for (long g = 0; g < v.k(); g += 4) {
                        int r = (int) Math.min(4, v.k() - g);
                        int nz = 0;
                        float minKept = Float.MAX_VALUE;
                        float maxPruned = 0;
                        for (int j = 0; j < r; j++) {
                            int i = (int) v.index(0, o, g + j);
                            if (w[i] != 0f) {
                                nz++;
                                minKept = Math.min(minKept, Math.abs(w0[i]));
                            } else {
                                maxPruned = Math.max(maxPruned, Math.abs(w0[i]));
                            }
                        }
                        assertEquals(Math.min(2, r), nz, l.node() + ": nonzeros in group (" + o + ", " + g + ")");
                        assertTrue(maxPruned <= minKept, l.node() + ": group (" + o + ", " + g + ") kept a smaller weight");
                        expectedZeros += r - Math.min(2, r);
                    }
                }
                assertEquals(expectedZeros, l.zeros(), l.node());
            }
            if (m.getGraph().getName().equals("conv")) {
                // K = 3*3*3 = 27: six full groups and a tail of 3 (keeps 2) per output: 13 zeros of 27.
                assertEquals(4 * 13, p.report().layers().getFirst().zeros());
            }
        }
    }

    @Test
    void blocksAreZeroOrUntouchedAndReachTheSparsity() {
        Onnx.ModelProto m = mlp(4);
        PrunedModel p = prune(m, PruneOptions.of(0.6).withPattern(new PruneOptions.PrunePattern.Block(2, 4)).withPerLayer(true));
        Map<String, float[]> before = weights(m);
        Map<String, float[]> after = weights(p.proto());
        PruneReport.Layer mm = p.report().layers().getFirst();
        WeightView v = WeightView.of(mm.dims(), 1, 0); // outputs N = 12, k = 8: 6 x 2 blocks of 2x4
        float[] w0 = before.get("W1");
        float[] w = after.get("W1");
        int prunedBlocks = 0;
        double maxPrunedScore = 0;
        double minKeptScore = Double.MAX_VALUE;
        for (int o0 = 0; o0 < 12; o0 += 2) {
            for (int k0 = 0; k0 < 8; k0 += 4) {
                int nz = 0;
                double score = 0;
                for (int o = o0; o < o0 + 2; o++) {
                    for (int k = k0; k < k0 + 4; k++) {
                        int i = (int) v.index(0, o, k);
                        nz += w[i] != 0f ? 1 : 0;
                        score += w0[i] * w0[i];
                        if (w[i] != 0f) {
                            assertEquals(w0[i], w[i]);
                        }
                    }
                }
                assertTrue(nz == 0 || nz == 8, "block (" + o0 + ", " + k0 + ") partly pruned: " + nz + " nonzeros");
                if (nz == 0) {
                    prunedBlocks++;
                    maxPrunedScore = Math.max(maxPrunedScore, score);
                } else {
                    minKeptScore = Math.min(minKeptScore, score);
                }
            }
        }
        // 60% of 96 weights = 57.6 -> 58: blocks of 8 until >= 58, so 8 blocks (64 zeros).
        assertEquals(8, prunedBlocks);
        assertEquals(64, mm.zeros());
        assertTrue(maxPrunedScore <= minKeptScore + 1e-6);
    }

    @Test
    void includeAndExcludeChooseTheLayers() {
        Onnx.ModelProto m = mlp(5);
        PrunedModel inc = prune(m, PruneOptions.of(0.5).withInclude(List.of("mm", "le*")));
        assertEquals(List.of("mm", "left"), inc.report().layers().stream().map(PruneReport.Layer::node).toList());
        assertEquals(List.of("gemm"), inc.report().skipped().stream().map(PruneReport.Skipped::node).toList());
        assertArrayEquals(weights(m).get("W2"), weights(inc.proto()).get("W2"));

        PrunedModel exc = prune(m, PruneOptions.of(0.5).withExclude(List.of("gemm")));
        assertEquals(List.of("mm", "left"), exc.report().layers().stream().map(PruneReport.Layer::node).toList());
        assertEquals("excluded", exc.report().skipped().getFirst().reason());

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> prune(m, PruneOptions.of(0.5).withInclude(List.of("nope"))));
        assertTrue(e.getMessage().contains("'nope' matches no MatMul/Gemm/Conv node") && e.getMessage().contains("mm"), e.getMessage());
    }

    @Test
    void sharedAndNonFloatWeightsAreSkippedWithTheReason() {
        Random r = new Random(6);
        Onnx.GraphProto.Builder g = Onnx.GraphProto.newBuilder().setName("shared")
                .addInput(value("x", 2, 4))
                .addOutput(value("y", 2, 4))
                .addInitializer(floats("W", random(r, 16, 1f), 4, 4))
                .addNode(node("a", "MatMul", "x", "W", ">h"))
                .addNode(node("b", "MatMul", "h", "W", ">y"));
        PrunedModel p = prune(model(g).build(), PruneOptions.of(0.5));
        assertTrue(p.report().layers().isEmpty());
        assertEquals(2, p.report().skipped().size());
        assertTrue(p.report().skipped().getFirst().reason().contains("also read by [b]"), p.report().skipped().toString());
    }

    @Test
    void optionsRefuseNonsense() {
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.of(1.0));
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.of(-0.1));
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.of(0.8).withPattern(new PruneOptions.PrunePattern.TwoFour()));
        assertEquals(new PruneOptions.PrunePattern.Block(4, 8), PruneOptions.PrunePattern.parse("block:4x8"));
        assertEquals(new PruneOptions.PrunePattern.TwoFour(), PruneOptions.PrunePattern.parse("2:4"));
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.PrunePattern.parse("block:0x4"));
        assertThrows(IllegalArgumentException.class, () -> PruneOptions.PrunePattern.parse("3:4"));
    }

    @Test
    void theRestOfTheModelIsKept() {
        Onnx.ModelProto m = mlp(7);
        Onnx.ModelProto p = prune(m, PruneOptions.of(0.8)).proto();
        assertEquals(m.getIrVersion(), p.getIrVersion());
        assertEquals(m.getOpsetImportList(), p.getOpsetImportList());
        assertEquals(m.getMetadataPropsList(), p.getMetadataPropsList());
        assertEquals(m.getProducerName(), p.getProducerName());
        assertEquals(m.getGraph().getNodeList(), p.getGraph().getNodeList());
        assertEquals(m.getGraph().getInputList(), p.getGraph().getInputList());
        assertEquals(m.getGraph().getOutputList(), p.getGraph().getOutputList());
        assertEquals(List.of("b"), p.getGraph().getInitializerList().stream().map(Onnx.TensorProto::getName).toList());
        assertEquals(List.of("W1", "W2", "W3"), p.getGraph().getSparseInitializerList().stream().map(s -> s.getValues().getName()).toList());
    }
}
