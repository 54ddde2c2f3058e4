package dev.gatun.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.cuda.CudaSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@code --device cuda} where no CUDA device or library is usable: one clear line, exit 1, no stack trace. */
class CudaCliTest {
    @Test
    void runWithoutACudaDeviceSaysSoInOneLine() throws Exception {
        try {
            CudaSession.requireDevice(0);
            Assumptions.abort("a CUDA device is present: this checks the machines without one");
        } catch (EngineException expected) {
            // no device here: the CLI must say so
        }
        for (String[] args : new String[][] {{"run", "minilm", "--device", "cuda"}, {"bench", "minilm", "--device", "cuda:0"},
            {"serve", "--device", "cuda"}}) {
            var r = GatunTest.gatun(args);
            assertEquals(1, r.code(), String.join(" ", args) + ": " + r.err());
            String err = r.err().strip();
            assertTrue(err.startsWith("gatun: no CUDA"), err);
            assertEquals(1, err.lines().count(), "one line: " + err);
            assertFalse(err.contains("at dev.gatun"), "no stack trace: " + err);
        }
        var bad = GatunTest.gatun("run", "minilm", "--device", "gpu");
        assertEquals(2, bad.code(), bad.err());
    }
}
