package dev.gatun.server;

import dev.gatun.engine.EngineException;
import dev.gatun.server.pipeline.Pipeline;

/** Maps failures to HTTP errors: what the client can fix is a 4xx naming it; the rest is a logged 5xx. */
final class Errors {
    private Errors() {}

    static HttpError toHttp(Throwable e) {
        if (e instanceof HttpError h) {
            return h;
        }
        if (e instanceof Pipeline.PipelineException p) {
            return HttpError.badRequest(p.getMessage());
        }
        if (e instanceof EngineException ee) {
            return switch (ee.kind()) {
                case INVALID_INPUT -> HttpError.badRequest("invalid input: " + ee.getMessage());
                case RUNTIME -> new HttpError(422, "the model cannot run on this input: " + ee.getMessage());
                case LIMIT -> new HttpError(413, "the request is too large for the model: " + ee.getMessage());
                case CLOSED -> new HttpError(503, "the model version is unloading; retry", java.util.Map.of("Retry-After", "1"),
                        "unloading");
                default -> {
                    Log.error("engine failure: " + ee.getMessage(), ee);
                    yield new HttpError(500, "engine failure: " + ee.getMessage());
                }
            };
        }
        if (e instanceof OutOfMemoryError) {
            return new HttpError(503, "the server is out of memory; retry later", java.util.Map.of("Retry-After", "5"),
                    "out_of_memory");
        }
        Log.error("internal error: " + e, e);
        return new HttpError(500, "internal error: " + e.getClass().getSimpleName()
                + (e.getMessage() == null ? "" : ": " + e.getMessage()));
    }
}
