// Concat along one axis (ONNX Concat), one launch per input: the input viewed as [outer, inner_in], the output as
// [outer, inner_out] with this input's block starting at column offset.
// Math: y[o, offset + j] = x[o, j] for j < inner_in. Kernels: concat_f32 (4-byte elements), concat_i64 (8-byte).
// Launch: 1-D grid-stride over outer * inner_in.
#include "gatun_common.cuh"

#define CONCAT(NAME, T)                                                                                          \
    extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ y, i64 outer, i64 innerIn,          \
                                    i64 innerOut, i64 offset) {                                                   \
        GRID_STRIDE(e, outer * innerIn) {                                                                        \
            i64 o = e / innerIn, j = e % innerIn;                                                                \
            y[o * innerOut + offset + j] = x[e];                                                                 \
        }                                                                                                        \
    }

CONCAT(concat_f32, float)
CONCAT(concat_i64, i64)
