package dev.gatun.engine.graph.passes;

import dev.gatun.engine.cpu.Nchwc;
import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.ops.FusedConvOps;
import dev.gatun.engine.ops.FusedOps;
import dev.gatun.engine.ops.NchwcOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jdk.incubator.vector.FloatVector;

/**
 * Runs chains of 2-D convolutions in the blocked channel layout {@link Nchwc} (CPU sessions only; after
 * {@link ConvFusion}). A candidate is a Conv or FusedConv with one output, constant float32 weights W of rank 4
 * (group 1, or depthwise: group = C = M, W [C, 1, KH, KW]), a constant bias or none, and a Relu/Clip/no activation.
 * Candidates joined through X or the residual Z form components; a component is converted when the mode says so:
 * <ul>
 *   <li>{@code auto} (default): components holding a depthwise convolution (MobileNet-like chains, where NCHW
 *       costs most), and only with 16-lane vectors;</li>
 *   <li>{@code all}: every component; {@code off}: none.</li>
 * </ul>
 * Each converted convolution becomes {@code dev.gatun:NchwcConv} ({@link NchwcOps}) writing a blocked value named
 * {@code VALUE_nchwc}. Its X and Z come blocked from the component; X from outside is read as NCHW directly when it
 * has fewer than 16 channels (a network's stem) and otherwise through one {@code ReorderToNchwc} per value. A blocked
 * value that a GlobalAveragePool reads feeds {@code NchwcGlobalAveragePool} instead; one that any other node or the
 * graph's outputs read is reordered back under its original name by {@code ReorderFromNchwc}, right after it is made.
 * A residual whose producer in the component has another channel count keeps its convolution in NCHW.
 *
 * <p>The mode is the system property {@code gatun.nchwc}, read when a model loads.
 */
public final class NchwcLayout implements GraphPass {
    /** Which components to convert. */
    public enum Mode { OFF, AUTO, ALL }

    private final Mode mode;

    public NchwcLayout(Mode mode) {
        this.mode = mode;
    }

    /** The mode {@code -Dgatun.nchwc=off|auto|all} names (auto when unset). */
    public static Mode modeFromSystemProperties() {
        return switch (System.getProperty("gatun.nchwc", "auto").trim().toLowerCase(java.util.Locale.ROOT)) {
            case "off", "false" -> Mode.OFF;
            case "all" -> Mode.ALL;
            default -> Mode.AUTO;
        };
    }

    /** One candidate's weights: input and output channels, and whether it is depthwise. */
    private record Conv(int c, int m, boolean depthwise) {}

    @Override
    public Graph apply(Graph g) {
        if (mode == Mode.OFF || (mode == Mode.AUTO && FloatVector.SPECIES_PREFERRED.length() != Nchwc.BLOCK)) {
            return g;
        }
        GraphIndex idx = new GraphIndex(g);
        Map<Node, Conv> cand = new IdentityHashMap<>();
        for (Node n : g.nodes()) {
            Conv c = candidate(g, n);
            if (c != null) {
                cand.put(n, c);
            }
        }
        for (Node n : List.copyOf(cand.keySet())) {
            Node zp = residual(n).isEmpty() ? null : idx.producer(residual(n));
            if (zp != null && cand.containsKey(zp) && cand.get(zp).m() != cand.get(n).m()) {
                cand.remove(n);
            }
        }
        Set<Node> kept = components(idx, cand);
        if (kept.isEmpty()) {
            return g;
        }
        return rewrite(g, idx, cand, kept);
    }

    private static String residual(Node n) {
        return n.opType().equals(FusedConvOps.FUSED_CONV) ? n.input(3) : "";
    }

