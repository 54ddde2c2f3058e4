// Reductions over one contiguous range of axes (ONNX ReduceSum, ReduceMean, ReduceMax, ReduceMin over adjacent axes,
// and GlobalAveragePool as mean over H*W): the input viewed as [outer, r, inner], the output as [outer, inner].
// Math: y[o, k] = op_{j < r} x[o, j, k] (mean divides the sum by r; sums accumulate in float).
// Kernels: reduce_<op>_f32(x, y, outer, r, inner). Launch: inner == 1 -> one block (256 threads) per output row
// reducing the row cooperatively; else one thread per output element, grid-stride over outer * inner.
#include "gatun_common.cuh"

#define REDUCE(NAME, INIT, ACC, FIN)                                                                              \
    extern "C" __global__ void reduce_##NAME##_f32(const float* __restrict__ x, float* __restrict__ y, i64 outer,  \
                                                    i64 r, i64 inner) {                                           \
        if (inner == 1) {                                                                                         \
            __shared__ float scratch[32];                                                                         \
            for (i64 o = blockIdx.x; o < outer; o += gridDim.x) {                                                 \
                const float* row = x + o * r;                                                                     \
                float acc = INIT;                                                                                 \
                for (i64 j = threadIdx.x; j < r; j += blockDim.x) {                                               \
                    float v = row[j];                                                                             \
                    acc = ACC;                                                                                    \
                }                                                                                                 \
                acc = NAME##_block(acc, scratch);                                                                 \
                if (threadIdx.x == 0) y[o] = FIN;                                                                 \
                __syncthreads();                                                                                  \
            }                                                                                                     \
            return;                                                                                               \
        }                                                                                                         \
        GRID_STRIDE(i, outer * inner) {                                                                           \
            i64 o = i / inner, k = i % inner;                                                                     \
            const float* p = x + o * r * inner + k;                                                               \
            float acc = INIT;                                                                                     \
            for (i64 j = 0; j < r; ++j) {                                                                         \
                float v = p[j * inner];                                                                           \
                acc = ACC;                                                                                        \
            }                                                                                                     \
            y[i] = FIN;                                                                                           \
        }                                                                                                         \
    }

__device__ __forceinline__ float sum_block(float v, float* s) { return block_sum(v, s); }
__device__ __forceinline__ float mean_block(float v, float* s) { return block_sum(v, s); }
__device__ __forceinline__ float max_block(float v, float* s) { return block_max(v, s); }
__device__ __forceinline__ float min_block(float v, float* s) { return -block_max(-v, s); }

REDUCE(sum, 0.f, acc + v, acc)
REDUCE(mean, 0.f, acc + v, acc / (float)r)
REDUCE(max, -INFINITY, fmaxf(acc, v), acc)
REDUCE(min, INFINITY, fminf(acc, v), acc)
