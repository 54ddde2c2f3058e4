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

    /** "node 'name' (Op)". */
    public String where() {
        return "node '" + name + "' (" + (domain.isEmpty() ? "" : domain + ":") + opType + ")";
    }
}