    /** The candidate's channels, or null when {@code n} is not one. */
    private static Conv candidate(Graph g, Node n) {
        boolean conv = n.opType().equals("Conv") && n.domain().isEmpty();
        boolean fused = n.opType().equals(FusedConvOps.FUSED_CONV) && n.domain().equals(FusedConvOps.DOMAIN);
        if (!(conv || fused) || n.outputs().size() != 1 || n.output(0).isEmpty() || n.input(0).isEmpty()
                || n.inputs().size() > (fused ? 4 : 3)) {
            return null;
        }
        Tensor w = g.constants().get(n.input(1));
        if (w == null || w.dtype() != DType.FLOAT || w.shape().rank() != 4 || w.size() > Integer.MAX_VALUE
                || w.shape().dim(0) < 1 || w.shape().dim(1) < 1 || w.shape().dim(2) < 1 || w.shape().dim(3) < 1) {
            return null;
        }
        long m = w.shape().dim(0);
        if (!n.input(2).isEmpty()) {
            Tensor b = g.constants().get(n.input(2));
            if (b == null || b.dtype() != DType.FLOAT || b.shape().rank() != 1 || b.shape().dim(0) != m) {
                return null;
            }
        }
        Attributes at = n.attrs();
        long group = at.getInt("group", 1);
        long[] ks = at.getInts("kernel_shape", null);
        if (ks != null && (ks.length != 2 || ks[0] != w.shape().dim(2) || ks[1] != w.shape().dim(3))) {
            return null;
        }
        for (String name : new String[] {"strides", "dilations"}) {
            long[] v = at.getInts(name, null);
            if (v != null && (v.length != 2 || v[0] < 1 || v[1] < 1)) {
                return null;
            }
        }
        long[] pads = at.getInts("pads", null);
        if (pads != null && (pads.length != 4 || java.util.Arrays.stream(pads).anyMatch(p -> p < 0))) {
            return null;
        }
        if (!Set.of("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID").contains(at.getString("auto_pad", "NOTSET"))) {
            return null;
        }
        String act = at.getString("activation", "");
        if (!act.isEmpty() && !act.equals("Relu") && !act.equals("Clip")) {
            return null;
        }
        if (group == 1) {
            return new Conv((int) w.shape().dim(1), (int) m, false);
        }
        return w.shape().dim(1) == 1 && group == m ? new Conv((int) m, (int) m, true) : null;
    }

