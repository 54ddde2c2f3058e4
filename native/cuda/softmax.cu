// Softmax and LogSoftmax over the last axis (ONNX Softmax/LogSoftmax opset 13 with axis = -1, or earlier opsets'
// 2-D coercion where the coerced axis is the last): x viewed as [rows, cols].
// Math per row: m = max x, e_j = exp(x_j - m), s = sum e_j; softmax y_j = e_j / s; log-softmax y_j = x_j - m - log s.
// Kernels: softmax_f32(x, y, rows, cols), log_softmax_f32(...). Launch: one block (256 threads) per row, grid-stride
// over rows; three passes over the row (max, sum, write), the row re-read from L1/L2.
#include "gatun_common.cuh"

extern "C" __global__ void softmax_f32(const float* __restrict__ x, float* __restrict__ y, i64 rows, i64 cols) {
    __shared__ float scratch[32];
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * cols;
        float* yr = y + r * cols;
        float m = -INFINITY;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j]);
        m = block_max(m, scratch);
        float s = 0.f;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += expf(xr[j] - m);
        s = block_sum(s, scratch);
        float inv = 1.f / s;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = expf(xr[j] - m) * inv;
        __syncthreads();
    }
}

extern "C" __global__ void log_softmax_f32(const float* __restrict__ x, float* __restrict__ y, i64 rows, i64 cols) {
    __shared__ float scratch[32];
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        const float* xr = x + r * cols;
        float* yr = y + r * cols;
        float m = -INFINITY;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j]);
        m = block_max(m, scratch);
        float s = 0.f;
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) s += expf(xr[j] - m);
        s = block_sum(s, scratch);
        float ls = logf(s);
        for (i64 j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = xr[j] - m - ls;
        __syncthreads();
    }
}
