/*
 * The integer GEMM on Intel AMX tiles (AMX-INT8, Sapphire Rapids and later), called from Java through FFM
 * (dev.gatun.engine.cpu.IgemmNative) with the signature, packed B and epilogues of gatun_igemm_avx512vnni:
 * the math and the modes are in the file comment of igemm_vnni.c, the epilogue is igemm_common.h's epi512.
 *
 * Tiles. tdpbusd C[16 x 16] int32 += A[16 x 64] u8 . B[16 x 64] s8, where row g of B holds, for each of its 16
 * columns, the 4 bytes of k-group g: C[i][j] += sum_{g<16, t<4} A[i][4g + t] * B[g][4j + t]. The packed B
 * (bp[q * kp * 64 + g * 256 + c * 4 + t] = B[4g + t][64q + c]) is exactly that, 16 columns per 64-byte line:
 * the B tile of columns 16s..16s+15 (s < 4) and k-groups g0..g0+15 of panel q starts at
 * bp + q * kp * 64 + g0 * 256 + s * 64, row stride 256. Eight tiles, all configured 16 rows x 64 bytes:
 * tmm0..3 the accumulators of a 32 x 32 output block (2 A tiles x 2 B tiles), tmm4, tmm5 the A tiles (rows
 * 0..15, 16..31), tmm6, tmm7 the B tiles (columns 0..15, 16..31 of the half panel).
 *
 * Layouts. A is packed per block of AMX_MC rows (K chunk by K chunk, flip applied, row sums as the VNNI
 * kernel's) into 16-row micro-panels of 64-byte chunks: ap[((r / 16) * nk + c) * 1024 + (r % 16) * 64 + b] =
 * A[r][64c + b], with nk = ceil(k / 64); rows past m and bytes past k are zero, so whole tiles are always
 * computed and the epilogue keeps the valid rows and columns. B columns past n inside a panel are zero in the
 * packing. When k is not a multiple of 64 the last chunk has kgt < 16 k-groups in B: they are copied per panel
 * into a zeroed 16 x 256 scratch (a tile there never reads past the packed B), the zero A bytes cancel the rest.
 *
 * Per 64-column panel and 32-row pair of micro-panels: two passes of 32 columns, each accumulating the 32 x 32
 * block over all K chunks (4 tile loads, 4 tdpbusd per chunk), storing it to a 32 x 32 int32 scratch and
 * running the AVX-512 epilogue from there (epi_block: epi512's arithmetic with the per-column terms hoisted out of
 * the rows). Running the previous block's epilogue between the tile instructions of the next was measured slower
 * at k = 384 (1.6 vs 2.1 TOP/s; 10% faster at k >= 1024), so the two alternate. The tile configuration is loaded at the start of every call and
 * released at its end, so a Java thread never carries tile state between calls (release measured free: 1.55 us
 * per 1 x 384 x 384 call with or without it).
 *
 * Permission: Linux hands out the tile data state per process on request (arch_prctl ARCH_REQ_XCOMP_PERM,
 * XFEATURE_XTILEDATA); gatun_amx_init asks once, and Java calls the kernel only when that returned 0 and
 * /proc/cpuinfo lists amx_tile and amx_int8 (and the AVX-512 VNNI the epilogue needs).
 */
#include "igemm_common.h"
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#define AMX_MC 128
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

#define TGTAMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512vnni")))

typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed, aligned(64))) tilecfg_t;

/* Asks Linux for the AMX tile data state; 0 when granted, else -errno (-ENOSYS where there is no arch_prctl). */
int32_t gatun_amx_init(void) {
#ifdef SYS_arch_prctl
    long r = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
    return r == 0 ? 0 : -errno;
#else
    return -ENOSYS;
#endif
}

/* K chunks of 64 bytes for depth k. */
static int64_t chunks(int64_t k) {
    return (k + 63) / 64;
}

/* Bytes of scratch one call needs for depth k: the packed A block, its row sums, the B tail, the C block. */
int64_t gatun_igemm_amx_work_bytes(int64_t k) {
    return AMX_MC * chunks(k) * 64 + AMX_MC * 4 + 16 * 256 + 32 * 32 * 4 + 64;
}

/* Packs rows [0, mc) of A (mc <= AMX_MC) into 16-row micro-panels, rows up to the next 32 zeroed; rowsum[r]. */
static TGTAMX void pack_a_amx(int64_t mc, int64_t k, const uint8_t *a, int64_t lda, uint8_t flip, uint8_t *ap,
                              int32_t *rowsum) {
    int64_t nk = chunks(k);
    int64_t rows = (mc + 31) / 32 * 32;
    __m512i fv = _mm512_set1_epi8((char) flip);
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *dst = ap + (r / 16) * nk * 1024 + (r % 16) * 64;
        if (r >= mc) {
            for (int64_t c = 0; c < nk; c++) {
                _mm512_storeu_si512(dst + c * 1024, _mm512_setzero_si512());
            }
            continue;
        }
        const uint8_t *row = a + r * lda;
        __m512i sum = _mm512_setzero_si512();
        for (int64_t c = 0; c < nk; c++) {
            int64_t left = k - 64 * c;
            __mmask64 mk = left >= 64 ? ~(__mmask64) 0 : (((__mmask64) 1 << left) - 1);
            __m512i v = _mm512_maskz_mov_epi8(mk, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, row + 64 * c), fv));
            sum = _mm512_add_epi64(sum, _mm512_sad_epu8(v, _mm512_setzero_si512()));
            _mm512_storeu_si512(dst + c * 1024, v);
        }
        rowsum[r] = (int32_t) _mm512_reduce_add_epi64(sum);
    }
}

