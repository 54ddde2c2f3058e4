package dev.gatun.engine.ops;

import dev.gatun.engine.EngineException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The one list of operator families. Adding a family is one line in {@link #FAMILIES}.
 * Lookups are by (domain, op type); the default domain is "".
 */
public final class OpRegistry {
    /** The newest default-domain opset Gatun knows; models importing a newer one are refused. */
    public static final int MAX_OPSET = 27;

    private static final List<OpFamily> FAMILIES = List.of(
            new ShapeOps(),
            new LayoutOps(),
            new PadOps(),
            new UnaryOps(),
            new ActivationOps(),
            new BinaryOps(),
            new LogicOps(),
            new CastOps(),
            new GatherOps(),
            new ScatterOps(),
            new SortOps(),
            new ReduceOps(),
            new SoftmaxOps(),
            new NormOps(),
            new PoolOps(),
            new ResizeOps(),
            new MatMulOps(),
            new ConvOps(),
            new FusedOps(),
            new FusedConvOps(),
            new NchwcOps(),
            new QuantOps(),
            new QuantGemmOps(),
            new QuantConvOps(),
            new QuantFusedOps()
    );

    private static final Map<String, Entry> BY_OP = index();

    /** A registered op and the family that plans it. */
    public record Entry(OpInfo info, OpFamily family) {}

    private OpRegistry() {}

    private static Map<String, Entry> index() {
        Map<String, Entry> m = new HashMap<>();
        for (OpFamily f : FAMILIES) {
            for (OpInfo op : f.ops()) {
                Entry prev = m.put(key(op.domain(), op.opType()), new Entry(op, f));
                if (prev != null) {
                    throw new IllegalStateException("op " + op.opType() + " registered by " + prev.family().getClass().getSimpleName()
                            + " and " + f.getClass().getSimpleName());
                }
            }
        }
        return Collections.unmodifiableMap(m);
    }

    private static String key(String domain, String opType) {
        return (domain.equals("ai.onnx") ? "" : domain) + ":" + opType;
    }

    /** The entry for an op, or null when Gatun does not support it. */
    public static Entry find(String domain, String opType) {
        return BY_OP.get(key(domain, opType));
    }

    /** Whether Gatun runs this op at this opset version. */
    public static boolean supports(String domain, String opType, int opset) {
        Entry e = find(domain, opType);
        return e != null && opset >= e.info().fromOpset() && opset <= MAX_OPSET;
    }

    /** Plans a node, refusing unknown ops and opset versions outside what the family implements. */
    public static Planned plan(NodeSpec node) {
        Entry e = find(node.domain(), node.opType());
        if (e == null) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, node.where() + ": operator "
                    + (node.domain().isEmpty() ? "" : node.domain() + ":") + node.opType() + " is not supported by Gatun");
        }
        if (node.opset() < e.info().fromOpset() || node.opset() > MAX_OPSET) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, node.where() + ": opset " + node.opset()
                    + " is not supported for " + node.opType() + " (supported: " + e.info().fromOpset() + " to " + MAX_OPSET + ")");
        }
        if (!node.hasInput(0)) {
            // every op Gatun runs reads its first input; the families may rely on it being there
            throw new EngineException(EngineException.Kind.UNSUPPORTED, node.where() + ": input 0 is missing or of unknown type");
        }
        try {
            return e.family().plan(node);
        } catch (IllegalArgumentException ex) {
            throw new EngineException(EngineException.Kind.UNSUPPORTED, node.where() + ": " + ex.getMessage(), ex);
        }
    }

    /** Every supported op, sorted by domain and op type (for the README table and {@code gatun inspect}). */
    public static List<OpInfo> all() {
        List<OpInfo> l = new ArrayList<>();
        for (Entry e : BY_OP.values()) {
            l.add(e.info());
        }
        l.sort((a, b) -> a.domain().equals(b.domain()) ? a.opType().compareTo(b.opType()) : a.domain().compareTo(b.domain()));
        return l;
    }
}
