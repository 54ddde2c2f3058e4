package dev.gatun.bindings.cuda;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * cuBLAS ({@code libcublas}, cublas_api.h, the v2 API): handles and the GEMMs.
 *
 * <p>In jextract's output shape, filtered to the symbols Gatun uses (listed in {@code native/jextract/cublas.args};
 * {@code native/jextract/regen.sh} regenerates them where jextract 25 and the CUDA headers exist). Each function has a
 * holder class with its {@link FunctionDescriptor}, address and {@link MethodHandle}, initialised on first use, so a
 * symbol missing from the installed library fails only when called (a {@link CudaException} naming it). Statuses are
 * returned as ints: check them with {@link CudaCheck}. Device pointers and handles are zero-length segments.
 */
public final class Cublas {
    private Cublas() {}

    /** C {@code int} and C enums. */
    public static final ValueLayout.OfInt C_INT = ValueLayout.JAVA_INT;
    /** C {@code size_t} (64-bit Linux). */
    public static final ValueLayout.OfLong C_SIZE_T = ValueLayout.JAVA_LONG;
    /** C {@code long long}. */
    public static final ValueLayout.OfLong C_LONG_LONG = ValueLayout.JAVA_LONG;
    /** Pointers and opaque handles. */
    public static final AddressLayout C_POINTER = ValueLayout.ADDRESS;

    private static final class Lib {
        static final NativeLib LIB = NativeLib.load(CudaLibraries.Library.CUBLAS);
    }

