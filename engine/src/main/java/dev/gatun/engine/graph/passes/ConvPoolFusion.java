package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Attribute;
import dev.gatun.engine.graph.Attributes;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.ops.FusedConvOps;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A 2-D convolution and the MaxPool after it as one {@code dev.gatun:FusedConvMaxPool} ({@link FusedConvOps}), for
 * CPU sessions (after {@link ConvFusion} and {@link NchwcLayout}; ResNet's stem: the convolution's output then never
 * goes to memory). A candidate is a Conv, or a FusedConv without residual Z, with one output, constant float32 W of
 * rank 4, whose only consumer is a MaxPool (default domain) with kernel_shape of two dims, dilations 1, auto_pad
 * NOTSET, ceil_mode 0 and no Indices output, the convolution's output not being a graph output. The fused node keeps
 * the convolution's name, inputs and attributes, adds the MaxPool's kernel_shape, strides and pads under the prefix
 * {@code pool_}, and writes the MaxPool's output, placed where the MaxPool was.
 *
 * <p>{@code -Dgatun.fuse.convpool=off} (read when a model loads) turns it off, for A/B measurements.
 */
public final class ConvPoolFusion implements GraphPass {
    /** Whether the system properties leave this fusion on. */
    public static boolean enabled() {
        return !"off".equalsIgnoreCase(System.getProperty("gatun.fuse.convpool", "on").trim());
    }

    @Override
    public Graph apply(Graph g) {
        GraphIndex idx = new GraphIndex(g);
        Rewriter rw = new Rewriter(g);
        for (Node conv : g.nodes()) {
            if (!convolution(g, conv)) {
                continue;
            }
            Node pool = idx.soleConsumer(conv.output(0), "MaxPool");
            if (pool == null || !plainMaxPool(pool)) {
                continue;
            }
            Map<String, Attribute> attrs = new LinkedHashMap<>(conv.attrs().asMap());
            for (String name : FusedConvOps.POOL_ATTRIBUTES) {
                Attribute a = pool.attrs().get(name);
                if (a != null) {
                    attrs.put("pool_" + name, a);
                }
            }
            List<String> inputs = new ArrayList<>(conv.inputs().subList(0, Math.min(3, conv.inputs().size())));
            rw.replace(List.of(conv, pool), new Node(conv.name(), FusedConvOps.FUSED_CONV_MAX_POOL, FusedConvOps.DOMAIN, inputs,
                    List.of(pool.output(0)), new Attributes(attrs)));
        }
        return rw.result();
    }

    /** A Conv, or a FusedConv without residual, with one output and constant float32 weights of rank 4. */
    private static boolean convolution(Graph g, Node n) {
        boolean plain = n.opType().equals("Conv") && n.domain().isEmpty();
        boolean fused = n.opType().equals(FusedConvOps.FUSED_CONV) && n.domain().equals(FusedConvOps.DOMAIN)
                && (n.inputs().size() < 4 || n.input(3).isEmpty());
        if (!(plain || fused) || n.outputs().size() != 1 || n.inputs().size() < 2) {
            return false;
        }
        Tensor w = g.constants().get(n.input(1));
        return w != null && w.dtype() == DType.FLOAT && w.shape().rank() == 4;
    }

    /** A 2-D MaxPool without Indices, ceil mode or auto_pad, dilations 1. */
    private static boolean plainMaxPool(Node p) {
        Attributes a = p.attrs();
        long[] k = a.getInts("kernel_shape", null);
        long[] d = a.getInts("dilations", new long[] {1, 1});
        boolean noIndices = p.outputs().size() == 1 || p.outputs().size() == 2 && p.output(1).isEmpty();
        return noIndices && k != null && k.length == 2 && d.length == 2 && d[0] == 1 && d[1] == 1
                && a.getInt("ceil_mode", 0) == 0 && a.getString("auto_pad", "NOTSET").equals("NOTSET");
    }
}
