package dev.gatun.engine;

import dev.gatun.engine.graph.ExecutionPlan;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.graph.Workspace;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * A model planned for running: the kernel of every node chosen once, and a workspace reused across runs.
 * One run at a time: concurrent calls to {@link #run} wait for each other (use one session per thread for
 * parallel requests). Close it to free its memory.
 */
public final class Session implements AutoCloseable {
    private final Model model;
    private final ExecutionPlan plan;
    private final SessionOptions options;
    private final NativeMemory.Tracked arena = NativeMemory.newArena(NativeMemory.Kind.SESSION);
    private final Workspace workspace;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile boolean closed;
    private final Tensor[] ordered;
    private final String[] boundNames;
    private final long[] boundValues;
    private long[] profile;
    private int profiledRuns;
    private final dev.gatun.engine.cuda.CudaSession cuda;

    Session(Model model, ExecutionPlan plan, SessionOptions options) {
        this.model = model;
        this.plan = plan;
        this.options = options;
        this.workspace = Workspace.forSession(arena, options.maxTensorBytes(), options.maxSessionBytes(), options.threads());
        this.ordered = new Tensor[plan.graph().inputs().size()];
        int dims = 0;
        for (ValueInfo v : plan.graph().inputs()) {
            dims += v.shape() == null ? 0 : v.shape().rank();
        }
        this.boundNames = new String[dims];
        this.boundValues = new long[dims];
        this.cuda = options.isCuda() ? openCuda(plan, options) : null;
    }

    private dev.gatun.engine.cuda.CudaSession openCuda(ExecutionPlan plan, SessionOptions options) {
        try {
            return dev.gatun.engine.cuda.CudaSession.open(plan, options.cudaDevice(), options.cudaMath());
        } catch (RuntimeException | Error e) {
            workspace.close();
            arena.close();
            throw e;
        }
    }

    /** Where one node runs: {@code cpu} or {@code cuda:N}. */
    public record Placement(String node, String opType, String device) {}

    /** Where each planned node runs (all {@code cpu} on a CPU session). */
    public List<Placement> placements() {
        if (cuda == null) {
            return plan.steps().stream().map(s -> new Placement(s.spec().name(), s.spec().opType(), "cpu")).toList();
        }
        return cuda.placements().stream().map(p -> new Placement(p.node(), p.opType(), p.device())).toList();
    }

    /**
     * Host<->device traffic of the last run on CUDA: bytes up and down, copies in the middle of the run (0 when the
     * whole model stayed on the device), whether a captured CUDA graph replayed, the device pool's size and the
     * cudaMalloc calls so far; null on a CPU session.
     */
    public dev.gatun.engine.cuda.CudaSession.RunStats lastCudaRun() {
        return cuda == null ? null : cuda.lastRun();
    }

    /** "cuda:0 (sm_90, 132 SMs)" on CUDA, "cpu" otherwise. */
    public String deviceDescription() {
        return cuda == null ? "cpu" : cuda.deviceDescription();
    }

    /** The model's inputs, in order. */
    public List<TensorInfo> inputs() {
        return model.inputs();
    }

    /** The model's outputs, in order. */
    public List<TensorInfo> outputs() {
        return model.outputs();
    }

    public SessionOptions options() {
        return options;
    }

    /** Starts (or restarts) timing every node of every run; {@link #profile()} reports it. Costs two clock reads per node. */
    public void enableProfiling() {
        lock.lock();
        try {
            profile = new long[plan.steps().size()];
            profiledRuns = 0;
        } finally {
            lock.unlock();
        }
    }

    /** One node's share of the profiled runs: mean milliseconds per run. */
    public record NodeTime(String node, String opType, double meanMs) {}

