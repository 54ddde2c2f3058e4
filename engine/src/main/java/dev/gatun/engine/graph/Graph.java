package dev.gatun.engine.graph;

import dev.gatun.engine.tensor.Tensor;
import java.util.List;
import java.util.Map;

/**
 * The IR a model loads into: nodes in topological order, the graph's real inputs (initializers excluded),
 * its outputs, the constant values (initializers and folded constants, views of mapped memory), declared
 * value types, and the opset version of every imported domain ("" for ai.onnx).
 */
public record Graph(String name, List<Node> nodes, List<ValueInfo> inputs, List<ValueInfo> outputs,
                    Map<String, Tensor> constants, Map<String, ValueInfo> valueInfo, Map<String, Integer> opsets) {
    public Graph {
        nodes = List.copyOf(nodes);
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        constants = Map.copyOf(constants);
        valueInfo = Map.copyOf(valueInfo);
        opsets = Map.copyOf(opsets);
    }

    /** The opset version of {@code domain} ("" or "ai.onnx" for the default domain), or -1 when not imported. */
    public int opset(String domain) {
        Integer v = opsets.get(domain.equals("ai.onnx") ? "" : domain);
        return v == null ? -1 : v;
    }
}