    private static final class cublasCreate_v2 {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cublasCreate_v2");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasCreate_v2", DESC);
    }

    /** Function descriptor of {@code cublasCreate_v2}. */
    public static FunctionDescriptor cublasCreate_v2$descriptor() {
        return cublasCreate_v2.DESC;
    }

    /** Downcall handle of {@code cublasCreate_v2}. */
    public static MethodHandle cublasCreate_v2$handle() {
        return cublasCreate_v2.HANDLE;
    }

    /** Address of {@code cublasCreate_v2} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasCreate_v2$address() {
        return cublasCreate_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
     * }
     */
    public static int cublasCreate_v2(MemorySegment handle) {
        var mh$ = cublasCreate_v2.HANDLE;
        try {
            return (int) mh$.invokeExact(handle);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasDestroy_v2 {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cublasDestroy_v2");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasDestroy_v2", DESC);
    }

    /** Function descriptor of {@code cublasDestroy_v2}. */
    public static FunctionDescriptor cublasDestroy_v2$descriptor() {
        return cublasDestroy_v2.DESC;
    }

    /** Downcall handle of {@code cublasDestroy_v2}. */
    public static MethodHandle cublasDestroy_v2$handle() {
        return cublasDestroy_v2.HANDLE;
    }

    /** Address of {@code cublasDestroy_v2} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasDestroy_v2$address() {
        return cublasDestroy_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
     * }
     */
    public static int cublasDestroy_v2(MemorySegment handle) {
        var mh$ = cublasDestroy_v2.HANDLE;
        try {
            return (int) mh$.invokeExact(handle);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasSetStream_v2 {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER);
        static final MemorySegment ADDR = Lib.LIB.find("cublasSetStream_v2");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasSetStream_v2", DESC);
    }

    /** Function descriptor of {@code cublasSetStream_v2}. */
    public static FunctionDescriptor cublasSetStream_v2$descriptor() {
        return cublasSetStream_v2.DESC;
    }

    /** Downcall handle of {@code cublasSetStream_v2}. */
    public static MethodHandle cublasSetStream_v2$handle() {
        return cublasSetStream_v2.HANDLE;
    }

    /** Address of {@code cublasSetStream_v2} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasSetStream_v2$address() {
        return cublasSetStream_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)
     * }
     */
    public static int cublasSetStream_v2(MemorySegment handle, MemorySegment streamId) {
        var mh$ = cublasSetStream_v2.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, streamId);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasSetMathMode {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasSetMathMode");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasSetMathMode", DESC);
    }

    /** Function descriptor of {@code cublasSetMathMode}. */
    public static FunctionDescriptor cublasSetMathMode$descriptor() {
        return cublasSetMathMode.DESC;
    }

    /** Downcall handle of {@code cublasSetMathMode}. */
    public static MethodHandle cublasSetMathMode$handle() {
        return cublasSetMathMode.HANDLE;
    }

    /** Address of {@code cublasSetMathMode} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasSetMathMode$address() {
        return cublasSetMathMode.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
     * }
     */
    public static int cublasSetMathMode(MemorySegment handle, int mode) {
        var mh$ = cublasSetMathMode.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, mode);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasSetWorkspace_v2 {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_POINTER, C_SIZE_T);
        static final MemorySegment ADDR = Lib.LIB.find("cublasSetWorkspace_v2");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasSetWorkspace_v2", DESC);
    }

    /** Function descriptor of {@code cublasSetWorkspace_v2}. */
    public static FunctionDescriptor cublasSetWorkspace_v2$descriptor() {
        return cublasSetWorkspace_v2.DESC;
    }

    /** Downcall handle of {@code cublasSetWorkspace_v2}. */
    public static MethodHandle cublasSetWorkspace_v2$handle() {
        return cublasSetWorkspace_v2.HANDLE;
    }

    /** Address of {@code cublasSetWorkspace_v2} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasSetWorkspace_v2$address() {
        return cublasSetWorkspace_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes)
     * }
     */
    public static int cublasSetWorkspace_v2(MemorySegment handle, MemorySegment workspace, long workspaceSizeInBytes) {
        var mh$ = cublasSetWorkspace_v2.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, workspace, workspaceSizeInBytes);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasGetStatusString {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasGetStatusString");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasGetStatusString", DESC);
    }

    /** Function descriptor of {@code cublasGetStatusString}. */
    public static FunctionDescriptor cublasGetStatusString$descriptor() {
        return cublasGetStatusString.DESC;
    }

    /** Downcall handle of {@code cublasGetStatusString}. */
    public static MethodHandle cublasGetStatusString$handle() {
        return cublasGetStatusString.HANDLE;
    }

    /** Address of {@code cublasGetStatusString} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasGetStatusString$address() {
        return cublasGetStatusString.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *cublasGetStatusString(cublasStatus_t status)
     * }
     */
    public static MemorySegment cublasGetStatusString(int status) {
        var mh$ = cublasGetStatusString.HANDLE;
        try {
            return (MemorySegment) mh$.invokeExact(status);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasGetStatusName {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasGetStatusName");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasGetStatusName", DESC);
    }

    /** Function descriptor of {@code cublasGetStatusName}. */
    public static FunctionDescriptor cublasGetStatusName$descriptor() {
        return cublasGetStatusName.DESC;
    }

    /** Downcall handle of {@code cublasGetStatusName}. */
    public static MethodHandle cublasGetStatusName$handle() {
        return cublasGetStatusName.HANDLE;
    }

    /** Address of {@code cublasGetStatusName} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasGetStatusName$address() {
        return cublasGetStatusName.ADDR;
    }

    /**
     * {@snippet lang=c :
     * const char *cublasGetStatusName(cublasStatus_t status)
     * }
     */
    public static MemorySegment cublasGetStatusName(int status) {
        var mh$ = cublasGetStatusName.HANDLE;
        try {
            return (MemorySegment) mh$.invokeExact(status);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasSgemm_v2 {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT, C_INT, C_INT, C_INT, C_POINTER, C_POINTER, C_INT, C_POINTER, C_INT, C_POINTER, C_POINTER, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasSgemm_v2");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasSgemm_v2", DESC);
    }

    /** Function descriptor of {@code cublasSgemm_v2}. */
    public static FunctionDescriptor cublasSgemm_v2$descriptor() {
        return cublasSgemm_v2.DESC;
    }

    /** Downcall handle of {@code cublasSgemm_v2}. */
    public static MethodHandle cublasSgemm_v2$handle() {
        return cublasSgemm_v2.HANDLE;
    }

    /** Address of {@code cublasSgemm_v2} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasSgemm_v2$address() {
        return cublasSgemm_v2.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasSgemm_v2(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc)
     * }
     */
    public static int cublasSgemm_v2(MemorySegment handle, int transa, int transb, int m, int n, int k, MemorySegment alpha, MemorySegment A, int lda, MemorySegment B, int ldb, MemorySegment beta, MemorySegment C, int ldc) {
        var mh$ = cublasSgemm_v2.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasSgemmStridedBatched {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT, C_INT, C_INT, C_INT, C_POINTER, C_POINTER, C_INT, C_LONG_LONG, C_POINTER, C_INT, C_LONG_LONG, C_POINTER, C_POINTER, C_INT, C_LONG_LONG, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasSgemmStridedBatched");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasSgemmStridedBatched", DESC);
    }

    /** Function descriptor of {@code cublasSgemmStridedBatched}. */
    public static FunctionDescriptor cublasSgemmStridedBatched$descriptor() {
        return cublasSgemmStridedBatched.DESC;
    }

    /** Downcall handle of {@code cublasSgemmStridedBatched}. */
    public static MethodHandle cublasSgemmStridedBatched$handle() {
        return cublasSgemmStridedBatched.HANDLE;
    }

    /** Address of {@code cublasSgemmStridedBatched} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasSgemmStridedBatched$address() {
        return cublasSgemmStridedBatched.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const float *alpha, const float *A, int lda, long long int strideA, const float *B, int ldb, long long int strideB, const float *beta, float *C, int ldc, long long int strideC, int batchCount)
     * }
     */
    public static int cublasSgemmStridedBatched(MemorySegment handle, int transa, int transb, int m, int n, int k, MemorySegment alpha, MemorySegment A, int lda, long strideA, MemorySegment B, int ldb, long strideB, MemorySegment beta, MemorySegment C, int ldc, long strideC, int batchCount) {
        var mh$ = cublasSgemmStridedBatched.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, strideC, batchCount);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasGemmEx {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT, C_INT, C_INT, C_INT, C_POINTER, C_POINTER, C_INT, C_INT, C_POINTER, C_INT, C_INT, C_POINTER, C_POINTER, C_INT, C_INT, C_INT, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasGemmEx");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasGemmEx", DESC);
    }

    /** Function descriptor of {@code cublasGemmEx}. */
    public static FunctionDescriptor cublasGemmEx$descriptor() {
        return cublasGemmEx.DESC;
    }

    /** Downcall handle of {@code cublasGemmEx}. */
    public static MethodHandle cublasGemmEx$handle() {
        return cublasGemmEx.HANDLE;
    }

    /** Address of {@code cublasGemmEx} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasGemmEx$address() {
        return cublasGemmEx.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B, cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo)
     * }
     */
    public static int cublasGemmEx(MemorySegment handle, int transa, int transb, int m, int n, int k, MemorySegment alpha, MemorySegment A, int Atype, int lda, MemorySegment B, int Btype, int ldb, MemorySegment beta, MemorySegment C, int Ctype, int ldc, int computeType, int algo) {
        var mh$ = cublasGemmEx.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

    private static final class cublasGemmStridedBatchedEx {
        static final FunctionDescriptor DESC = FunctionDescriptor.of(C_INT, C_POINTER, C_INT, C_INT, C_INT, C_INT, C_INT, C_POINTER, C_POINTER, C_INT, C_INT, C_LONG_LONG, C_POINTER, C_INT, C_INT, C_LONG_LONG, C_POINTER, C_POINTER, C_INT, C_INT, C_LONG_LONG, C_INT, C_INT, C_INT);
        static final MemorySegment ADDR = Lib.LIB.find("cublasGemmStridedBatchedEx");
        static final MethodHandle HANDLE = Lib.LIB.downcall("cublasGemmStridedBatchedEx", DESC);
    }

    /** Function descriptor of {@code cublasGemmStridedBatchedEx}. */
    public static FunctionDescriptor cublasGemmStridedBatchedEx$descriptor() {
        return cublasGemmStridedBatchedEx.DESC;
    }

    /** Downcall handle of {@code cublasGemmStridedBatchedEx}. */
    public static MethodHandle cublasGemmStridedBatchedEx$handle() {
        return cublasGemmStridedBatchedEx.HANDLE;
    }

    /** Address of {@code cublasGemmStridedBatchedEx} ({@link MemorySegment#NULL} when the library lacks it). */
    public static MemorySegment cublasGemmStridedBatchedEx$address() {
        return cublasGemmStridedBatchedEx.ADDR;
    }

    /**
     * {@snippet lang=c :
     * cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C, cudaDataType Ctype, int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo)
     * }
     */
    public static int cublasGemmStridedBatchedEx(MemorySegment handle, int transa, int transb, int m, int n, int k, MemorySegment alpha, MemorySegment A, int Atype, int lda, long strideA, MemorySegment B, int Btype, int ldb, long strideB, MemorySegment beta, MemorySegment C, int Ctype, int ldc, long strideC, int batchCount, int computeType, int algo) {
        var mh$ = cublasGemmStridedBatchedEx.HANDLE;
        try {
            return (int) mh$.invokeExact(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo);
        } catch (Error | RuntimeException ex$) {
            throw ex$;
        } catch (Throwable ex$) {
            throw new AssertionError("should not reach here", ex$);
        }
    }

}
