package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.regex.Pattern;

/**
 * The models the server serves, in Triton's layout: {@code ROOT/<model>/<version>/model.onnx} with an optional
 * {@code ROOT/<model>/config.json} (see {@link ModelConfig}), and/or single model files served as version 1.
 * Versions are chosen by each model's version policy. {@link #sync} loads what is new or changed and retires
 * what is gone; a new version is loaded and warmed up before it replaces the old one, and a retired version
 * closes only after its requests in progress finish, so polling never fails a request. A version that fails to
 * load is reported (log, index, readiness) and the rest keeps serving.
 */
final class ModelRepository implements AutoCloseable {
    /** Model names a request may use: no separators, no dot-dot, no hidden files. */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
    static final String MODEL_FILE = "model.onnx";
    static final String CONFIG_FILE = "config.json";

    /** A model file served outside a repository folder, with its config and the folder its pipeline files are in. */
    record Single(Path file, JsonNode config, Path base) {}

    /** A version's state as the index reports it. */
    enum State { LOADING, READY, UNAVAILABLE }

    static final class Slot {
        final long version;
        volatile State state = State.LOADING;
        volatile String reason;
        volatile ModelVersion live;
        volatile String fingerprint;

        Slot(long version) {
            this.version = version;
        }
    }

    static final class Entry {
        final String name;
        final ConcurrentSkipListMap<Long, Slot> versions = new ConcurrentSkipListMap<>();
        volatile String error;
        volatile boolean unloaded;

        Entry(String name) {
            this.name = name;
        }
    }

    private record Found(String name, Path base, Path configFile, JsonNode inlineConfig, Map<Long, Path> files) {}

    private final Path root;
    private final Map<String, Single> singles;
    private final ServerConfig server;
    private final Metrics metrics;
    private final ConcurrentHashMap<String, Entry> models = new ConcurrentHashMap<>();
    private final ReentrantLock syncLock = new ReentrantLock();
    private final java.util.Set<String> refusedLinks = ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.ExecutorService loader = Executors.newSingleThreadExecutor(
            r -> Thread.ofPlatform().name("gatun-load").daemon().unstarted(r));
    private volatile boolean initialDone;
    private ScheduledExecutorService poller;

    ModelRepository(Path root, Map<String, Single> singles, ServerConfig server, Metrics metrics) {
        this.root = root;
        this.singles = Map.copyOf(singles);
        this.server = server;
        this.metrics = metrics;
        for (String n : this.singles.keySet()) {
            if (!NAME.matcher(n).matches()) {
                throw new IllegalArgumentException("model name '" + n + "' is not valid (letters, digits, _ . -)");
            }
        }
    }

