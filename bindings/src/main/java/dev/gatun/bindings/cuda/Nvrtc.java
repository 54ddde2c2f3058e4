package dev.gatun.bindings.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * NVRTC ({@code libnvrtc}, nvrtc.h): compiling CUDA C++ to PTX/CUBIN at run time for the device at hand.
 *
 * <p>In jextract's output shape, filtered to the symbols Gatun uses (listed in {@code native/jextract/nvrtc.args};
 * {@code native/jextract/regen.sh} regenerates them where jextract 25 and the CUDA headers exist). Each function has a
 * holder class with its {@link FunctionDescriptor}, address and {@link MethodHandle}, initialised on first use, so a
 * symbol missing from the installed library fails only when called (a {@link CudaException} naming it). Statuses are
 * returned as ints: check them with {@link CudaCheck}. Device pointers and handles are zero-length segments.
 */
public final class Nvrtc {
    private Nvrtc() {}

    /** C {@code int} and C enums. */
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** C {@code size_t} (64-bit Linux). */
    public static final ValueLayout.OfLong C_SIZE_T = ValueLayout.JAVA_LONG;
    /** C {@code long long}. */
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    /** Pointers and opaque handles. */
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    private static final class Lib {
        static final NativeLib LIB = NativeLib.load(CudaLibraries.Library.NVRTC);
    }

