// Unary elementwise ops and activations (ONNX Relu, Sigmoid, Tanh, Exp, Log, Sqrt, Neg, Abs, Erf, Reciprocal,
// Floor, Ceil, Gelu, Clip, LeakyRelu, HardSigmoid, HardSwish, Softplus).
// Math: y[i] = f(x[i]; p, q) where p, q are the op's float parameters (Clip: lo, hi; LeakyRelu: alpha;
// HardSigmoid: alpha, beta), unused otherwise. Shapes: x and y hold n elements (y may alias x).
// Kernels: <op>_f32(x, y, n, p, q). Launch: 1-D grid-stride over n.
#include "gatun_common.cuh"

#define UNARY(NAME, EXPR)                                                                                        \
    extern "C" __global__ void NAME##_f32(const float* x_, float* y, i64 n, float p, float q) {                  \
        GRID_STRIDE(i, n) {                                                                                      \
            float x = x_[i];                                                                                     \
            y[i] = (EXPR);                                                                                       \
        }                                                                                                        \
    }

UNARY(relu, fmaxf(x, 0.f))
UNARY(sigmoid, 1.f / (1.f + expf(-x)))
UNARY(tanh, tanhf(x))
UNARY(exp, expf(x))
UNARY(log, logf(x))
UNARY(sqrt, sqrtf(x))
UNARY(neg, -x)
UNARY(abs, fabsf(x))
UNARY(erf, erff(x))
UNARY(reciprocal, 1.f / x)
UNARY(floor, floorf(x))
UNARY(ceil, ceilf(x))
UNARY(gelu, gelu_erf(x))
UNARY(gelu_tanh, gelu_tanh(x))
UNARY(clip, fminf(fmaxf(x, p), q))
UNARY(leaky_relu, x >= 0.f ? x : p * x)
UNARY(hard_sigmoid, fminf(fmaxf(p * x + q, 0.f), 1.f))
UNARY(hard_swish, x * fminf(fmaxf(x * (1.f / 6.f) + 0.5f, 0.f), 1.f))
UNARY(softplus, x > 20.f ? x : log1pf(expf(x)))
