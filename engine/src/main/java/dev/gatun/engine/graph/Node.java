package dev.gatun.engine.graph;

import java.util.List;

/**
 * One node of the IR: ONNX's op type and domain ("" for ai.onnx), its input value names ("" for an omitted
 * optional input), output value names, and attributes.
 */
public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs, Attributes attrs) {
    public Node {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    /**
     * The name of input {@code i}, or "" (an omitted input) when the node has fewer inputs. Pattern matchers read
     * inputs through this, so a node with fewer inputs than its op takes (a malformed model) simply does not match.
     */
    public String input(int i) {
        return i < inputs.size() ? inputs.get(i) : "";
    }

    /** The name of output {@code i}, or "" when the node has fewer outputs (see {@link #input}). */
    public String output(int i) {
        return i < outputs.size() ? outputs.get(i) : "";
    }

    /** "node 'name' (Op)". */
    public String where() {
        return "node '" + name + "' (" + (domain.isEmpty() ? "" : domain + ":") + opType + ")";
    }
}
