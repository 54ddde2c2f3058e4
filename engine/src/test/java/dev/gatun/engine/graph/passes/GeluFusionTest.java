package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** GeluFusion on the orders exporters write x * 0.5 * (1 + erf(x / sqrt 2)) in. */
class GeluFusionTest {
    private static Map<String, Integer> fuse(int order, float divisor) {
        TestGraph t = new TestGraph(13).input("x", -1, 33);
        String x = "x";
        String e = order == 3 ? t.node("Erf", new String[] {t.node("Mul", new String[] {t.scalar((float) (1 / Math.sqrt(2))), x})})
                : t.node("Erf", new String[] {t.node("Div", new String[] {x, t.scalar(divisor)})});
        String a = t.node("Add", new String[] {t.scalar(1f), e});
        String y = switch (order) {
            case 0, 3 -> t.node("Mul", new String[] {t.node("Mul", new String[] {x, a}), t.scalar(0.5f)});
            case 1 -> t.node("Mul", new String[] {x, t.node("Mul", new String[] {a, t.scalar(0.5f)})});
            default -> t.node("Mul", new String[] {t.node("Mul", new String[] {t.scalar(0.5f), x}), a});
        };
        t.output(y);
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = new GeluFusion().apply(g);
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, new Random(order), 3, 33)}, 1e-6);
            return TestGraph.ops(f);
        }
    }

    @Test
    void fusesEachOrder() {
        for (int order = 0; order < 4; order++) {
            assertEquals(Map.of("dev.gatun:Gelu", 1), fuse(order, (float) Math.sqrt(2)), "order " + order);
        }
    }

    @Test
    void leavesOtherDivisorsAlone() {
        assertEquals(Map.of("Div", 1, "Erf", 1, "Add", 1, "Mul", 2), fuse(0, 1.5f));
    }
}
