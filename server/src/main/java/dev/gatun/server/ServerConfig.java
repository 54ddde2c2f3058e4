package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.gatun.engine.LoadOptions;
import dev.gatun.engine.SessionOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The server's settings, with safe defaults: loopback only, no auth unless tokens are given, admin API off,
 * CORS off, bounded bodies, tensors, batches and request time. {@link #read} takes a JSON file
 * ({@code --config FILE}); command-line options then override single fields.
 * <pre>{@code
 * {
 *   "host": "127.0.0.1", "port": 8080, "io_threads": 2, "http_threads": 64, "threads": 8, "device": "cpu",
 *   "poll": false, "poll_interval_ms": 2000, "default_model": "minilm", "strict_readiness": false,
 *   "limits": {"max_body_bytes": 67108864, "max_elements_per_tensor": 16777216, "max_batch": 64,
 *              "request_timeout_ms": 30000, "max_tensor_bytes": 4294967296, "max_session_bytes": 17179869184,
 *              "max_model_nodes": 1000000, "max_graph_depth": 16, "max_initializer_bytes": 8589934592},
 *   "auth": {"tokens_file": "tokens.txt", "tokens_env": "GATUN_TOKENS",
 *            "admin_tokens_file": "admin.txt", "admin_tokens_env": "GATUN_ADMIN_TOKENS"},
 *   "admin": {"enabled": false},
 *   "cors": {"allowed_origins": []},
 *   "access_log": "stdout", "shutdown_timeout_ms": 30000,
 *   "model": { ...a config.json for a single MODEL.onnx... }
 * }
 * }</pre>
 */
public final class ServerConfig {
    /** Address to bind; loopback unless told otherwise. */
    public String host = "127.0.0.1";
    /** Port; 0 picks a free one (see {@link GatunServer#port()}). */
    public int port = 8080;
    /** Undertow IO threads (accept, parse, write). */
    public int ioThreads = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    /** Threads that handle requests (they wait for inference): the most requests in progress at once. */
    public int httpThreads = 64;
    /** Compute threads per model: split between its instances (instances x threads <= this). */
    public int threads = Runtime.getRuntime().availableProcessors();
    /** Device for models whose config names none. */
    public String device = "cpu";
    /** Watch the repository and load/unload versions as folders change. */
    public boolean poll;
    public long pollIntervalMs = 2000;
    /** Largest request body in bytes. */
    public long maxBodyBytes = 64L << 20;
    /** Most elements in one input tensor. */
    public long maxElementsPerTensor = 16L << 20;
    /** Most rows (batch dim, or raw items) in one request. */
    public int maxBatch = 64;
    /** Longest a request may wait for its result; then 504. */
    public long requestTimeoutMs = 30_000;
    /** Largest tensor a model may hold or a run may create (constants and activations). */
    public long maxTensorBytes = SessionOptions.DEFAULT_MAX_TENSOR_BYTES;
    /** Most native memory one session instance may reserve. */
    public long maxSessionBytes = SessionOptions.DEFAULT_MAX_SESSION_BYTES;
    /** Most nodes in a model (sub-graphs and functions included). */
    public int maxModelNodes = LoadOptions.DEFAULT_MAX_NODES;
    /** Deepest sub-graph nesting in a model. */
    public int maxGraphDepth = LoadOptions.DEFAULT_MAX_NESTING_DEPTH;
    /** Most bytes a model load may allocate for constants (typed-field initializers, densified sparse, folded). */
    public long maxInitializerBytes = LoadOptions.DEFAULT_MAX_INITIALIZER_BYTES;
    /** Bearer tokens for inference and metadata: a file (one token per line) and/or an environment variable (comma separated). */
    public Path tokensFile;
    public String tokensEnv = "GATUN_TOKENS";
    /** Tokens for the admin API (a separate set). */
    public Path adminTokensFile;
    public String adminTokensEnv = "GATUN_ADMIN_TOKENS";
    /** Whether the repository admin API exists at all. */
    public boolean adminEnabled;
    /** Origins allowed by CORS; empty: no CORS headers (browsers refuse cross-origin calls). */
    public List<String> corsOrigins = new ArrayList<>();
    /** Where the JSON access log goes: stdout, stderr or off. */
    public String accessLog = "stdout";
    /** How long a graceful shutdown waits for requests in progress. */
    public long shutdownTimeoutMs = 30_000;
    /** The model {@code /predict} uses; null: the only model, when there is one. */
    public String defaultModel;
    /** Readiness needs every model ready (else: initial load done and one model ready). */
    public boolean strictReadiness;
    /** The config.json for a single served file (or the built-in model). */
    public JsonNode model;

    /** The engine's load limits these settings give. */
    public LoadOptions loadOptions() {
        return new LoadOptions(maxTensorBytes, maxInitializerBytes, maxModelNodes, maxGraphDepth);
    }

    /** The engine's session limits these settings give (one thread; the caller sets its count). */
    public SessionOptions sessionOptions() {
        return new SessionOptions(1, maxTensorBytes, maxSessionBytes);
    }

    /** Reads a server configuration file; relative paths in it resolve against its folder. */
    public static ServerConfig read(Path file) throws IOException {
        JsonNode n = Json.readFile(file);
        ServerConfig c = new ServerConfig();
        c.apply(n, file.toString(), file.toAbsolutePath().getParent());
        return c;
    }

    /** Sets the fields present in {@code n}. */
    public void apply(JsonNode n, String where, Path base) {
        ConfigReader r = new ConfigReader(n, where).only("host", "port", "io_threads", "http_threads", "threads", "device",
                "poll", "poll_interval_ms", "limits", "auth", "admin", "cors", "access_log", "shutdown_timeout_ms",
                "default_model", "strict_readiness", "model");
        host = r.string("host", host);
        port = r.integer("port", port, 0, 65535);
        ioThreads = r.integer("io_threads", ioThreads, 1, 1024);
        httpThreads = r.integer("http_threads", httpThreads, 1, 100_000);
        threads = r.integer("threads", threads, 1, 4096);
        device = r.string("device", device);
        ModelConfig.checkDevice(device, where + ".device");
        poll = r.bool("poll", poll);
        pollIntervalMs = r.number("poll_interval_ms", pollIntervalMs, 10, 86_400_000);
        ConfigReader l = r.object("limits").only("max_body_bytes", "max_elements_per_tensor", "max_batch", "request_timeout_ms",
                "max_tensor_bytes", "max_session_bytes", "max_model_nodes", "max_graph_depth", "max_initializer_bytes");
        maxBodyBytes = l.number("max_body_bytes", maxBodyBytes, 1, Integer.MAX_VALUE - 64);
        maxElementsPerTensor = l.number("max_elements_per_tensor", maxElementsPerTensor, 1, Integer.MAX_VALUE);
        maxBatch = l.integer("max_batch", maxBatch, 1, 1 << 20);
        requestTimeoutMs = l.number("request_timeout_ms", requestTimeoutMs, 1, 86_400_000);
        maxTensorBytes = l.number("max_tensor_bytes", maxTensorBytes, 1, Long.MAX_VALUE);
        maxSessionBytes = l.number("max_session_bytes", maxSessionBytes, 1, Long.MAX_VALUE);
        maxModelNodes = l.integer("max_model_nodes", maxModelNodes, 0, Integer.MAX_VALUE);
        maxGraphDepth = l.integer("max_graph_depth", maxGraphDepth, 0, 100);
        maxInitializerBytes = l.number("max_initializer_bytes", maxInitializerBytes, 0, Long.MAX_VALUE);
        ConfigReader a = r.object("auth").only("tokens_file", "tokens_env", "admin_tokens_file", "admin_tokens_env");
        String tf = a.string("tokens_file", null);
        if (tf != null) {
            tokensFile = base == null ? Path.of(tf) : base.resolve(tf);
        }
        tokensEnv = a.string("tokens_env", tokensEnv);
        String atf = a.string("admin_tokens_file", null);
        if (atf != null) {
            adminTokensFile = base == null ? Path.of(atf) : base.resolve(atf);
        }
        adminTokensEnv = a.string("admin_tokens_env", adminTokensEnv);
        adminEnabled = r.object("admin").only("enabled").bool("enabled", adminEnabled);
        if (r.has("cors")) {
            corsOrigins = r.object("cors").only("allowed_origins").strings("allowed_origins");
        }
        accessLog = r.string("access_log", accessLog);
        if (!List.of("stdout", "stderr", "off").contains(accessLog)) {
            throw new IllegalArgumentException(where + ".access_log: expected stdout, stderr or off");
        }
        shutdownTimeoutMs = r.number("shutdown_timeout_ms", shutdownTimeoutMs, 0, 3_600_000);
        defaultModel = r.string("default_model", defaultModel);
        strictReadiness = r.bool("strict_readiness", strictReadiness);
        if (r.has("model")) {
            model = r.raw("model");
            ModelConfig.parse(model, where + ".model");
        }
    }
}