    /** Loads everything once; then polls when configured. */
    void start() {
        sync(false);
        initialDone = true;
        if (server.poll && root != null) {
            poller = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().name("gatun-poll").daemon().unstarted(r));
            poller.scheduleWithFixedDelay(() -> {
                try {
                    sync(false);
                } catch (RuntimeException e) {
                    Log.error("repository poll failed: " + e.getMessage(), e);
                }
            }, server.pollIntervalMs, server.pollIntervalMs, TimeUnit.MILLISECONDS);
        }
    }

    /** Brings the served versions in line with the folders (and single files); {@code force} reloads everything. */
    void sync(boolean force) {
        syncLock.lock();
        try {
            Map<String, Found> found = discover();
            for (String name : new ArrayList<>(models.keySet())) {
                if (!found.containsKey(name)) {
                    Entry e = models.remove(name);
                    Log.info("model '" + name + "': removed from the repository; unloading");
                    retireAll(e);
                }
            }
            for (Found f : found.values()) {
                syncModel(f, force);
            }
        } finally {
            syncLock.unlock();
        }
    }

    private Map<String, Found> discover() {
        Map<String, Found> out = new TreeMap<>();
        for (Map.Entry<String, Single> s : singles.entrySet()) {
            out.put(s.getKey(), new Found(s.getKey(), s.getValue().base(), null, s.getValue().config(),
                    Map.of(1L, s.getValue().file())));
        }
        if (root == null) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path dir : ds) {
                String name = dir.getFileName().toString();
                if (Files.isDirectory(dir) && NAME.matcher(name).matches() && !out.containsKey(name)) {
                    out.put(name, found(name, dir));
                }
            }
        } catch (IOException e) {
            Log.error("cannot list the model repository " + root + ": " + e.getMessage(), null);
        }
        return out;
    }

    private Found found(String name, Path dir) throws IOException {
        Map<Long, Path> files = new TreeMap<>();
        try (DirectoryStream<Path> vs = Files.newDirectoryStream(dir)) {
            for (Path v : vs) {
                String vn = v.getFileName().toString();
                if (vn.matches("[0-9]{1,18}") && Long.parseLong(vn) > 0 && Files.isRegularFile(v.resolve(MODEL_FILE))
                        && confined(v.resolve(MODEL_FILE))) {
                    files.put(Long.parseLong(vn), v.resolve(MODEL_FILE));
                }
            }
        }
        return new Found(name, dir, dir.resolve(CONFIG_FILE), null, files);
    }

    /**
     * Whether {@code file} (after following symlinks) lies inside the repository folder: a model file, a version
     * folder or a model folder that links outside it is not served (and is logged once).
     */
    private boolean confined(Path file) throws IOException {
        Path real = file.toRealPath();
        if (real.startsWith(root.toRealPath())) {
            return true;
        }
        if (refusedLinks.add(file.toString())) {
            Log.error(file + " resolves (through a symlink) to " + real + ", outside the model repository " + root
                    + "; not served", null);
        }
        return false;
    }

    private void syncModel(Found f, boolean force) {
        Entry e = models.computeIfAbsent(f.name(), Entry::new);
        if (e.unloaded && !force) {
            return;
        }
        e.unloaded = false;
        ModelConfig config;
        String configPrint;
        try {
            if (f.configFile() != null && Files.isRegularFile(f.configFile())) {
                config = ModelConfig.parse(Json.readFile(f.configFile()), f.configFile().toString());
                configPrint = fingerprint(f.configFile());
            } else {
                config = f.inlineConfig() == null ? ModelConfig.defaults()
                        : ModelConfig.parse(f.inlineConfig(), "model '" + f.name() + "' config");
                configPrint = "inline";
            }
            e.error = null;
        } catch (IOException | IllegalArgumentException ex) {
            if (!java.util.Objects.equals(ex.getMessage(), e.error)) {
                Log.error("model '" + f.name() + "': " + ex.getMessage() + (e.versions.isEmpty() ? ""
                        : " (the loaded versions keep serving)"), null);
            }
            e.error = ex.getMessage();
            return;
        }
        NavigableSet<Long> wanted = config.policy().select(f.files().keySet());
        if (wanted.isEmpty() && e.error == null) {
            e.error = f.files().isEmpty() ? "no version folders with " + MODEL_FILE
                    : "the version policy selects none of the versions " + f.files().keySet();
        }
        for (long v : wanted) {
            Path file = f.files().get(v);
            String print = fingerprint(file) + "|" + configPrint;
            Slot s = e.versions.get(v);
            if (s != null && print.equals(s.fingerprint) && !force) {
                continue;
            }
            if (s == null) {
                s = new Slot(v);
                e.versions.put(v, s);
            }
            load(f, e, s, file, config, print);
        }
        // only now, with the new versions ready, do the old ones stop taking requests; while none of the wanted
        // versions could load, the old ones keep serving
        boolean wantedReady = wanted.stream().anyMatch(v -> e.versions.get(v) != null && e.versions.get(v).live != null);
        for (Slot s : new ArrayList<>(e.versions.values())) {
            if (!wanted.contains(s.version) && (wantedReady || s.live == null)) {
                e.versions.remove(s.version);
                Log.info("model '" + f.name() + "' v" + s.version + ": no longer served; unloading after requests in progress");
                retire(s);
            }
        }
    }

    private void load(Found f, Entry e, Slot s, Path file, ModelConfig config, String print) {
        boolean reload = s.live != null;
        Log.info("model '" + f.name() + "' v" + s.version + ": " + (reload ? "reloading " : "loading ") + file);
        try {
            ModelVersion mv = loadOnLoaderThread(f.name(), s.version, file, config, f.base());
            ModelVersion old = s.live;
            s.live = mv;
            s.state = State.READY;
            s.reason = null;
            s.fingerprint = print;
            if (old != null) {
                old.retire();
            }
            Log.info("model '" + f.name() + "' v" + s.version + ": ready in " + String.format("%.2f", mv.loadSeconds) + " s ("
                    + mv.instances + " instances x " + mv.threadsPerInstance + " threads, "
                    + (mv.maxBatchSize > 0 ? "dynamic batching up to " + mv.maxBatchSize + " rows" : "no batching")
                    + (mv.pipeline != null ? ", pipeline " + config.pipeline().get("type").asText() : "") + ")");
        } catch (Exception | StackOverflowError | OutOfMemoryError ex) {
            String why = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
            s.fingerprint = print;
            s.reason = (reload ? "reload failed (the previous load keeps serving): " : "") + why;
            metrics.forModel(f.name(), Long.toString(s.version)).loadFailed();
            if (s.live == null) {
                s.state = State.UNAVAILABLE;
                metrics.forModel(f.name(), Long.toString(s.version)).loaded(0, false);
            }
            Log.error("model '" + f.name() + "' v" + s.version + ": failed to load: " + why,
                    ex instanceof RuntimeException && !(ex instanceof dev.gatun.engine.EngineException)
                            && !(ex instanceof IllegalArgumentException) ? ex : null);
        }
    }

    /**
     * Loads (and warms up) a version on the repository's one loader thread: the warm-up runs kernels on the loading
     * thread, whose per-thread kernel scratch then stays with it, so loads asked for by requests (admin API) must not
     * leave that scratch behind on every HTTP worker thread.
     */
    private ModelVersion loadOnLoaderThread(String name, long version, Path file, ModelConfig config, Path base)
            throws Exception {
        java.util.concurrent.Future<ModelVersion> f = loader.submit(() -> ModelVersion.load(name, version, file, config, base,
                server, metrics));
        try {
            return f.get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof Exception ex) {
                throw ex;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw e;
        }
    }

    private static String fingerprint(Path p) {
        try {
            BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
            return a.size() + ":" + a.lastModifiedTime().toMillis() + ":" + a.fileKey();
        } catch (IOException e) {
            return "unreadable";
        }
    }

    private void retireAll(Entry e) {
        for (Slot s : e.versions.values()) {
            retire(s);
        }
        e.versions.clear();
    }

    private static void retire(Slot s) {
        s.state = State.UNAVAILABLE;
        ModelVersion mv = s.live;
        if (mv != null) {
            mv.retire();
        }
    }

    /**
     * A lease on the version to run: {@code version} null picks the highest ready version.
     *
     * @throws HttpError 404 for an unknown model or version, 400 for a malformed version, 503 when none is ready
     */
    ModelVersion.Lease lease(String model, String version) {
        Entry e = entry(model);
        Long v = version == null ? null : parseVersion(version);
        for (int attempt = 0; attempt < 100; attempt++) {
            Slot s = v == null ? latestReady(e) : e.versions.get(v);
            if (s == null && v != null) {
                throw HttpError.notFound("model '" + model + "' has no version " + version + " (versions: "
                        + e.versions.keySet() + ")");
            }
            ModelVersion mv = s == null ? null : s.live;
            if (mv == null) {
                throw new HttpError(503, "model '" + model + "' is not ready: " + describe(e), Map.of("Retry-After", "1"));
            }
            ModelVersion.Lease l = mv.lease();
            if (l != null) {
                return l;
            }
            Thread.onSpinWait();
        }
        throw new HttpError(503, "model '" + model + "' is being reloaded; retry", Map.of("Retry-After", "1"));
    }

    /** The version a metadata request names, ready or not ready (null live version when it never loaded). */
    ModelVersion peek(String model, String version) {
        Entry e = entry(model);
        if (version == null) {
            Slot s = latestReady(e);
            if (s == null) {
                throw new HttpError(503, "model '" + model + "' is not ready: " + describe(e), Map.of("Retry-After", "1"));
            }
            return s.live;
        }
        Slot s = e.versions.get(parseVersion(version));
        if (s == null) {
            throw HttpError.notFound("model '" + model + "' has no version " + version + " (versions: " + e.versions.keySet() + ")");
        }
        if (s.live == null) {
            throw new HttpError(503, "model '" + model + "' version " + version + " is not ready: " + s.state
                    + (s.reason == null ? "" : " (" + s.reason + ")"), Map.of("Retry-After", "1"));
        }
        return s.live;
    }

    /** Whether the model (or the version) can serve. */
    boolean ready(String model, String version) {
        Entry e = entry(model);
        if (version == null) {
            return latestReady(e) != null;
        }
        Slot s = e.versions.get(parseVersion(version));
        if (s == null) {
            throw HttpError.notFound("model '" + model + "' has no version " + version + " (versions: " + e.versions.keySet() + ")");
        }
        return s.state == State.READY && s.live != null;
    }

    /** The versions of a model, highest first, that are loaded. */
    List<Long> versions(String model) {
        return new ArrayList<>(entry(model).versions.descendingKeySet());
    }

    private Entry entry(String model) {
        Entry e = model == null ? null : models.get(model);
        if (e == null) {
            throw HttpError.notFound("unknown model '" + model + "' (models: " + String.join(", ", new TreeSet<>(models.keySet()))
                    + ")");
        }
        return e;
    }

    private static long parseVersion(String version) {
        try {
            long v = Long.parseLong(version);
            if (v > 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw HttpError.badRequest("version '" + version + "' is not a positive integer");
    }

    private static Slot latestReady(Entry e) {
        for (Slot s : e.versions.descendingMap().values()) {
            if (s.state == State.READY && s.live != null) {
                return s;
            }
        }
        return null;
    }

    private static String describe(Entry e) {
        if (e.versions.isEmpty()) {
            return e.unloaded ? "unloaded" : e.error != null ? e.error : "no versions loaded";
        }
        StringBuilder b = new StringBuilder();
        for (Slot s : e.versions.values()) {
            b.append(b.isEmpty() ? "" : "; ").append('v').append(s.version).append(' ').append(s.state)
                    .append(s.reason == null ? "" : " (" + s.reason + ")");
        }
        return b.toString();
    }

    /** The model names, sorted. */
    List<String> names() {
        return new ArrayList<>(new TreeSet<>(models.keySet()));
    }

    /** Ready for traffic: loading done and one model ready (every model, with strict readiness). */
    boolean ready() {
        if (!initialDone) {
            return false;
        }
        boolean any = models.isEmpty();
        boolean all = true;
        for (Entry e : models.values()) {
            boolean r = latestReady(e) != null;
            any |= r;
            all &= r && e.error == null;
        }
        return server.strictReadiness ? all : any;
    }

    /** Triton's repository index: one row per model version (a model without versions gets a row of its own). */
    ArrayNode index() {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (String name : names()) {
            Entry e = models.get(name);
            if (e == null) {
                continue;
            }
            if (e.versions.isEmpty()) {
                ObjectNode o = a.addObject().put("name", name).put("state", State.UNAVAILABLE.name());
                o.put("reason", describe(e));
                continue;
            }
            for (Slot s : e.versions.values()) {
                ObjectNode o = a.addObject().put("name", name).put("version", Long.toString(s.version)).put("state", s.state.name());
                if (s.reason != null) {
                    o.put("reason", s.reason);
                } else if (e.error != null) {
                    o.put("reason", "config.json: " + e.error);
                }
            }
        }
        return a;
    }

    /**
     * (Re)loads one model from the repository folder (or its single file), including one unloaded before.
     *
     * @throws HttpError 404 when no such folder exists, 400 when it fails to load (the reason)
     */
    void load(String name) {
        if (!NAME.matcher(name).matches()) {
            throw HttpError.badRequest("'" + name + "' is not a valid model name (letters, digits, _ . -)");
        }
        syncLock.lock();
        try {
            Found f;
            if (singles.containsKey(name)) {
                Single s = singles.get(name);
                f = new Found(name, s.base(), null, s.config(), Map.of(1L, s.file()));
            } else if (root != null && Files.isDirectory(root.resolve(name))) {
                f = found(name, root.resolve(name));
            } else {
                throw HttpError.notFound("no model '" + name + "' in the repository");
            }
            models.computeIfAbsent(name, Entry::new).unloaded = false;
            syncModel(f, true);
            Entry e = models.get(name);
            if (latestReady(e) == null || e.error != null) {
                throw HttpError.badRequest("failed to load model '" + name + "': " + describe(e));
            }
        } catch (IOException ex) {
            throw HttpError.badRequest("failed to load model '" + name + "': " + ex.getMessage());
        } finally {
            syncLock.unlock();
        }
    }

    /** Unloads every version of a model (requests in progress finish); polling leaves it unloaded until a load. */
    void unload(String name) {
        syncLock.lock();
        try {
            Entry e = entry(name);
            e.unloaded = true;
            retireAll(e);
            Log.info("model '" + name + "': unloaded");
        } finally {
            syncLock.unlock();
        }
    }

    /** Metadata facts of every loaded version, for logs and tests: name to versions. */
    Map<String, List<Long>> loaded() {
        Map<String, List<Long>> m = new LinkedHashMap<>();
        for (String n : names()) {
            List<Long> l = new ArrayList<>();
            for (Slot s : models.get(n).versions.values()) {
                if (s.live != null) {
                    l.add(s.version);
                }
            }
            m.put(n, l);
        }
        return m;
    }

    /** Stops polling, then closes every version once its requests in progress have finished. */
    @Override
    public void close() {
        if (poller != null) {
            poller.shutdownNow();
        }
        loader.shutdown();
        syncLock.lock();
        try {
            for (Entry e : models.values()) {
                for (Slot s : e.versions.values()) {
                    ModelVersion mv = s.live;
                    s.state = State.UNAVAILABLE;
                    if (mv != null && !mv.retired()) {
                        mv.retireQuietly();
                        mv.closeWhenDrained();
                    }
                }
                e.versions.clear();
            }
            models.clear();
        } finally {
            syncLock.unlock();
        }
    }
}
