package dev.gatun.bindings.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The CUDA runtime API ({@code libcudart}, cuda_runtime_api.h): devices, memory, streams, events, graphs.
 *
 * <p>In jextract's output shape, filtered to the symbols Gatun uses (listed in {@code native/jextract/cudart.args};
 * {@code native/jextract/regen.sh} regenerates them where jextract 25 and the CUDA headers exist). Each function has a
 * holder class with its {@link FunctionDescriptor}, address and {@link MethodHandle}, initialised on first use, so a
 * symbol missing from the installed library fails only when called (a {@link CudaException} naming it). Statuses are
 * returned as ints: check them with {@link CudaCheck}. Device pointers and handles are zero-length segments.
 */
public final class CudaRuntime {
    private CudaRuntime() {}

    /** C {@code int} and C enums. */
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** C {@code size_t} (64-bit Linux). */
    public static final ValueLayout.OfLong C_SIZE_T = ValueLayout.JAVA_LONG;
    /** C {@code long long}. */
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    /** Pointers and opaque handles. */
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    private static final class Lib {
        static final NativeLib LIB = NativeLib.load(CudaLibraries.Library.CUDART);
    }

    private static final class cudaGetDeviceCount {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGetDeviceCount");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGetDeviceCount", DESC);
    }

    /** Function descriptor of {@code cudaGetDeviceCount}. */
    public static FunctionDescriptor cudaGetDeviceCount$descriptor() {
        return cudaGetDeviceCount.DESC;
    }

    /** Downcall handle of {@code cudaGetDeviceCount}. */
    public static MethodHandle cudaGetDeviceCount$handle() {
        return cudaGetDeviceCount.HANDLE;
    }

    /** Address of {@code cudaGetDeviceCount} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGetDeviceCount$address() {
        return cudaGetDeviceCount.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGetDeviceCount(int *count)
     * }
     */
    public static int cudaGetDeviceCount(MemorySegment count) {
        var mh$ = cudaGetDeviceCount.HANDLE;
        try {
            return (int) mh$.invokeExact(count);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaSetDevice {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaSetDevice");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaSetDevice", DESC);
    }

    /** Function descriptor of {@code cudaSetDevice}. */
    public static FunctionDescriptor cudaSetDevice$descriptor() {
        return cudaSetDevice.DESC;
    }

    /** Downcall handle of {@code cudaSetDevice}. */
    public static MethodHandle cudaSetDevice$handle() {
        return cudaSetDevice.HANDLE;
    }

    /** Address of {@code cudaSetDevice} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaSetDevice$address() {
        return cudaSetDevice.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaSetDevice(int device)
     * }
     */
    public static int cudaSetDevice(int device) {
        var mh$ = cudaSetDevice.HANDLE;
        try {
            return (int) mh$.invokeExact(device);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGetDevice {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGetDevice");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGetDevice", DESC);
    }

    /** Function descriptor of {@code cudaGetDevice}. */
    public static FunctionDescriptor cudaGetDevice$descriptor() {
        return cudaGetDevice.DESC;
    }

    /** Downcall handle of {@code cudaGetDevice}. */
    public static MethodHandle cudaGetDevice$handle() {
        return cudaGetDevice.HANDLE;
    }

    /** Address of {@code cudaGetDevice} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGetDevice$address() {
        return cudaGetDevice.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGetDevice(int *device)
     * }
     */
    public static int cudaGetDevice(MemorySegment device) {
        var mh$ = cudaGetDevice.HANDLE;
        try {
            return (int) mh$.invokeExact(device);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaDeviceGetAttribute {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaDeviceGetAttribute");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaDeviceGetAttribute", DESC);
    }

    /** Function descriptor of {@code cudaDeviceGetAttribute}. */
    public static FunctionDescriptor cudaDeviceGetAttribute$descriptor() {
        return cudaDeviceGetAttribute.DESC;
    }

    /** Downcall handle of {@code cudaDeviceGetAttribute}. */
    public static MethodHandle cudaDeviceGetAttribute$handle() {
        return cudaDeviceGetAttribute.HANDLE;
    }

    /** Address of {@code cudaDeviceGetAttribute} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaDeviceGetAttribute$address() {
        return cudaDeviceGetAttribute.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
     * }
     */
    public static int cudaDeviceGetAttribute(MemorySegment value, int attr, int device) {
        var mh$ = cudaDeviceGetAttribute.HANDLE;
        try {
            return (int) mh$.invokeExact(value, attr, device);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaRuntimeGetVersion {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaRuntimeGetVersion");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaRuntimeGetVersion", DESC);
    }

    /** Function descriptor of {@code cudaRuntimeGetVersion}. */
    public static FunctionDescriptor cudaRuntimeGetVersion$descriptor() {
        return cudaRuntimeGetVersion.DESC;
    }

    /** Downcall handle of {@code cudaRuntimeGetVersion}. */
    public static MethodHandle cudaRuntimeGetVersion$handle() {
        return cudaRuntimeGetVersion.HANDLE;
    }

    /** Address of {@code cudaRuntimeGetVersion} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaRuntimeGetVersion$address() {
        return cudaRuntimeGetVersion.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
     * }
     */
    public static int cudaRuntimeGetVersion(MemorySegment runtimeVersion) {
        var mh$ = cudaRuntimeGetVersion.HANDLE;
        try {
            return (int) mh$.invokeExact(runtimeVersion);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaDriverGetVersion {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaDriverGetVersion");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaDriverGetVersion", DESC);
    }

    /** Function descriptor of {@code cudaDriverGetVersion}. */
    public static FunctionDescriptor cudaDriverGetVersion$descriptor() {
        return cudaDriverGetVersion.DESC;
    }

    /** Downcall handle of {@code cudaDriverGetVersion}. */
    public static MethodHandle cudaDriverGetVersion$handle() {
        return cudaDriverGetVersion.HANDLE;
    }

    /** Address of {@code cudaDriverGetVersion} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaDriverGetVersion$address() {
        return cudaDriverGetVersion.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaDriverGetVersion(int *driverVersion)
     * }
     */
    public static int cudaDriverGetVersion(MemorySegment driverVersion) {
        var mh$ = cudaDriverGetVersion.HANDLE;
        try {
            return (int) mh$.invokeExact(driverVersion);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGetErrorString {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGetErrorString");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGetErrorString", DESC);
    }

    /** Function descriptor of {@code cudaGetErrorString}. */
    public static FunctionDescriptor cudaGetErrorString$descriptor() {
        return cudaGetErrorString.DESC;
    }

    /** Downcall handle of {@code cudaGetErrorString}. */
    public static MethodHandle cudaGetErrorString$handle() {
        return cudaGetErrorString.HANDLE;
    }

    /** Address of {@code cudaGetErrorString} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGetErrorString$address() {
        return cudaGetErrorString.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *cudaGetErrorString(cudaError_t error)
     * }
     */
    public static MemorySegment cudaGetErrorString(int error) {
        var mh$ = cudaGetErrorString.HANDLE;
        try {
            return (MemorySegment) mh$.invokeExact(error);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGetErrorName {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGetErrorName");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGetErrorName", DESC);
    }

    /** Function descriptor of {@code cudaGetErrorName}. */
    public static FunctionDescriptor cudaGetErrorName$descriptor() {
        return cudaGetErrorName.DESC;
    }

    /** Downcall handle of {@code cudaGetErrorName}. */
    public static MethodHandle cudaGetErrorName$handle() {
        return cudaGetErrorName.HANDLE;
    }

    /** Address of {@code cudaGetErrorName} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGetErrorName$address() {
        return cudaGetErrorName.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *cudaGetErrorName(cudaError_t error)
     * }
     */
    public static MemorySegment cudaGetErrorName(int error) {
        var mh$ = cudaGetErrorName.HANDLE;
        try {
            return (MemorySegment) mh$.invokeExact(error);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGetLastError {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGetLastError");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGetLastError", DESC);
    }

    /** Function descriptor of {@code cudaGetLastError}. */
    public static FunctionDescriptor cudaGetLastError$descriptor() {
        return cudaGetLastError.DESC;
    }

    /** Downcall handle of {@code cudaGetLastError}. */
    public static MethodHandle cudaGetLastError$handle() {
        return cudaGetLastError.HANDLE;
    }

    /** Address of {@code cudaGetLastError} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGetLastError$address() {
        return cudaGetLastError.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGetLastError(void)
     * }
     */
    public static int cudaGetLastError() {
        var mh$ = cudaGetLastError.HANDLE;
        try {
            return (int) mh$.invokeExact();
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaDeviceSynchronize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaDeviceSynchronize");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaDeviceSynchronize", DESC);
    }

    /** Function descriptor of {@code cudaDeviceSynchronize}. */
    public static FunctionDescriptor cudaDeviceSynchronize$descriptor() {
        return cudaDeviceSynchronize.DESC;
    }

    /** Downcall handle of {@code cudaDeviceSynchronize}. */
    public static MethodHandle cudaDeviceSynchronize$handle() {
        return cudaDeviceSynchronize.HANDLE;
    }

    /** Address of {@code cudaDeviceSynchronize} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaDeviceSynchronize$address() {
        return cudaDeviceSynchronize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaDeviceSynchronize(void)
     * }
     */
    public static int cudaDeviceSynchronize() {
        var mh$ = cudaDeviceSynchronize.HANDLE;
        try {
            return (int) mh$.invokeExact();
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaMalloc {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_SIZE_T);
        static final MemorySegment ADDR = Lib.LIB.find("cudaMalloc");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaMalloc", DESC);
    }

    /** Function descriptor of {@code cudaMalloc}. */
    public static FunctionDescriptor cudaMalloc$descriptor() {
        return cudaMalloc.DESC;
    }

    /** Downcall handle of {@code cudaMalloc}. */
    public static MethodHandle cudaMalloc$handle() {
        return cudaMalloc.HANDLE;
    }

    /** Address of {@code cudaMalloc} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaMalloc$address() {
        return cudaMalloc.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaMalloc(void **devPtr, size_t size)
     * }
     */
    public static int cudaMalloc(MemorySegment devPtr, long size) {
        var mh$ = cudaMalloc.HANDLE;
        try {
            return (int) mh$.invokeExact(devPtr, size);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaFree {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaFree");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaFree", DESC);
    }

    /** Function descriptor of {@code cudaFree}. */
    public static FunctionDescriptor cudaFree$descriptor() {
        return cudaFree.DESC;
    }

    /** Downcall handle of {@code cudaFree}. */
    public static MethodHandle cudaFree$handle() {
        return cudaFree.HANDLE;
    }

    /** Address of {@code cudaFree} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaFree$address() {
        return cudaFree.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaFree(void *devPtr)
     * }
     */
    public static int cudaFree(MemorySegment devPtr) {
        var mh$ = cudaFree.HANDLE;
        try {
            return (int) mh$.invokeExact(devPtr);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaMallocHost {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_SIZE_T);
        static final MemorySegment ADDR = Lib.LIB.find("cudaMallocHost");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaMallocHost", DESC);
    }

    /** Function descriptor of {@code cudaMallocHost}. */
    public static FunctionDescriptor cudaMallocHost$descriptor() {
        return cudaMallocHost.DESC;
    }

    /** Downcall handle of {@code cudaMallocHost}. */
    public static MethodHandle cudaMallocHost$handle() {
        return cudaMallocHost.HANDLE;
    }

    /** Address of {@code cudaMallocHost} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaMallocHost$address() {
        return cudaMallocHost.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaMallocHost(void **ptr, size_t size)
     * }
     */
    public static int cudaMallocHost(MemorySegment ptr, long size) {
        var mh$ = cudaMallocHost.HANDLE;
        try {
            return (int) mh$.invokeExact(ptr, size);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaFreeHost {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaFreeHost");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaFreeHost", DESC);
    }

    /** Function descriptor of {@code cudaFreeHost}. */
    public static FunctionDescriptor cudaFreeHost$descriptor() {
        return cudaFreeHost.DESC;
    }

    /** Downcall handle of {@code cudaFreeHost}. */
    public static MethodHandle cudaFreeHost$handle() {
        return cudaFreeHost.HANDLE;
    }

    /** Address of {@code cudaFreeHost} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaFreeHost$address() {
        return cudaFreeHost.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaFreeHost(void *ptr)
     * }
     */
    public static int cudaFreeHost(MemorySegment ptr) {
        var mh$ = cudaFreeHost.HANDLE;
        try {
            return (int) mh$.invokeExact(ptr);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaMemGetInfo {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaMemGetInfo");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaMemGetInfo", DESC);
    }

    /** Function descriptor of {@code cudaMemGetInfo}. */
    public static FunctionDescriptor cudaMemGetInfo$descriptor() {
        return cudaMemGetInfo.DESC;
    }

    /** Downcall handle of {@code cudaMemGetInfo}. */
    public static MethodHandle cudaMemGetInfo$handle() {
        return cudaMemGetInfo.HANDLE;
    }

    /** Address of {@code cudaMemGetInfo} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaMemGetInfo$address() {
        return cudaMemGetInfo.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaMemGetInfo(size_t *free, size_t *total)
     * }
     */
    public static int cudaMemGetInfo(MemorySegment free, MemorySegment total) {
        var mh$ = cudaMemGetInfo.HANDLE;
        try {
            return (int) mh$.invokeExact(free, total);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaMemcpy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_SIZE_T, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaMemcpy");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaMemcpy", DESC);
    }

    /** Function descriptor of {@code cudaMemcpy}. */
    public static FunctionDescriptor cudaMemcpy$descriptor() {
        return cudaMemcpy.DESC;
    }

    /** Downcall handle of {@code cudaMemcpy}. */
    public static MethodHandle cudaMemcpy$handle() {
        return cudaMemcpy.HANDLE;
    }

    /** Address of {@code cudaMemcpy} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaMemcpy$address() {
        return cudaMemcpy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
     * }
     */
    public static int cudaMemcpy(MemorySegment dst, MemorySegment src, long count, int kind) {
        var mh$ = cudaMemcpy.HANDLE;
        try {
            return (int) mh$.invokeExact(dst, src, count, kind);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaMemcpyAsync {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_SIZE_T, C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaMemcpyAsync");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaMemcpyAsync", DESC);
    }

    /** Function descriptor of {@code cudaMemcpyAsync}. */
    public static FunctionDescriptor cudaMemcpyAsync$descriptor() {
        return cudaMemcpyAsync.DESC;
    }

    /** Downcall handle of {@code cudaMemcpyAsync}. */
    public static MethodHandle cudaMemcpyAsync$handle() {
        return cudaMemcpyAsync.HANDLE;
    }

    /** Address of {@code cudaMemcpyAsync} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaMemcpyAsync$address() {
        return cudaMemcpyAsync.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t stream)
     * }
     */
    public static int cudaMemcpyAsync(MemorySegment dst, MemorySegment src, long count, int kind, MemorySegment stream) {
        var mh$ = cudaMemcpyAsync.HANDLE;
        try {
            return (int) mh$.invokeExact(dst, src, count, kind, stream);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaMemsetAsync {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_SIZE_T, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaMemsetAsync");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaMemsetAsync", DESC);
    }

    /** Function descriptor of {@code cudaMemsetAsync}. */
    public static FunctionDescriptor cudaMemsetAsync$descriptor() {
        return cudaMemsetAsync.DESC;
    }

    /** Downcall handle of {@code cudaMemsetAsync}. */
    public static MethodHandle cudaMemsetAsync$handle() {
        return cudaMemsetAsync.HANDLE;
    }

    /** Address of {@code cudaMemsetAsync} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaMemsetAsync$address() {
        return cudaMemsetAsync.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
     * }
     */
    public static int cudaMemsetAsync(MemorySegment devPtr, int value, long count, MemorySegment stream) {
        var mh$ = cudaMemsetAsync.HANDLE;
        try {
            return (int) mh$.invokeExact(devPtr, value, count, stream);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaStreamCreateWithFlags {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaStreamCreateWithFlags");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaStreamCreateWithFlags", DESC);
    }

    /** Function descriptor of {@code cudaStreamCreateWithFlags}. */
    public static FunctionDescriptor cudaStreamCreateWithFlags$descriptor() {
        return cudaStreamCreateWithFlags.DESC;
    }

    /** Downcall handle of {@code cudaStreamCreateWithFlags}. */
    public static MethodHandle cudaStreamCreateWithFlags$handle() {
        return cudaStreamCreateWithFlags.HANDLE;
    }

    /** Address of {@code cudaStreamCreateWithFlags} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaStreamCreateWithFlags$address() {
        return cudaStreamCreateWithFlags.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
     * }
     */
    public static int cudaStreamCreateWithFlags(MemorySegment pStream, int flags) {
        var mh$ = cudaStreamCreateWithFlags.HANDLE;
        try {
            return (int) mh$.invokeExact(pStream, flags);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaStreamSynchronize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaStreamSynchronize");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaStreamSynchronize", DESC);
    }

    /** Function descriptor of {@code cudaStreamSynchronize}. */
    public static FunctionDescriptor cudaStreamSynchronize$descriptor() {
        return cudaStreamSynchronize.DESC;
    }

    /** Downcall handle of {@code cudaStreamSynchronize}. */
    public static MethodHandle cudaStreamSynchronize$handle() {
        return cudaStreamSynchronize.HANDLE;
    }

    /** Address of {@code cudaStreamSynchronize} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaStreamSynchronize$address() {
        return cudaStreamSynchronize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaStreamSynchronize(cudaStream_t stream)
     * }
     */
    public static int cudaStreamSynchronize(MemorySegment stream) {
        var mh$ = cudaStreamSynchronize.HANDLE;
        try {
            return (int) mh$.invokeExact(stream);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaStreamDestroy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaStreamDestroy");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaStreamDestroy", DESC);
    }

    /** Function descriptor of {@code cudaStreamDestroy}. */
    public static FunctionDescriptor cudaStreamDestroy$descriptor() {
        return cudaStreamDestroy.DESC;
    }

    /** Downcall handle of {@code cudaStreamDestroy}. */
    public static MethodHandle cudaStreamDestroy$handle() {
        return cudaStreamDestroy.HANDLE;
    }

    /** Address of {@code cudaStreamDestroy} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaStreamDestroy$address() {
        return cudaStreamDestroy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaStreamDestroy(cudaStream_t stream)
     * }
     */
    public static int cudaStreamDestroy(MemorySegment stream) {
        var mh$ = cudaStreamDestroy.HANDLE;
        try {
            return (int) mh$.invokeExact(stream);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaEventCreate {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaEventCreate");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaEventCreate", DESC);
    }

    /** Function descriptor of {@code cudaEventCreate}. */
    public static FunctionDescriptor cudaEventCreate$descriptor() {
        return cudaEventCreate.DESC;
    }

    /** Downcall handle of {@code cudaEventCreate}. */
    public static MethodHandle cudaEventCreate$handle() {
        return cudaEventCreate.HANDLE;
    }

    /** Address of {@code cudaEventCreate} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaEventCreate$address() {
        return cudaEventCreate.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaEventCreate(cudaEvent_t *event)
     * }
     */
    public static int cudaEventCreate(MemorySegment event) {
        var mh$ = cudaEventCreate.HANDLE;
        try {
            return (int) mh$.invokeExact(event);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaEventRecord {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaEventRecord");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaEventRecord", DESC);
    }

    /** Function descriptor of {@code cudaEventRecord}. */
    public static FunctionDescriptor cudaEventRecord$descriptor() {
        return cudaEventRecord.DESC;
    }

    /** Downcall handle of {@code cudaEventRecord}. */
    public static MethodHandle cudaEventRecord$handle() {
        return cudaEventRecord.HANDLE;
    }

    /** Address of {@code cudaEventRecord} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaEventRecord$address() {
        return cudaEventRecord.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
     * }
     */
    public static int cudaEventRecord(MemorySegment event, MemorySegment stream) {
        var mh$ = cudaEventRecord.HANDLE;
        try {
            return (int) mh$.invokeExact(event, stream);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaEventSynchronize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaEventSynchronize");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaEventSynchronize", DESC);
    }

    /** Function descriptor of {@code cudaEventSynchronize}. */
    public static FunctionDescriptor cudaEventSynchronize$descriptor() {
        return cudaEventSynchronize.DESC;
    }

    /** Downcall handle of {@code cudaEventSynchronize}. */
    public static MethodHandle cudaEventSynchronize$handle() {
        return cudaEventSynchronize.HANDLE;
    }

    /** Address of {@code cudaEventSynchronize} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaEventSynchronize$address() {
        return cudaEventSynchronize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaEventSynchronize(cudaEvent_t event)
     * }
     */
    public static int cudaEventSynchronize(MemorySegment event) {
        var mh$ = cudaEventSynchronize.HANDLE;
        try {
            return (int) mh$.invokeExact(event);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaEventElapsedTime {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaEventElapsedTime");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaEventElapsedTime", DESC);
    }

    /** Function descriptor of {@code cudaEventElapsedTime}. */
    public static FunctionDescriptor cudaEventElapsedTime$descriptor() {
        return cudaEventElapsedTime.DESC;
    }

    /** Downcall handle of {@code cudaEventElapsedTime}. */
    public static MethodHandle cudaEventElapsedTime$handle() {
        return cudaEventElapsedTime.HANDLE;
    }

    /** Address of {@code cudaEventElapsedTime} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaEventElapsedTime$address() {
        return cudaEventElapsedTime.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
     * }
     */
    public static int cudaEventElapsedTime(MemorySegment ms, MemorySegment start, MemorySegment end) {
        var mh$ = cudaEventElapsedTime.HANDLE;
        try {
            return (int) mh$.invokeExact(ms, start, end);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaEventDestroy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaEventDestroy");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaEventDestroy", DESC);
    }

    /** Function descriptor of {@code cudaEventDestroy}. */
    public static FunctionDescriptor cudaEventDestroy$descriptor() {
        return cudaEventDestroy.DESC;
    }

    /** Downcall handle of {@code cudaEventDestroy}. */
    public static MethodHandle cudaEventDestroy$handle() {
        return cudaEventDestroy.HANDLE;
    }

    /** Address of {@code cudaEventDestroy} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaEventDestroy$address() {
        return cudaEventDestroy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaEventDestroy(cudaEvent_t event)
     * }
     */
    public static int cudaEventDestroy(MemorySegment event) {
        var mh$ = cudaEventDestroy.HANDLE;
        try {
            return (int) mh$.invokeExact(event);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaStreamBeginCapture {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cudaStreamBeginCapture");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaStreamBeginCapture", DESC);
    }

    /** Function descriptor of {@code cudaStreamBeginCapture}. */
    public static FunctionDescriptor cudaStreamBeginCapture$descriptor() {
        return cudaStreamBeginCapture.DESC;
    }

    /** Downcall handle of {@code cudaStreamBeginCapture}. */
    public static MethodHandle cudaStreamBeginCapture$handle() {
        return cudaStreamBeginCapture.HANDLE;
    }

    /** Address of {@code cudaStreamBeginCapture} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaStreamBeginCapture$address() {
        return cudaStreamBeginCapture.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
     * }
     */
    public static int cudaStreamBeginCapture(MemorySegment stream, int mode) {
        var mh$ = cudaStreamBeginCapture.HANDLE;
        try {
            return (int) mh$.invokeExact(stream, mode);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaStreamEndCapture {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaStreamEndCapture");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaStreamEndCapture", DESC);
    }

    /** Function descriptor of {@code cudaStreamEndCapture}. */
    public static FunctionDescriptor cudaStreamEndCapture$descriptor() {
        return cudaStreamEndCapture.DESC;
    }

    /** Downcall handle of {@code cudaStreamEndCapture}. */
    public static MethodHandle cudaStreamEndCapture$handle() {
        return cudaStreamEndCapture.HANDLE;
    }

    /** Address of {@code cudaStreamEndCapture} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaStreamEndCapture$address() {
        return cudaStreamEndCapture.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *pGraph)
     * }
     */
    public static int cudaStreamEndCapture(MemorySegment stream, MemorySegment pGraph) {
        var mh$ = cudaStreamEndCapture.HANDLE;
        try {
            return (int) mh$.invokeExact(stream, pGraph);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGraphInstantiate {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_LONG_LONG);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGraphInstantiate");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGraphInstantiate", DESC);
    }

    /** Function descriptor of {@code cudaGraphInstantiate}. */
    public static FunctionDescriptor cudaGraphInstantiate$descriptor() {
        return cudaGraphInstantiate.DESC;
    }

    /** Downcall handle of {@code cudaGraphInstantiate}. */
    public static MethodHandle cudaGraphInstantiate$handle() {
        return cudaGraphInstantiate.HANDLE;
    }

    /** Address of {@code cudaGraphInstantiate} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGraphInstantiate$address() {
        return cudaGraphInstantiate.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph, unsigned long long flags)
     * }
     */
    public static int cudaGraphInstantiate(MemorySegment pGraphExec, MemorySegment graph, long flags) {
        var mh$ = cudaGraphInstantiate.HANDLE;
        try {
            return (int) mh$.invokeExact(pGraphExec, graph, flags);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGraphLaunch {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGraphLaunch");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGraphLaunch", DESC);
    }

    /** Function descriptor of {@code cudaGraphLaunch}. */
    public static FunctionDescriptor cudaGraphLaunch$descriptor() {
        return cudaGraphLaunch.DESC;
    }

    /** Downcall handle of {@code cudaGraphLaunch}. */
    public static MethodHandle cudaGraphLaunch$handle() {
        return cudaGraphLaunch.HANDLE;
    }

    /** Address of {@code cudaGraphLaunch} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGraphLaunch$address() {
        return cudaGraphLaunch.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream)
     * }
     */
    public static int cudaGraphLaunch(MemorySegment graphExec, MemorySegment stream) {
        var mh$ = cudaGraphLaunch.HANDLE;
        try {
            return (int) mh$.invokeExact(graphExec, stream);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGraphExecDestroy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGraphExecDestroy");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGraphExecDestroy", DESC);
    }

    /** Function descriptor of {@code cudaGraphExecDestroy}. */
    public static FunctionDescriptor cudaGraphExecDestroy$descriptor() {
        return cudaGraphExecDestroy.DESC;
    }

    /** Downcall handle of {@code cudaGraphExecDestroy}. */
    public static MethodHandle cudaGraphExecDestroy$handle() {
        return cudaGraphExecDestroy.HANDLE;
    }

    /** Address of {@code cudaGraphExecDestroy} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGraphExecDestroy$address() {
        return cudaGraphExecDestroy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec)
     * }
     */
    public static int cudaGraphExecDestroy(MemorySegment graphExec) {
        var mh$ = cudaGraphExecDestroy.HANDLE;
        try {
            return (int) mh$.invokeExact(graphExec);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cudaGraphDestroy {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cudaGraphDestroy");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cudaGraphDestroy", DESC);
    }

    /** Function descriptor of {@code cudaGraphDestroy}. */
    public static FunctionDescriptor cudaGraphDestroy$descriptor() {
        return cudaGraphDestroy.DESC;
    }

    /** Downcall handle of {@code cudaGraphDestroy}. */
    public static MethodHandle cudaGraphDestroy$handle() {
        return cudaGraphDestroy.HANDLE;
    }

    /** Address of {@code cudaGraphDestroy} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cudaGraphDestroy$address() {
        return cudaGraphDestroy.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cudaError_t cudaGraphDestroy(cudaGraph_t graph)
     * }
     */
    public static int cudaGraphDestroy(MemorySegment graph) {
        var mh$ = cudaGraphDestroy.HANDLE;
        try {
            return (int) mh$.invokeExact(graph);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

}
