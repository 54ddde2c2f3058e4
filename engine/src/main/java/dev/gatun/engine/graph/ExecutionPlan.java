package dev.gatun.engine.graph;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.ops.Kernel;
import dev.gatun.engine.ops.NodeSpec;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.ops.Planned;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A graph planned for execution: every value numbered, every node bound to the kernel its family chose for
 * its input types (decided once, here), and per value the number of uses, so that {@link #execute} frees
 * a value's buffer as soon as its last consumer has run. Planning fails with one UNSUPPORTED error listing
 * every node Gatun cannot run.
 */
public final class ExecutionPlan {
    /** One planned node: its kernel and the value indices it reads and writes (-1 for an omitted input). */
    public record Step(NodeSpec spec, Kernel kernel, int[] inputs, int[] outputs, DType[] outputTypes) {}

    private final Graph graph;
    private final List<Step> steps;
    private final Tensor[] constants;
    private final int[] inputIds;
    private final int[] outputIds;
    private final int[] uses;
    private final int valueCount;
    private final Tensor[] values;
    private final Tensor[][] stepInputs;
    private final Tensor[] results;

    private ExecutionPlan(Graph graph, List<Step> steps, Tensor[] constants, int[] inputIds, int[] outputIds, int[] uses) {
        this.graph = graph;
        this.steps = steps;
        this.constants = constants;
        this.inputIds = inputIds;
        this.outputIds = outputIds;
        this.uses = uses;
        this.valueCount = constants.length;
        this.values = new Tensor[valueCount];
        this.stepInputs = new Tensor[steps.size()][];
        for (int i = 0; i < stepInputs.length; i++) {
            stepInputs[i] = new Tensor[steps.get(i).inputs().length];
        }
        this.results = new Tensor[outputIds.length];
    }

    public static ExecutionPlan build(Graph g) {
        return build(g, PrepackCache.unshared());
    }

    /** Plans {@code g}; kernels keep repacked weights in {@code prepack} (the model's). */
    public static ExecutionPlan build(Graph g, PrepackCache prepack) {
        Map<String, Integer> ids = new HashMap<>();
        List<Tensor> consts = new ArrayList<>();
        List<DType> types = new ArrayList<>();
        List<Shape> shapes = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : g.constants().entrySet()) {
            ids.put(e.getKey(), consts.size());
            consts.add(e.getValue());
            types.add(e.getValue().dtype());
            shapes.add(e.getValue().shape());
        }
        int[] inputIds = new int[g.inputs().size()];
        for (int i = 0; i < inputIds.length; i++) {
            ValueInfo vi = g.inputs().get(i);
            if (vi.dtype() == null) {
                throw new EngineException(EngineException.Kind.UNSUPPORTED, "graph input '" + vi.name()
                        + "' is not a tensor of a type Gatun supports");
            }
            inputIds[i] = ids.size();
            ids.put(vi.name(), ids.size());
            consts.add(null);
            types.add(vi.dtype());
            shapes.add(vi.shape());
        }
        List<Step> steps = new ArrayList<>();
        List<String> unsupported = new ArrayList<>();
        int unsupportedDownstream = 0;
        for (Node n : g.nodes()) {
            int[] in = new int[n.inputs().size()];
            DType[] inTypes = new DType[in.length];
            Shape[] inShapes = new Shape[in.length];
            Tensor[] inConsts = new Tensor[in.length];
            for (int i = 0; i < in.length; i++) {
                String name = n.inputs().get(i);
                in[i] = name.isEmpty() ? -1 : ids.get(name);
                if (in[i] >= 0) {
                    inTypes[i] = types.get(in[i]);
                    inShapes[i] = shapes.get(in[i]);
                    inConsts[i] = consts.get(in[i]);
                }
            }
            NodeSpec spec = new NodeSpec(n.name(), n.opType(), n.domain(), g.opset(n.domain()), n.attrs(), inTypes, inShapes, inConsts,
                    n.outputs().size()).withPrepack(prepack);
            int[] out = new int[n.outputs().size()];
            DType[] outTypes = new DType[out.length];
            Kernel kernel = null;
            boolean upstreamFailed = false;
            for (int i = 0; i < in.length; i++) {
                upstreamFailed |= in[i] >= 0 && inTypes[i] == null;
            }
            if (upstreamFailed) {
                unsupportedDownstream++;
            } else try {
                Planned p = OpRegistry.plan(spec);
                kernel = p.kernel();
                for (int i = 0; i < out.length; i++) {
                    outTypes[i] = i < p.outputTypes().length ? p.outputTypes()[i] : null;
                }
            } catch (EngineException e) {
                if (e.kind() != EngineException.Kind.UNSUPPORTED) {
                    throw e;
                }
                unsupported.add(e.getMessage());
            }
            for (int i = 0; i < out.length; i++) {
                String name = n.outputs().get(i);
                if (name.isEmpty()) {
                    out[i] = -1;
                    continue;
                }
                out[i] = ids.size();
                ids.put(name, ids.size());
                consts.add(null);
                types.add(outTypes[i]);
                ValueInfo vi = g.valueInfo().get(name);
                shapes.add(vi == null ? null : vi.shape());
            }
            steps.add(new Step(spec, kernel, in, out, outTypes));
        }
        if (!unsupported.isEmpty()) {
            StringBuilder b = new StringBuilder(unsupported.size() + " node(s) cannot run on Gatun: ");
            for (int i = 0; i < Math.min(5, unsupported.size()); i++) {
                b.append(i > 0 ? "; " : "").append(unsupported.get(i));
            }
            if (unsupported.size() > 5) {
                b.append("; and ").append(unsupported.size() - 5).append(" more");
            }
            if (unsupportedDownstream > 0) {
                b.append(" (").append(unsupportedDownstream).append(" node(s) after them not planned)");
            }
            throw new EngineException(EngineException.Kind.UNSUPPORTED, b.toString());
        }
        int[] uses = new int[ids.size()];
        for (Step s : steps) {
            for (int v : s.inputs()) {
                if (v >= 0) {
                    uses[v]++;
                }
            }
        }
        int[] outputIds = new int[g.outputs().size()];
        for (int i = 0; i < outputIds.length; i++) {
            outputIds[i] = ids.get(g.outputs().get(i).name());
            uses[outputIds[i]]++;
        }
        return new ExecutionPlan(g, List.copyOf(steps), consts.toArray(new Tensor[0]), inputIds, outputIds, uses);
    }

    public Graph graph() {
        return graph;
    }

    public List<Step> steps() {
        return steps;
    }

    /** Number of values (constants, graph inputs, node outputs), numbered as the steps' input/output ids. */
    public int valueCount() {
        return valueCount;
    }

    /** The constant with value id {@code v}, or null when {@code v} is computed or a graph input. */
    public Tensor constant(int v) {
        return constants[v];
    }

    /** Value ids of the graph inputs, in order. */
    public int[] inputIds() {
        return inputIds.clone();
    }

    /** Value ids of the graph outputs, in order. */
    public int[] outputIds() {
        return outputIds.clone();
    }

    /** How many times value {@code v} is read (by steps, plus one per graph output it is). */
    public int uses(int v) {
        return uses[v];
    }

    /**
     * Runs the plan: {@code inputs} in graph-input order (validated by the caller). Returns the graph outputs in an
     * array the plan reuses, valid until {@link Workspace#endRun}; the caller copies them out, then ends the run.
     * Not thread-safe: a plan belongs to one session, which runs one request at a time.
     */
    public Tensor[] execute(Workspace ws, Tensor[] inputs) {
        return execute(ws, inputs, null);
    }

    /**
     * Whether profiles time the calling thread's CPU time instead of the wall clock ({@code -Dgatun.profile.clock=cpu}):
     * on a one-thread session that is all of a node's work, and a loaded machine disturbs it far less.
     */
    private static final boolean CPU_CLOCK = "cpu".equals(System.getProperty("gatun.profile.clock"));
    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    private static long profileClock() {
        return CPU_CLOCK ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    /**
     * As {@link #execute(Workspace, Tensor[])}, adding each step's time (ns; wall clock, or CPU time, see
     * {@link #CPU_CLOCK}) to {@code profile[step]} when not null.
     */
    public Tensor[] execute(Workspace ws, Tensor[] inputs, long[] profile) {
        Tensor[] values = this.values;
        System.arraycopy(constants, 0, values, 0, constants.length);
        for (int i = 0; i < inputIds.length; i++) {
            values[inputIds[i]] = inputs[i];
        }
        int stepIndex = 0;
        for (Step s : steps) {
            Tensor[] ins = stepInputs[stepIndex];
            for (int i = 0; i < ins.length; i++) {
                ins[i] = s.inputs()[i] < 0 ? null : values[s.inputs()[i]];
            }
            Tensor[] outs;
            long t0 = profile != null ? profileClock() : 0;
            try {
                outs = s.kernel().run(ws, ins);
            } catch (EngineException e) {
                if (e.getMessage() != null && e.getMessage().contains(s.spec().where())) {
                    throw e;
                }
                throw new EngineException(e.kind(), s.spec().where() + ": " + e.getMessage(), e);
            } catch (IllegalStateException e) {
                throw new EngineException(EngineException.Kind.CLOSED, s.spec().where() + ": " + e.getMessage(), e);
            } catch (RuntimeException | StackOverflowError e) {
                throw new EngineException(EngineException.Kind.RUNTIME, s.spec().where() + ": failed on inputs "
                        + describe(ins) + ": " + e, e);
            }
            if (outs == null || outs.length < countRequired(s)) {
                throw new EngineException(EngineException.Kind.RUNTIME, s.spec().where() + ": kernel returned "
                        + (outs == null ? "nothing" : outs.length + " outputs") + ", expected " + s.outputs().length);
            }
            for (int i = 0; i < s.outputs().length; i++) {
                int v = s.outputs()[i];
                if (v < 0) {
                    continue;
                }
                Tensor t = i < outs.length ? outs[i] : null;
                if (t == null || (s.outputTypes()[i] != null && t.dtype() != s.outputTypes()[i])) {
                    throw new EngineException(EngineException.Kind.RUNTIME, s.spec().where() + ": output " + i + " is "
                            + (t == null ? "missing" : t.dtype()) + ", planned " + s.outputTypes()[i]);
                }
                values[v] = t;
                ws.retain(t, uses[v]);
            }
            if (profile != null) {
                profile[stepIndex] += profileClock() - t0;
            }
            stepIndex++;
            ws.endStep();
            for (int v : s.inputs()) {
                if (v >= 0) {
                    ws.release(values[v]);
                }
            }
        }
        Tensor[] result = this.results;
        for (int i = 0; i < result.length; i++) {
            result[i] = values[outputIds[i]];
        }
        java.util.Arrays.fill(values, null);
        for (Tensor[] ins : stepInputs) {
            java.util.Arrays.fill(ins, null);
        }
        return result;
    }

    private static int countRequired(Step s) {
        int n = 0;
        for (int i = 0; i < s.outputs().length; i++) {
            if (s.outputs()[i] >= 0) {
                n = i + 1;
            }
        }
        return n;
    }

    private static String describe(Tensor[] ins) {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < ins.length; i++) {
            b.append(i > 0 ? ", " : "").append(ins[i] == null ? "-" : ins[i].dtype() + "" + ins[i].shape());
        }
        return b.append(')').toString();
    }
}