/* The epilogue of a 32 x 32 block c (row stride 32) for output rows i0..i0+rows-1, columns j0..j0+nv-1 (nv <= 32):
   epi512's arithmetic, with everything that depends on the column only (column sums, zero points, scales, bias, and
   za * colsum and a_scale * col_scale when A has one zero point and scale) loaded or computed once per block. */
static TGTAMX void epi_block(const epi_t *e, const int32_t *c, const int32_t *rowsum, int64_t i0, int64_t j0, int rows, int nv) {
    __mmask16 m0 = nv >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << nv) - 1);
    __mmask16 m1 = nv >= 32 ? (__mmask16) 0xffff : nv <= 16 ? 0 : (__mmask16) ((1u << (nv - 16)) - 1);
    __m512i cs0 = _mm512_maskz_loadu_epi32(m0, e->col_sum + j0);
    __m512i cs1 = _mm512_maskz_loadu_epi32(m1, e->col_sum + j0 + 16);
    __m512i zb0 = _mm512_setzero_si512();
    __m512i zb1 = _mm512_setzero_si512();
    if (e->col_zb) {
        zb0 = _mm512_maskz_loadu_epi32(m0, e->col_zb + j0);
        zb1 = _mm512_maskz_loadu_epi32(m1, e->col_zb + j0 + 16);
    }
    __m512i zc0 = _mm512_mullo_epi32(_mm512_set1_epi32(e->za), cs0);
    __m512i zc1 = _mm512_mullo_epi32(_mm512_set1_epi32(e->za), cs1);
    __m512 sc0 = _mm512_setzero_ps();
    __m512 sc1 = _mm512_setzero_ps();
    __m512 b0 = _mm512_setzero_ps();
    __m512 b1 = _mm512_setzero_ps();
    __m512 s0 = _mm512_setzero_ps();
    __m512 s1 = _mm512_setzero_ps();
    if (e->mode != 0) {
        sc0 = _mm512_maskz_loadu_ps(m0, e->col_scale + j0);
        sc1 = _mm512_maskz_loadu_ps(m1, e->col_scale + j0 + 16);
        s0 = _mm512_mul_ps(_mm512_set1_ps(e->a_scale), sc0);
        s1 = _mm512_mul_ps(_mm512_set1_ps(e->a_scale), sc1);
        if (e->bias) {
            b0 = _mm512_maskz_loadu_ps(m0, e->bias + j0);
            b1 = _mm512_maskz_loadu_ps(m1, e->bias + j0 + 16);
        }
    }
    for (int r = 0; r < rows; r++) {
        int64_t i = i0 + r;
        int32_t za = e->za;
        if (e->row_za) {
            za = e->row_za[i] + e->za;
            zc0 = _mm512_mullo_epi32(_mm512_set1_epi32(za), cs0);
            zc1 = _mm512_mullo_epi32(_mm512_set1_epi32(za), cs1);
        }
        __m512i x0 = _mm512_sub_epi32(_mm512_load_si512(c + r * 32), zc0);
        __m512i x1 = _mm512_sub_epi32(_mm512_load_si512(c + r * 32 + 16), zc1);
        if (e->col_zb) {
            __m512i rs = _mm512_set1_epi32((int32_t) ((uint32_t) rowsum[r] - (uint32_t) e->k * (uint32_t) za));
            x0 = _mm512_sub_epi32(x0, _mm512_mullo_epi32(zb0, rs));
            x1 = _mm512_sub_epi32(x1, _mm512_mullo_epi32(zb1, rs));
        }
        if (e->mode == 0) {
            int32_t *o = (int32_t *) e->out + i * e->ldo + j0;
            _mm512_mask_storeu_epi32(o, m0, x0);
            _mm512_mask_storeu_epi32(o + 16, m1, x1);
            continue;
        }
        if (e->row_scale) {
            __m512 as = _mm512_set1_ps(e->row_scale[i]);
            s0 = _mm512_mul_ps(as, sc0);
            s1 = _mm512_mul_ps(as, sc1);
        }
        __m512 y0 = _mm512_mul_ps(_mm512_cvtepi32_ps(x0), s0);
        __m512 y1 = _mm512_mul_ps(_mm512_cvtepi32_ps(x1), s1);
        if (e->bias) {
            y0 = _mm512_add_ps(y0, b0);
            y1 = _mm512_add_ps(y1, b1);
        }
        if (e->mode == 2) {
            y0 = _mm512_max_ps(y0, _mm512_setzero_ps());
            y1 = _mm512_max_ps(y1, _mm512_setzero_ps());
        }
        float *o = (float *) e->out + i * e->ldo + j0;
        _mm512_mask_storeu_ps(o, m0, y0);
        _mm512_mask_storeu_ps(o + 16, m1, y1);
    }
}