    /** The candidates of the components the mode converts. */
    private Set<Node> components(GraphIndex idx, Map<Node, Conv> cand) {
        Map<Node, Node> parent = new IdentityHashMap<>();
        for (Node n : cand.keySet()) {
            parent.put(n, n);
        }
        for (Node n : cand.keySet()) {
            for (String v : new String[] {n.input(0), residual(n)}) {
                Node p = v.isEmpty() ? null : idx.producer(v);
                if (p != null && cand.containsKey(p)) {
                    parent.put(find(parent, n), find(parent, p));
                }
            }
        }
        Set<Node> withDepthwise = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Map.Entry<Node, Conv> e : cand.entrySet()) {
            if (e.getValue().depthwise()) {
                withDepthwise.add(find(parent, e.getKey()));
            }
        }
        Set<Node> kept = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node n : cand.keySet()) {
            if (mode == Mode.ALL || withDepthwise.contains(find(parent, n))) {
                kept.add(n);
            }
        }
        return kept;
    }

    private static Node find(Map<Node, Node> parent, Node n) {
        while (parent.get(n) != n) {
            Node p = parent.get(n);
            parent.put(n, parent.get(p));
            n = p;
        }
        return n;
    }

    private static Graph rewrite(Graph g, GraphIndex idx, Map<Node, Conv> cand, Set<Node> kept) {
        Set<String> names = new HashSet<>(g.constants().keySet());
        for (ValueInfo v : g.inputs()) {
            names.add(v.name());
        }
        for (Node n : g.nodes()) {
            names.addAll(n.inputs());
            names.addAll(n.outputs());
        }
        Set<String> graphOutputs = new HashSet<>();
        for (ValueInfo v : g.outputs()) {
            graphOutputs.add(v.name());
        }
        Map<String, String> blocked = new HashMap<>();
        Map<String, Integer> channels = new HashMap<>();
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (kept.contains(n)) {
                Conv c = cand.get(n);
                String x = n.input(0);
                boolean nchwInput = false;
                String xb = blocked.get(x);
                if (xb == null && !c.depthwise() && c.c() < Nchwc.BLOCK) {
                    nchwInput = true;
                    xb = x;
                } else if (xb == null) {
                    xb = reorderTo(x, blocked, names, nodes);
                }
                String z = residual(n);
                String zb = z.isEmpty() ? "" : blocked.containsKey(z) ? blocked.get(z) : reorderTo(z, blocked, names, nodes);
                String out = n.output(0);
                String ob = fresh(names, out + "_nchwc");
                Map<String, Attribute> attrs = new LinkedHashMap<>(n.attrs().asMap());
                attrs.put("nchw_input", new Attribute.Int(nchwInput ? 1 : 0));
                List<String> inputs = new ArrayList<>(List.of(xb, n.input(1), n.input(2)));
                if (!zb.isEmpty()) {
                    inputs.add(zb);
                }
                nodes.add(new Node(n.name(), NchwcOps.CONV, FusedOps.DOMAIN, inputs, List.of(ob), new Attributes(attrs)));
                blocked.put(out, ob);
                channels.put(out, c.m());
                reorderFromIfNeeded(n.name(), out, ob, c.m(), idx, kept, graphOutputs, nodes);
            } else if (maxPool(n) && channels.containsKey(n.input(0))) {
                int ch = channels.get(n.input(0));
                String out = n.output(0);
                String ob = fresh(names, out + "_nchwc");
                Map<String, Attribute> attrs = new LinkedHashMap<>(n.attrs().asMap());
                attrs.put("channels", new Attribute.Int(ch));
                nodes.add(new Node(n.name(), NchwcOps.MAX_POOL, FusedOps.DOMAIN, List.of(blocked.get(n.input(0))), List.of(ob),
                        new Attributes(attrs)));
                blocked.put(out, ob);
                channels.put(out, ch);
                reorderFromIfNeeded(n.name(), out, ob, ch, idx, kept, graphOutputs, nodes);
            } else if (globalAveragePool(n) && channels.containsKey(n.input(0))) {
                nodes.add(new Node(n.name(), NchwcOps.GLOBAL_AVERAGE_POOL, FusedOps.DOMAIN, List.of(blocked.get(n.input(0))),
                        n.outputs(), channelsAttr(channels.get(n.input(0)))));
            } else {
                nodes.add(n);
            }
        }
        Map<String, Integer> opsets = new HashMap<>(g.opsets());
        opsets.putIfAbsent(FusedOps.DOMAIN, FusedOps.OPSET);
        return new Graph(g.name(), nodes, g.inputs(), g.outputs(), g.constants(), g.valueInfo(), opsets);
    }

    /**
     * Adds {@code ReorderFromNchwc(blocked) -> out} when a graph output or a node that does not read it blocked
     * (neither a converted convolution nor a GlobalAveragePool or MaxPool) reads {@code out}.
     */
    private static void reorderFromIfNeeded(String name, String out, String blocked, int channels, GraphIndex idx,
                                            Set<Node> kept, Set<String> graphOutputs, List<Node> nodes) {
        boolean plainNeeded = graphOutputs.contains(out);
        for (Node consumer : idx.consumers(out)) {
            plainNeeded |= !kept.contains(consumer) && !globalAveragePool(consumer) && !maxPool(consumer);
        }
        if (plainNeeded) {
            nodes.add(new Node(name + "_to_nchw", NchwcOps.REORDER_FROM, FusedOps.DOMAIN, List.of(blocked), List.of(out),
                    channelsAttr(channels)));
        }
    }

    /** A 2-D MaxPool without the Indices output (converted when its input is blocked). */
    private static boolean maxPool(Node n) {
        if (!n.opType().equals("MaxPool") || !n.domain().isEmpty() || n.inputs().size() != 1
                || n.outputs().stream().filter(o -> !o.isEmpty()).count() != 1 || n.output(0).isEmpty()) {
            return false;
        }
        long[] k = n.attrs().getInts("kernel_shape", null);
        return k != null && k.length == 2;
    }

    /** Reorders plain {@code v} into a new blocked value (once per value) and returns its name. */
    private static String reorderTo(String v, Map<String, String> blocked, Set<String> names, List<Node> nodes) {
        String b = fresh(names, v + "_nchwc");
        nodes.add(new Node(v + "_to_nchwc", NchwcOps.REORDER_TO, FusedOps.DOMAIN, List.of(v), List.of(b), Attributes.empty()));
        blocked.put(v, b);
        return b;
    }

    private static boolean globalAveragePool(Node n) {
        return n.opType().equals("GlobalAveragePool") && n.domain().isEmpty() && n.inputs().size() == 1
                && n.outputs().size() == 1;
    }

    private static Attributes channelsAttr(int c) {
        return new Attributes(Map.of("channels", new Attribute.Int(c)));
    }

    private static String fresh(Set<String> names, String base) {
        String name = base;
        for (int i = 1; names.contains(name); i++) {
            name = base + "_" + i;
        }
        names.add(name);
        return name;
    }
}
