package dev.gatun.server;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.time.Instant;

/**
 * One JSON line per request: time, client address, method, path (no query string, no headers, so no tokens),
 * status, bytes in and out, duration, and the model and version when the request named one:
 * <pre>{"ts":"2025-01-01T00:00:00.123Z","remote":"127.0.0.1","method":"POST","path":"/v2/models/m/infer","status":200,
 * "bytes_in":120,"bytes_out":98,"ms":0.41,"model":"m","version":"1"}</pre>
 */
final class AccessLog {
    private final PrintStream out;

    private AccessLog(PrintStream out) {
        this.out = out;
    }

    /** The log a setting names ({@code stdout}, {@code stderr}), or null for {@code off}. */
    static AccessLog of(String setting) {
        return switch (setting) {
            case "stdout" -> new AccessLog(System.out);
            case "stderr" -> new AccessLog(System.err);
            default -> null;
        };
    }

    void log(String remote, String method, String path, int status, long bytesIn, long bytesOut, double ms, String model,
             String version) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(256);
        try (JsonGenerator g = Json.generator(b)) {
            g.writeStartObject();
            g.writeStringField("ts", Instant.now().toString());
            g.writeStringField("remote", remote);
            g.writeStringField("method", method);
            g.writeStringField("path", path);
            g.writeNumberField("status", status);
            g.writeNumberField("bytes_in", bytesIn);
            g.writeNumberField("bytes_out", bytesOut);
            g.writeNumberField("ms", Math.round(ms * 1000) / 1000.0);
            if (model != null) {
                g.writeStringField("model", model);
            }
            if (version != null) {
                g.writeStringField("version", version);
            }
            g.writeEndObject();
        } catch (IOException e) {
            return;
        }
        String line = b.toString(java.nio.charset.StandardCharsets.UTF_8);
        synchronized (this) {
            out.println(line);
        }
    }
}
