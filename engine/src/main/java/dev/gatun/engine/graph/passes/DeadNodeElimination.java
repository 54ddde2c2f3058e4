package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.ValueInfo;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Removes the nodes no graph output depends on (ONNX ops have no side effects): a backward sweep from the
 * outputs. Fusions leave such nodes behind, e.g. the Shape / Gather / Unsqueeze / Concat chains that computed
 * the Reshape shapes of a fused attention block.
 */
public final class DeadNodeElimination implements GraphPass {
    @Override
    public Graph apply(Graph g) {
        Set<String> live = new HashSet<>();
        for (ValueInfo o : g.outputs()) {
            live.add(o.name());
        }
        List<Node> nodes = g.nodes();
        boolean[] keep = new boolean[nodes.size()];
        int kept = 0;
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node n = nodes.get(i);
            boolean used = false;
            for (String o : n.outputs()) {
                used |= !o.isEmpty() && live.contains(o);
            }
            if (!used) {
                continue;
            }
            keep[i] = true;
            kept++;
            for (String in : n.inputs()) {
                if (!in.isEmpty()) {
                    live.add(in);
                }
            }
            GraphIndex.subgraphReads(n, live);
        }
        if (kept == nodes.size()) {
            return g;
        }
        List<Node> out = new ArrayList<>(kept);
        for (int i = 0; i < nodes.size(); i++) {
            if (keep[i]) {
                out.add(nodes.get(i));
            }
        }
        return new Graph(g.name(), Collections.unmodifiableList(out), g.inputs(), g.outputs(), g.constants(), g.valueInfo(), g.opsets());
    }
}
