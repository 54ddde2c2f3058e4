// 2-D pooling (ONNX MaxPool, AveragePool, NCHW; GlobalAveragePool goes through reduce_mean_f32).
// Math: y[n, c, oh, ow] = max / mean over kh < KH, kw < KW of x[n, c, oh*SH - padT + kh*DH, ow*SW - padL + kw*DW],
// positions outside the input skipped; the mean divides by the count of positions inside the input when
// countIncludePad == 0, else by KH*KW (ONNX count_include_pad). Kernels: max_pool2d_f32, avg_pool2d_f32
// (x, y, N*C, H, W, KH, KW, padT, padL, SH, SW, DH, DW, OH, OW[, countIncludePad]). Launch: grid-stride over N*C*OH*OW.
#include "gatun_common.cuh"

extern "C" __global__ void max_pool2d_f32(const float* __restrict__ x, float* __restrict__ y, i64 NC, int H, int W,
                                          int KH, int KW, int padT, int padL, int SH, int SW, int DH, int DW, int OH,
                                          int OW) {
    GRID_STRIDE(e, NC * OH * OW) {
        int ow = (int)(e % OW);
        i64 t = e / OW;
        int oh = (int)(t % OH);
        i64 nc = t / OH;
        const float* xp = x + nc * H * W;
        float m = -INFINITY;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * SH - padT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                int iw = ow * SW - padL + kw * DW;
                if (iw >= 0 && iw < W) m = fmaxf(m, xp[(i64)ih * W + iw]);
            }
        }
        y[e] = m;
    }
}

extern "C" __global__ void avg_pool2d_f32(const float* __restrict__ x, float* __restrict__ y, i64 NC, int H, int W,
                                          int KH, int KW, int padT, int padL, int SH, int SW, int DH, int DW, int OH,
                                          int OW, int countIncludePad) {
    GRID_STRIDE(e, NC * OH * OW) {
        int ow = (int)(e % OW);
        i64 t = e / OW;
        int oh = (int)(t % OH);
        i64 nc = t / OH;
        const float* xp = x + nc * H * W;
        float s = 0.f;
        int cnt = 0;
        for (int kh = 0; kh < KH; ++kh) {
            int ih = oh * SH - padT + kh * DH;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < KW; ++kw) {
                int iw = ow * SW - padL + kw * DW;
                if (iw >= 0 && iw < W) {
                    s += xp[(i64)ih * W + iw];
                    cnt++;
                }
            }
        }
        y[e] = s / (float)(countIncludePad ? KH * KW : (cnt > 0 ? cnt : 1));
    }
}
