package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.gatun.server.pipeline.DefaultModel;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The built-in model as {@code gatun serve} runs it: all-MiniLM-L6-v2 with the text-embedding pipeline. */
class DefaultModelServingTest {
    @TempDir
    static Path dir;
    static TestServer s;

    @BeforeAll
    static void start() throws Exception {
        Path onnx = dir.resolve("all-minilm-l6-v2.onnx");
        Path tokenizer = dir.resolve("all-minilm-l6-v2-tokenizer.json");
        try (InputStream m = DefaultModel.class.getResourceAsStream(DefaultModel.MODEL_RESOURCE);
             InputStream t = DefaultModel.class.getResourceAsStream(DefaultModel.TOKENIZER_RESOURCE)) {
            Files.copy(m, onnx);
            Files.copy(t, tokenizer);
        }
        ObjectNode config = Json.object();
        config.putObject("pipeline").put("type", "text-embedding").put("tokenizer", tokenizer.getFileName().toString()).put("max_length", 256);
        s = new TestServer(TestServer.config(), null, List.of(new GatunServer.ModelFile(DefaultModel.NAME, onnx, config, dir)));
    }

    @AfterAll
    static void stop() {
        s.close();
    }

    static double norm(JsonNode v) {
        double n = 0;
        for (JsonNode x : v) {
            n += x.asDouble() * x.asDouble();
        }
        return Math.sqrt(n);
    }

    @Test
    void theReadmeCurlReturnsANormalisedEmbedding() throws Exception {
        var r = s.post("/predict", "{\"text\":[\"hello world\"]}");
        assertEquals(200, r.status(), r.text());
        JsonNode e = r.json().path("outputs").path("embedding");
        assertEquals(1, e.size());
        assertEquals(384, e.get(0).size());
        assertEquals(1.0, norm(e.get(0)), 1e-5);
        assertEquals("minilm", r.json().path("model").asText());
    }

    @Test
    void batchesOfTextsAndTheV2Protocol() throws Exception {
        JsonNode two = s.post("/predict/minilm", "{\"text\": [\"hello world\", \"a much longer sentence about the weather\"]}")
                .json().path("outputs").path("embedding");
        assertEquals(2, two.size());
        JsonNode one = s.post("/predict/minilm", "{\"text\": \"hello world\"}").json().path("outputs").path("embedding").get(0);
        for (int i = 0; i < 384; i++) {
            assertEquals(one.get(i).asDouble(), two.get(0).get(i).asDouble(), 1e-5, "padding changed the embedding at " + i);
        }
        var v2 = s.post("/v2/models/minilm/infer", "{\"inputs\": [{\"name\": \"text\", \"shape\": [1], \"datatype\": \"BYTES\","
                + " \"data\": [\"hello world\"]}]}");
        assertEquals(200, v2.status(), v2.text());
        JsonNode out = v2.json().path("outputs").get(0);
        assertEquals("embedding", out.path("name").asText());
        assertEquals("[1,384]", out.path("shape").toString());
        assertEquals(1.0, norm(out.path("data")), 1e-5);
        var meta = s.get("/v2/models/minilm").json();
        assertEquals("text-embedding", meta.path("parameters").path("pipeline").asText());
        assertTrue(s.get("/metrics").text().contains("gatun_model_ready{model=\"minilm\",version=\"1\"} 1.0"));
    }
}
