package dev.gatun.engine;

import dev.gatun.engine.graph.ConstantFolder;
import dev.gatun.engine.graph.ExecutionPlan;
import dev.gatun.engine.graph.Graph;
import dev.gatun.engine.graph.Node;
import dev.gatun.engine.graph.PrepackCache;
import dev.gatun.engine.graph.ValueInfo;
import dev.gatun.engine.graph.passes.Optimizer;
import dev.gatun.engine.onnx.OnnxLoader;
import dev.gatun.engine.ops.OpRegistry;
import dev.gatun.engine.tensor.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A loaded ONNX model: the graph, with weights mapped read-only from the file (zero copy), constant
 * sub-graphs folded, convolution and transformer sub-graphs fused ({@link Optimizer}; off with {@code -Dgatun.optimize=false}). Create {@link Session}s to run it. Closing the model unmaps its weights; sessions of a
 * closed model refuse to run.
 *
 * <pre>{@code
 * try (Model model = Model.load(Path.of("model.onnx"));
 *      Session session = model.newSession();
 *      Arena arena = Arena.ofConfined()) {
 *     Tensor x = Tensor.ofFloats(arena, data, 1, 3, 224, 224);
 *     try (Result r = session.run(Map.of("input", x))) {
 *         float[] logits = r.get(0).toFloatArray();
 *     }
 * }
 * }</pre>
 */
public final class Model implements AutoCloseable {
    private final String name;
    private final NativeMemory.Tracked arena;
    private final Graph original;
    private final Graph graph;
    private final List<TensorInfo> outputInfo;
    private final long irVersion;
    private final String producer;
    private final Map<String, String> metadata;
    private final PrepackCache prepack;
    /** {@link #graph} with the CPU-only layout pass applied: what CPU sessions plan. */
    private final Graph cpuGraph;
    private final java.util.Set<Session> sessions = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private Model(String name, NativeMemory.Tracked arena, OnnxLoader.Loaded loaded, LoadOptions limits) {
        this.name = name;
        this.arena = arena;
        this.original = loaded.graph();
        this.graph = Optimizer.optimize(ConstantFolder.fold(loaded.graph(), arena, limits.maxTensorBytes(),
                loaded.constantBytesLeft(), Optimizer.quantizedWeightsKept()), arena);
        this.cpuGraph = Optimizer.forCpu(graph);
        this.outputInfo = info(graph.outputs());
        this.irVersion = loaded.irVersion();
        this.producer = loaded.producer();
        this.metadata = Map.copyOf(loaded.metadata());
        this.prepack = new PrepackCache(arena);
    }

    /**
     * Loads a model file. External data files are mapped from the model's folder.
     *
     * @throws EngineException MODEL_LOAD for unreadable, malformed, truncated or unsafe files, UNSUPPORTED for
     *                         opsets or data types Gatun does not have; the message names the file and what is wrong
     */
    public static Model load(Path path) {
        return load(path, LoadOptions.defaults());
    }

    /** As {@link #load(Path)}, refusing constants larger than {@code maxTensorBytes}. */
    public static Model load(Path path, long maxTensorBytes) {
        return load(path, LoadOptions.defaults().withMaxTensorBytes(maxTensorBytes));
    }

