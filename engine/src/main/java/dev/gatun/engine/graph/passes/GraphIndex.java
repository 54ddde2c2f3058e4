package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What pattern matching needs to know about a graph: the producer and the consumers of every value, which values
 * are graph outputs, and the constants. A node whose attributes hold sub-graphs counts as a consumer of every
 * outer value those sub-graphs read, so that no pass removes a value a sub-graph still needs.
 */
public final class GraphIndex {
    private final Graph graph;
    private final Map<String, Node> producers = new HashMap<>();
    private final Map<String, List<Node>> consumers = new HashMap<>();
    private final Set<String> outputs = new HashSet<>();

    public GraphIndex(Graph graph) {
        this.graph = graph;
        for (Node n : graph.nodes()) {
            for (String o : n.outputs()) {
                if (!o.isEmpty()) {
                    producers.put(o, n);
                }
            }
            Set<String> reads = new HashSet<>();
            for (String in : n.inputs()) {
                if (!in.isEmpty()) {
                    reads.add(in);
                }
            }
            subgraphReads(n, reads);
            for (String in : reads) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        graph.outputs().forEach(o -> outputs.add(o.name()));
    }

    /** Adds every value the sub-graphs in {@code n}'s attributes read (recursively). */
    static void subgraphReads(Node n, Set<String> into) {
        for (Attribute a : n.attrs().asMap().values()) {
            if (a instanceof Attribute.GraphValue g) {
                for (Node inner : g.value().nodes()) {
                    for (String in : inner.inputs()) {
                        if (!in.isEmpty()) {
                            into.add(in);
                        }
                    }
                    subgraphReads(inner, into);
                }
                g.value().outputs().forEach(o -> into.add(o.name()));
            }
        }
    }

    public Graph graph() {
        return graph;
    }

    /** The node writing {@code value}, or null (graph input, constant, unknown). */
    public Node producer(String value) {
        return producers.get(value);
    }

    /** The producer of {@code value} when it has op type {@code op} in the default domain, else null. */
    public Node producer(String value, String op) {
        Node n = producers.get(value);
        return n != null && n.opType().equals(op) && n.domain().isEmpty() ? n : null;
    }

    /** The nodes reading {@code value} (each once). */
    public List<Node> consumers(String value) {
        return consumers.getOrDefault(value, List.of());
    }

    public boolean isGraphOutput(String value) {
        return outputs.contains(value);
    }

    /** The one node reading {@code value}, or null when there are several, none, or it is a graph output. */
    public Node soleConsumer(String value) {
        List<Node> c = consumers(value);
        return c.size() == 1 && !outputs.contains(value) ? c.get(0) : null;
    }

    /** {@link #soleConsumer} when it has op type {@code op} in the default domain. */
    public Node soleConsumer(String value, String op) {
        Node n = soleConsumer(value);
        return n != null && n.opType().equals(op) && n.domain().isEmpty() ? n : null;
    }

    /** The constant value of {@code value}, or null. */
    public Tensor constant(String value) {
        return value.isEmpty() ? null : graph.constants().get(value);
    }

    /** The single element of a float32 constant of rank at most {@code maxRank}, or null. */
    public Float scalarFloat(String value, int maxRank) {
        Tensor t = constant(value);
        if (t == null || t.dtype() != DType.FLOAT || t.size() != 1 || t.shape().rank() > maxRank) {
            return null;
        }
        return t.getFloat(0);
    }

    /** The integer elements of an int64/int32 constant, or null. */
    public long[] ints(String value) {
        Tensor t = constant(value);
        if (t == null || (t.dtype() != DType.INT64 && t.dtype() != DType.INT32)) {
            return null;
        }
        long[] v = new long[Math.toIntExact(t.size())];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.getAsLong(i);
        }
        return v;
    }

    /** The input of binary node {@code n} that is not {@code value}, or null when neither or both are. */
    public static String other(Node n, String value) {
        if (n.inputs().size() != 2) {
            return null;
        }
        String a = n.input(0);
        String b = n.input(1);
        if (a.equals(value) && !b.equals(value)) {
            return b;
        }
        if (b.equals(value) && !a.equals(value)) {
            return a;
        }
        return null;
    }

    /**
     * Whether removing {@code group} loses nothing: every output of its nodes, except {@code kept} (the values the
     * replacement writes), is read only inside the group and is not a graph output.
     */
    public boolean removable(Collection<Node> group, Collection<String> kept) {
        Set<Node> set = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        set.addAll(group);
        for (Node n : group) {
            for (String o : n.outputs()) {
                if (o.isEmpty() || kept.contains(o)) {
                    continue;
                }
                if (outputs.contains(o)) {
                    return false;
                }
                for (Node c : consumers(o)) {
                    if (!set.contains(c)) {
                        return false;
                    }
                }
            }
        }
        return true;
    }
}
