// Binary elementwise ops with numpy broadcasting (ONNX Add, Sub, Mul, Div, Pow, Max, Min; Where).
// Math: y[i] = op(a[off_a(i)], b[off_b(i)]), offsets from the Bcast geometry (gatun_common.cuh): the output's dims
// and each input's per-dim element strides (0 where it broadcasts).
// Shapes: y has n = prod(dims) elements. Kernels: <op>_f32(a, b, y, n, g) and the *_same_f32 variants for a and b
// both of y's shape (no index arithmetic). Launch: 1-D grid-stride over n.
#include "gatun_common.cuh"

#define BINARY(NAME, EXPR)                                                                                     \
    extern "C" __global__ void NAME##_f32(const float* __restrict__ a, const float* __restrict__ b,         \
                                          float* __restrict__ y, i64 n, Bcast g) {                          \
        GRID_STRIDE(i, n) {                                                                                    \
            i64 oa, ob;                                                                                        \
            bcast_offsets(g, i, oa, ob);                                                                       \
            float x = a[oa], z = b[ob];                                                                        \
            y[i] = (EXPR);                                                                                     \
        }                                                                                                      \
    }                                                                                                          \
    extern "C" __global__ void NAME##_same_f32(const float* __restrict__ a, const float* __restrict__ b,    \
                                               float* __restrict__ y, i64 n) {                              \
        GRID_STRIDE(i, n) {                                                                                    \
            float x = a[i], z = b[i];                                                                          \
            y[i] = (EXPR);                                                                                     \
        }                                                                                                      \
    }

BINARY(add, x + z)
BINARY(sub, x - z)
BINARY(mul, x * z)
BINARY(div, x / z)
BINARY(pow, powf(x, z))
BINARY(max, fmaxf(x, z))
BINARY(min, fminf(x, z))

// Where(cond, a, b): cond is bool (u8); its offsets come in sa of a second Bcast (ga.sb unused).
extern "C" __global__ void where_f32(const u8* __restrict__ c, const float* __restrict__ a, const float* __restrict__ b,
                                     float* __restrict__ y, i64 n, Bcast gc, Bcast gab) {
    GRID_STRIDE(i, n) {
        i64 oc, unused, oa, ob;
        bcast_offsets(gc, i, oc, unused);
        bcast_offsets(gab, i, oa, ob);
        y[i] = c[oc] ? a[oa] : b[ob];
    }
}

// Expand / broadcast copy: y[i] = a[off_a(i)] (elements of 4 or 8 bytes).
extern "C" __global__ void expand_f32(const float* __restrict__ a, float* __restrict__ y, i64 n, Bcast g) {
    GRID_STRIDE(i, n) {
        i64 oa, ob;
        bcast_offsets(g, i, oa, ob);
        y[i] = a[oa];
    }
}

extern "C" __global__ void expand_i64(const i64* __restrict__ a, i64* __restrict__ y, i64 n, Bcast g) {
    GRID_STRIDE(i, n) {
        i64 oa, ob;
        bcast_offsets(g, i, oa, ob);
        y[i] = a[oa];
    }
}
