package dev.gatun.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonParser;
import dev.gatun.engine.tensor.DType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Server and model configuration parsing, version policies, and the streaming tensor reader. */
class ConfigTest {
    static ModelConfig model(String json) {
        return ModelConfig.parse(Json.tree(json.getBytes(StandardCharsets.UTF_8), 0, json.length()), "config.json");
    }

    @Test
    void modelConfigDefaultsAndTritonNames() {
        ModelConfig d = ModelConfig.defaults();
        assertNull(d.maxBatchSize());
        assertEquals(ModelConfig.DEFAULT_QUEUE_DELAY_US, d.maxQueueDelayUs());
        assertEquals("latest", d.policy().kind());
        assertTrue(d.warmup());
        ModelConfig c = model("{\"max_batch_size\": 8, \"dynamic_batching\": {\"max_queue_delay_microseconds\": 250,"
                + " \"max_queue_size\": 3}, \"instance_group\": [{\"count\": 2, \"kind\": \"KIND_CPU\"}, {\"count\": 1}],"
                + " \"threads\": 1, \"input\": [{\"name\": \"ids\", \"dims\": [-1, 16]}], \"warmup\": false}");
        assertEquals(8, c.maxBatchSize());
        assertEquals(250, c.maxQueueDelayUs());
        assertEquals(3, c.maxQueueSize());
        assertEquals(3, c.instances());
        assertEquals(1, c.threads());
        assertArrayEquals(new long[] {1, 16}, c.warmupDims().get("ids"));
        assertEquals(500, model("{\"dynamic_batching\": {\"max_queue_delay_us\": 500}}").maxQueueDelayUs());
    }

    @Test
    void modelConfigMistakesNameTheKey() {
        var e = assertThrows(IllegalArgumentException.class, () -> model("{\"max_batch\": 8}"));
        assertTrue(e.getMessage().contains("unknown key 'max_batch'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model("{\"device\": \"tpu\"}"));
        assertTrue(e.getMessage().contains("device 'tpu' is not available (cpu, cuda or cuda:N)"), e.getMessage());
        assertEquals("cuda:1", model("{\"device\": \"cuda:1\"}").device());
        e = assertThrows(IllegalArgumentException.class, () -> model("{\"instance_group\": [{\"kind\": \"KIND_GPU\"}]}"));
        assertTrue(e.getMessage().contains("KIND_GPU"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model("{\"pipeline\": {\"tokenizer\": \"t.json\"}}"));
        assertTrue(e.getMessage().contains("\"type\""), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> model("{\"dynamic_batching\": {\"max_queue_size\": -1}}"));
        assertTrue(e.getMessage().contains("max_queue_size"), e.getMessage());
    }

    @Test
    void versionPolicies() {
        Set<Long> present = Set.of(1L, 2L, 5L, 9L);
        assertEquals("[9]", model("{}").policy().select(present).toString());
        assertEquals("[5, 9]", model("{\"version_policy\": {\"latest\": {\"num_versions\": 2}}}").policy().select(present).toString());
        assertEquals("[1, 2, 5, 9]", model("{\"version_policy\": {\"all\": {}}}").policy().select(present).toString());
        assertEquals("[2, 9]", model("{\"version_policy\": {\"specific\": {\"versions\": [2, 3, 9]}}}").policy().select(present)
                .toString());
    }

    @Test
    void serverConfigFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("gatun.json");
        Files.writeString(f, "{\"port\": 9000, \"host\": \"0.0.0.0\", \"limits\": {\"max_body_bytes\": 1000, \"max_batch\": 2,"
                + " \"request_timeout_ms\": 50, \"max_elements_per_tensor\": 10}, \"auth\": {\"tokens_file\": \"tokens.txt\"},"
                + " \"admin\": {\"enabled\": true}, \"cors\": {\"allowed_origins\": [\"https://a\"]}, \"access_log\": \"off\","
                + " \"poll\": true, \"model\": {\"max_batch_size\": 4}}");
        ServerConfig c = ServerConfig.read(f);
        assertEquals(9000, c.port);
        assertEquals("0.0.0.0", c.host);
        assertEquals(1000, c.maxBodyBytes);
        assertEquals(2, c.maxBatch);
        assertEquals(50, c.requestTimeoutMs);
        assertEquals(10, c.maxElementsPerTensor);
        assertEquals(dir.resolve("tokens.txt").toAbsolutePath(), c.tokensFile.toAbsolutePath());
        assertTrue(c.adminEnabled && c.poll);
        assertEquals("off", c.accessLog);
        assertEquals(4, c.model.path("max_batch_size").asInt());
        ServerConfig safe = new ServerConfig();
        assertEquals("127.0.0.1", safe.host);
        assertTrue(!safe.adminEnabled && safe.corsOrigins.isEmpty() && safe.tokensFile == null);
        Files.writeString(f, "{\"limits\": {\"max_body\": 5}}");
        var e = assertThrows(IllegalArgumentException.class, () -> ServerConfig.read(f));
        assertTrue(e.getMessage().contains("unknown key 'max_body'"), e.getMessage());
    }

    static JsonData.Flat read(String json, DType t) throws Exception {
        try (JsonParser p = Json.parser(json.getBytes(StandardCharsets.UTF_8), 0, json.length())) {
            p.nextToken();
            return JsonData.read(p, t, "x", 1000, false);
        }
    }

    @Test
    void streamingReaderShapes() throws Exception {
        assertArrayEquals(new long[] {2, 3}, read("[[1, 2, 3], [4, 5, 6]]", DType.FLOAT).shape());
        assertArrayEquals(new long[] {0}, read("[]", DType.FLOAT).shape());
        assertArrayEquals(new long[] {2, 0}, read("[[], []]", DType.FLOAT).shape());
        assertArrayEquals(new long[] {}, read("7", DType.INT64).shape());
        assertArrayEquals(new long[] {1, 1, 1, 2}, read("[[[[true, false]]]]", DType.BOOL).shape());
        assertEquals(6, read("[[1, 2, 3], [4, 5, 6]]", DType.INT32).count());
        for (String ragged : new String[] {"[[1], [2, 3]]", "[[1, 2], [3]]", "[1, [2]]", "[[1], 2]", "[[1], []]"}) {
            var e = assertThrows(HttpError.class, () -> read(ragged, DType.FLOAT), ragged);
            assertTrue(e.getMessage().contains("not a regular nested array"), ragged + ": " + e.getMessage());
        }
        var e = assertThrows(HttpError.class, () -> read("[" + "1,".repeat(1000) + "1]", DType.FLOAT));
        assertEquals(413, e.status());
    }
}
