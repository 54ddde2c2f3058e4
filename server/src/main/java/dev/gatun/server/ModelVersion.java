package dev.gatun.server;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.NativeMemory;
import dev.gatun.engine.Result;
import dev.gatun.engine.Session;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;
import dev.gatun.server.pipeline.Pipeline;
import dev.gatun.server.pipeline.Pipelines;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One loaded version of a model: the engine model, its session instances (each with its own worker and
 * intra-op threads), the optional pipeline and the batch queue. Requests {@link #lease()} it while they use it;
 * {@link #retire()} stops new leases, and the version closes once the last lease is returned, so an unload or a
 * reload never fails a request in progress.
 */
final class ModelVersion {
    /** Rows of a merged run when the config does not say and the model allows batching. */
    static final int DEFAULT_MAX_BATCH = 32;

    final String name;
    final long version;
    final ModelConfig config;
    final List<TensorInfo> inputs;
    final List<TensorInfo> outputs;
    final Pipeline pipeline;
    /** Most rows in one merged run; 0: the server does not batch this model (requests run as they come). */
    final int maxBatchSize;
    final int instances;
    final int threadsPerInstance;
    final double loadSeconds;
    final Metrics.ModelMetrics metrics;
    private final Model model;
    private final List<Session> sessions = new ArrayList<>();
    private final List<Staging> staging = new ArrayList<>();
    private final List<String> inputOrder;
    private final ServerConfig server;
    private final Batcher batcher;
    private final AtomicInteger leases = new AtomicInteger();
    private Metrics metricsRoot;
    private volatile boolean retired;

    private ModelVersion(String name, long version, Path file, ModelConfig config, Path pipelineBase, ServerConfig server,
                         Metrics metrics) throws IOException {
        long t0 = System.nanoTime();
        this.name = name;
        this.version = version;
        this.config = config;
        this.server = server;
        this.metrics = metrics.forModel(name, Long.toString(version));
        this.model = Model.load(file, server.loadOptions());
        Batcher b = null;
        try {
            this.inputs = model.inputs();
            this.outputs = model.outputs();
            this.inputOrder = inputs.stream().map(TensorInfo::name).toList();
            this.maxBatchSize = decideBatch(config, inputs, outputs, file);
            int cores = Runtime.getRuntime().availableProcessors();
            int budget = Math.max(1, Math.min(server.threads, cores));
            // batching merges concurrent requests into one run, which is better served by fewer, wider instances
            int inst = config.instances() != null ? config.instances()
                    : maxBatchSize > 0 ? Math.max(1, budget / 4) : Math.max(1, Math.min(2, budget));
            int thr = config.threads() != null ? config.threads() : Math.max(1, budget / inst);
            if ((long) inst * thr > cores) {
                int clamped = Math.max(1, cores / inst);
                Log.warn("model '" + name + "' v" + version + ": " + inst + " instances x " + thr + " threads exceeds the "
                        + cores + " cores; using " + clamped + " threads per instance");
                thr = clamped;
            }
            this.instances = inst;
            this.threadsPerInstance = thr;
            for (int i = 0; i < inst; i++) {
                String dev = !config.device().equals("cpu") ? config.device() : server.device;
                sessions.add(model.newSession(server.sessionOptions().withThreads(thr).withDevice(dev)));
                staging.add(new Staging());
            }
            this.pipeline = config.pipeline() == null ? null : Pipelines.create(new Pipelines.Spec(
                    config.pipeline().get("type").asText(), config.pipeline(), pipelineBase, inputs, outputs));
            if (config.warmup()) {
                warmUp();
            }
            b = new Batcher("gatun-" + name + "-v" + version, inst, config.maxQueueSize(), Math.max(1, maxBatchSize),
                    config.maxQueueDelayUs(), this::run, this.metrics);
            this.batcher = b;
        } catch (RuntimeException | IOException | Error e) {
            closeResources();
            throw e;
        }
        this.loadSeconds = (System.nanoTime() - t0) / 1e9;
        this.metrics.loaded(loadSeconds, true);
        metrics.trackNative(this, name, Long.toString(version), this::nativeBytes);
        this.metricsRoot = metrics;
    }

    /**
     * Loads, plans and warms up a version.
     *
     * @throws EngineException    when the model cannot be loaded or planned, or the warm-up run fails
     * @throws IOException        when a pipeline file cannot be read
     * @throws IllegalArgumentException for a configuration that does not fit the model
     */
    static ModelVersion load(String name, long version, Path file, ModelConfig config, Path pipelineBase, ServerConfig server,
                             Metrics metrics) throws IOException {
        return new ModelVersion(name, version, file, config, pipelineBase, server, metrics);
    }

    private static int decideBatch(ModelConfig config, List<TensorInfo> inputs, List<TensorInfo> outputs, Path file) {
        String why = null;
        for (TensorInfo t : inputs) {
            if (t.shape() == null || t.shape().rank() == 0 || t.shape().dim(0) != Shape.UNKNOWN) {
                why = "input '" + t.name() + "' has no symbolic first dimension (" + t + ")";
                break;
            }
        }
        for (TensorInfo t : outputs) {
            if (why == null && t.shape() != null && (t.shape().rank() == 0 || t.shape().dim(0) != Shape.UNKNOWN)) {
                why = "output '" + t.name() + "' has no symbolic first dimension (" + t + ")";
            }
        }
        if (config.maxBatchSize() == null) {
            return why == null ? DEFAULT_MAX_BATCH : 0;
        }
        if (config.maxBatchSize() > 0 && why != null) {
            throw new IllegalArgumentException(file + ": max_batch_size " + config.maxBatchSize()
                    + " needs a batch dimension, but " + why);
        }
        return config.maxBatchSize();
    }

    private void warmUp() {
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> in = new HashMap<>();
            for (TensorInfo t : inputs) {
                if (t.shape() == null || t.dtype() == null) {
                    Log.info("model '" + name + "' v" + version + ": no warm-up (input '" + t.name() + "' has no declared shape)");
                    return;
                }
                long[] dims = t.shape().dims();
                long[] given = config.warmupDims().get(t.name());
                if (given != null) {
                    dims = maxBatchSize > 0 ? prepend(1, given) : given;
                }
                for (int d = 0; d < dims.length; d++) {
                    dims[d] = dims[d] < 0 ? 1 : dims[d];
                }
                in.put(t.name(), Tensor.allocate(arena, t.dtype(), Shape.of(dims)));
            }
            // the first runs are interpreted (slow); a few more let the JIT compile the kernels before traffic comes
            long until = System.nanoTime() + 30_000_000_000L;
            for (int i = 0; i < sessions.size(); i++) {
                Session s = sessions.get(i);
                int runs = i == 0 ? config.warmupRuns() : Math.min(2, config.warmupRuns());
                for (int k = 0; k < runs && (k == 0 || System.nanoTime() < until); k++) {
                    s.run(in).close();
                    if (pipeline != null && pipeline.itemType() == String.class) {
                        Map<String, Tensor> enc = pipeline.encode(List.of("warm-up"), arena);
                        try (Result r = s.run(enc)) {
                            pipeline.decode(r.asMap(), enc, arena);
                        }
                    }
                }
            }
        }
    }

    private static long[] prepend(long first, long[] rest) {
        long[] d = new long[rest.length + 1];
        d[0] = first;
        System.arraycopy(rest, 0, d, 1, rest.length);
        return d;
    }

    /** A request's hold on this version; {@link #close()} returns it. */
    final class Lease implements AutoCloseable {
        private boolean handedOver;
        private boolean closed;

        ModelVersion version() {
            return ModelVersion.this;
        }

        /** The request is about to queue (or has failed before): it no longer counts as on its way. */
        void handOver() {
            if (!handedOver) {
                handedOver = true;
                batcher.incoming.decrementAndGet();
            }
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                handOver();
                leases.decrementAndGet();
            }
        }
    }

    /** A lease, or null when the version is retired. */
    Lease lease() {
        leases.incrementAndGet();
        if (retired) {
            leases.decrementAndGet();
            return null;
        }
        batcher.incoming.incrementAndGet();
        return new Lease();
    }

    /** What a request gets back: outputs in heap memory, row for row its own. */
    record Outcome(Map<String, Tensor> outputs, long queueNanos, long computeNanos) {}

    /**
     * Runs client tensors (checked here against the model: names, dtypes, ranks, fixed dims, batch).
     *
     * @throws HttpError 400 naming the input and what is wrong; 503 when the queue is full; 504 on timeout
     */
    Outcome infer(Lease lease, Map<String, RequestTensor> request, long deadlineNanos) throws InterruptedException {
        Job job;
        try {
            Map<String, Tensor> in = check(request);
            int rows = maxBatchSize > 0 ? (int) in.get(inputOrder.get(0)).shape().dim(0) : 1;
            job = Job.ofTensors(in, inputOrder, rows);
        } finally {
            lease.handOver();
        }
        return await(job, deadlineNanos);
    }

    /**
     * Runs raw items through the pipeline.
     *
     * @throws HttpError 400 when the model has no pipeline or the items are over the batch limits
     */
    Outcome inferItems(Lease lease, List<?> items, long deadlineNanos) throws InterruptedException {
        Job job;
        try {
            if (pipeline == null) {
                throw HttpError.badRequest("model '" + name + "' has no pipeline: send tensors (its inputs are "
                        + describe(inputs) + ")");
            }
            if (items.isEmpty()) {
                throw HttpError.badRequest("'" + pipeline.rawInputName() + "' holds no items");
            }
            checkRows(items.size());
            job = Job.ofItems(items);
        } finally {
            lease.handOver();
        }
        return await(job, deadlineNanos);
    }

    private Outcome await(Job job, long deadlineNanos) throws InterruptedException {
        batcher.submit(job);
        Map<String, Tensor> out = job.await(deadlineNanos, server.requestTimeoutMs);
        return new Outcome(out, job.startedNanos - job.enqueuedNanos, job.computeNanos);
    }

    private void checkRows(long rows) {
        if (rows > server.maxBatch) {
            throw HttpError.badRequest("the request has " + rows + " rows (batch dimension or items), over the limit of "
                    + server.maxBatch + " per request (limits.max_batch)");
        }
        if (maxBatchSize > 0 && rows > maxBatchSize) {
            throw HttpError.badRequest("the request has " + rows + " rows, over model '" + name + "' max_batch_size of "
                    + maxBatchSize);
        }
    }

    private Map<String, Tensor> check(Map<String, RequestTensor> request) {
        for (String n : request.keySet()) {
            if (!inputOrder.contains(n)) {
                throw HttpError.badRequest("unknown input '" + n + "'; model '" + name + "' has inputs " + describe(inputs)
                        + (pipeline == null ? "" : ", or raw items as '" + pipeline.rawInputName() + "'"));
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        long rows = -1;
        for (TensorInfo info : inputs) {
            RequestTensor t = request.get(info.name());
            if (t == null) {
                throw HttpError.badRequest("missing input '" + info.name() + "' (" + describe(info) + "); model '" + name
                        + "' has inputs " + describe(inputs));
            }
            if (info.dtype() != null && t.dtype() != info.dtype()) {
                throw HttpError.badRequest("input '" + info.name() + "' has datatype " + Datatypes.v2(t.dtype())
                        + ", the model expects " + Datatypes.v2(info.dtype()));
            }
            Shape want = info.shape();
            long[] got = t.shape();
            if (want != null) {
                if (got.length != want.rank()) {
                    throw HttpError.badRequest("input '" + info.name() + "' has shape " + java.util.Arrays.toString(got)
                            + " (rank " + got.length + "), the model expects " + want + " (rank " + want.rank() + ")");
                }
                for (int d = 0; d < got.length; d++) {
                    if (want.dim(d) != Shape.UNKNOWN && want.dim(d) != got[d]) {
                        throw HttpError.badRequest("input '" + info.name() + "' has shape " + java.util.Arrays.toString(got)
                                + ", the model expects " + want + " (dim " + d + " must be " + want.dim(d) + ")");
                    }
                }
            }
            if (maxBatchSize > 0) {
                if (rows >= 0 && got[0] != rows) {
                    throw HttpError.badRequest("input '" + info.name() + "' has " + got[0] + " rows in its first (batch)"
                            + " dimension, other inputs have " + rows);
                }
                rows = got[0];
            }
            out.put(info.name(), t.toTensor());
        }
        if (rows >= 0) {
            checkRows(rows);
        }
        return out;
    }

    static String describe(List<TensorInfo> l) {
        StringBuilder b = new StringBuilder();
        for (TensorInfo t : l) {
            b.append(b.isEmpty() ? "" : ", ").append(t.name()).append(": ").append(describe(t));
        }
        return b.toString();
    }

    static String describe(TensorInfo t) {
        return Datatypes.v2(t.dtype()) + (t.shape() == null ? "[?]" : t.shape().toString());
    }

    /** The batcher's runner: one merged run, split back per job; jobs that broke a merged run are retried alone. */
    private void run(List<Job> jobs, int instance) {
        long t0 = System.nanoTime();
        int rows = 0;
        for (Job j : jobs) {
            rows += j.rows;
        }
        try {
            List<Map<String, Tensor>> out = jobs.get(0).items != null ? runItems(jobs, instance, rows)
                    : runTensors(jobs, instance, rows);
            long dt = System.nanoTime() - t0;
            metrics.compute.observe(dt / 1e9);
            metrics.rows.observe(rows);
            metrics.merged.observe(jobs.size());
            for (int i = 0; i < jobs.size(); i++) {
                Job j = jobs.get(i);
                j.computeNanos = dt;
                metrics.queue.observe((j.startedNanos - j.enqueuedNanos) / 1e9);
                j.complete(out.get(i));
            }
        } catch (RuntimeException e) {
            if (jobs.size() > 1 && retryAlone(e)) {
                for (Job j : jobs) {
                    run(List.of(j), instance);
                }
                return;
            }
            RuntimeException mapped = Errors.toHttp(e);
            for (Job j : jobs) {
                j.fail(mapped);
            }
        }
    }

    private static boolean retryAlone(RuntimeException e) {
        return e instanceof Pipeline.PipelineException || e instanceof SplitException
                || e instanceof EngineException ee && ee.kind() != EngineException.Kind.CLOSED;
    }

    private List<Map<String, Tensor>> runTensors(List<Job> jobs, int instance, int rows) {
        Staging st = staging.get(instance);
        Map<String, Tensor> merged = new LinkedHashMap<>();
        for (String n : inputOrder) {
            Tensor first = jobs.get(0).inputs.get(n);
            Shape shape = first.shape();
            if (jobs.size() > 1) {
                long[] dims = shape.dims();
                dims[0] = rows;
                shape = Shape.of(dims);
            }
            if (first.dtype() == DType.STRING) {
                List<String> all = new ArrayList<>();
                for (Job j : jobs) {
                    all.addAll(List.of(j.inputs.get(n).strings()));
                }
                merged.put(n, Tensor.ofStrings(shape, all.toArray(String[]::new)));
                continue;
            }
            long bytes = shape.size() * first.dtype().byteSize();
            MemorySegment seg = st.get(n, bytes);
            long off = 0;
            for (Job j : jobs) {
                MemorySegment src = j.inputs.get(n).data();
                MemorySegment.copy(src, 0, seg, off, src.byteSize());
                off += src.byteSize();
            }
            merged.put(n, Tensor.of(first.dtype(), shape, seg));
        }
        try (Result r = sessions.get(instance).run(merged)) {
            return split(r.asMap(), jobs, rows);
        }
    }

    private List<Map<String, Tensor>> runItems(List<Job> jobs, int instance, int rows) {
        List<Object> all = new ArrayList<>(rows);
        for (Job j : jobs) {
            all.addAll(j.items);
        }
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> enc = pipeline.encode(all, arena);
            try (Result r = sessions.get(instance).run(enc)) {
                return split(pipeline.decode(r.asMap(), enc, arena), jobs, rows);
            }
        }
    }

    /** Copies each job's rows of every output to the heap. */
    private static List<Map<String, Tensor>> split(Map<String, Tensor> outs, List<Job> jobs, int rows) {
        List<Map<String, Tensor>> l = new ArrayList<>(jobs.size());
        for (int i = 0; i < jobs.size(); i++) {
            l.add(new LinkedHashMap<>());
        }
        for (Map.Entry<String, Tensor> e : outs.entrySet()) {
            Tensor t = e.getValue();
            if (jobs.size() == 1) {
                l.get(0).put(e.getKey(), heapCopy(t, 0, t.shape()));
                continue;
            }
            if (t.shape().rank() == 0 || t.shape().dim(0) != rows) {
                throw new SplitException("output '" + e.getKey() + "' has shape " + t.shape()
                        + ", which does not split into the " + rows + " rows of the batch");
            }
            long[] dims = t.shape().dims();
            long rowElems = t.shape().sizeOf(1, dims.length);
            long row = 0;
            for (int i = 0; i < jobs.size(); i++) {
                dims[0] = jobs.get(i).rows;
                l.get(i).put(e.getKey(), heapCopy(t, row * rowElems, Shape.of(dims)));
                row += jobs.get(i).rows;
            }
        }
        return l;
    }

    private static Tensor heapCopy(Tensor t, long fromElem, Shape shape) {
        long n = shape.size();
        if (t.dtype() == DType.STRING) {
            String[] s = new String[Math.toIntExact(n)];
            System.arraycopy(t.strings(), Math.toIntExact(fromElem), s, 0, s.length);
            return Tensor.ofStrings(shape, s);
        }
        int es = t.dtype().byteSize();
        byte[] b = new byte[Math.toIntExact(n * es)];
        MemorySegment.copy(t.data(), fromElem * es, MemorySegment.ofArray(b), 0, b.length);
        return Tensor.of(t.dtype(), shape, MemorySegment.ofArray(b));
    }

    /** A merged run's output that cannot be split per request (the jobs are then run alone). */
    static final class SplitException extends RuntimeException {
        SplitException(String message) {
            super(message);
        }
    }

    /** Stops new leases; the version closes in the background once the leases in progress are returned. */
    void retire() {
        retireQuietly();
        Thread.ofPlatform().name("gatun-retire-" + name + "-v" + version).daemon().start(this::closeWhenDrained);
    }

    /** Stops new leases; the caller closes the version ({@link #closeWhenDrained()}). */
    void retireQuietly() {
        retired = true;
        metrics.ready(false);
    }

    boolean retired() {
        return retired;
    }

    /** Waits for the leases in progress (up to the request timeout and a margin), then closes. */
    void closeWhenDrained() {
        long until = System.nanoTime() + (server.requestTimeoutMs + 5_000) * 1_000_000L;
        while (leases.get() > 0 && System.nanoTime() < until) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        batcher.close();
        closeResources();
    }

    private void closeResources() {
        for (Session s : sessions) {
            s.close();
        }
        for (Staging s : staging) {
            s.close();
        }
        model.close();
        if (metricsRoot != null) {
            metricsRoot.untrackNative(this);
        }
    }

    /**
     * Native bytes this version holds, by kind: {@code mapped} (the model file), {@code model} (constants, packed
     * weights), {@code sessions} (the instances' workspaces), {@code staging} (merged-input buffers). All 0 once closed.
     */
    Map<String, Long> nativeBytes() {
        long sess = 0;
        for (Session s : sessions) {
            sess += s.nativeBytes();
        }
        long stage = 0;
        for (Staging s : staging) {
            stage += s.arena.bytes();
        }
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("mapped", model.mappedBytes());
        m.put("model", Math.max(0, model.nativeBytes() - model.mappedBytes()));
        m.put("sessions", sess);
        m.put("staging", stage);
        return m;
    }

    /** Whether the version has closed (its memory is freed). */
    boolean closed() {
        return model.isClosed();
    }

    /** Per-instance native buffers that merged inputs are copied into (they grow, never shrink). */
    private static final class Staging {
        private final NativeMemory.Tracked arena = NativeMemory.newArena(NativeMemory.Kind.OTHER);
        private final Map<String, MemorySegment> buffers = new HashMap<>();

        MemorySegment get(String name, long bytes) {
            MemorySegment s = buffers.get(name);
            if (s == null || s.byteSize() < bytes) {
                long size = Math.max(Math.max(bytes, 64), s == null ? 0 : Math.min(2 * s.byteSize(), 1L << 30));
                s = arena.allocate(size, Tensor.ALIGNMENT);
                buffers.put(name, s);
            }
            return s.asSlice(0, bytes);
        }

        void close() {
            arena.close();
        }
    }
}