    /** Per-node mean time over the runs since {@link #enableProfiling()}, slowest first (empty when not profiling). */
    public List<NodeTime> profile() {
        lock.lock();
        try {
            if (profile == null || profiledRuns == 0) {
                return List.of();
            }
            java.util.ArrayList<NodeTime> l = new java.util.ArrayList<>();
            for (int i = 0; i < profile.length; i++) {
                ExecutionPlan.Step st = plan.steps().get(i);
                l.add(new NodeTime(st.spec().name(), st.spec().opType(), profile[i] / 1e6 / profiledRuns));
            }
            l.sort((a, b) -> Double.compare(b.meanMs(), a.meanMs()));
            return l;
        } finally {
            lock.unlock();
        }
    }

    /** Native bytes this session's workspace holds (grows to the peak of a run, then stays). */
    public long workspaceBytes() {
        return workspace.reservedBytes();
    }

    /** The ids of the session's intra-op worker threads (the caller not included): tests count their allocations. */
    long[] intraOpThreadIds() {
        return workspace.intraOpThreadIds();
    }

    /**
     * Native bytes this session holds: its workspace (activations, per-run kernel scratch), 0 once closed. The
     * model's weights are counted by {@link Model#nativeBytes()}, results by {@link Result#nativeBytes()}.
     */
    public long nativeBytes() {
        return arena.bytes() + workspace.ownArenaBytes();
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Runs the model on named inputs and returns every output in a {@link Result} the caller closes.
     *
     * @throws EngineException INVALID_INPUT when names, dtypes, ranks or fixed dims do not match the model (the
     *                         message lists what was expected), RUNTIME naming the node when a node fails
     */
    public Result run(Map<String, Tensor> inputs) {
        return execute(inputs, outs -> {
            NativeMemory.Tracked resultArena = NativeMemory.newArena(NativeMemory.Kind.RESULT);
            Map<String, Tensor> named = new LinkedHashMap<>();
            List<TensorInfo> outInfo = model.outputs();
            try {
                for (int i = 0; i < outs.length; i++) {
                    named.put(outInfo.get(i).name(), outs[i].copy(resultArena));
                }
            } catch (RuntimeException e) {
                resultArena.close();
                throw e;
            }
            return new Result(resultArena, named);
        });
    }

    /**
     * Runs the model and writes every output into the caller's tensor of the same name (dtype and shape must match
     * what the run produces): no result memory is allocated, so a steady-state call allocates no native memory.
     *
     * @throws EngineException INVALID_INPUT when an output is missing or its dtype/shape differs from the result
     */
    public void run(Map<String, Tensor> inputs, Map<String, Tensor> outputs) {
        execute(inputs, outs -> {
            List<TensorInfo> outInfo = model.outputs();
            for (int i = 0; i < outs.length; i++) {
                String name = outInfo.get(i).name();
                Tensor dst = outputs.get(name);
                if (dst == null) {
                    throw invalid("no tensor given for output '" + name + "' (" + outs[i].dtype() + outs[i].shape() + ")");
                }
                if (dst.dtype() != outs[i].dtype() || !dst.shape().equals(outs[i].shape())) {
                    throw invalid("output '" + name + "' is " + outs[i].dtype() + outs[i].shape() + ", the tensor given is "
                            + dst.dtype() + dst.shape());
                }
                if (dst.dtype() == DType.STRING) {
                    System.arraycopy(outs[i].strings(), 0, dst.strings(), 0, outs[i].strings().length);
                } else {
                    MemorySegment.copy(outs[i].data(), 0, dst.data(), 0, dst.byteSize());
                }
            }
            return null;
        });
    }

    /** One run under the session lock: bind, execute, hand the outputs (valid only inside) to {@code collect}. */
    private <T> T execute(Map<String, Tensor> inputs, Function<Tensor[], T> collect) {
        lock.lock();
        try {
            checkOpen();
            Tensor[] ordered = bind(inputs);
            if (cuda != null) {
                try {
                    return collect.apply(cuda.run(ordered));
                } finally {
                    cuda.endRun();
                    Arrays.fill(ordered, null);
                }
            }
            boolean ok = false;
            workspace.beginRun(ordered);
            try {
                Tensor[] outs = plan.execute(workspace, ordered, profile);
                if (profile != null) {
                    profiledRuns++;
                }
                T result = collect.apply(outs);
                ok = true;
                return result;
            } finally {
                workspace.endRun(ok);
                Arrays.fill(ordered, null);
            }
        } finally {
            lock.unlock();
        }
    }

    private Tensor[] bind(Map<String, Tensor> inputs) {
        List<ValueInfo> expected = plan.graph().inputs();
        int known = 0;
        for (int i = 0; i < expected.size(); i++) {
            known += inputs.containsKey(expected.get(i).name()) ? 1 : 0;
        }
        if (known != inputs.size()) {
            for (String name : inputs.keySet()) {
                if (expected.stream().noneMatch(v -> v.name().equals(name))) {
                    throw invalid("unknown input '" + name + "'; the model's inputs are " + expectedList());
                }
            }
        }
        Tensor[] ordered = this.ordered;
        int boundCount = 0;
        for (int i = 0; i < ordered.length; i++) {
            ValueInfo vi = expected.get(i);
            Tensor t = inputs.get(vi.name());
            if (t == null) {
                throw invalid("missing input '" + vi.name() + "' (" + describe(vi) + "); the model's inputs are " + expectedList());
            }
            if (t.dtype() != vi.dtype()) {
                throw invalid("input '" + vi.name() + "' is " + t.dtype() + ", the model expects " + vi.dtype());
            }
            Shape want = vi.shape();
            if (want != null) {
                Shape got = t.shape();
                if (got.rank() != want.rank()) {
                    throw invalid("input '" + vi.name() + "' has shape " + got + " (rank " + got.rank() + "), the model expects "
                            + want + " (rank " + want.rank() + ")");
                }
                for (int d = 0; d < want.rank(); d++) {
                    long w = want.dim(d);
                    if (w != Shape.UNKNOWN && w != got.dim(d)) {
                        throw invalid("input '" + vi.name() + "' has shape " + got + ", the model expects " + want
                                + " (dim " + d + " must be " + w + ")");
                    }
                    String sym = want.dimName(d);
                    if (w == Shape.UNKNOWN && sym != null) {
                        int k = 0;
                        while (k < boundCount && !boundNames[k].equals(sym)) {
                            k++;
                        }
                        if (k == boundCount) {
                            boundNames[k] = sym;
                            boundValues[k] = got.dim(d);
                            boundCount++;
                        } else if (boundValues[k] != got.dim(d)) {
                            throw invalid("input '" + vi.name() + "' binds dim '" + sym + "' to " + got.dim(d)
                                    + ", but another input bound it to " + boundValues[k]);
                        }
                    }
                }
            }
            ordered[i] = t;
        }
        return ordered;
    }

    private String expectedList() {
        StringBuilder b = new StringBuilder();
        for (ValueInfo v : plan.graph().inputs()) {
            b.append(b.isEmpty() ? "" : ", ").append(v.name()).append(": ").append(describe(v));
        }
        return b.toString();
    }

    private static String describe(ValueInfo v) {
        DType t = v.dtype();
        return (t == null ? "?" : t.toString()) + (v.shape() == null ? "[?]" : v.shape().toString());
    }

    private static EngineException invalid(String msg) {
        return new EngineException(EngineException.Kind.INVALID_INPUT, msg);
    }

    private void checkOpen() {
        if (closed) {
            throw new EngineException(EngineException.Kind.CLOSED, "session is closed"
                    + (model.isClosed() ? " (its model '" + model.name() + "' was closed)" : ""));
        }
        model.checkOpen();
    }

    /**
     * Frees the workspace and stops the intra-op threads, after the run in progress (if any) finishes. Later
     * runs throw {@link EngineException.Kind#CLOSED}; results already returned stay valid until they are closed.
     */
    @Override
    public void close() {
        lock.lock();
        try {
            if (!closed) {
                closed = true;
                if (cuda != null) {
                    cuda.close();
                }
                workspace.close();
                arena.close();
                model.sessionClosed(this);
            }
        } finally {
            lock.unlock();
        }
    }
}
