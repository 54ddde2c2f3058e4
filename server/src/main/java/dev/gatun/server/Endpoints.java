package dev.gatun.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.gatun.engine.TensorInfo;
import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Tensor;
import io.undertow.server.HttpServerExchange;
import io.undertow.util.HttpString;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The request handlers behind the routes (see {@link GatunServer} for the route table). Each runs on a worker
 * thread in blocking mode; whatever goes wrong is thrown as an {@link HttpError} and written as
 * {@code {"error": "..."}} by the caller.
 */
final class Endpoints {
    static final HttpString HEADER_LENGTH = new HttpString("Inference-Header-Content-Length");

    private final ServerConfig config;
    private final ModelRepository repo;
    private final Metrics metrics;
    private final GatunServer server;

    Endpoints(ServerConfig config, ModelRepository repo, Metrics metrics, GatunServer server) {
        this.config = config;
        this.repo = repo;
        this.metrics = metrics;
        this.server = server;
    }

    void live(HttpServerExchange ex, Map<String, String> p) {
        Exchange.json(ex, 200, Json.bytes(Json.object().put("live", true)));
    }

    void ready(HttpServerExchange ex, Map<String, String> p) {
        if (server.stopping()) {
            throw new HttpError(503, "the server is shutting down");
        }
        if (!repo.ready()) {
            throw new HttpError(503, "the server is not ready: models are loading or none is ready"
                    + (config.strictReadiness ? " (strict readiness: every model must be ready)" : ""));
        }
        Exchange.json(ex, 200, Json.bytes(Json.object().put("ready", true)));
    }

    void serverMetadata(HttpServerExchange ex, Map<String, String> p) {
        ObjectNode o = Json.object().put("name", "gatun").put("version", GatunServer.VERSION);
        ArrayNode ext = o.putArray("extensions");
        ext.add("binary_tensor_data");
        if (config.adminEnabled) {
            ext.add("model_repository");
        }
        Exchange.json(ex, 200, Json.bytes(o));
    }

    void modelMetadata(HttpServerExchange ex, Map<String, String> p) {
        String model = p.get("model");
        ModelVersion mv = repo.peek(model, p.get("version"));
        tag(ex, model, Long.toString(mv.version));
        ObjectNode o = Json.object().put("name", model);
        ArrayNode versions = o.putArray("versions");
        for (long v : repo.versions(model)) {
            versions.add(Long.toString(v));
        }
        o.put("platform", "onnx");
        tensors(o.putArray("inputs"), mv.inputs);
        tensors(o.putArray("outputs"), mv.outputs);
        ObjectNode params = o.putObject("parameters");
        params.put("version", Long.toString(mv.version));
        params.put("max_batch_size", mv.maxBatchSize);
        params.put("instances", mv.instances);
        if (mv.pipeline != null) {
            params.put("pipeline", mv.config.pipeline().get("type").asText());
            params.put("pipeline_input", mv.pipeline.rawInputName());
        }
        Exchange.json(ex, 200, Json.bytes(o));
    }

    private static void tensors(ArrayNode a, List<TensorInfo> l) {
        for (TensorInfo t : l) {
            ObjectNode o = a.addObject().put("name", t.name()).put("datatype", Datatypes.v2(t.dtype()));
            ArrayNode s = o.putArray("shape");
            if (t.shape() != null) {
                for (long d : t.shape().dims()) {
                    s.add(d);
                }
            }
        }
    }

    void modelReady(HttpServerExchange ex, Map<String, String> p) {
        String model = p.get("model");
        String version = p.get("version");
        if (!repo.ready(model, version)) {
            throw new HttpError(503, "model '" + model + "'" + (version == null ? "" : " version " + version) + " is not ready");
        }
        ObjectNode o = Json.object().put("name", model).put("ready", true);
        if (version != null) {
            o.put("version", version);
        }
        Exchange.json(ex, 200, Json.bytes(o));
    }

    void infer(HttpServerExchange ex, Map<String, String> p) throws InterruptedException {
        inference(ex, p.get("model"), p.get("version"), true);
    }

    void predict(HttpServerExchange ex, Map<String, String> p) throws InterruptedException {
        String model = p.get("model");
        if (model == null) {
            model = config.defaultModel;
            if (model == null) {
                List<String> names = repo.names();
                if (names.size() != 1) {
                    throw HttpError.badRequest("several models are served: use /predict/{model} (models: "
                            + String.join(", ", names) + ")");
                }
                model = names.get(0);
            }
        }
        inference(ex, model, p.get("version"), false);
    }

    private void inference(HttpServerExchange ex, String model, String version, boolean v2) throws InterruptedException {
        Exchange.Info info = Exchange.info(ex);
        long deadline = info.startNanos + config.requestTimeoutMs * 1_000_000L;
        ModelVersion.Lease lease = repo.lease(model, version);
        ModelVersion mv = lease.version();
        String outcome = "server_error";
        String failure = "internal";
        try (lease) {
            tag(ex, model, Long.toString(mv.version));
            byte[] body = Exchange.body(ex, config.maxBodyBytes);
            if (v2) {
                v2Infer(ex, mv, lease, body, deadline);
            } else {
                predict(ex, mv, lease, body, deadline, info);
            }
            outcome = "success";
            failure = info.disconnected ? "disconnect" : null;
        } catch (HttpError e) {
            outcome = e.status() == 504 ? "timeout" : e.status() == 503 ? "rejected" : e.status() < 500 ? "client_error"
                    : "server_error";
            failure = e.kind();
            throw e;
        } catch (RuntimeException | Error e) {
            HttpError h = Errors.toHttp(e);
            outcome = h.status() == 503 ? "rejected" : h.status() < 500 ? "client_error" : "server_error";
            failure = h.kind();
            throw h;
        } finally {
            mv.metrics.outcome(outcome);
            if (failure != null) {
                mv.metrics.error(failure);
            }
            mv.metrics.request.observe((System.nanoTime() - info.startNanos) / 1e9);
        }
    }

