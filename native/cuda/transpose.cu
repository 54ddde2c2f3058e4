// Strided copies: Transpose (a permutation), Slice (start and step per axis) and any other view the engine
// expresses as "output element i reads input element off(i)".
// Math: for output coordinates c[d] over dims[d] (rank <= 6), off = base + sum c[d] * s[d], where s is the input's
// element stride for that output dim (Transpose: the input stride of perm[d]; Slice: stride[axis] * step, with
// base = sum start[axis] * stride[axis]). y[i] = x[off(i)]. Uses Bcast's dims and sa (sb unused).
// Kernels: strided_copy_f32 (4-byte elements; also int32), strided_copy_i64 (8-byte), strided_copy_u8 (bytes).
// Launch: 1-D grid-stride over n.
#include "gatun_common.cuh"

#define STRIDED(NAME, T)                                                                                         \
    extern "C" __global__ void NAME(const T* __restrict__ x, T* __restrict__ y, i64 n, i64 base, Bcast g) {     \
        GRID_STRIDE(i, n) {                                                                                      \
            i64 oa, ob;                                                                                          \
            bcast_offsets(g, i, oa, ob);                                                                         \
            y[i] = x[base + oa];                                                                                 \
        }                                                                                                        \
    }

STRIDED(strided_copy_f32, float)
STRIDED(strided_copy_i64, i64)
STRIDED(strided_copy_u8, u8)
