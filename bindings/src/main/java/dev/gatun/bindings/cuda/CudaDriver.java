package dev.gatun.bindings.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The CUDA driver API ({@code libcuda}, cuda.h): loading NVRTC output as modules and launching its kernels.
 *
 * <p>In jextract's output shape, filtered to the symbols Gatun uses (listed in {@code native/jextract/cuda.args};
 * {@code native/jextract/regen.sh} regenerates them where jextract 25 and the CUDA headers exist). Each function has a
 * holder class with its {@link FunctionDescriptor}, address and {@link MethodHandle}, initialised on first use, so a
 * symbol missing from the installed library fails only when called (a {@link CudaException} naming it). Statuses are
 * returned as ints: check them with {@link CudaCheck}. Device pointers and handles are zero-length segments.
 */
public final class CudaDriver {
    private CudaDriver() {}

    /** C {@code int} and C enums. */
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** C {@code size_t} (64-bit Linux). */
    public static final ValueLayout.OfLong C_SIZE_T = ValueLayout.JAVA_LONG;
    /** C {@code long long}. */
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    /** Pointers and opaque handles. */
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    private static final class Lib {
        static final NativeLib LIB = NativeLib.load(CudaLibraries.Library.CUDA_DRIVER);
    }

    private static final class cuInit {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cuInit");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuInit", DESC);
    }

    /** Function descriptor of {@code cuInit}. */
    public static FunctionDescriptor cuInit$descriptor() {
        return cuInit.DESC;
    }

    /** Downcall handle of {@code cuInit}. */
    public static MethodHandle cuInit$handle() {
        return cuInit.HANDLE;
    }

    /** Address of {@code cuInit} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuInit$address() {
        return cuInit.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuInit(unsigned int Flags)
     * }
     */
    public static int cuInit(int Flags) {
        var mh$ = cuInit.HANDLE;
        try {
            return (int) mh$.invokeExact(Flags);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuDriverGetVersion {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuDriverGetVersion");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuDriverGetVersion", DESC);
    }

    /** Function descriptor of {@code cuDriverGetVersion}. */
    public static FunctionDescriptor cuDriverGetVersion$descriptor() {
        return cuDriverGetVersion.DESC;
    }

    /** Downcall handle of {@code cuDriverGetVersion}. */
    public static MethodHandle cuDriverGetVersion$handle() {
        return cuDriverGetVersion.HANDLE;
    }

    /** Address of {@code cuDriverGetVersion} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuDriverGetVersion$address() {
        return cuDriverGetVersion.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuDriverGetVersion(int *driverVersion)
     * }
     */
    public static int cuDriverGetVersion(MemorySegment driverVersion) {
        var mh$ = cuDriverGetVersion.HANDLE;
        try {
            return (int) mh$.invokeExact(driverVersion);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuGetErrorString {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuGetErrorString");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuGetErrorString", DESC);
    }

    /** Function descriptor of {@code cuGetErrorString}. */
    public static FunctionDescriptor cuGetErrorString$descriptor() {
        return cuGetErrorString.DESC;
    }

    /** Downcall handle of {@code cuGetErrorString}. */
    public static MethodHandle cuGetErrorString$handle() {
        return cuGetErrorString.HANDLE;
    }

    /** Address of {@code cuGetErrorString} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuGetErrorString$address() {
        return cuGetErrorString.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGetErrorString(CUresult error, const char **pStr)
     * }
     */
    public static int cuGetErrorString(int error, MemorySegment pStr) {
        var mh$ = cuGetErrorString.HANDLE;
        try {
            return (int) mh$.invokeExact(error, pStr);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuGetErrorName {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuGetErrorName");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuGetErrorName", DESC);
    }

    /** Function descriptor of {@code cuGetErrorName}. */
    public static FunctionDescriptor cuGetErrorName$descriptor() {
        return cuGetErrorName.DESC;
    }

    /** Downcall handle of {@code cuGetErrorName}. */
    public static MethodHandle cuGetErrorName$handle() {
        return cuGetErrorName.HANDLE;
    }

    /** Address of {@code cuGetErrorName} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuGetErrorName$address() {
        return cuGetErrorName.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuGetErrorName(CUresult error, const char **pStr)
     * }
     */
    public static int cuGetErrorName(int error, MemorySegment pStr) {
        var mh$ = cuGetErrorName.HANDLE;
        try {
            return (int) mh$.invokeExact(error, pStr);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuModuleLoadData {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuModuleLoadData");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuModuleLoadData", DESC);
    }

    /** Function descriptor of {@code cuModuleLoadData}. */
    public static FunctionDescriptor cuModuleLoadData$descriptor() {
        return cuModuleLoadData.DESC;
    }

    /** Downcall handle of {@code cuModuleLoadData}. */
    public static MethodHandle cuModuleLoadData$handle() {
        return cuModuleLoadData.HANDLE;
    }

    /** Address of {@code cuModuleLoadData} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuModuleLoadData$address() {
        return cuModuleLoadData.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuModuleLoadData(CUmodule *module, const void *image)
     * }
     */
    public static int cuModuleLoadData(MemorySegment module, MemorySegment image) {
        var mh$ = cuModuleLoadData.HANDLE;
        try {
            return (int) mh$.invokeExact(module, image);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuModuleUnload {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuModuleUnload");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuModuleUnload", DESC);
    }

    /** Function descriptor of {@code cuModuleUnload}. */
    public static FunctionDescriptor cuModuleUnload$descriptor() {
        return cuModuleUnload.DESC;
    }

    /** Downcall handle of {@code cuModuleUnload}. */
    public static MethodHandle cuModuleUnload$handle() {
        return cuModuleUnload.HANDLE;
    }

    /** Address of {@code cuModuleUnload} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuModuleUnload$address() {
        return cuModuleUnload.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuModuleUnload(CUmodule hmod)
     * }
     */
    public static int cuModuleUnload(MemorySegment hmod) {
        var mh$ = cuModuleUnload.HANDLE;
        try {
            return (int) mh$.invokeExact(hmod);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuModuleGetFunction {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuModuleGetFunction");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuModuleGetFunction", DESC);
    }

    /** Function descriptor of {@code cuModuleGetFunction}. */
    public static FunctionDescriptor cuModuleGetFunction$descriptor() {
        return cuModuleGetFunction.DESC;
    }

    /** Downcall handle of {@code cuModuleGetFunction}. */
    public static MethodHandle cuModuleGetFunction$handle() {
        return cuModuleGetFunction.HANDLE;
    }

    /** Address of {@code cuModuleGetFunction} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuModuleGetFunction$address() {
        return cuModuleGetFunction.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
     * }
     */
    public static int cuModuleGetFunction(MemorySegment hfunc, MemorySegment hmod, MemorySegment name) {
        var mh$ = cuModuleGetFunction.HANDLE;
        try {
            return (int) mh$.invokeExact(hfunc, hmod, name);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuFuncSetAttribute {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cuFuncSetAttribute");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuFuncSetAttribute", DESC);
    }

    /** Function descriptor of {@code cuFuncSetAttribute}. */
    public static FunctionDescriptor cuFuncSetAttribute$descriptor() {
        return cuFuncSetAttribute.DESC;
    }

    /** Downcall handle of {@code cuFuncSetAttribute}. */
    public static MethodHandle cuFuncSetAttribute$handle() {
        return cuFuncSetAttribute.HANDLE;
    }

    /** Address of {@code cuFuncSetAttribute} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuFuncSetAttribute$address() {
        return cuFuncSetAttribute.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value)
     * }
     */
    public static int cuFuncSetAttribute(MemorySegment hfunc, int attrib, int value) {
        var mh$ = cuFuncSetAttribute.HANDLE;
        try {
            return (int) mh$.invokeExact(hfunc, attrib, value);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cuLaunchKernel {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT, C_INT, C_INT, C_INT, C_INT, C_INT, C_POINTER, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cuLaunchKernel");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cuLaunchKernel", DESC);
    }

    /** Function descriptor of {@code cuLaunchKernel}. */
    public static FunctionDescriptor cuLaunchKernel$descriptor() {
        return cuLaunchKernel.DESC;
    }

    /** Downcall handle of {@code cuLaunchKernel}. */
    public static MethodHandle cuLaunchKernel$handle() {
        return cuLaunchKernel.HANDLE;
    }

    /** Address of {@code cuLaunchKernel} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cuLaunchKernel$address() {
        return cuLaunchKernel.ADDR;
    }

    /**
     * {@snippet lang=c :
     * CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra)
     * }
     */
    public static int cuLaunchKernel(MemorySegment f, int gridDimX, int gridDimY, int gridDimZ, int blockDimX, int blockDimY, int blockDimZ, int sharedMemBytes, MemorySegment hStream, MemorySegment kernelParams, MemorySegment extra) {
        var mh$ = cuLaunchKernel.HANDLE;
        try {
            return (int) mh$.invokeExact(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ, sharedMemBytes, hStream, kernelParams, extra);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

}