/* Accumulates the 16 x 32 (R = 1) or 32 x 32 (R = 2) block over nk chunks: A micro-panels at ap (stride nk * 1024
   between the two), B half panel at b (chunk stride 4096; the last chunk at bt when bt is not NULL); stores to c
   (row stride 32 int32). */
INLINE TGTAMX void block_amx(const int R, int64_t nk, const uint8_t *ap, const int8_t *b, const int8_t *bt, int32_t *c) {
    const uint8_t *ap1 = ap + nk * 1024;
    _tile_zero(0);
    _tile_zero(1);
    if (R == 2) {
        _tile_zero(2);
        _tile_zero(3);
    }
    int64_t full = bt ? nk - 1 : nk;
    for (int64_t q = 0; q < nk; q++) {
        const int8_t *bq = q < full ? b + q * 4096 : bt;
        _tile_loadd(6, bq, 256);
        _tile_loadd(7, bq + 64, 256);
        _tile_loadd(4, ap + q * 1024, 64);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        if (R == 2) {
            _tile_loadd(5, ap1 + q * 1024, 64);
            _tile_dpbusd(2, 5, 6);
            _tile_dpbusd(3, 5, 7);
        }
    }
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    if (R == 2) {
        _tile_stored(2, c + 512, 128);
        _tile_stored(3, c + 528, 128);
    }
}

/* C[m x n] by AMX tiles; the arguments are those of gatun_igemm_avx512vnni (see igemm_vnni.c). */
TGTAMX void gatun_igemm_amx(IGEMM_ARGS) {
    if (m == 1 || (m <= 4 && n * k >= ((int64_t) 1 << 20))) {
        /* A 16-row tile would multiply 15 zero rows: one row, or a few over a B of 1 MiB or more (streamed from L3
           or DRAM), go faster through vpdpbusd (thread CPU time: 1 x 384 x 384 1.27 vs 1.55 us, 4 x 4096 x 4096 575
           vs 697 us; 2 x 384 x 384 2.08 vs 1.58 us). Its scratch fits in ours. */
        gatun_igemm_avx512vnni(m, n, k, a, lda, flip, bp, col_sum, col_zb, za, row_za, a_scale, row_scale, col_scale, bias,
                               mode, out, ldo, work);
        return;
    }
    FILL_EPI;
    static const tilecfg_t cfg = {
        .palette_id = 1,
        .colsb = {64, 64, 64, 64, 64, 64, 64, 64},
        .rows = {16, 16, 16, 16, 16, 16, 16, 16},
    };
    int64_t kg = (k + 3) / 4;
    int64_t kp = 4 * kg;
    int64_t nk = chunks(k);
    int64_t kgt = kg % 16;
    uint8_t *w = (uint8_t *) (((uintptr_t) work + 63) & ~(uintptr_t) 63);
    int32_t *cbuf = (int32_t *) w;
    int8_t *btail = (int8_t *) (w + 32 * 32 * 4);
    int32_t *rowsum = (int32_t *) (btail + 16 * 256);
    uint8_t *ap = (uint8_t *) (rowsum + AMX_MC);
    if (kgt) {
        memset(btail, 0, 16 * 256);
    }
    _tile_loadconfig(&cfg);
    for (int64_t ic = 0; ic < m; ic += AMX_MC) {
        int64_t mc = m - ic < AMX_MC ? m - ic : AMX_MC;
        pack_a_amx(mc, k, a + ic * lda, lda, (uint8_t) flip, ap, rowsum);
        for (int64_t jc = 0; jc < n; jc += NR) {
            int nv = n - jc < NR ? (int) (n - jc) : NR;
            const int8_t *panel = bp + (jc / NR) * kp * NR;
            if (kgt) {
                memcpy(btail, panel + (nk - 1) * 4096, kgt * 256);
            }
            for (int64_t ir = 0; ir < mc; ir += 32) {
                int rows = mc - ir < 32 ? (int) (mc - ir) : 32;
                const uint8_t *api = ap + (ir / 16) * nk * 1024;
                for (int h = 0; h < 2 && 32 * h < nv; h++) {
                    const int8_t *bt = kgt ? btail + 128 * h : NULL;
                    if (rows > 16) {
                        block_amx(2, nk, api, panel + 128 * h, bt, cbuf);
                    } else {
                        block_amx(1, nk, api, panel + 128 * h, bt, cbuf);
                    }
                    epi_block(&e, cbuf, rowsum + ir, ic + ir, jc + 32 * h, rows, nv - 32 * h < 32 ? nv - 32 * h : 32);
                }
            }
        }
    }
    _tile_release();
}
