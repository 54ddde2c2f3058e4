package dev.gatun.server;

import java.util.Map;

/**
 * A request that ends with an HTTP error status and a JSON body {@code {"error": message}}. 4xx statuses say
 * what the client got wrong (the message names the field, tensor, value or limit); 5xx statuses are the server's.
 */
public final class HttpError extends RuntimeException {
    private final int status;
    private final Map<String, String> headers;
    private final String kind;

    public HttpError(int status, String message) {
        this(status, message, Map.of());
    }

    public HttpError(int status, String message, Map<String, String> headers) {
        this(status, message, headers, null);
    }

    /**
     * An error with the failure kind {@code gatun_errors_total} counts it under (null: from the status:
     * {@code bad_request}, {@code unauthorized}, {@code not_found}, {@code too_large}, {@code model_error},
     * {@code unavailable}, {@code timeout}, {@code internal}).
     */
    public HttpError(int status, String message, Map<String, String> headers, String kind) {
        super(message, null, false, false);
        this.status = status;
        this.headers = Map.copyOf(headers);
        this.kind = kind != null ? kind : switch (status) {
            case 400 -> "bad_request";
            case 401 -> "unauthorized";
            case 404 -> "not_found";
            case 413 -> "too_large";
            case 422 -> "model_error";
            case 503 -> "unavailable";
            case 504 -> "timeout";
            default -> status < 500 ? "client_error" : "internal";
        };
    }

    /** The failure kind, the {@code kind} label of {@code gatun_errors_total}. */
    public String kind() {
        return kind;
    }

    /** 400 Bad Request. */
    public static HttpError badRequest(String message) {
        return new HttpError(400, message);
    }

    /** 404 Not Found. */
    public static HttpError notFound(String message) {
        return new HttpError(404, message);
    }

    public int status() {
        return status;
    }

    /** Extra response headers (e.g. {@code Retry-After}, {@code WWW-Authenticate}). */
    public Map<String, String> headers() {
        return headers;
    }
}
