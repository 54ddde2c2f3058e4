package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.undertow.Handlers;
import io.undertow.Undertow;
import io.undertow.UndertowOptions;
import io.undertow.server.HttpHandler;
import io.undertow.server.HttpServerExchange;
import io.undertow.server.RoutingHandler;
import io.undertow.server.handlers.GracefulShutdownHandler;
import io.undertow.util.Headers;
import io.undertow.util.Methods;
import io.undertow.util.PathTemplateMatch;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The inference server: Undertow with routing at the edge and every handler on a worker thread (blocking mode),
 * speaking KServe v2 (REST, with the binary tensor data extension) and a simpler {@code /predict}.
 * <pre>
 * GET  /v2/health/live                         GET  /v2/health/ready
 * GET  /v2                                     GET  /metrics
 * GET  /v2/models/{m}[/versions/{v}]           GET  /v2/models/{m}[/versions/{v}]/ready
 * POST /v2/models/{m}[/versions/{v}]/infer     POST /predict[/{m}[/versions/{v}]]
 * GET|POST /v2/repository/index                POST /v2/repository/models/{m}/load|unload   (admin, when enabled)
 * </pre>
 * Health endpoints are open; with tokens configured everything else needs {@code Authorization: Bearer}; the
 * admin API always needs an admin token. {@link #stop()} is graceful: new requests get 503, requests in progress
 * finish, then the listener and the models close.
 */
public final class GatunServer implements AutoCloseable {
    /** The server version reported by {@code GET /v2}. */
    public static final String VERSION = "0.1.0";

    /** Undertow's and XNIO's start-up chatter stays out of the log; their warnings do not (held: JUL keeps weak references). */
    private static final List<java.util.logging.Logger> QUIET = List.of(java.util.logging.Logger.getLogger("io.undertow"),
            java.util.logging.Logger.getLogger("org.xnio"));

    static {
        QUIET.forEach(l -> l.setLevel(java.util.logging.Level.WARNING));
    }

    /**
     * A model file served outside a repository folder, as version 1.
     *
     * @param name   the model's name in URLs
     * @param file   the .onnx file
     * @param config its config.json content, or null for defaults
     * @param base   the folder that file names in the config (a pipeline's tokenizer) resolve against
     */
    public record ModelFile(String name, Path file, JsonNode config, Path base) {}

    private final ServerConfig config;
    private final Metrics metrics = new Metrics();
    private final ModelRepository repo;
    private final Auth auth;
    private final AccessLog accessLog;
    private final Endpoints endpoints;
    private GracefulShutdownHandler graceful;
    private Undertow undertow;
    private volatile boolean stopping;
    private int port;

    /**
     * A server for a repository folder (or null) and single model files.
     *
     * @throws IOException when a token file cannot be read
     * @throws IllegalArgumentException for inconsistent settings (admin API without admin tokens, bad names)
     */
    public GatunServer(ServerConfig config, Path repository, List<ModelFile> files) throws IOException {
        this.config = config;
        this.auth = Auth.from(config);
        if (config.adminEnabled && !auth.hasAdminTokens()) {
            throw new IllegalArgumentException("the admin API is enabled but no admin token is configured"
                    + " (auth.admin_tokens_file, or $" + config.adminTokensEnv + ")");
        }
        Map<String, ModelRepository.Single> singles = new LinkedHashMap<>();
        for (ModelFile f : files) {
            if (singles.put(f.name(), new ModelRepository.Single(f.file(), f.config(), f.base())) != null) {
                throw new IllegalArgumentException("model '" + f.name() + "' is given twice");
            }
        }
        this.repo = new ModelRepository(repository, singles, config, metrics);
        this.accessLog = AccessLog.of(config.accessLog);
        this.endpoints = new Endpoints(config, repo, metrics, this);
    }

    /** Starts listening (liveness answers at once), then loads and warms up every model; returns when ready or failed. */
    public void start() {
        RoutingHandler r = Handlers.routing();
        route(r, "GET", "/v2/health/live", "health_live", Access.OPEN, endpoints::live);
        route(r, "GET", "/v2/health/ready", "health_ready", Access.OPEN, endpoints::ready);
        route(r, "GET", "/v2", "server_metadata", Access.USER, endpoints::serverMetadata);
        route(r, "GET", "/v2/models/{model}", "model_metadata", Access.USER, endpoints::modelMetadata);
        route(r, "GET", "/v2/models/{model}/versions/{version}", "model_metadata", Access.USER, endpoints::modelMetadata);
        route(r, "GET", "/v2/models/{model}/ready", "model_ready", Access.USER, endpoints::modelReady);
        route(r, "GET", "/v2/models/{model}/versions/{version}/ready", "model_ready", Access.USER, endpoints::modelReady);
        route(r, "POST", "/v2/models/{model}/infer", "v2_infer", Access.USER, endpoints::infer);
        route(r, "POST", "/v2/models/{model}/versions/{version}/infer", "v2_infer", Access.USER, endpoints::infer);
        route(r, "POST", "/predict", "predict", Access.USER, endpoints::predict);
        route(r, "POST", "/predict/{model}", "predict", Access.USER, endpoints::predict);
        route(r, "POST", "/predict/{model}/versions/{version}", "predict", Access.USER, endpoints::predict);
        route(r, "GET", "/metrics", "metrics", Access.USER, endpoints::metrics);
        if (config.adminEnabled) {
            route(r, "GET", "/v2/repository/index", "repository_index", Access.ADMIN, endpoints::index);
            route(r, "POST", "/v2/repository/index", "repository_index", Access.ADMIN, endpoints::index);
            route(r, "POST", "/v2/repository/models/{model}/load", "repository_load", Access.ADMIN, endpoints::load);
            route(r, "POST", "/v2/repository/models/{model}/unload", "repository_unload", Access.ADMIN, endpoints::unload);
        }
        r.setFallbackHandler(ex -> {
            throw HttpError.notFound("no endpoint " + ex.getRequestMethod() + " " + ex.getRequestPath());
        });
        r.setInvalidMethodHandler(ex -> {
            throw new HttpError(405, "method " + ex.getRequestMethod() + " is not allowed on " + ex.getRequestPath());
        });
        HttpHandler blocking = new HttpHandler() {
            @Override
            public void handleRequest(HttpServerExchange ex) {
                if (ex.isInIoThread()) {
                    ex.dispatch(this);
                    return;
                }
                ex.startBlocking();
                handle(ex, r);
            }
        };
        // Expect: 100-continue gets its 100 when the handler first reads the body; a body refused unread gets none
        graceful = Handlers.gracefulShutdown(new io.undertow.server.handlers.HttpContinueReadHandler(blocking));
        undertow = Undertow.builder()
                .addHttpListener(config.port, config.host)
                .setIoThreads(config.ioThreads)
                .setWorkerThreads(config.httpThreads)
                .setServerOption(UndertowOptions.MAX_HEADER_SIZE, 64 << 10)
                // Undertow (2.3.21+) cuts bodies at 2 MiB by default; limits.max_body_bytes is enforced by Exchange.body
                // with a 413 naming it, so Undertow's own cut sits one read chunk above it
                .setServerOption(UndertowOptions.MAX_ENTITY_SIZE, config.maxBodyBytes + (128 << 10))
                .setServerOption(UndertowOptions.REQUEST_PARSE_TIMEOUT, 30_000)
                .setServerOption(UndertowOptions.NO_REQUEST_TIMEOUT, 120_000)
                .setServerOption(UndertowOptions.ALWAYS_SET_KEEP_ALIVE, false)
                .setHandler(graceful)
                .build();
        undertow.start();
        port = ((InetSocketAddress) undertow.getListenerInfo().get(0).getAddress()).getPort();
        Log.info("listening on http://" + config.host + ":" + port + (auth.enabled() ? " (bearer tokens required)" : "")
                + (config.adminEnabled ? "; admin API enabled" : ""));
        repo.start();
        Log.info(repo.ready() ? "ready: " + repo.loaded() : "not ready: no model could be loaded " + repo.index());
    }

    private enum Access { OPEN, USER, ADMIN }

    @FunctionalInterface
    private interface Route {
        void handle(HttpServerExchange ex, Map<String, String> params) throws Exception;
    }

    private void route(RoutingHandler r, String method, String template, String name, Access access, Route route) {
        r.add(Methods.fromString(method), template, ex -> {
            Exchange.info(ex).handler = name;
            if (access != Access.OPEN) {
                auth.check(ex.getRequestHeaders().getFirst(Headers.AUTHORIZATION), access == Access.ADMIN);
            }
            PathTemplateMatch m = ex.getAttachment(PathTemplateMatch.ATTACHMENT_KEY);
            route.handle(ex, m == null ? Map.of() : m.getParameters());
        });
    }

    private void handle(HttpServerExchange ex, RoutingHandler r) {
        Exchange.Info info = new Exchange.Info();
        ex.putAttachment(Exchange.INFO, info);
        metrics.inflight.inc();
        ex.addExchangeCompleteListener((e, next) -> {
            try {
                metrics.inflight.dec();
                int status = e.getStatusCode();
                metrics.httpRequests.labelValues(info.handler, Integer.toString(status)).inc();
                if (accessLog != null) {
                    InetSocketAddress a = e.getSourceAddress();
                    accessLog.log(a == null ? "-" : a.getAddress().getHostAddress(), e.getRequestMethod().toString(),
                            e.getRequestPath(), status, info.bytesIn, e.getResponseBytesSent(),
                            (System.nanoTime() - info.startNanos) / 1e6, info.model, info.version);
                }
            } finally {
                next.proceed();
            }
        });
        try {
            if (cors(ex)) {
                return;
            }
            r.handleRequest(ex);
        } catch (Throwable t) {
            Exchange.error(ex, Errors.toHttp(t));
        }
    }

    /** CORS for the configured origins; true when the request was a preflight (answered). */
    private boolean cors(HttpServerExchange ex) {
        if (config.corsOrigins.isEmpty()) {
            return false;
        }
        String origin = ex.getRequestHeaders().getFirst(Headers.ORIGIN);
        if (origin == null || !(config.corsOrigins.contains(origin) || config.corsOrigins.contains("*"))) {
            return false;
        }
        var h = ex.getResponseHeaders();
        h.put(Headers.VARY, "Origin");
        h.put(new io.undertow.util.HttpString("Access-Control-Allow-Origin"), origin);
        if (ex.getRequestMethod().equals(Methods.OPTIONS)
                && ex.getRequestHeaders().contains("Access-Control-Request-Method")) {
            Exchange.info(ex).handler = "cors_preflight";
            h.put(new io.undertow.util.HttpString("Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
            h.put(new io.undertow.util.HttpString("Access-Control-Allow-Headers"),
                    "Authorization, Content-Type, Inference-Header-Content-Length");
            h.put(new io.undertow.util.HttpString("Access-Control-Max-Age"), "600");
            ex.setStatusCode(204);
            return true;
        }
        h.put(new io.undertow.util.HttpString("Access-Control-Expose-Headers"), "Inference-Header-Content-Length");
        return false;
    }

    /** The port listened on (the real one when the configuration said 0). */
    public int port() {
        return port;
    }

    /** Whether the server takes traffic (models loaded and warm, not stopping). */
    public boolean ready() {
        return !stopping && repo.ready();
    }

    boolean stopping() {
        return stopping;
    }

    /** Reloads the repository now (what polling does). */
    public void rescan() {
        repo.sync(false);
    }

    /**
     * Graceful shutdown: new requests get 503, requests in progress finish (up to the shutdown timeout), then the
     * listener stops and every model closes.
     */
    public void stop() {
        if (stopping || undertow == null) {
            return;
        }
        stopping = true;
        Log.info("shutting down: draining requests in progress");
        graceful.shutdown();
        try {
            if (!graceful.awaitShutdown(config.shutdownTimeoutMs)) {
                Log.warn("requests still in progress after " + config.shutdownTimeoutMs + " ms; closing anyway");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        undertow.stop();
        repo.close();
        Log.info("stopped");
    }

    @Override
    public void close() {
        stop();
    }

    /** Blocks until the server stops (for the command line). */
    public void awaitStop() throws InterruptedException {
        while (!stopping) {
            TimeUnit.MILLISECONDS.sleep(200);
        }
    }
}