    private void v2Infer(HttpServerExchange ex, ModelVersion mv, ModelVersion.Lease lease, byte[] body, long deadline)
            throws InterruptedException {
        String hl = ex.getRequestHeaders().getFirst(HEADER_LENGTH);
        int headerLength = body.length;
        if (hl != null) {
            try {
                long l = Long.parseLong(hl.strip());
                if (l < 0 || l > body.length) {
                    throw HttpError.badRequest("Inference-Header-Content-Length is " + l + ", beyond the body of " + body.length
                            + " bytes");
                }
                headerLength = (int) l;
            } catch (NumberFormatException e) {
                throw HttpError.badRequest("Inference-Header-Content-Length '" + hl + "' is not a number");
            }
        }
        String raw = mv.pipeline == null ? null : mv.pipeline.rawInputName();
        boolean rawBytes = mv.pipeline != null && mv.pipeline.itemType() == byte[].class;
        V2Codec.Request req = V2Codec.parse(body, headerLength, config.maxElementsPerTensor,
                n -> rawBytes && n.equals(raw));
        ModelVersion.Outcome out;
        if (raw != null && req.inputs().containsKey(raw) && !mv.inputs.stream().anyMatch(t -> t.name().equals(raw))) {
            RequestTensor t = req.inputs().get(raw);
            if (req.inputs().size() != 1) {
                throw HttpError.badRequest("with raw '" + raw + "' items, send no other inputs");
            }
            if (t.dtype() != DType.STRING) {
                throw HttpError.badRequest("input '" + raw + "' holds raw items and must be BYTES, not " + Datatypes.v2(t.dtype()));
            }
            List<Object> items = new ArrayList<>(t.bytes().size());
            if (rawBytes) {
                items.addAll(t.bytes());
            } else {
                items.addAll(List.of(RequestTensor.strings(t.bytes(), raw)));
            }
            out = mv.inferItems(lease, items, deadline);
        } else {
            out = mv.infer(lease, req.inputs(), deadline);
        }
        V2Codec.Response r = V2Codec.response(mv.name, Long.toString(mv.version), req.id(), out.outputs(), req.outputs(),
                req.binaryOutputs());
        Map<String, String> headers = r.binary() ? Map.of(HEADER_LENGTH.toString(), Integer.toString(r.headerLength()))
                : Map.of();
        Exchange.send(ex, 200, r.contentType(), r.body(), headers);
    }

    private void predict(HttpServerExchange ex, ModelVersion mv, ModelVersion.Lease lease, byte[] body, long deadline,
                         Exchange.Info info) throws InterruptedException {
        String raw = mv.pipeline == null ? null : mv.pipeline.rawInputName();
        boolean rawBytes = mv.pipeline != null && mv.pipeline.itemType() == byte[].class;
        PredictCodec.Request req = PredictCodec.parse(body, config.maxElementsPerTensor, n -> dtypeOf(mv, n),
                ModelVersion.describe(mv.inputs), raw, rawBytes);
        ModelVersion.Outcome out = req.items() != null ? mv.inferItems(lease, req.items(), deadline)
                : mv.infer(lease, req.inputs(), deadline);
        double ms = (System.nanoTime() - info.startNanos) / 1e6;
        Map<String, Tensor> outputs = out.outputs();
        Exchange.json(ex, 200, PredictCodec.response(mv.name, Long.toString(mv.version), outputs, req.outputs(), ms));
    }

    private static DType dtypeOf(ModelVersion mv, String name) {
        for (TensorInfo t : mv.inputs) {
            if (t.name().equals(name)) {
                return t.dtype();
            }
        }
        return null;
    }

    void metrics(HttpServerExchange ex, Map<String, String> p) throws java.io.IOException {
        // the native memory gauges are read at scrape time (Metrics.write)
        ByteArrayOutputStream out = new ByteArrayOutputStream(32 << 10);
        metrics.write(out);
        Exchange.send(ex, 200, metrics.contentType(), out.toByteArray(), Map.of());
    }

    void index(HttpServerExchange ex, Map<String, String> p) {
        Exchange.json(ex, 200, Json.bytes(repo.index()));
    }

    void load(HttpServerExchange ex, Map<String, String> p) {
        Exchange.body(ex, config.maxBodyBytes);
        String model = p.get("model");
        tag(ex, model, null);
        repo.load(model);
        Exchange.json(ex, 200, Json.bytes(Json.object()));
    }

    void unload(HttpServerExchange ex, Map<String, String> p) {
        Exchange.body(ex, config.maxBodyBytes);
        String model = p.get("model");
        tag(ex, model, null);
        repo.unload(model);
        Exchange.json(ex, 200, Json.bytes(Json.object()));
    }

    private static void tag(HttpServerExchange ex, String model, String version) {
        Exchange.Info i = Exchange.info(ex);
        i.model = model;
        i.version = version;
    }
}
