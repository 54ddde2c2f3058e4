// Fused multi-head self-attention for the BERT pattern (Gatun's dev.gatun:Attention, see AttentionKernel.java).
// Shapes: Q [B, Sq, H*D], K and V [B, Sk, H*D] (head h in columns [h*D, (h+1)*D)), mask broadcast to [B, H, Sq, Sk]
// through element strides ms0..ms3 (0 where it broadcasts; mask == null: none), output O [B, Sq, H*D].
// Math per (b, h, query row i): s_j = scale * <Q[b,i,h,:], K[b,j,h,:]> + mask[b,h,i,j]; p = softmax_j(s);
// O[b,i,h,:] = sum_j p_j V[b,j,h,:].
// Kernel attention_f32: one warp per (b, h, i); 4 warps per block; grid-stride over B*H*Sq rows. The warp's
// scores live in dynamic shared memory (4 * Sk floats per block): lanes take keys j = lane, lane + 32, ... for the
// dot products (the query row in shared memory), then a warp max and sum, then each lane accumulates output
// dims d = lane, lane + 32, ... over all keys. Requires D <= 256 (the query row buffer).
#include "gatun_common.cuh"

#define ATT_WARPS 4
#define ATT_MAX_D 256

extern "C" __global__ void attention_f32(const float* __restrict__ q, const float* __restrict__ k,
                                         const float* __restrict__ v, const float* __restrict__ mask,
                                         float* __restrict__ o, int B, int H, int Sq, int Sk, int D, float scale,
                                         i64 ms0, i64 ms1, i64 ms2, i64 ms3) {
    extern __shared__ float smem[];
    __shared__ float qrow[ATT_WARPS][ATT_MAX_D];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    float* s = smem + (i64)warp * Sk;
    i64 HD = (i64)H * D;
    i64 rowsTotal = (i64)B * H * Sq;
    for (i64 row = (i64)blockIdx.x * ATT_WARPS + warp; row < rowsTotal; row += (i64)gridDim.x * ATT_WARPS) {
        int i = (int)(row % Sq);
        i64 t = row / Sq;
        int h = (int)(t % H), b = (int)(t / H);
        const float* qp = q + ((i64)b * Sq + i) * HD + (i64)h * D;
        for (int d = lane; d < D; d += 32) qrow[warp][d] = qp[d] * scale;
        __syncwarp();
        const float* kb = k + (i64)b * Sk * HD + (i64)h * D;
        const float* mrow = mask ? mask + b * ms0 + h * ms1 + i * ms2 : nullptr;
        float m = -INFINITY;
        for (int j = lane; j < Sk; j += 32) {
            const float* kp = kb + (i64)j * HD;
            float acc = 0.f;
            for (int d = 0; d < D; ++d) acc += qrow[warp][d] * kp[d];
            if (mrow) acc += mrow[j * ms3];
            s[j] = acc;
            m = fmaxf(m, acc);
        }
        m = warp_max(m);
        float sum = 0.f;
        for (int j = lane; j < Sk; j += 32) {
            float e = (m == -INFINITY) ? 0.f : expf(s[j] - m);
            s[j] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        __syncwarp();
        float inv = sum > 0.f ? 1.f / sum : 0.f;
        const float* vb = v + (i64)b * Sk * HD + (i64)h * D;
        float* op = o + ((i64)b * Sq + i) * HD + (i64)h * D;
        for (int d = lane; d < D; d += 32) {
            float acc = 0.f;
            for (int j = 0; j < Sk; ++j) acc += s[j] * vb[(i64)j * HD + d];
            op[d] = acc * inv;
        }
        __syncwarp();
    }
}
