package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** MatMulBiasFusion, MatMulActivationFusion and MatMulResidualFusion: a BERT feed-forward block, and near misses. */
class MatMulFusionTest {
    private static final Optimizer MATMUL = new Optimizer(List.of(new GeluFusion(), new MatMulBiasFusion(),
            new MatMulActivationFusion(), new MatMulResidualFusion(), new DeadNodeElimination()));

    /** x [B, 7, 17] -> Add(MatMul(act(MatMul(x, W1) + b1), W2) + b2, x): BERT's intermediate and output dense. */
    private static TestGraph feedForward(String act, boolean biasFirst, Random rnd) {
        TestGraph t = new TestGraph(13).input("x", -1, 7, 17);
        String h = t.node("MatMul", new String[] {"x", t.random(rnd, 17, 33)});
        String b1 = t.random(rnd, 33);
        h = t.node("Add", biasFirst ? new String[] {b1, h} : new String[] {h, b1});
        if (act.equals("Gelu")) {
            String e = t.node("Erf", new String[] {t.node("Div", new String[] {h, t.scalar((float) Math.sqrt(2))})});
            h = t.node("Mul", new String[] {t.node("Mul", new String[] {h, t.node("Add", new String[] {e, t.scalar(1f)})}), t.scalar(0.5f)});
        } else if (act.equals("Relu")) {
            h = t.node("Relu", new String[] {h});
        }
        String y = t.node("Add", new String[] {t.node("MatMul", new String[] {h, t.random(rnd, 33, 17)}), t.random(rnd, 17)});
        t.output(t.node("Add", new String[] {y, "x"}));
        return t;
    }

    private static Map<String, Integer> check(TestGraph t, Random rnd, long... inputDims) {
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = MATMUL.run(g);
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, inputDims)}, 1e-5);
            return TestGraph.ops(f);
        }
    }

    @Test
    void feedForwardBecomesTwoFusedMatMuls() {
        for (String act : new String[] {"Gelu", "Relu", ""}) {
            Random rnd = new Random(act.length());
            TestGraph t = feedForward(act, act.length() % 2 == 0, rnd);
            assertEquals(Map.of("dev.gatun:FusedMatMul", 2), check(t, rnd, 3, 7, 17), act);
            try (Arena arena = Arena.ofShared()) {
                Graph f = MATMUL.run(t.load(arena));
                assertEquals(act, f.nodes().get(0).attrs().getString("activation", ""));
                assertEquals(4, f.nodes().get(1).inputs().size(), "residual is the fourth input");
            }
        }
    }

    @Test
    void nearMissesStayUnfused() {
        Random rnd = new Random(5);
        // B not constant: a plain MatMul; bias [1, N] is not a 1-D constant: stays an Add
        TestGraph t = new TestGraph(13).input("x", 4, 17).input("w", 17, 5);
        String a = t.node("MatMul", new String[] {"x", "w"});
        String b = t.node("Add", new String[] {t.node("MatMul", new String[] {"x", t.random(rnd, 17, 5)}), t.random(rnd, 1, 5)});
        t.output(t.node("Add", new String[] {a, b}));
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = MATMUL.run(g);
            // the constant-weight MatMul becomes a FusedMatMul without bias, which takes the [1,5] add as a residual
            // (added through Add at run time, as it broadcasts); the MatMul by the input w stays
            assertEquals(Map.of("MatMul", 1, "Add", 1, "dev.gatun:FusedMatMul", 1), TestGraph.ops(f));
            assertEquals(4, f.nodes().stream().filter(n -> n.opType().equals("FusedMatMul")).findFirst().orElseThrow().inputs().size());
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, 4, 17),
                TestGraph.randomTensor(arena, rnd, 17, 5)}, 1e-5);
        }
    }

    @Test
    void productThatIsAlsoAGraphOutputKeepsItsAdds() {
        Random rnd = new Random(6);
        TestGraph t = new TestGraph(13).input("x", 4, 17).input("r", 4, 5);
        String mm = t.node("MatMul", new String[] {"x", t.random(rnd, 17, 5)});
        t.output(t.node("Add", new String[] {t.node("Add", new String[] {mm, t.random(rnd, 5)}), "r"}));
        t.output(mm);
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            Graph f = MATMUL.run(g);
            assertEquals(Map.of("Add", 2, "dev.gatun:FusedMatMul", 1), TestGraph.ops(f));
            TestGraph.assertSameOutputs(g, f, new Tensor[] {TestGraph.randomTensor(arena, rnd, 4, 17),
                TestGraph.randomTensor(arena, rnd, 4, 5)}, 1e-5);
        }
    }
}
