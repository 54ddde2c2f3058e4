/*
 * Integer GEMM micro-kernels for x86-64 CPUs with VNNI, called from Java through FFM
 * (dev.gatun.engine.cpu.IgemmNative). Built by the engine's Maven build into libgatun_cpu.so.
 *
 * Math: for rows i < m and columns j < n,
 *   acc[i][j] = sum_{p<k} (A[i][p] ^ flip) * B[p][j]                       (u8 x s8 products, int32 sums)
 *   x[i][j]   = acc - za_i * colsum_j - zb_j * (rowsum_i - k * za_i)      (= sum_p (a - za_i)(b - zb_j), mod 2^32)
 * (za_i is za, or row_za[i] + za when row_za is given: za then only shifts for flip), then by mode:
 * 0 int32 out = x; 1 float out = (float) x * (ascale_i * colscale_j) (+ bias_j);
 * 2 as 1 followed by max(., 0). Every int32 operation wraps (two's complement), so x equals the int32
 * reference sum of (a - za)(b - zb) for any sizes; for |x| < 2^31 it is the exact integer.
 *
 * vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes and adds the 4 products to an int32 lane with
 * no intermediate 16-bit step (unlike vpmaddubsw), so nothing saturates: 255 * -128 * 4 fits easily.
 *
 * Layouts. A: u8 rows, row stride lda bytes (flip = 0x80 turns int8 activations into u8 with za + 128).
 * B: packed once by Java (Igemm.pack) into panels of NR = 64 columns; K is padded to kp = 4 * ceil(k/4);
 * panel q holds bytes bp[q * kp * 64 + g * 256 + c * 4 + t] = B[4g + t][64q + c] (zero padded), i.e. for
 * each group of 4 k's one 64-byte line per 16 columns. A is packed here per block of MC rows into
 * micro-panels of MR = 6 rows: ap[(g * 6 + r) * 4 + t] = A[r][4g + t].
 *
 * Kernels: avx512 (vpdpbusd zmm): a 6 x 64 tile, 24 zmm accumulators, B's 4 zmm loaded once per k-group
 * and each A dword broadcast; avx_vnni (vpdpbusd ymm, 16 registers): the 64-column panel in 4 passes of
 * 6 x 16 (12 ymm accumulators). Functions carry their own target attributes, so the library loads on any
 * x86-64 CPU and Java calls only the variant /proc/cpuinfo says the CPU runs.
 *
 * Compile: cc -O3 -fPIC -shared -ffp-contract=off (no FMA contraction: the float epilogue rounds the
 * multiply and the add separately, like the unfused ONNX graph and the portable Java kernel).
 */
#include "igemm_common.h"

#define MR 6
#define MC 96

/* Packs rows [0, mr) of A into one micro-panel (rows mr..MR-1 and k..kp-1 zero) and their byte sums. */
static void pack_a(int mr, int64_t k, const uint8_t *a, int64_t lda, uint8_t flip, uint8_t *ap, int32_t *rowsum) {
    int64_t kg = (k + 3) / 4;
    int64_t full = k / 4;
    uint32_t flip4 = flip * 0x01010101u;
    for (int r = 0; r < MR; r++) {
        if (r >= mr) {
            for (int64_t g = 0; g < kg; g++) {
                memset(ap + (g * MR + r) * 4, 0, 4);
            }
            continue;
        }
        const uint8_t *row = a + r * lda;
        int32_t s = 0;
        for (int64_t p = 0; p < k; p++) {
            s += (uint8_t) (row[p] ^ flip);
        }
        rowsum[r] = s;
        for (int64_t g = 0; g < full; g++) {
            uint32_t w;
            memcpy(&w, row + 4 * g, 4);
            w ^= flip4;
            memcpy(ap + (g * MR + r) * 4, &w, 4);
        }
        if (full < kg) {
            uint8_t t[4] = {0, 0, 0, 0};
            for (int64_t p = 4 * full; p < k; p++) {
                t[p - 4 * full] = row[p] ^ flip;
            }
            memcpy(ap + (full * MR + r) * 4, t, 4);
        }
    }
}

/* ------------------------------------------------------------------ AVX-512 VNNI */

