// Shared by every Gatun CUDA kernel file (NVRTC gets it as a header named "gatun_common.cuh").
// Layout conventions: tensors are dense, row-major; sizes are 64-bit; a kernel is launched on a 1-D grid unless its
// comment says otherwise, and loops grid-stride so any grid size is correct.
#pragma once

// NVRTC compiles without the C library headers: the constants the kernels use.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

typedef long long i64;
typedef unsigned char u8;

#define GATUN_MAX_RANK 6

// Broadcast geometry of up to two inputs against the output: dims of the output (rank <= 6, leading dims padded
// with 1) and per input the element stride of each output dim (0 where the input broadcasts).
struct Bcast {
    int rank;
    int pad;
    i64 dims[GATUN_MAX_RANK];
    i64 sa[GATUN_MAX_RANK];
    i64 sb[GATUN_MAX_RANK];
};

// Element offsets into A and B of output element i.
__device__ __forceinline__ void bcast_offsets(const Bcast& g, i64 i, i64& oa, i64& ob) {
    oa = 0;
    ob = 0;
    for (int d = g.rank - 1; d >= 0; --d) {
        i64 c = i % g.dims[d];
        i /= g.dims[d];
        oa += c * g.sa[d];
        ob += c * g.sb[d];
    }
}

#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result. scratch: 32 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[w] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = lane < nw ? scratch[lane] : 0.f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[w] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = lane < nw ? scratch[lane] : -INFINITY;
    return warp_max(v);
}

// GELU, exact (erf) and tanh approximation, as ONNX Gelu (opset 20).
__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_tanh(float x) {
    return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

// Activation codes shared with the engine (FusedOps.ACT_* and the conv activations): 0 none, 1 relu, 2 gelu (erf),
// 3 gelu (tanh), 4 clip [lo, hi].
__device__ __forceinline__ float activate(int act, float x, float lo, float hi) {
    switch (act) {
        case 1: return fmaxf(x, 0.f);
        case 2: return gelu_erf(x);
        case 3: return gelu_tanh(x);
        case 4: return fminf(fmaxf(x, lo), hi);
        default: return x;
    }
}
