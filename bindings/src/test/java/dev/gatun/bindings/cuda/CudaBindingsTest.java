package dev.gatun.bindings.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The bindings without a GPU: descriptors match the Java signatures, the loader, and the no-device path. */
class CudaBindingsTest {
    private static final Class<?>[] HEADERS = {CudaRuntime.class, CudaDriver.class, Cublas.class, Nvrtc.class};

    @Test
    void everyFunctionHasAHolderWhoseDescriptorMatchesItsSignature() throws Exception {
        int checked = 0;
        for (Class<?> h : HEADERS) {
            for (Method m : h.getDeclaredMethods()) {
                if (!Modifier.isPublic(m.getModifiers()) || m.getName().contains("$")) {
                    continue;
                }
                FunctionDescriptor d = (FunctionDescriptor) h.getMethod(m.getName() + "$descriptor").invoke(null);
                assertEquals(d.toMethodType().parameterList(), List.of(m.getParameterTypes()), h.getSimpleName() + "." + m.getName());
                assertEquals(d.toMethodType().returnType(), m.getReturnType(), h.getSimpleName() + "." + m.getName());
                checked++;
            }
        }
        assertTrue(checked > 50, "checked " + checked + " functions");
    }

    @Test
    void argsFilesListExactlyTheBoundFunctions() throws Exception {
        Path dir = Path.of(System.getProperty("gatun.root.dir", "..")).resolve("native/jextract");
        Assumptions.assumeTrue(Files.isDirectory(dir), "no native/jextract folder at " + dir);
        String[][] pairs = {{"cudart.args", "CudaRuntime"}, {"cuda.args", "CudaDriver"}, {"cublas.args", "Cublas"}, {"nvrtc.args", "Nvrtc"}};
        for (String[] p : pairs) {
            List<String> lines = Files.readAllLines(dir.resolve(p[0]));
            List<String> listed = new ArrayList<>();
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).equals("--include-function")) {
                    listed.add(lines.get(i + 1));
                }
            }
            Class<?> h = Class.forName("dev.gatun.bindings.cuda." + p[1]);
            List<String> bound = new ArrayList<>();
            for (Method m : h.getDeclaredMethods()) {
                if (Modifier.isPublic(m.getModifiers()) && !m.getName().contains("$")) {
                    bound.add(m.getName());
                }
            }
            listed.sort(null);
            bound.sort(null);
            assertEquals(listed, bound, p[0]);
            assertTrue(lines.contains(p[1]), p[0] + " names the header class " + p[1]);
        }
    }

    @Test
    void searchPathHonoursGatunCudaLib(@org.junit.jupiter.api.io.TempDir Path tmp) {
        String old = System.getProperty("gatun.cuda.lib");
        System.setProperty("gatun.cuda.lib", tmp.toString());
        try {
            assertEquals(tmp, CudaLibraries.searchPath().get(0));
        } finally {
            if (old == null) {
                System.clearProperty("gatun.cuda.lib");
            } else {
                System.setProperty("gatun.cuda.lib", old);
            }
        }
    }

    @Test
    void loaderFindsTheRuntimeWhereItIsInstalled() {
        Path p;
        try {
            p = CudaLibraries.locate(CudaLibraries.Library.CUDART);
        } catch (CudaException e) {
            assertEquals(CudaException.Kind.NO_LIBRARY, e.kind());
            assertTrue(e.getMessage().contains("libcudart"), e.getMessage());
            Assumptions.abort("no libcudart on this machine: " + e.getMessage());
            return;
        }
        assertTrue(p.getFileName().toString().startsWith("libcudart.so"), p.toString());
        assertFalse(CudaRuntime.cudaGetDeviceCount$address().equals(MemorySegment.NULL), "cudaGetDeviceCount in " + p);
        assertFalse(CudaRuntime.cudaGetErrorString$address().equals(MemorySegment.NULL));
        // A runtime call that needs no device: the error string of cudaErrorNoDevice.
        assertTrue(CudaCheck.runtimeError(CudaCheck.CUDA_ERROR_NO_DEVICE).startsWith("cudaErrorNoDevice ("),
                CudaCheck.runtimeError(CudaCheck.CUDA_ERROR_NO_DEVICE));
    }

    @Test
    void deviceCountIsZeroOrAClearNoDeviceError() {
        try {
            int n = Cuda.deviceCount();
            assertTrue(n >= 0);
            if (n == 0) {
                CudaException e = assertThrows(CudaException.class, () -> Cuda.requireDevice(0));
                assertEquals(CudaException.Kind.NO_DEVICE, e.kind());
                assertTrue(e.getMessage().startsWith("no CUDA device"), e.getMessage());
            } else {
                Cuda.requireDevice(0);
                CudaException e = assertThrows(CudaException.class, () -> Cuda.requireDevice(n));
                assertTrue(e.getMessage().startsWith("no CUDA device " + n), e.getMessage());
            }
        } catch (CudaException e) {
            assertTrue(e.kind() == CudaException.Kind.NO_DEVICE || e.kind() == CudaException.Kind.NO_LIBRARY, e.toString());
            assertTrue(e.getMessage().contains("no CUDA device") || e.getMessage().contains("not found"), e.getMessage());
        }
    }

    @Test
    void aStatusBecomesAnExceptionNamingTheCall() {
        try {
            CudaLibraries.locate(CudaLibraries.Library.CUDART);
        } catch (CudaException e) {
            Assumptions.abort("no libcudart: " + e.getMessage());
        }
        CudaException e = assertThrows(CudaException.class, () -> CudaCheck.rt(2, "cudaMalloc(1 GiB)"));
        assertEquals("cudaMalloc(1 GiB) failed: cudaErrorMemoryAllocation (out of memory)", e.getMessage());
        assertEquals(2, e.status());
    }

    @Test
    void aMissingLibraryFailsOnlyWhenCalledAndNamesTheSymbol() {
        boolean haveNvrtc;
        try {
            CudaLibraries.locate(CudaLibraries.Library.NVRTC);
            haveNvrtc = true;
        } catch (CudaException e) {
            haveNvrtc = false;
        }
        Assumptions.assumeFalse(haveNvrtc, "NVRTC is installed here; this checks the missing-library path");
        assertEquals(MemorySegment.NULL, Nvrtc.nvrtcVersion$address());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(ValueLayout.JAVA_INT);
            CudaException e = assertThrows(CudaException.class, () -> Nvrtc.nvrtcVersion(x, x));
            assertEquals(CudaException.Kind.NO_LIBRARY, e.kind());
            assertTrue(e.getMessage().startsWith("nvrtcVersion: NVRTC (libnvrtc) was not found"), e.getMessage());
        }
    }
}
