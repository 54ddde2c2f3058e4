package dev.gatun.engine.graph.passes;

import dev.gatun.engine.graph.Graph;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Runs the graph passes in order on a loaded, constant-folded graph: the convolution fusions ({@link ConvFusion}),
 * the transformer fusions (each matching exact sub-graph shapes and constants, emitting ops of Gatun's
 * {@code dev.gatun} domain, see {@link dev.gatun.engine.ops.FusedOps}), then dead-node elimination.
 *
 * <p>Switches, read when a model loads: system property {@code gatun.optimize=false} turns the optimiser off
 * (to compare against the unfused graph); {@code gatun.optimize.skip=Name,Name} leaves out passes by name.
 */
public final class Optimizer {
    private final List<GraphPass> passes;

    public Optimizer(List<GraphPass> passes) {
        this.passes = List.copyOf(passes);
    }

    /** The default passes, in the order they must run; folded weights garbage-collected (tests). */
    public static List<GraphPass> defaultPasses() {
        return defaultPasses(Arena.ofAuto());
    }

    /** The default passes, in the order they must run; weights they fold are allocated in {@code arena} (the model's). */
    public static List<GraphPass> defaultPasses(Arena arena) {
        return List.of(
                new QdqFusion(arena),
                new ConvFusion(arena),
                new LayerNormFusion(),
                new GeluFusion(),
                new MatMulBiasFusion(),
                new DynamicQuantizeRowsFusion(),
                new QuantMatMulFusion(),
                new AttentionFusion(),
                new MatMulActivationFusion(),
                new MatMulResidualFusion(),
                new SkipLayerNormFusion(),
                new DeadNodeElimination());
    }

    /**
     * Whether constant folding should leave DequantizeLinear of integer weights for {@link QdqFusion}: when the
     * optimiser runs with that pass.
     */
    public static boolean quantizedWeightsKept() {
        Optimizer o = fromSystemProperties();
        return o != null && o.passes.stream().anyMatch(p -> p instanceof QdqFusion);
    }

    /** Whether the system properties leave the optimiser on. */
    public static boolean enabled() {
        return !"false".equalsIgnoreCase(System.getProperty("gatun.optimize", "true"));
    }

    /** The default optimiser, less the passes {@code gatun.optimize.skip} names; null when disabled. */
    public static Optimizer fromSystemProperties() {
        return fromSystemProperties(Arena.ofAuto());
    }

    /** As {@link #fromSystemProperties()}, folded weights allocated in {@code arena}. */
    public static Optimizer fromSystemProperties(Arena arena) {
        if (!enabled()) {
            return null;
        }
        Set<String> skip = Arrays.stream(System.getProperty("gatun.optimize.skip", "").split(","))
                .map(String::trim).filter(s -> !s.isEmpty()).collect(Collectors.toSet());
        return new Optimizer(defaultPasses(arena).stream().filter(p -> !skip.contains(p.name())).toList());
    }

    /** {@code g} optimised as the system properties say (unchanged when disabled); folded weights in {@code arena}. */
    public static Graph optimize(Graph g, Arena arena) {
        Optimizer o = fromSystemProperties(arena);
        return o == null ? g : o.run(g);
    }

    /**
     * Applies every pass in order. A pass that meets an attribute of the wrong type on a node it inspects (the
     * typed getters of {@link dev.gatun.engine.graph.Attributes} throw IllegalArgumentException) leaves the graph
     * as it was: such a node matches no pattern, and planning then refuses it with an error naming the node.
     */
    public Graph run(Graph g) {
        for (GraphPass p : passes) {
            try {
                g = p.apply(g);
            } catch (IllegalArgumentException malformedAttribute) {
                // g is unchanged: passes build a new graph and return it only when done
            }
        }
        return g;
    }

    /**
     * {@code g} (already optimised) with the CPU-only passes applied: {@link NchwcLayout} in the mode
     * {@code gatun.nchwc} names, {@link FeedForwardFusion} (unless {@code gatun.fuse.feedforward=off}), then
     * {@link ConvPoolFusion} (unless {@code gatun.fuse.convpool=off}); none when the optimiser is off, and none that
     * {@code gatun.optimize.skip} names.
     */
    public static Graph forCpu(Graph g) {
        if (!enabled()) {
            return g;
        }
        Set<String> skip = Arrays.stream(System.getProperty("gatun.optimize.skip", "").split(","))
                .map(String::trim).collect(Collectors.toSet());
        if (!skip.contains("NchwcLayout")) {
            g = new NchwcLayout(NchwcLayout.modeFromSystemProperties()).apply(g);
        }
        if (!skip.contains("FeedForwardFusion") && FeedForwardFusion.enabled()) {
            g = new FeedForwardFusion().apply(g);
        }
        return skip.contains("ConvPoolFusion") || !ConvPoolFusion.enabled() ? g : new ConvPoolFusion().apply(g);
    }

    public List<GraphPass> passes() {
        return passes;
    }
}
