// Cast between element types (ONNX Cast) for float32, int32, int64 and bool/uint8: y[i] = (To) x[i]; to bool is
// x != 0; float to integer truncates toward zero (C conversion; ONNX leaves out-of-range values undefined).
// Kernels: cast_<from>_<to>(x, y, n) for from, to in {f32, i32, i64, u8}, from != to. Launch: grid-stride over n.
#include "gatun_common.cuh"

#define CAST(FN, TN, F, T)                                                                                       \
    extern "C" __global__ void cast_##FN##_##TN(const F* __restrict__ x, T* __restrict__ y, i64 n) {             \
        GRID_STRIDE(i, n) { y[i] = (T)x[i]; }                                                                    \
    }
#define CAST_BOOL(FN, F)                                                                                         \
    extern "C" __global__ void cast_##FN##_u8(const F* __restrict__ x, u8* __restrict__ y, i64 n) {              \
        GRID_STRIDE(i, n) { y[i] = x[i] != (F)0 ? 1 : 0; }                                                       \
    }

CAST(f32, i32, float, int)
CAST(f32, i64, float, i64)
CAST(i32, f32, int, float)
CAST(i32, i64, int, i64)
CAST(i64, f32, i64, float)
CAST(i64, i32, i64, int)
CAST(u8, f32, u8, float)
CAST(u8, i32, u8, int)
CAST(u8, i64, u8, i64)
CAST_BOOL(f32, float)
CAST_BOOL(i32, int)
CAST_BOOL(i64, i64)
