package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.Model;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A model file that already holds dev.gatun ops (e.g. one Gatun optimised and saved) loads and runs. */
class FusedDomainModelTest {
    @Test
    void loaderAcceptsTheDevGatunDomain() {
        TestGraph t = new TestGraph(11).input("x", 2, 3);
        String w = t.floats(new float[] {1, 0, 0, 1, 1, 1}, 3, 2);
        t.output(t.fusedNode("FusedMatMul", new String[] {"x", w, t.floats(new float[] {0.5f, -10f}, 2)}, "activation", "Relu"));
        try (Model m = Model.load(t.bytes(), "fused.onnx"); Session s = m.newSession(); Arena arena = Arena.ofShared();
             Result r = s.run(Map.of("x", Tensor.ofFloats(arena, new float[] {1, 2, 3, 4, 5, 6}, 2, 3)))) {
            assertEquals(1, m.opsets().get("dev.gatun"));
            assertArrayEquals(new float[] {4.5f, 0f, 10.5f, 1f}, r.get(0).toFloatArray());
        }
    }
}
