// Layer normalisation over the last axis, optionally of a residual sum (ONNX LayerNormalization with axis = -1,
// Gatun's dev.gatun LayerNormalization / SkipLayerNormalization).
// Math per row of D elements: h = x (+ skip), mean = sum h / D, var = sum (h - mean)^2 / D (two passes over h in
// shared memory), y = (h - mean) * rsqrt(var + eps) * gamma + beta (beta may be null).
// Shapes: x, y [rows, D]; skip [skipRows, D] added to row r as skip row r % skipRows (skip == null: none);
// gamma, beta [D]. Kernel: layer_norm_f32(x, skip, gamma, beta, y, rows, D, skipRows, eps). Launch: one block of
// 256 threads per row (grid-stride), dynamic shared memory D floats.
#include "gatun_common.cuh"

extern "C" __global__ void layer_norm_f32(const float* __restrict__ x, const float* __restrict__ skip,
                                          const float* __restrict__ gamma, const float* __restrict__ beta,
                                          float* __restrict__ y, i64 rows, i64 D, i64 skipRows, float eps) {
    extern __shared__ float h[];
    __shared__ float scratch[32];
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * D;
        const float* sr = skip ? skip + (r % skipRows) * D : nullptr;
        float s = 0.f;
        for (i64 j = threadIdx.x; j < D; j += blockDim.x) {
            float v = xr[j] + (sr ? sr[j] : 0.f);
            h[j] = v;
            s += v;
        }
        float mean = block_sum(s, scratch) / (float)D;
        float q = 0.f;
        for (i64 j = threadIdx.x; j < D; j += blockDim.x) {
            float d = h[j] - mean;
            q += d * d;
        }
        float inv = rsqrtf(block_sum(q, scratch) / (float)D + eps);
        float* yr = y + r * D;
        for (i64 j = threadIdx.x; j < D; j += blockDim.x) {
            yr[j] = (h[j] - mean) * inv * gamma[j] + (beta ? beta[j] : 0.f);
        }
        __syncthreads();
    }
}
