package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;

/**
 * One graph-to-graph rewrite of the {@link Optimizer}. A pass must keep the graph's results (up to float rounding),
 * leave alone any sub-graph it does not match exactly, never swallow a value that is a graph output or read outside
 * what it replaces, and keep the node list in topological order.
 */
public interface GraphPass {
    /** The pass's name, as {@code gatun.optimize.skip} names it. */
    default String name() {
        return getClass().getSimpleName();
    }

    /** The rewritten graph ({@code g} itself when nothing matched). */
    Graph apply(Graph g);
}
