package dev.gatun.engine.graph;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.ArenaContext;
import dev.gatun.engine.ops.NodeSpec;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.ops.Planned;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Evaluates, once at load, every node whose inputs are all constants (initializers, {@code Constant} outputs,
 * earlier folded values), so that sub-graphs computing weights (the light classifiers' ConstantOfShape weights,
 * exporters' shape arithmetic on initializers) cost nothing per run. Random ops are never folded; a node
 * Gatun cannot plan is left in place for the session to report.
 */
public final class ConstantFolder {
    private static final Set<String> NON_DETERMINISTIC = Set.of(
            "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli");

    private ConstantFolder() {}

    /** The graph with foldable nodes evaluated into {@code arena}; tensors over {@code maxTensorBytes} are refused. */
    public static Graph fold(Graph g, Arena arena, long maxTensorBytes) {
        return fold(g, arena, maxTensorBytes, Long.MAX_VALUE, false);
    }

    /** As {@link #fold(Graph, Arena, long)}, refusing to allocate more than {@code maxTotalBytes} in all. */
    public static Graph fold(Graph g, Arena arena, long maxTensorBytes, long maxTotalBytes) {
        return fold(g, arena, maxTensorBytes, maxTotalBytes, false);
    }

    /**
     * As {@link #fold(Graph, Arena, long)}; with {@code keepQuantizedWeights}, a DequantizeLinear of an integer
     * constant (a QDQ model's int8 weight or int32 bias) is left in place, so that the optimiser's
     * {@link dev.gatun.engine.graph.passes.QdqFusion} can hand the integer weight to an integer kernel (it folds
     * the ones it does not use).
     */
    public static Graph fold(Graph g, Arena arena, long maxTensorBytes, boolean keepQuantizedWeights) {
        return fold(g, arena, maxTensorBytes, Long.MAX_VALUE, keepQuantizedWeights);
    }

    /** Both of the above: at most {@code maxTotalBytes} allocated in all, quantized weights kept when asked. */
    public static Graph fold(Graph g, Arena arena, long maxTensorBytes, long maxTotalBytes, boolean keepQuantizedWeights) {
        Map<String, Tensor> constants = new HashMap<>(g.constants());
        List<Node> kept = new ArrayList<>();
        ArenaContext ctx = new ArenaContext(arena, maxTensorBytes, maxTotalBytes);
        for (Node n : g.nodes()) {
            if (!foldable(n, constants) || (keepQuantizedWeights && isQuantizedWeight(n, constants))) {
                kept.add(n);
                continue;
            }
            int opset = g.opset(n.domain());
            DType[] types = new DType[n.inputs().size()];
            Shape[] shapes = new Shape[types.length];
            Tensor[] values = new Tensor[types.length];
            for (int i = 0; i < types.length; i++) {
                Tensor t = n.inputs().get(i).isEmpty() ? null : constants.get(n.inputs().get(i));
                values[i] = t;
                types[i] = t == null ? null : t.dtype();
                shapes[i] = t == null ? null : t.shape();
            }
            NodeSpec spec = new NodeSpec(n.name(), n.opType(), n.domain(), opset, n.attrs(), types, shapes, values, n.outputs().size());
            Planned planned;
            try {
                planned = OpRegistry.plan(spec);
            } catch (EngineException e) {
                kept.add(n);
                continue;
            }
            Tensor[] out;
            try {
                out = planned.kernel().run(ctx, values);
            } catch (EngineException e) {
                throw e;
            } catch (RuntimeException e) {
                throw new EngineException(EngineException.Kind.RUNTIME, spec.where() + ": failed while folding constants: " + e, e);
            }
            for (int i = 0; i < n.outputs().size() && i < out.length; i++) {
                if (!n.outputs().get(i).isEmpty() && out[i] != null) {
                    constants.put(n.outputs().get(i), out[i]);
                }
            }
        }
        return new Graph(g.name(), kept, g.inputs(), g.outputs(), constants, g.valueInfo(), g.opsets());
    }

    private static boolean isQuantizedWeight(Node n, Map<String, Tensor> constants) {
        if (!n.opType().equals("DequantizeLinear") || !n.domain().isEmpty()) {
            return false;
        }
        Tensor x = constants.get(n.inputs().get(0));
        return x != null && (x.dtype() == DType.INT8 || x.dtype() == DType.UINT8 || x.dtype() == DType.INT32);
    }

    private static boolean foldable(Node n, Map<String, Tensor> constants) {
        if (!n.domain().isEmpty() || NON_DETERMINISTIC.contains(n.opType())) {
            return false;
        }
        for (String in : n.inputs()) {
            if (!in.isEmpty() && !constants.containsKey(in)) {
                return false;
            }
        }
        return true;
    }
}
