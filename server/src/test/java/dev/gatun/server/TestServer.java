package dev.gatun.server;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/** A real server on a free loopback port and an HTTP client talking to it. */
final class TestServer implements AutoCloseable {
    final GatunServer server;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    final String base;

    /** A response: status, headers, body. */
    record Resp(int status, Map<String, List<String>> headers, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        JsonNode json() {
            return Json.tree(body, 0, body.length);
        }

        String header(String name) {
            return headers.getOrDefault(name.toLowerCase(java.util.Locale.ROOT), List.of()).stream().findFirst().orElse(null);
        }

        /** The error message of a JSON error body. */
        String error() {
            return json().path("error").asText();
        }
    }

    TestServer(ServerConfig config, Path repository, List<GatunServer.ModelFile> files) throws IOException {
        config.host = "127.0.0.1";
        config.port = 0;
        config.accessLog = "off";
        server = new GatunServer(config, repository, files);
        server.start();
        base = "http://127.0.0.1:" + server.port();
    }

    static ServerConfig config() {
        ServerConfig c = new ServerConfig();
        c.threads = 2;
        return c;
    }

    Resp get(String path, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return send(b.build());
    }

    Resp post(String path, String json, String... headers) throws IOException, InterruptedException {
        return post(path, json.getBytes(StandardCharsets.UTF_8), headers);
    }

    Resp post(String path, byte[] body, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return send(b.build());
    }

    Resp send(HttpRequest r) throws IOException, InterruptedException {
        HttpResponse<byte[]> res = http.send(r, HttpResponse.BodyHandlers.ofByteArray());
        return new Resp(res.statusCode(), res.headers().map(), res.body());
    }

    @Override
    public void close() {
        server.stop();
        http.close();
    }
}
