// Fused elementwise chains: the epilogue of a GEMM (Gatun's FusedMatMul: bias, activation, residual) in one pass
// instead of three launches, and a generic chain of up to 8 unary/binary-with-constant steps.
//
// bias_act_rows_f32(y, bias, residual, rows, cols, act, lo, hi): y [rows, cols] in place,
// y[r, c] = act(y[r, c] + bias[c]) + residual[r, c] (bias, residual may be null; the residual is added after the
// activation, as FusedMatMul defines). Launch: grid-stride over rows * cols.
//
// chain_f32(x, y, n, ops, args, count): y[i] = f_count(...f_1(x[i])) with f_k chosen by ops[k] (0 add args[k],
// 1 mul args[k], 2 relu, 3 sigmoid, 4 tanh, 5 gelu, 6 clip [args[k], args[k+8]], 7 exp, 8 sqrt, 9 neg, 10 sub-from
// args[k] (args[k] - v), 11 div by args[k]). ops and args are by-value structs (int[8], float[16]). Launch:
// grid-stride over n.
#include "gatun_common.cuh"

extern "C" __global__ void bias_act_rows_f32(float* __restrict__ y, const float* __restrict__ bias,
                                             const float* __restrict__ residual, i64 rows, i64 cols, int act, float lo,
                                             float hi) {
    GRID_STRIDE(e, rows * cols) {
        float v = y[e] + (bias ? bias[e % cols] : 0.f);
        v = activate(act, v, lo, hi);
        y[e] = v + (residual ? residual[e] : 0.f);
    }
}

struct ChainOps {
    int op[8];
};
struct ChainArgs {
    float a[16];
};

extern "C" __global__ void chain_f32(const float* __restrict__ x, float* __restrict__ y, i64 n, ChainOps ops,
                                     ChainArgs args, int count) {
    GRID_STRIDE(i, n) {
        float v = x[i];
        for (int k = 0; k < count; ++k) {
            float a = args.a[k];
            switch (ops.op[k]) {
                case 0: v = v + a; break;
                case 1: v = v * a; break;
                case 2: v = fmaxf(v, 0.f); break;
                case 3: v = 1.f / (1.f + expf(-v)); break;
                case 4: v = tanhf(v); break;
                case 5: v = gelu_erf(v); break;
                case 6: v = fminf(fmaxf(v, a), args.a[k + 8]); break;
                case 7: v = expf(v); break;
                case 8: v = sqrtf(v); break;
                case 9: v = -v; break;
                case 10: v = a - v; break;
                case 11: v = v / a; break;
            }
        }
        y[i] = v;
    }
}
