/*
 * What the int8 GEMM kernels of libgatun_cpu.so share (igemm_vnni.c, igemm_amx.c): the epilogue arguments, the
 * common signature and the per-element epilogue of the file comment of igemm_vnni.c (math, modes, wrapping).
 */
#ifndef GATUN_IGEMM_COMMON_H
#define GATUN_IGEMM_COMMON_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define NR 64

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define TGT256 __attribute__((target("avx2,fma,avxvnni")))
#define INLINE static inline __attribute__((always_inline))

typedef struct {
    int64_t k;
    int32_t za;
    const int32_t *row_za;
    const int32_t *col_sum;
    const int32_t *col_zb;
    int32_t mode;
    float a_scale;
    const float *row_scale;
    const float *col_scale;
    const float *bias;
    void *out;
    int64_t ldo;
} epi_t;

/* The scalar epilogue of one element (tails of the 256-bit kernel). */
INLINE void epi_one(const epi_t *e, int64_t i, int64_t j, int32_t rowsum, int32_t acc) {
    int32_t za = e->row_za ? e->row_za[i] + e->za : e->za;
    uint32_t x = (uint32_t) acc - (uint32_t) za * (uint32_t) e->col_sum[j];
    if (e->col_zb) {
        uint32_t rs = (uint32_t) rowsum - (uint32_t) e->k * (uint32_t) za;
        x -= (uint32_t) e->col_zb[j] * rs;
    }
    if (e->mode == 0) {
        ((int32_t *) e->out)[i * e->ldo + j] = (int32_t) x;
        return;
    }
    float s = (e->row_scale ? e->row_scale[i] : e->a_scale) * e->col_scale[j];
    float y = (float) (int32_t) x * s;
    if (e->bias) {
        y = y + e->bias[j];
    }
    if (e->mode == 2) {
        y = y > 0.0f ? y : 0.0f;
    }
    ((float *) e->out)[i * e->ldo + j] = y;
}

/* The epilogue of the 16 columns j..j+15 of row i; lanes outside the mask m are neither read nor written. */
INLINE TGT512 void epi512(const epi_t *e, int64_t i, int64_t j, int32_t rowsum, __m512i acc, __mmask16 m) {
    int32_t za = e->row_za ? e->row_za[i] + e->za : e->za;
    __m512i cs = _mm512_maskz_loadu_epi32(m, e->col_sum + j);
    __m512i x = _mm512_sub_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(za), cs));
    if (e->col_zb) {
        int32_t rs = (int32_t) ((uint32_t) rowsum - (uint32_t) e->k * (uint32_t) za);
        __m512i zb = _mm512_maskz_loadu_epi32(m, e->col_zb + j);
        x = _mm512_sub_epi32(x, _mm512_mullo_epi32(zb, _mm512_set1_epi32(rs)));
    }
    if (e->mode == 0) {
        _mm512_mask_storeu_epi32((int32_t *) e->out + i * e->ldo + j, m, x);
        return;
    }
    float as = e->row_scale ? e->row_scale[i] : e->a_scale;
    __m512 s = _mm512_mul_ps(_mm512_set1_ps(as), _mm512_maskz_loadu_ps(m, e->col_scale + j));
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(x), s);
    if (e->bias) {
        y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, e->bias + j));
    }
    if (e->mode == 2) {
        y = _mm512_max_ps(y, _mm512_setzero_ps());
    }
    _mm512_mask_storeu_ps((float *) e->out + i * e->ldo + j, m, y);
}

#define IGEMM_ARGS int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, int32_t flip, const int8_t *bp, \
    const int32_t *col_sum, const int32_t *col_zb, int32_t za, const int32_t *row_za, float a_scale, const float *row_scale, \
    const float *col_scale, const float *bias, int32_t mode, void *out, int64_t ldo, uint8_t *work

/* The AVX-512 VNNI kernel (igemm_vnni.c), which the AMX one hands the calls with very few rows. */
void gatun_igemm_avx512vnni(IGEMM_ARGS);

#define FILL_EPI epi_t e = {k, za, row_za, col_sum, col_zb, mode, a_scale, row_scale, col_scale, bias, out, ldo}

#endif
