// 2-D convolution pieces (ONNX Conv / Gatun FusedConv, NCHW): im2col feeding a cuBLAS GEMM, a direct depthwise
// convolution, and the bias + residual + activation epilogue applied in place after the GEMM.
//
// im2col_f32(x, col, C, H, W, KH, KW, padT, padL, SH, SW, DH, DW, OH, OW): x one image's channels of one group
// [C, H, W]; col [C*KH*KW, OH*OW] with col[(c*KH + kh)*KW + kw, oh*OW + ow] = x[c, oh*SH - padT + kh*DH,
// ow*SW - padL + kw*DW] (0 outside). Then Y_g [M_g, OH*OW] = W_g [M_g, C*KH*KW] x col. Launch: grid-stride over
// C*KH*KW*OH*OW.
//
// depthwise_conv_f32(x, w, bias, z, y, N, C, H, W, KH, KW, padT, padL, SH, SW, DH, DW, OH, OW, act, lo, hi):
// group == C == M: y[n, c, oh, ow] = act(bias[c] + sum_{kh, kw} x[n, c, ih, iw] * w[c, 0, kh, kw] + z[n, c, oh, ow])
// (bias, z may be null). Launch: grid-stride over N*C*OH*OW.
//
// bias_act_nchw_f32(y, bias, z, N, M, HW, act, lo, hi): y[n, m, p] = act(y[n, m, p] + bias[m] + z[n, m, p]) in place
// (bias, z may be null). Launch: grid-stride over N*M*HW. Activation codes as gatun_common.cuh's activate().
#include "gatun_common.cuh"

extern "C" __global__ void im2col_f32(const float* __restrict__ x, float* __restrict__ col, int C, int H, int W,
                                      int KH, int KW, int padT, int padL, int SH, int SW, int DH, int DW, int OH,
                                      int OW) {
    i64 cols = (i64)OH * OW;
    i64 n = (i64)C * KH * KW * cols;
    GRID_STRIDE(e, n) {
        i64 p = e % cols, row = e / cols;
        int ow = (int)(p % OW), oh = (int)(p / OW);
        int kw = (int)(row % KW);
        i64 t = row / KW;
        int kh = (int)(t % KH), c = (int)(t / KH);
        int ih = oh * SH - padT + kh * DH, iw = ow * SW - padL + kw * DW;
        col[e] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((i64)c * H + ih) * W + iw] : 0.f;
    }
}

extern "C" __global__ void depthwise_conv_f32(const float* __restrict__ x, const float* __restrict__ w,
                                              const float* __restrict__ bias, const float* __restrict__ z,
                                              float* __restrict__ y, int N, int C, int H, int W, int KH, int KW,
                                              int padT, int padL, int SH, int SW, int DH, int DW, int OH, int OW,
                                              int act, float lo, float hi) {
    i64 n = (i64)N * C * OH * OW;
    GRID_STRIDE(e, n) {
        int ow = (int)(e % OW);
        i64 t = e / OW;
        int oh = (int)(t % OH);
        t /= OH;
        int c = (int)(t % C);
        const float* xp = x + t * H * W;  // t = n * C + c
        const float* wp = w + (i64)c * KH * KW;
        float acc = bias ? bias[c] : 0.f;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * SH - padT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                int iw = ow * SW - padL + kw * DW;
                if (iw >= 0 && iw < W) acc += xp[(i64)ih * W + iw] * wp[kh * KW + kw];
            }
        }
        if (z) acc += z[e];
        y[e] = activate(act, acc, lo, hi);
    }
}

extern "C" __global__ void bias_act_nchw_f32(float* __restrict__ y, const float* __restrict__ bias,
                                             const float* __restrict__ z, i64 N, i64 M, i64 HW, int act, float lo,
                                             float hi) {
    GRID_STRIDE(e, N * M * HW) {
        i64 m = (e / HW) % M;
        float v = y[e] + (bias ? bias[m] : 0.f) + (z ? z[e] : 0.f);
        y[e] = activate(act, v, lo, hi);
    }
}