    /**
     * As {@link #load(Path)}, within {@code limits}: node count and sub-graph depth are checked on the file's bytes
     * before parsing, every constant's size before it is allocated.
     *
     * @throws EngineException LIMIT naming the limit a model exceeds
     */
    public static Model load(Path path, LoadOptions limits) {
        NativeMemory.Tracked arena = NativeMemory.newArena(NativeMemory.Kind.MODEL);
        try {
            return new Model(path.getFileName().toString(), arena, OnnxLoader.load(path, arena, limits), limits);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Loads a model from bytes (copied once into the model's memory); external data is refused. */
    public static Model load(byte[] bytes, String name) {
        return load(bytes, name, LoadOptions.defaults());
    }

    /** As {@link #load(byte[], String)}, within {@code limits}. */
    public static Model load(byte[] bytes, String name, LoadOptions limits) {
        NativeMemory.Tracked arena = NativeMemory.newArena(NativeMemory.Kind.MODEL);
        try {
            return new Model(name, arena, OnnxLoader.load(bytes, name, arena, limits), limits);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** A session with default options (one thread). */
    public Session newSession() {
        return newSession(SessionOptions.defaults());
    }

    /**
     * Plans the model and returns a session.
     *
     * @throws EngineException UNSUPPORTED listing every node Gatun cannot run (op, opset, dtypes)
     */
    public Session newSession(SessionOptions options) {
        checkOpen();
        Session s = new Session(this, ExecutionPlan.build(options.isCuda() ? graph : cpuGraph, prepack), options);
        sessions.add(s);
        if (closed) {
            s.close();
            checkOpen();
        }
        return s;
    }

    /** A session closed itself: the model no longer closes it. */
    void sessionClosed(Session s) {
        sessions.remove(s);
    }

    /** The file name (or the name given for in-memory models). */
    public String name() {
        return name;
    }

    public List<TensorInfo> inputs() {
        return info(graph.inputs());
    }

    public List<TensorInfo> outputs() {
        return outputInfo;
    }

    private static List<TensorInfo> info(List<ValueInfo> v) {
        return v.stream().map(x -> new TensorInfo(x.name(), x.dtype(), x.shape())).toList();
    }

    /** Opset version per imported domain ("" is ai.onnx). */
    public Map<String, Integer> opsets() {
        return graph.opsets();
    }

    public long irVersion() {
        return irVersion;
    }

    /** Producer name and version as the file records them. */
    public String producer() {
        return producer;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** The nodes as stored in the file (before constant folding), with Gatun's support for each. */
    public List<NodeInfo> nodes() {
        List<NodeInfo> l = new ArrayList<>();
        for (Node n : original.nodes()) {
            int opset = original.opset(n.domain());
            l.add(new NodeInfo(n.name(), n.opType(), n.domain(), opset, OpRegistry.supports(n.domain(), n.opType(), opset)));
        }
        return l;
    }

    /**
     * The kernel choices worth showing (sparse or dense weights, see {@link dev.gatun.engine.ops.SparsePlanner}) of
     * the nodes left to run, in execution order: what planning a session decides.
     *
     * @throws EngineException UNSUPPORTED when the model cannot be planned
     */
    public List<KernelChoice> kernelChoices() {
        checkOpen();
        List<KernelChoice> l = new ArrayList<>();
        for (ExecutionPlan.Step s : ExecutionPlan.build(cpuGraph, prepack).steps()) {
            if (s.spec().kernelNote() != null) {
                l.add(new KernelChoice(s.spec().name(), s.spec().opType(), s.spec().kernelNote()));
            }
        }
        return l;
    }

    /** Nodes left to run after constant folding and the optimiser's fusions. */
    public int runtimeNodeCount() {
        return graph.nodes().size();
    }

    /** Number of weight elements (initializers and Constant values in the file). */
    public long parameterCount() {
        return original.constants().values().stream().mapToLong(Tensor::size).sum();
    }

    /** Bytes of weights. */
    public long parameterBytes() {
        return original.constants().values().stream().mapToLong(Tensor::byteSize).sum();
    }

    /**
     * Native bytes this model holds: its mapped file(s) and its own allocations (decoded and folded constants,
     * weights repacked for kernels, shared by its sessions). Sessions count their workspaces apart
     * ({@link Session#nativeBytes()}). 0 once closed.
     */
    public long nativeBytes() {
        return arena.bytes();
    }

    /** The part of {@link #nativeBytes()} that is mapped from files (0 once closed). */
    public long mappedBytes() {
        return arena.mappedBytes();
    }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    void checkOpen() {
        if (closed) {
            throw new EngineException(EngineException.Kind.CLOSED, "model '" + name + "' is closed");
        }
    }

    /**
     * Closes the sessions still open (each after the run in progress, if any, finishes), then unmaps and frees the
     * weights. Sessions of a closed model refuse to run ({@link EngineException.Kind#CLOSED}); results already
     * returned stay valid until they are closed.
     */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            for (Session s : sessions.toArray(Session[]::new)) {
                s.close();
            }
            arena.close();
        }
    }
}
