// Gather along one axis (ONNX Gather): data viewed as [outer, axisDim, inner], indices (int64, negative counted from
// the end) flattened to nIdx entries, output [outer, nIdx, inner].
// Math: y[o, k, i] = data[o, idx[k] (+ axisDim if < 0), i]; an index out of [-axisDim, axisDim) writes 0 and sets
// *err = 1 (the engine checks err after the run in debug mode and on the CPU-checked path).
// Kernels: gather_f32 (4-byte elements), gather_i64 (8-byte). Launch: 1-D grid-stride over outer * nIdx * inner.
#include "gatun_common.cuh"

#define GATHER(NAME, T)                                                                                          \
    extern "C" __global__ void NAME(const T* __restrict__ data, const i64* __restrict__ idx, T* __restrict__ y,   \
                                    i64 outer, i64 axisDim, i64 inner, i64 nIdx, int* err) {                      \
        i64 n = outer * nIdx * inner;                                                                            \
        GRID_STRIDE(e, n) {                                                                                      \
            i64 i = e % inner, t = e / inner;                                                                    \
            i64 k = t % nIdx, o = t / nIdx;                                                                      \
            i64 j = idx[k];                                                                                      \
            if (j < 0) j += axisDim;                                                                             \
            if (j < 0 || j >= axisDim) {                                                                         \
                y[e] = (T)0;                                                                                     \
                if (err) *err = 1;                                                                               \
            } else {                                                                                             \
                y[e] = data[(o * axisDim + j) * inner + i];                                                      \
            }                                                                                                    \
        }                                                                                                        \
    }

GATHER(gather_f32, float)
GATHER(gather_i64, i64)
