package dev.gatun.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Device discovery over the runtime API, with "no CUDA" turned into one clear {@link CudaException}. */
public final class Cuda {
    private Cuda() {}

    /**
     * The number of CUDA devices.
     *
     * @throws CudaException NO_LIBRARY when libcudart is missing, NO_DEVICE when the driver is missing or there is no
     *                       device (the message says which)
     */
    public static int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            int st = CudaRuntime.cudaGetDeviceCount(n);
            if (st == CudaCheck.CUDA_ERROR_NO_DEVICE) {
                return 0;
            }
            if (st != 0) {
                throw new CudaException(CudaException.Kind.NO_DEVICE, "no CUDA device: cudaGetDeviceCount failed: "
                        + CudaCheck.runtimeError(st), st);
            }
            return n.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * Checks that device {@code index} exists.
     *
     * @throws CudaException NO_LIBRARY / NO_DEVICE as {@link #deviceCount()}, NO_DEVICE when the index is out of range
     */
    public static void requireDevice(int index) {
        int n = deviceCount();
        if (n == 0) {
            throw new CudaException(CudaException.Kind.NO_DEVICE, "no CUDA device: cudaGetDeviceCount found none");
        }
        if (index < 0 || index >= n) {
            throw new CudaException(CudaException.Kind.NO_DEVICE, "no CUDA device " + index + " (" + n + " device(s): 0.."
                    + (n - 1) + ")");
        }
    }

    /** A device attribute (cudaDeviceAttr), e.g. 75/76 for the compute capability's major/minor. */
    public static int attribute(int attr, int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            CudaCheck.rt(CudaRuntime.cudaDeviceGetAttribute(v, attr, device), "cudaDeviceGetAttribute(" + attr + ", " + device + ")");
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** cudaDevAttrComputeCapabilityMajor. */
    public static final int ATTR_CC_MAJOR = 75;
    /** cudaDevAttrComputeCapabilityMinor. */
    public static final int ATTR_CC_MINOR = 76;
    /** cudaDevAttrMultiProcessorCount. */
    public static final int ATTR_SM_COUNT = 16;
    /** cudaDevAttrMaxSharedMemoryPerBlockOptin. */
    public static final int ATTR_MAX_SHARED_OPTIN = 97;

    /** cudaMemcpyKind values. */
    public static final int H2D = 1, D2H = 2, D2D = 3;
}
