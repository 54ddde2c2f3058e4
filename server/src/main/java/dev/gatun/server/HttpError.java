package dev.gatun.server;

import java.util.Map;

/**
 * A request that ends with an HTTP error status and a JSON body {@code {"error": message}}. 4xx statuses say
 * what the client got wrong (the message names the field, tensor, value or limit); 5xx statuses are the server's.
 */
public final class HttpError extends RuntimeException {
    private final int status;
    private final Map<String, String> headers;

    public HttpError(int status, String message) {
        this(status, message, Map.of());
    }

    public HttpError(int status, String message, Map<String, String> headers) {
        super(message, null, false, false);
        this.status = status;
        this.headers = Map.copyOf(headers);
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
