package dev.gatun.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Status checks for every CUDA library: a non-success status becomes a {@link CudaException} naming the call and
 * carrying the library's own error name and string (cudaGetErrorName/String, cuGetErrorName/String,
 * cublasGetStatusName/String, nvrtcGetErrorString).
 */
public final class CudaCheck {
    /** cudaErrorInsufficientDriver: no driver, or one older than the runtime. */
    public static final int CUDA_ERROR_INSUFFICIENT_DRIVER = 35;
    /** cudaErrorNoDevice. */
    public static final int CUDA_ERROR_NO_DEVICE = 100;
    /** cudaErrorInvalidDevice. */
    public static final int CUDA_ERROR_INVALID_DEVICE = 101;
    /** cudaErrorSystemDriverMismatch. */
    public static final int CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803;
    /** cudaErrorCompatNotSupportedOnDevice. */
    public static final int CUDA_ERROR_COMPAT_NOT_SUPPORTED = 804;

    private CudaCheck() {}

    /** Checks a CUDA runtime status (cudaError_t). */
    public static void rt(int status, String call) {
        if (status != 0) {
            throw new CudaException(kindOfRuntime(status), call + " failed: " + runtimeError(status), status);
        }
    }

    /** "cudaErrorName (description)" for a runtime status. */
    public static String runtimeError(int status) {
        try {
            return string(CudaRuntime.cudaGetErrorName(status)) + " (" + string(CudaRuntime.cudaGetErrorString(status)) + ")";
        } catch (CudaException e) {
            return "cudaError_t " + status;
        }
    }

    private static CudaException.Kind kindOfRuntime(int status) {
        return switch (status) {
            case CUDA_ERROR_INSUFFICIENT_DRIVER, CUDA_ERROR_NO_DEVICE, CUDA_ERROR_SYSTEM_DRIVER_MISMATCH,
                 CUDA_ERROR_COMPAT_NOT_SUPPORTED -> CudaException.Kind.NO_DEVICE;
            default -> CudaException.Kind.CALL_FAILED;
        };
    }

    /** Checks a driver API status (CUresult). */
    public static void drv(int status, String call) {
        if (status != 0) {
            // CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_NOT_INITIALIZED = 3
            CudaException.Kind kind = status == 100 ? CudaException.Kind.NO_DEVICE : CudaException.Kind.CALL_FAILED;
            throw new CudaException(kind, call + " failed: " + driverError(status), status);
        }
    }

    /** "CUDA_ERROR_NAME (description)" for a driver status. */
    public static String driverError(int status) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment name = a.allocate(ValueLayout.ADDRESS);
            MemorySegment desc = a.allocate(ValueLayout.ADDRESS);
            String n = CudaDriver.cuGetErrorName(status, name) == 0 ? string(name.get(ValueLayout.ADDRESS, 0)) : "CUresult " + status;
            String d = CudaDriver.cuGetErrorString(status, desc) == 0 ? string(desc.get(ValueLayout.ADDRESS, 0)) : "unknown";
            return n + " (" + d + ")";
        } catch (CudaException e) {
            return "CUresult " + status;
        }
    }

    /** Checks a cuBLAS status (cublasStatus_t). */
    public static void blas(int status, String call) {
        if (status != 0) {
            String s;
            try {
                s = string(Cublas.cublasGetStatusName(status)) + " (" + string(Cublas.cublasGetStatusString(status)) + ")";
            } catch (CudaException e) {
                s = "cublasStatus_t " + status;
            }
            throw new CudaException(CudaException.Kind.CALL_FAILED, call + " failed: " + s, status);
        }
    }

    /** Checks an NVRTC status (nvrtcResult); {@code log} (may be null) is appended, e.g. the compiler's messages. */
    public static void nvrtc(int status, String call, String log) {
        if (status != 0) {
            String s;
            try {
                s = string(Nvrtc.nvrtcGetErrorString(status));
            } catch (CudaException e) {
                s = "nvrtcResult " + status;
            }
            throw new CudaException(CudaException.Kind.CALL_FAILED, call + " failed: " + s
                    + (log == null || log.isBlank() ? "" : "\n" + log.strip()), status);
        }
    }

    /** A C string returned by a library (a zero-length segment), or "?" for NULL. */
    public static String string(MemorySegment cstr) {
        if (cstr == null || cstr.equals(MemorySegment.NULL)) {
            return "?";
        }
        return cstr.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
