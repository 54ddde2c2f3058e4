package dev.gatun.engine.cuda;

import dev.gatun.bindings.cuda.Cuda;
import dev.gatun.bindings.cuda.CudaCheck;
import dev.gatun.bindings.cuda.CudaDriver;
import dev.gatun.bindings.cuda.CudaRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One CUDA device, shared by every session on it: the primary context (through the runtime API, so cuBLAS and the
 * driver API see the same one), its compute capability, and the kernel modules compiled for it ({@link KernelCache})
 * with their functions, loaded on first use.
 */
final class CudaDevice {
    private static final Map<Integer, CudaDevice> DEVICES = new HashMap<>();

    final int index;
    final int ccMajor;
    final int ccMinor;
    final int smCount;
    private final Map<String, MemorySegment> modules = new HashMap<>();
    private final Map<String, MemorySegment> functions = new ConcurrentHashMap<>();

    private CudaDevice(int index) {
        Cuda.requireDevice(index);
        this.index = index;
        makeCurrent();
        CudaCheck.rt(CudaRuntime.cudaFree(MemorySegment.NULL), "cudaFree(NULL) (context creation on device " + index + ")");
        CudaCheck.drv(CudaDriver.cuInit(0), "cuInit");
        this.ccMajor = Cuda.attribute(Cuda.ATTR_CC_MAJOR, index);
        this.ccMinor = Cuda.attribute(Cuda.ATTR_CC_MINOR, index);
        this.smCount = Cuda.attribute(Cuda.ATTR_SM_COUNT, index);
    }

    /**
     * The device, initialised on first use.
     *
     * @throws dev.gatun.bindings.cuda.CudaException NO_LIBRARY / NO_DEVICE when CUDA is not usable here
     */
    static synchronized CudaDevice get(int index) {
        CudaDevice d = DEVICES.get(index);
        if (d == null) {
            d = new CudaDevice(index);
            DEVICES.put(index, d);
        }
        return d;
    }

    /** Makes this device's primary context current on the calling thread (runtime and driver API). */
    void makeCurrent() {
        CudaCheck.rt(CudaRuntime.cudaSetDevice(index), "cudaSetDevice(" + index + ")");
    }

    String arch() {
        return "sm_" + ccMajor + ccMinor;
    }

    /** The CUfunction {@code kernel} of {@code file}.cu, compiling and loading the module on first use. */
    MemorySegment function(String file, String kernel) {
        String key = file + ":" + kernel;
        MemorySegment f = functions.get(key);
        if (f != null) {
            return f;
        }
        synchronized (this) {
            MemorySegment mod = modules.get(file);
            try (Arena a = Arena.ofConfined()) {
                if (mod == null) {
                    KernelCache.Image img = KernelCache.load(file, ccMajor, ccMinor);
                    MemorySegment image = a.allocate(img.bytes().length + 1L);
                    MemorySegment.copy(img.bytes(), 0, image, ValueLayout.JAVA_BYTE, 0, img.bytes().length);
                    MemorySegment out = a.allocate(ValueLayout.ADDRESS);
                    CudaCheck.drv(CudaDriver.cuModuleLoadData(out, image), "cuModuleLoadData(" + file + ".cu, "
                            + (img.cubin() ? "cubin" : "ptx") + " for " + arch() + ")");
                    mod = out.get(ValueLayout.ADDRESS, 0);
                    modules.put(file, mod);
                }
                MemorySegment out = a.allocate(ValueLayout.ADDRESS);
                CudaCheck.drv(CudaDriver.cuModuleGetFunction(out, mod, a.allocateFrom(kernel)),
                        "cuModuleGetFunction(" + file + ".cu, " + kernel + ")");
                f = out.get(ValueLayout.ADDRESS, 0);
            }
            functions.put(key, f);
            return f;
        }
    }
}
