package dev.gatun.server;

import io.undertow.server.HttpServerExchange;
import io.undertow.util.AttachmentKey;
import io.undertow.util.Headers;
import io.undertow.util.HttpString;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Map;

/** Reading bodies and writing responses of a blocking exchange, and the facts a request leaves for logs and metrics. */
final class Exchange {
    static final AttachmentKey<Info> INFO = AttachmentKey.create(Info.class);

    /** What the access log and metrics need to know about a request. */
    static final class Info {
        final long startNanos = System.nanoTime();
        String handler = "not_found";
        String model;
        String version;
        long bytesIn;
        /** The client went away: the body ended early or the response could not be written. */
        volatile boolean disconnected;
    }

    private Exchange() {}

    static Info info(HttpServerExchange ex) {
        return ex.getAttachment(INFO);
    }

    /**
     * The whole body, refused past {@code max} bytes without reading it all: a declared length over the limit is
     * refused before reading anything, a chunked body as soon as it passes the limit. The connection then closes.
     *
     * @throws HttpError 413 over the limit, 400 when the body ends early
     */
    static byte[] body(HttpServerExchange ex, long max) {
        long len = ex.getRequestContentLength();
        if (len > max) {
            ex.setPersistent(false);
            throw new HttpError(413, "the request body of " + len + " bytes is over the limit of " + max
                    + " bytes (limits.max_body_bytes)");
        }
        try {
            InputStream in = ex.getInputStream();
            byte[] b;
            if (len >= 0) {
                b = in.readNBytes((int) len);
                if (b.length < len) {
                    ex.setPersistent(false);
                    info(ex).disconnected = true;
                    throw new HttpError(400, "the request body ended after " + b.length + " of " + len + " bytes", Map.of(),
                            "disconnect");
                }
            } else {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                byte[] chunk = new byte[64 << 10];
                int n;
                while ((n = in.read(chunk)) >= 0) {
                    if (out.size() + (long) n > max) {
                        ex.setPersistent(false);
                        throw new HttpError(413, "the request body is over the limit of " + max + " bytes (limits.max_body_bytes)");
                    }
                    out.write(chunk, 0, n);
                }
                b = out.toByteArray();
            }
            info(ex).bytesIn = b.length;
            return b;
        } catch (IOException e) {
            ex.setPersistent(false);
            info(ex).disconnected = true;
            throw new HttpError(400, "could not read the request body: " + e.getMessage(), Map.of(), "disconnect");
        }
    }

    /** Sends a complete response. */
    static void send(HttpServerExchange ex, int status, String contentType, byte[] body, Map<String, String> headers) {
        if (ex.isResponseStarted()) {
            ex.setPersistent(false);
            ex.endExchange();
            return;
        }
        ex.setStatusCode(status);
        for (Map.Entry<String, String> h : headers.entrySet()) {
            ex.getResponseHeaders().put(new HttpString(h.getKey()), h.getValue());
        }
        ex.getResponseHeaders().put(Headers.CONTENT_TYPE, contentType);
        ex.getResponseHeaders().put(Headers.CONTENT_LENGTH, body.length);
        try {
            OutputStream out = ex.getOutputStream();
            out.write(body);
            out.close();
        } catch (IOException e) {
            ex.setPersistent(false);
            Info i = info(ex);
            if (i != null) {
                i.disconnected = true;
            }
        }
    }

    static void json(HttpServerExchange ex, int status, byte[] body) {
        send(ex, status, "application/json", body, Map.of());
    }

    static void error(HttpServerExchange ex, HttpError e) {
        send(ex, e.status(), "application/json", Json.error(e.getMessage()), e.headers());
    }
}