/* R x 64 tile: rows i0..i0+R-1, panel columns j0..j0+nv-1. */
INLINE TGT512 void tile512(const int R, int64_t kg, const uint8_t *ap, const int8_t *bp, int64_t i0, int64_t j0, int nv,
                           const int32_t *rowsum, const epi_t *e) {
    __m512i c[MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            c[r][v] = _mm512_setzero_si512();
        }
    }
    const int32_t *a4 = (const int32_t *) ap;
    for (int64_t g = 0; g < kg; g++) {
        __m512i b0 = _mm512_loadu_si512(bp);
        __m512i b1 = _mm512_loadu_si512(bp + 64);
        __m512i b2 = _mm512_loadu_si512(bp + 128);
        __m512i b3 = _mm512_loadu_si512(bp + 192);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m512i av = _mm512_set1_epi32(a4[r]);
            c[r][0] = _mm512_dpbusd_epi32(c[r][0], av, b0);
            c[r][1] = _mm512_dpbusd_epi32(c[r][1], av, b1);
            c[r][2] = _mm512_dpbusd_epi32(c[r][2], av, b2);
            c[r][3] = _mm512_dpbusd_epi32(c[r][3], av, b3);
        }
        a4 += MR;
        bp += 256;
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            int left = nv - 16 * v;
            if (left <= 0) {
                break;
            }
            __mmask16 m = left >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << left) - 1);
            epi512(e, i0 + r, j0 + 16 * v, rowsum[r], c[r][v], m);
        }
    }
}

static TGT512 void tile512_any(int mr, int64_t kg, const uint8_t *ap, const int8_t *bp, int64_t i0, int64_t j0, int nv,
                               const int32_t *rowsum, const epi_t *e) {
    switch (mr) {
        case 6: tile512(6, kg, ap, bp, i0, j0, nv, rowsum, e); break;
        case 5: tile512(5, kg, ap, bp, i0, j0, nv, rowsum, e); break;
        case 4: tile512(4, kg, ap, bp, i0, j0, nv, rowsum, e); break;
        case 3: tile512(3, kg, ap, bp, i0, j0, nv, rowsum, e); break;
        case 2: tile512(2, kg, ap, bp, i0, j0, nv, rowsum, e); break;
        default: tile512(1, kg, ap, bp, i0, j0, nv, rowsum, e); break;
    }
}

/* ------------------------------------------------------------------ AVX-VNNI (256-bit) */

INLINE TGT256 void epi256(const epi_t *e, int64_t i, int64_t j, int32_t rowsum, __m256i acc) {
    int32_t za = e->row_za ? e->row_za[i] + e->za : e->za;
    __m256i cs = _mm256_loadu_si256((const __m256i *) (e->col_sum + j));
    __m256i x = _mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(za), cs));
    if (e->col_zb) {
        int32_t rs = (int32_t) ((uint32_t) rowsum - (uint32_t) e->k * (uint32_t) za);
        __m256i zb = _mm256_loadu_si256((const __m256i *) (e->col_zb + j));
        x = _mm256_sub_epi32(x, _mm256_mullo_epi32(zb, _mm256_set1_epi32(rs)));
    }
    if (e->mode == 0) {
        _mm256_storeu_si256((__m256i *) ((int32_t *) e->out + i * e->ldo + j), x);
        return;
    }
    float as = e->row_scale ? e->row_scale[i] : e->a_scale;
    __m256 s = _mm256_mul_ps(_mm256_set1_ps(as), _mm256_loadu_ps(e->col_scale + j));
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(x), s);
    if (e->bias) {
        y = _mm256_add_ps(y, _mm256_loadu_ps(e->bias + j));
    }
    if (e->mode == 2) {
        y = _mm256_max_ps(y, _mm256_setzero_ps());
    }
    _mm256_storeu_ps((float *) e->out + i * e->ldo + j, y);
}

