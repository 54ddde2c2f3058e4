package dev.gatun.engine.graph.passes;

import static org.junit.jupiter.api.Assertions.*;

import dev.gatun.engine.graph.Graph;
import java.lang.foreign.Arena;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DeadNodeEliminationTest {
    @Test
    void removesWhatNoOutputNeeds() {
        TestGraph t = new TestGraph(13).input("x", 2, 3);
        String used = t.node("Relu", new String[] {"x"});
        String dead = t.node("Neg", new String[] {"x"});
        t.node("Abs", new String[] {dead});
        t.node("Shape", new String[] {used});
        t.output(t.node("Sigmoid", new String[] {used}));
        try (Arena arena = Arena.ofShared()) {
            Graph g = t.load(arena);
            assertEquals(5, g.nodes().size());
            Graph f = new DeadNodeElimination().apply(g);
            assertEquals(Map.of("Relu", 1, "Sigmoid", 1), TestGraph.ops(f));
            assertSame(f, new DeadNodeElimination().apply(f), "nothing left to remove");
        }
    }
}
