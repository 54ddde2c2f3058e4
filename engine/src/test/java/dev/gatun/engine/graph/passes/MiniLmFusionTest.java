package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * all-MiniLM-L6-v2 (the langchain4j jar's resource) with the optimiser on and off: every transformer block fused
 * (6 Attention, 36 FusedMatMul, 12 LayerNorms, the embedding LayerNorm with its residual add), and the same
 * last_hidden_state within 1e-4 of its largest magnitude, with padding in the attention mask.
 */
class MiniLmFusionTest {
    @TempDir
    Path tmp;

    @Test
    void fusedMiniLmMatchesUnfused() throws Exception {
        Path model = tmp.resolve("all-minilm-l6-v2.onnx");
        try (InputStream in = MiniLmFusionTest.class.getResourceAsStream("/all-minilm-l6-v2.onnx")) {
            assertNotNull(in, "the all-minilm-l6-v2.onnx resource (langchain4j jar) is not on the test classpath");
            Files.copy(in, model);
        }
        try (Arena arena = Arena.ofShared()) {
            Graph g = ConstantFolder.fold(OnnxLoader.load(model, arena).graph(), arena, Long.MAX_VALUE);
            Graph f = new Optimizer(Optimizer.defaultPasses()).run(g);
            Map<String, Integer> ops = TestGraph.ops(f);
            assertEquals(6, ops.get("dev.gatun:Attention"), ops.toString());
            assertEquals(36, ops.get("dev.gatun:FusedMatMul"), ops.toString());
            assertEquals(12, ops.get("dev.gatun:LayerNormalization"), ops.toString());
            assertEquals(1, ops.get("dev.gatun:SkipLayerNormalization"), ops.toString());
            assertFalse(ops.containsKey("MatMul") || ops.containsKey("Softmax") || ops.containsKey("Erf"), ops.toString());
            assertTrue(f.nodes().size() < 80, f.nodes().size() + " nodes left: " + ops);
            int b = 2;
            int s = 64;
            Random rnd = new Random(42);
            long[] ids = new long[b * s];
            long[] mask = new long[b * s];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rnd.nextInt(30522);
                mask[i] = i / s == 1 && i % s >= 40 ? 0 : 1;
            }
            Tensor[] inputs = {Tensor.ofLongs(arena, ids, b, s), Tensor.ofLongs(arena, mask, b, s), Tensor.ofLongs(arena, new long[b * s], b, s)};
            assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"), g.inputs().stream().map(v -> v.name()).toList());
            TestGraph.assertSameOutputs(g, f, inputs, 1e-4);
        }
    }
}
