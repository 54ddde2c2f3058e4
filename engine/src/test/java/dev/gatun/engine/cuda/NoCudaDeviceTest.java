package dev.gatun.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.gatun.engine.EngineException;
import dev.gatun.engine.Model;
import dev.gatun.engine.SessionOptions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Where CUDA is not usable, a CUDA session fails at creation with one clear UNSUPPORTED error. */
class NoCudaDeviceTest {
    @Test
    void aCudaSessionWithoutADeviceSaysSo() {
        boolean usable;
        try {
            CudaSession.requireDevice(0);
            usable = true;
        } catch (EngineException e) {
            usable = false;
            assertEquals(EngineException.Kind.UNSUPPORTED, e.kind());
            assertTrue(e.getMessage().startsWith("no CUDA device") || e.getMessage().startsWith("no CUDA library found"), e.getMessage());
        }
        Assumptions.assumeFalse(usable, "a CUDA device is present: CudaBackendTest covers it");
        try (Model m = new CudaBackendTest.OneNode("Relu", "").input(2, 3).model()) {
            EngineException e = assertThrows(EngineException.class, () -> m.newSession(SessionOptions.defaults().withDevice("cuda")));
            assertTrue(e.getMessage().startsWith("no CUDA"), e.getMessage());
            assertEquals(1, m.newSession().inputs().size(), "the CPU still works");
        }
    }

    @Test
    void deviceNamesAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> SessionOptions.defaults().withDevice("gpu"));
        assertThrows(IllegalArgumentException.class, () -> SessionOptions.defaults().withCudaMath("int4"));
        assertEquals(2, SessionOptions.defaults().withDevice("cuda:2").cudaDevice());
    }
}