    private static final class nvrtcVersion {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcVersion");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcVersion", DESC);
    }

    /** Function descriptor of {@code nvrtcVersion}. */
    public static FunctionDescriptor nvrtcVersion$descriptor() {
        return nvrtcVersion.DESC;
    }

    /** Downcall handle of {@code nvrtcVersion}. */
    public static MethodHandle nvrtcVersion$handle() {
        return nvrtcVersion.HANDLE;
    }

    /** Address of {@code nvrtcVersion} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcVersion$address() {
        return nvrtcVersion.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcVersion(int *major, int *minor)
     * }
     */
    public static int nvrtcVersion(MemorySegment major, MemorySegment minor) {
        var mh$ = nvrtcVersion.HANDLE;
        try {
            return (int) mh$.invokeExact(major, minor);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetErrorString {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetErrorString");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetErrorString", DESC);
    }

    /** Function descriptor of {@code nvrtcGetErrorString}. */
    public static FunctionDescriptor nvrtcGetErrorString$descriptor() {
        return nvrtcGetErrorString.DESC;
    }

    /** Downcall handle of {@code nvrtcGetErrorString}. */
    public static MethodHandle nvrtcGetErrorString$handle() {
        return nvrtcGetErrorString.HANDLE;
    }

    /** Address of {@code nvrtcGetErrorString} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetErrorString$address() {
        return nvrtcGetErrorString.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *nvrtcGetErrorString(nvrtcResult result)
     * }
     */
    public static MemorySegment nvrtcGetErrorString(int result) {
        var mh$ = nvrtcGetErrorString.HANDLE;
        try {
            return (MemorySegment) mh$.invokeExact(result);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcCreateProgram {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_POINTER, C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcCreateProgram");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcCreateProgram", DESC);
    }

    /** Function descriptor of {@code nvrtcCreateProgram}. */
    public static FunctionDescriptor nvrtcCreateProgram$descriptor() {
        return nvrtcCreateProgram.DESC;
    }

    /** Downcall handle of {@code nvrtcCreateProgram}. */
    public static MethodHandle nvrtcCreateProgram$handle() {
        return nvrtcCreateProgram.HANDLE;
    }

    /** Address of {@code nvrtcCreateProgram} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcCreateProgram$address() {
        return nvrtcCreateProgram.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcCreateProgram(nvrtcProgram *prog, const char *src, const char *name, int numHeaders, const char *const *headers, const char *const *includeNames)
     * }
     */
    public static int nvrtcCreateProgram(MemorySegment prog, MemorySegment src, MemorySegment name, int numHeaders, MemorySegment headers, MemorySegment includeNames) {
        var mh$ = nvrtcCreateProgram.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, src, name, numHeaders, headers, includeNames);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcDestroyProgram {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcDestroyProgram");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcDestroyProgram", DESC);
    }

    /** Function descriptor of {@code nvrtcDestroyProgram}. */
    public static FunctionDescriptor nvrtcDestroyProgram$descriptor() {
        return nvrtcDestroyProgram.DESC;
    }

    /** Downcall handle of {@code nvrtcDestroyProgram}. */
    public static MethodHandle nvrtcDestroyProgram$handle() {
        return nvrtcDestroyProgram.HANDLE;
    }

    /** Address of {@code nvrtcDestroyProgram} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcDestroyProgram$address() {
        return nvrtcDestroyProgram.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcDestroyProgram(nvrtcProgram *prog)
     * }
     */
    public static int nvrtcDestroyProgram(MemorySegment prog) {
        var mh$ = nvrtcDestroyProgram.HANDLE;
        try {
            return (int) mh$.invokeExact(prog);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcCompileProgram {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcCompileProgram");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcCompileProgram", DESC);
    }

    /** Function descriptor of {@code nvrtcCompileProgram}. */
    public static FunctionDescriptor nvrtcCompileProgram$descriptor() {
        return nvrtcCompileProgram.DESC;
    }

    /** Downcall handle of {@code nvrtcCompileProgram}. */
    public static MethodHandle nvrtcCompileProgram$handle() {
        return nvrtcCompileProgram.HANDLE;
    }

    /** Address of {@code nvrtcCompileProgram} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcCompileProgram$address() {
        return nvrtcCompileProgram.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcCompileProgram(nvrtcProgram prog, int numOptions, const char *const *options)
     * }
     */
    public static int nvrtcCompileProgram(MemorySegment prog, int numOptions, MemorySegment options) {
        var mh$ = nvrtcCompileProgram.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, numOptions, options);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetPTXSize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetPTXSize");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetPTXSize", DESC);
    }

    /** Function descriptor of {@code nvrtcGetPTXSize}. */
    public static FunctionDescriptor nvrtcGetPTXSize$descriptor() {
        return nvrtcGetPTXSize.DESC;
    }

    /** Downcall handle of {@code nvrtcGetPTXSize}. */
    public static MethodHandle nvrtcGetPTXSize$handle() {
        return nvrtcGetPTXSize.HANDLE;
    }

    /** Address of {@code nvrtcGetPTXSize} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetPTXSize$address() {
        return nvrtcGetPTXSize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcGetPTXSize(nvrtcProgram prog, size_t *ptxSizeRet)
     * }
     */
    public static int nvrtcGetPTXSize(MemorySegment prog, MemorySegment ptxSizeRet) {
        var mh$ = nvrtcGetPTXSize.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, ptxSizeRet);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetPTX {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetPTX");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetPTX", DESC);
    }

    /** Function descriptor of {@code nvrtcGetPTX}. */
    public static FunctionDescriptor nvrtcGetPTX$descriptor() {
        return nvrtcGetPTX.DESC;
    }

    /** Downcall handle of {@code nvrtcGetPTX}. */
    public static MethodHandle nvrtcGetPTX$handle() {
        return nvrtcGetPTX.HANDLE;
    }

    /** Address of {@code nvrtcGetPTX} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetPTX$address() {
        return nvrtcGetPTX.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcGetPTX(nvrtcProgram prog, char *ptx)
     * }
     */
    public static int nvrtcGetPTX(MemorySegment prog, MemorySegment ptx) {
        var mh$ = nvrtcGetPTX.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, ptx);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetCUBINSize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetCUBINSize");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetCUBINSize", DESC);
    }

    /** Function descriptor of {@code nvrtcGetCUBINSize}. */
    public static FunctionDescriptor nvrtcGetCUBINSize$descriptor() {
        return nvrtcGetCUBINSize.DESC;
    }

    /** Downcall handle of {@code nvrtcGetCUBINSize}. */
    public static MethodHandle nvrtcGetCUBINSize$handle() {
        return nvrtcGetCUBINSize.HANDLE;
    }

    /** Address of {@code nvrtcGetCUBINSize} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetCUBINSize$address() {
        return nvrtcGetCUBINSize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcGetCUBINSize(nvrtcProgram prog, size_t *cubinSizeRet)
     * }
     */
    public static int nvrtcGetCUBINSize(MemorySegment prog, MemorySegment cubinSizeRet) {
        var mh$ = nvrtcGetCUBINSize.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, cubinSizeRet);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetCUBIN {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetCUBIN");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetCUBIN", DESC);
    }

    /** Function descriptor of {@code nvrtcGetCUBIN}. */
    public static FunctionDescriptor nvrtcGetCUBIN$descriptor() {
        return nvrtcGetCUBIN.DESC;
    }

    /** Downcall handle of {@code nvrtcGetCUBIN}. */
    public static MethodHandle nvrtcGetCUBIN$handle() {
        return nvrtcGetCUBIN.HANDLE;
    }

    /** Address of {@code nvrtcGetCUBIN} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetCUBIN$address() {
        return nvrtcGetCUBIN.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcGetCUBIN(nvrtcProgram prog, char *cubin)
     * }
     */
    public static int nvrtcGetCUBIN(MemorySegment prog, MemorySegment cubin) {
        var mh$ = nvrtcGetCUBIN.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, cubin);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetProgramLogSize {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetProgramLogSize");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetProgramLogSize", DESC);
    }

    /** Function descriptor of {@code nvrtcGetProgramLogSize}. */
    public static FunctionDescriptor nvrtcGetProgramLogSize$descriptor() {
        return nvrtcGetProgramLogSize.DESC;
    }

    /** Downcall handle of {@code nvrtcGetProgramLogSize}. */
    public static MethodHandle nvrtcGetProgramLogSize$handle() {
        return nvrtcGetProgramLogSize.HANDLE;
    }

    /** Address of {@code nvrtcGetProgramLogSize} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetProgramLogSize$address() {
        return nvrtcGetProgramLogSize.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram prog, size_t *logSizeRet)
     * }
     */
    public static int nvrtcGetProgramLogSize(MemorySegment prog, MemorySegment logSizeRet) {
        var mh$ = nvrtcGetProgramLogSize.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, logSizeRet);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class nvrtcGetProgramLog {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("nvrtcGetProgramLog");
        static final MethodHandle HANDLE = Lib.LIB.downcall("nvrtcGetProgramLog", DESC);
    }

    /** Function descriptor of {@code nvrtcGetProgramLog}. */
    public static FunctionDescriptor nvrtcGetProgramLog$descriptor() {
        return nvrtcGetProgramLog.DESC;
    }

    /** Downcall handle of {@code nvrtcGetProgramLog}. */
    public static MethodHandle nvrtcGetProgramLog$handle() {
        return nvrtcGetProgramLog.HANDLE;
    }

    /** Address of {@code nvrtcGetProgramLog} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment nvrtcGetProgramLog$address() {
        return nvrtcGetProgramLog.ADDR;
    }

    /**
     * {@snippet lang=c :
     * nvrtcResult nvrtcGetProgramLog(nvrtcProgram prog, char *log)
     * }
     */
    public static int nvrtcGetProgramLog(MemorySegment prog, MemorySegment log) {
        var mh$ = nvrtcGetProgramLog.HANDLE;
        try {
            return (int) mh$.invokeExact(prog, log);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

}
