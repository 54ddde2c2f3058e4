package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedOps;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects the replacements one pass makes over a graph: each removes a group of nodes and puts one new node where
 * the group's last node was (every input of the group is defined before that point, so order stays topological).
 * A group overlapping an earlier one is refused, so that one sweep never fuses a node twice.
 */
public final class Rewriter {
    private final Graph graph;
    private final Map<Node, Boolean> removed = new IdentityHashMap<>();
    private final Map<Node, Node> placedAt = new IdentityHashMap<>();
    private final Map<Node, Integer> position = new IdentityHashMap<>();
    private boolean usesFusedDomain;
    private int count;

    public Rewriter(Graph graph) {
        this.graph = graph;
        for (int i = 0; i < graph.nodes().size(); i++) {
            position.put(graph.nodes().get(i), i);
        }
    }

    /**
     * Replaces {@code group} by {@code replacement}, placed where the group's last node is.
     *
     * @return false (and changes nothing) when a node of the group is already replaced
     */
    public boolean replace(Collection<Node> group, Node replacement) {
        Node last = null;
        for (Node n : group) {
            if (removed.containsKey(n) || !position.containsKey(n)) {
                return false;
            }
            if (last == null || position.get(n) > position.get(last)) {
                last = n;
            }
        }
        for (Node n : group) {
            removed.put(n, Boolean.TRUE);
        }
        placedAt.put(last, replacement);
        usesFusedDomain |= replacement.domain().equals(FusedOps.DOMAIN);
        count++;
        return true;
    }

    /** Whether {@code n} is already part of a replaced group. */
    public boolean isReplaced(Node n) {
        return removed.containsKey(n);
    }

    /** Replacements made so far. */
    public int count() {
        return count;
    }

    /** The rewritten graph (the same graph when nothing was replaced); imports the dev.gatun opset when used. */
    public Graph result() {
        if (count == 0) {
            return graph;
        }
        List<Node> nodes = new ArrayList<>(graph.nodes().size());
        for (Node n : graph.nodes()) {
            Node r = placedAt.get(n);
            if (r != null) {
                nodes.add(r);
            } else if (!removed.containsKey(n)) {
                nodes.add(n);
            }
        }
        Map<String, Integer> opsets = new HashMap<>(graph.opsets());
        if (usesFusedDomain) {
            opsets.putIfAbsent(FusedOps.DOMAIN, FusedOps.OPSET);
        }
        return new Graph(graph.name(), nodes, graph.inputs(), graph.outputs(), graph.constants(), graph.valueInfo(), opsets);
    }
}
