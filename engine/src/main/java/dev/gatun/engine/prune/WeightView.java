package dev.gatun.engine.prune;

/**
 * A weight tensor seen as {@code batches} matrices of {@code outputs} x {@code k}, where {@code k} runs along the
 * reduction axis of the op that consumes it: element (b, o, kk) lies at flat (row-major) index
 * {@code b*batchStride + o*outStride + kk*kStride} of the stored tensor.
 * <ul>
 *   <li>MatMul B [..., K, N] (and Gemm B with transB=0, [K, N]): outputs N, k K, outStride 1, kStride N;</li>
 *   <li>MatMul A [..., M, K] when the constant is the first input: outputs M, kStride 1;</li>
 *   <li>Gemm B with transB=1 [N, K]: outputs N, kStride 1;</li>
 *   <li>Conv W [M, C/group, k1, k2...]: outputs M, k = C/group*k1*k2..., kStride 1 (the im2col order).</li>
 * </ul>
 * A 1-D MatMul weight [K] is one output.
 */
record WeightView(long batches, long outputs, long k, long batchStride, long outStride, long kStride) {

    long index(long b, long o, long kk) {
        return b * batchStride + o * outStride + kk * kStride;
    }

    long size() {
        return batches * outputs * k;
    }

    /** The view of a weight whose reduction axis is {@code kAxis} and output axis {@code outAxis} of {@code dims}. */
    static WeightView of(long[] dims, int outAxis, int kAxis) {
        long[] strides = new long[dims.length];
        long s = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= dims[i];
        }
        int lastTwo = Math.min(outAxis, kAxis);
        long batches = 1;
        for (int i = 0; i < lastTwo; i++) {
            batches *= dims[i];
        }
        long batchStride = lastTwo > 0 ? strides[lastTwo - 1] : s;
        return new WeightView(batches, dims[outAxis], dims[kAxis], batchStride, strides[outAxis], strides[kAxis]);
    }

    /** The view of a tensor whose first axis is the output and whose other axes flatten into k (Conv weights). */
    static WeightView outputsFirst(long[] dims) {
        long k = 1;
        for (int i = 1; i < dims.length; i++) {
            k *= dims[i];
        }
        return new WeightView(1, dims[0], k, dims[0] * k, k, 1);
    }

    /** A 1-D weight: one output, k = its length. */
    static WeightView vector(long n) {
        return new WeightView(1, 1, n, n, n, 1);
    }
}
