package dev.gatun.engine.cuda;

import dev.gatun.engine.tensor.DType;
import dev.gatun.engine.tensor.Shape;
import dev.gatun.engine.tensor.Tensor;

/** What a {@link GpuKernel} may use while it runs: the session's pool, stream, kernels and cuBLAS handle. */
interface GpuContext {
    /** A device tensor from the session's pool; contents undefined. */
    DeviceTensor alloc(DType dtype, Shape shape);

    /** A host tensor valid for this run (for shape-only outputs). */
    Tensor hostAllocate(DType dtype, Shape shape);

    /**
     * Launches a grid-stride kernel over {@code work} items (256 threads per block, as many blocks as fill the
     * device, at least one). Arguments: DeviceTensor / MemorySegment (pointers; null is NULL), Long (i64),
     * Integer (int), Float (float), Bcast (the struct by value).
     */
    void launch(String file, String kernel, long work, Object... args);

    /** Launches {@code min(rows, cap)} blocks of {@code threads} threads with {@code sharedBytes} dynamic shared memory. */
    void launchRows(String file, String kernel, long rows, int threads, int sharedBytes, Object... args);

    /**
     * Row-major GEMM on the stream: C[M, N] = alpha op(A) op(B) + beta C for {@code batch} matrices at element
     * strides sA, sB, sC (0 repeats a matrix). op(A) is [M, K] (A stored [K, M] when transA), op(B) [K, N] (B
     * stored [N, K] when transB). Precision per the session's options (fp32, tf32, fp16 inputs).
     */
    void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, DeviceTensor a, long offA, long sA,
              DeviceTensor b, long offB, long sB, float beta, DeviceTensor c, long sC, int batch);

    /** Queues a device-to-device copy of src's bytes into dst. */
    void copy(DeviceTensor src, DeviceTensor dst);

    /** A device int the Gather kernels set to 1 on an out-of-range index (checked after the run). */
    DeviceTensor errorFlag();

    /** Where errors name the node: "node 'x' (Op, opset N)". */
    String where();
}
