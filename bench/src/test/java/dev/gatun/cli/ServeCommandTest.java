package dev.gatun.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gatun serve}'s argument checking (the server itself is tested in the server module). */
class ServeCommandTest {
    @TempDir
    Path dir;

    @Test
    void refusesWhatItCannotServe() throws Exception {
        var tpu = GatunTest.gatun("serve", "--device", "tpu");
        assertEquals(2, tpu.code());
        assertTrue(tpu.err().contains("--device tpu: must be cpu, cuda or cuda:N"), tpu.err());
        var missing = GatunTest.gatun("serve", dir.resolve("nope.onnx").toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("no such file or folder"), missing.err());
        Files.writeString(dir.resolve("bad.json"), "{\"limits\": {\"max_body\": 1}}");
        var config = GatunTest.gatun("serve", "--config", dir.resolve("bad.json").toString());
        assertEquals(2, config.code());
        assertTrue(config.err().contains("unknown key 'max_body'"), config.err());
        var port = GatunTest.gatun("serve", "--port", "70000");
        assertEquals(2, port.code());
        var help = GatunTest.gatun("serve", "--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--poll") && help.out().contains("localhost:8080/predict"), help.out());
    }
}