/* R x 16 tile of the 16-column slice s of a 64-column panel. */
INLINE TGT256 void tile256(const int R, int64_t kg, const uint8_t *ap, const int8_t *bp, int64_t i0, int64_t j0, int nv,
                           const int32_t *rowsum, const epi_t *e) {
    __m256i c[MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
        c[r][0] = _mm256_setzero_si256();
        c[r][1] = _mm256_setzero_si256();
    }
    const int32_t *a4 = (const int32_t *) ap;
    for (int64_t g = 0; g < kg; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *) bp);
        __m256i b1 = _mm256_loadu_si256((const __m256i *) (bp + 32));
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            __m256i av = _mm256_set1_epi32(a4[r]);
            c[r][0] = _mm256_dpbusd_avx_epi32(c[r][0], av, b0);
            c[r][1] = _mm256_dpbusd_avx_epi32(c[r][1], av, b1);
        }
        a4 += MR;
        bp += 256;
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) {
            int left = nv - 8 * v;
            if (left >= 8) {
                epi256(e, i0 + r, j0 + 8 * v, rowsum[r], c[r][v]);
            } else if (left > 0) {
                int32_t lanes[8];
                _mm256_storeu_si256((__m256i *) lanes, c[r][v]);
                for (int l = 0; l < left; l++) {
                    epi_one(e, i0 + r, j0 + 8 * v + l, rowsum[r], lanes[l]);
                }
            }
        }
    }
}

static TGT256 void tile256_any(int mr, int64_t kg, const uint8_t *ap, const int8_t *bp, int64_t i0, int64_t j0, int nv,
                               const int32_t *rowsum, const epi_t *e) {
    for (int s = 0; s < 4 && nv > 16 * s; s++) {
        int w = nv - 16 * s < 16 ? nv - 16 * s : 16;
        const int8_t *b = bp + 64 * s;
        int64_t j = j0 + 16 * s;
        switch (mr) {
            case 6: tile256(6, kg, ap, b, i0, j, w, rowsum, e); break;
            case 5: tile256(5, kg, ap, b, i0, j, w, rowsum, e); break;
            case 4: tile256(4, kg, ap, b, i0, j, w, rowsum, e); break;
            case 3: tile256(3, kg, ap, b, i0, j, w, rowsum, e); break;
            case 2: tile256(2, kg, ap, b, i0, j, w, rowsum, e); break;
            default: tile256(1, kg, ap, b, i0, j, w, rowsum, e); break;
        }
    }
}

/* ------------------------------------------------------------------ driver */

typedef void (*tile_fn)(int, int64_t, const uint8_t *, const int8_t *, int64_t, int64_t, int, const int32_t *, const epi_t *);

/* Blocks of MC rows: pack them (A block stays in L2), then for each 64-column panel (stays in L1/L2) run the
   micro-tiles of the block. work holds MC * kp bytes of packed A and MC int32 row sums. */
static void drive(tile_fn tile, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, int32_t flip,
                  const int8_t *bp, const epi_t *e, uint8_t *work) {
    int64_t kg = (k + 3) / 4;
    int64_t kp = 4 * kg;
    int32_t *rowsum = (int32_t *) (work + MC * kp);
    for (int64_t ic = 0; ic < m; ic += MC) {
        int64_t mc = m - ic < MC ? m - ic : MC;
        for (int64_t ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? (int) (mc - ir) : MR;
            pack_a(mr, k, a + (ic + ir) * lda, lda, (uint8_t) flip, work + ir * kp, rowsum + ir);
        }
        for (int64_t jc = 0; jc < n; jc += NR) {
            int nv = n - jc < NR ? (int) (n - jc) : NR;
            const int8_t *panel = bp + (jc / NR) * kp * NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
                int mr = mc - ir < MR ? (int) (mc - ir) : MR;
                tile(mr, kg, work + ir * kp, panel, ic + ir, jc, nv, rowsum + ir, e);
            }
        }
    }
}

/* Bytes of scratch memory one call needs for depth k. */
int64_t gatun_igemm_work_bytes(int64_t k) {
    return MC * (4 * ((k + 3) / 4)) + MC * 4 + 64;
}

/* Columns per packed B panel and rows per A micro-panel (checked by Java against its packing). */
int32_t gatun_igemm_panel_columns(void) {
    return NR;
}

/* C[m x n] by the AVX-512 VNNI kernel; see the file comment for the arguments. */
void gatun_igemm_avx512vnni(IGEMM_ARGS) {
    FILL_EPI;
    drive(tile512_any, m, n, k, a, lda, flip, bp, &e, work);
}

/* C[m x n] by the AVX-VNNI (256-bit) kernel. */
void gatun_igemm_avxvnni(IGEMM_ARGS) {
    FILL_EPI;
    drive(tile256_any, m, n, k, a, lda, flip, bp, &e, work);
}
