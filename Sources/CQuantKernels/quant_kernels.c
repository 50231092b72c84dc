// Quantized matrix products for decoding, in the manner of llama.cpp's ggml_vec_dot_q8_0_q8_0 and
// ggml_vec_dot_q4_1_q8_1: the activations are quantized per 32-element block to int8 (d = max|x|/127),
// each block's integer dot product with the weight block is exact, and only the per-block scale
// products are floating point:
//   Q8_0:  Σ_b d_w·d_x·Σ_j q_w·q_x
//   Q4_1:  Σ_b d_w·d_x·Σ_j q_w·q_x + m_w·(d_x·Σ_j q_x)      (x = d·q + m for the weights)
// Three paths: AVX-512 VNNI (vpdpbusd: u8 × s8 summed in fours into int32), AVX2 (vpmaddubsw +
// vpmaddwd) and portable C.
//
// Q8_0 matrices are repacked (raq_pack) in groups of 16 rows, 4 bytes of each row side by side, so
// one 512-bit register holds the same 4 weights of 16 rows and one vpdpbusd against 4 activations
// broadcast from memory advances 16 dot products: a block's 16 exact integer sums take 8 of them, then
// one conversion and one scaled FMA per 16 outputs (in the row layout every 64 products paid their
// own). Each output is Σ_b fma(float(Σ_j q_w·q_x), d_w·d_x, ·) in block order on every path, so the
// paths agree bit for bit.
//
// Q4_1 keeps the file's rows; a register holds the low (high) nibbles of two blocks, and a weight row
// meets up to eight activation rows at once (a row tile): its blocks are loaded, unpacked and their
// scales converted once for all of them. Every output keeps the one-row operation order, so a row's
// result does not depend on how many rows are multiplied with it (for Q8_0 too).
// Each function carries its own target attribute, so the file builds without global -m flags;
// raq_path_supported checks CPUID.
#include "quant_kernels.h"

#include "helper_thread.h"
#include "simd_sums.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// MARK: - Scalars

static float f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);  // inf, nan
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal: m · 2^-24
        float v = (float)mantissa * 0x1p-24f;
        memcpy(&bits, &v, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/// One activation row of k elements: per block its scale d and a sum (interleaved: d0 s0 d1 s1 …), then
/// the k int8 values in the kernel's `act_layout`. The sum is d·Σq for Q4_1 and, for Q8_0, −128·Σq as
/// an int32 bit pattern (the correction for the weights' +128 offset, see `raq_pack`).
typedef struct {
    float *ds;
    int8_t *q;
} act_row;

/// How a kernel wants its activations: Q8_0's block order with the −128·Σq sums, or Q4_1's paired
/// order (`q4_slot`) with d·Σq.
typedef enum { ACT_Q8_0, ACT_Q4_1 } act_layout;

static size_t act_row_bytes(int k) { return (size_t)k + (size_t)(k / 32) * 2 * sizeof(float); }

static act_row act_at(uint8_t *base, int k, int row) {
    uint8_t *p = base + (size_t)row * act_row_bytes(k);
    return (act_row){(float *)p, (int8_t *)(p + (size_t)(k / 32) * 2 * sizeof(float))};
}

/// Where element j of block b sits in a Q4_1 activation row. Blocks pair up, each pair stored as
/// [b0 0..15][b1 0..15][b0 16..31][b1 16..31]: the low nibbles of two weight blocks (one 32-byte
/// register) meet one 32-byte load of activations, and so do the high nibbles. An unpaired last block
/// keeps its order.
static inline int q4_slot(int b, int j, int blocks) {
    if ((b | 1) >= blocks) return 32 * b + j;
    return 64 * (b / 2) + 16 * (b & 1) + (j < 16 ? j : 16 + j);
}

/// Round to nearest (ties to even, the default rounding mode) of x/d, d = max|x|/127: |q| ≤ 127, so
/// the sign trick of the SIMD paths never negates −128. The portable path's quantizer; `quantize_row_avx2`
/// writes the same bytes.
static inline void store_sums(act_row a, int b, float d, int sum, act_layout layout) {
    a.ds[2 * b] = d;
    if (layout == ACT_Q4_1) {
        a.ds[2 * b + 1] = d * (float)sum;
    } else {
        const int32_t bias = -128 * sum;
        memcpy(a.ds + 2 * b + 1, &bias, 4);
    }
}

static void quantize_row(const float *x, int k, act_row a, act_layout layout) {
    const int blocks = k / 32;
    for (int b = 0; b < blocks; b++) {
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127, id = d > 0 ? 1 / d : 0;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int q = (int)nearbyintf(xb[j] * id);
            a.q[layout == ACT_Q4_1 ? q4_slot(b, j, blocks) : 32 * b + j] = (int8_t)q;
            sum += q;
        }
        store_sums(a, b, d, sum, layout);
    }
}

/// Q8_0 in `raq_pack`'s groups of 16 rows: per block, the 16 rows' f16 scales, then 8 × 64 bytes, the
/// s-th holding bytes 4s..4s+3 of each row (row r at 4r), stored as q + 128.
enum { GROUP_ROWS = 16, GROUP_BLOCK_BYTES = GROUP_ROWS * 34 };

/// A kernel multiplies one unit of weight rows at w (a Q4_1 row, or a Q8_0 group of 16) by activation
/// rows a[c], c < rows ≤ the kernel's tile rows: out[unit_rows · c + r] = the dot product of the unit's
/// row r with a[c].
typedef void (*unit_fn)(const uint8_t *w, const act_row *a, int rows, int blocks, float *out);

/// Rows of unit u that exist in an n-row matrix (a last group may be short).
static inline int rows_present(int n, int u, int unit_rows) { return n - unit_rows * u < unit_rows ? n - unit_rows * u : unit_rows; }

/// Most activation rows a tile takes: the AVX-512 kernels have 32 registers for eight rows'
/// accumulators, the AVX2 ones 16, enough for four.
enum { MAX_TILE_ROWS = 8 };

/// A `unit_fn` from a body written for a constant row count (inlined once per count up to `most`, so
/// its per-row accumulators live in registers).
#define ROW_TILES(target, name, body, most)                                                             \
    target static void name(const uint8_t *w, const act_row *a, int rows, int blocks, float *out) {    \
        switch (rows < (most) ? rows : (most)) {                                                        \
        case 8: body(w, a, blocks, out, 8); break;                                                      \
        case 7: body(w, a, blocks, out, 7); break;                                                      \
        case 6: body(w, a, blocks, out, 6); break;                                                      \
        case 5: body(w, a, blocks, out, 5); break;                                                      \
        case 4: body(w, a, blocks, out, 4); break;                                                      \
        case 3: body(w, a, blocks, out, 3); break;                                                      \
        case 2: body(w, a, blocks, out, 2); break;                                                      \
        default: body(w, a, blocks, out, 1); break;                                                     \
        }                                                                                               \
    }

// MARK: - Portable path

static float dot_q4_1_scalar(const uint8_t *w, const int8_t *q, const float *ds, int blocks) {
    float sum = 0;
    for (int b = 0; b < blocks; b++, w += 20) {
        const int8_t *lo = q + q4_slot(b, 0, blocks), *hi = q + q4_slot(b, 16, blocks);
        int acc = 0;
        for (int j = 0; j < 16; j++) acc += (w[4 + j] & 0x0F) * lo[j] + (w[4 + j] >> 4) * hi[j];
        sum += f16_to_f32(load_u16(w)) * ds[2 * b] * (float)acc + f16_to_f32(load_u16(w + 2)) * ds[2 * b + 1];
    }
    return sum;
}

static void group_q8_0_scalar(const uint8_t *g, const act_row *a, int rows, int blocks, float *out) {
    for (int c = 0; c < rows; c++) {
        float sum[16] = {0};
        const uint8_t *p = g;
        for (int b = 0; b < blocks; b++, p += GROUP_BLOCK_BYTES) {
            const int8_t *q = a[c].q + 32 * b;
            for (int r = 0; r < 16; r++) {
                int acc = 0;
                for (int s = 0; s < 8; s++)
                    for (int t = 0; t < 4; t++) acc += ((int)p[32 + 64 * s + 4 * r + t] - 128) * q[4 * s + t];
                sum[r] = fmaf((float)acc, f16_to_f32(load_u16(p + 2 * r)) * a[c].ds[2 * b], sum[r]);
            }
        }
        memcpy(out + GROUP_ROWS * c, sum, sizeof sum);
    }
}

static void tile_q4_1_scalar(const uint8_t *w, const act_row *a, int rows, int blocks, float *out) {
    for (int c = 0; c < rows; c++) out[c] = dot_q4_1_scalar(w, a[c].q, a[c].ds, blocks);
}

#if defined(__x86_64__)

// MARK: - AVX2 path

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

AVX2_TARGET static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// An f16 scale as fp32. Not _cvtsh_ss: clang inserts the half into whatever register it last used
/// (vpinsrw merges), which chained every block on the previous block's accumulator; vmovd starts fresh.
AVX2_TARGET static inline float half_at(const uint8_t *p) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(load_u16(p)))); }

/// Nibbles of a Q4_1 block's 16 bytes as 32 bytes in element order: low nibbles, then high.
AVX2_TARGET static inline __m256i unpack_q4(const uint8_t *qs) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(bytes), _mm_srli_epi16(bytes, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/// Two Q4_1 blocks' nibbles: [low nibbles of b0 | of b1] and [high of b0 | of b1] (the `q4_slot` order).
AVX2_TARGET static inline void unpack_q4_pair(const uint8_t *w, __m256i *lo, __m256i *hi) {
    const __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(w + 4))),
                                                  _mm_loadu_si128((const __m128i *)(w + 24)), 1);
    const __m256i low = _mm256_set1_epi8(0x0F);
    *lo = _mm256_and_si256(bytes, low);
    *hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
}

/// The (d, m) f16 pairs of a Q4_1 block pair as [d_w0, m_w0, d_w1, m_w1]; times an activation row's
/// [d_x0, s_x0, d_x1, s_x1] these are the pair's scales.
AVX2_TARGET static inline __m128 q4_pair_dm(const uint8_t *w) {
    uint32_t dm0, dm1;
    memcpy(&dm0, w, 4);
    memcpy(&dm1, w + 20, 4);
    return _mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)dm0), (int)dm1, 1));
}

/// The last, unpaired block of a Q4_1 row (in block order), from its int32 products.
AVX2_TARGET static inline float q4_tail(const uint8_t *w, const float *ds, __m256i products) {
    return half_at(w) * ds[0] * ra_hsum256(_mm256_cvtepi32_ps(products)) + half_at(w + 2) * ds[1];
}

/// A block of 32 floats at x into four registers; returns max |x| (the same in any order).
AVX2_TARGET static inline float load_block(const float *x, __m256 v[4]) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], magnitude));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    return _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
}

/// A block's 32 int32 values (|q| ≤ 127, in four registers, in order) as 32 bytes in order.
AVX2_TARGET static inline __m256i pack_block(const __m256i q[4]) {
    const __m256i words = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    return _mm256_permutevar8x32_epi32(words, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));  // undoes the packs' lane interleaving
}

/// `quantize_row` on 8 lanes, with the same values: the maximum does not depend on order, x·(1/d)
/// is the same product, and vcvtps2dq rounds to nearest even as nearbyintf does.
AVX2_TARGET static void quantize_row_avx2(const float *x, int k, act_row a, act_layout layout) {
    const int blocks = k / 32;
    for (int b = 0; b < blocks; b++) {
        __m256 v[4];
        const float d = load_block(x + 32 * b, v) / 127, id = d > 0 ? 1 / d : 0;
        __m256i q[4], sum = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], _mm256_set1_ps(id)));
            sum = _mm256_add_epi32(sum, q[i]);
        }
        const __m256i bytes = pack_block(q);
        _mm_storeu_si128((__m128i *)(a.q + (layout == ACT_Q4_1 ? q4_slot(b, 0, blocks) : 32 * b)), _mm256_castsi256_si128(bytes));
        _mm_storeu_si128((__m128i *)(a.q + (layout == ACT_Q4_1 ? q4_slot(b, 16, blocks) : 32 * b + 16)), _mm256_extracti128_si256(bytes, 1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        store_sums(a, b, d, _mm_cvtsi128_si32(s4), layout);
    }
}

/// A Q8_0 group on 256-bit registers, a half (8 weight rows) at a time. vpmaddubsw multiplies unsigned
/// by signed bytes and saturates pair sums at int16, which (w + 128)·x can pass; so the offset comes off
/// the weights and |w| meets x with w's sign moved onto it (llama.cpp's trick): pair sums reach
/// 2·128·127, inside int16.
AVX2_TARGET INLINE void q8_0_group_avx2(const uint8_t *g, const act_row *a, int blocks, float *out, const int C) {
    const __m256i offset = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    for (int h = 0; h < 2; h++) {
        __m256 acc[MAX_TILE_ROWS];
        for (int c = 0; c < C; c++) acc[c] = _mm256_setzero_ps();
        const uint8_t *p = g;
        for (int b = 0; b < blocks; b++, p += GROUP_BLOCK_BYTES) {
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
            for (int c = 0; c < C; c++) {
                const int8_t *q = a[c].q + 32 * b;
                __m256i sum = _mm256_setzero_si256();
                for (int s = 0; s < 8; s++) {
                    const __m256i w = _mm256_xor_si256(load256(p + 32 + 64 * s + 32 * h), offset);
                    int32_t x4;
                    memcpy(&x4, q + 4 * s, 4);
                    const __m256i x = _mm256_sign_epi8(_mm256_set1_epi32(x4), w);
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), x), ones));
                }
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(a[c].ds[2 * b])), acc[c]);
            }
        }
        for (int c = 0; c < C; c++) _mm256_storeu_ps(out + GROUP_ROWS * c + 8 * h, acc[c]);
    }
}
ROW_TILES(AVX2_TARGET, group_q8_0_avx2, q8_0_group_avx2, 4)

/// Q4_1 rows: a block pair's nibbles are unpacked and its (d, m) converted once; per row two int8 dot
/// products, the pair's scales, and the m_w·s_x terms summed apart (lanes 1 and 3 of `mins`).
#define Q4_1_ROWS(DOT)                                                                                   \
    __m256 acc[MAX_TILE_ROWS];                                                                          \
    __m128 mins[MAX_TILE_ROWS];                                                                         \
    for (int c = 0; c < C; c++) { acc[c] = _mm256_setzero_ps(); mins[c] = _mm_setzero_ps(); }           \
    const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);                                   \
    int b = 0;                                                                                          \
    for (; b + 1 < blocks; b += 2, w += 40) {                                                           \
        __m256i lo, hi;                                                                                 \
        unpack_q4_pair(w, &lo, &hi);                                                                    \
        const __m128 dm = q4_pair_dm(w);                                                                \
        for (int c = 0; c < C; c++) {                                                                   \
            const int8_t *q = a[c].q + 32 * b;                                                          \
            const __m128 scales = _mm_mul_ps(dm, _mm_loadu_ps(a[c].ds + 2 * b));                        \
            mins[c] = _mm_add_ps(mins[c], scales);                                                      \
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(lo, hi, load256(q), load256(q + 32))),      \
                                     _mm256_permutevar8x32_ps(_mm256_castps128_ps256(scales), spread), acc[c]); \
        }                                                                                               \
    }                                                                                                   \
    for (int c = 0; c < C; c++) {                                                                       \
        float sum = ra_hsum256(acc[c]) + _mm_cvtss_f32(_mm_shuffle_ps(mins[c], mins[c], 1))                \
                    + _mm_cvtss_f32(_mm_shuffle_ps(mins[c], mins[c], 3));                               \
        if (b < blocks) {                                                                               \
            const __m256i tail = DOT(unpack_q4(w + 4), _mm256_setzero_si256(), load256(a[c].q + 32 * b), _mm256_setzero_si256()); \
            sum += q4_tail(w, a[c].ds + 2 * b, tail);                                                   \
        }                                                                                               \
        out[c] = sum;                                                                                   \
    }

/// Nibbles are 0..15, already unsigned: no sign trick. int32 lanes 0-3 are block b, 4-7 block b+1.
AVX2_TARGET static inline __m256i q4_dot_avx2(__m256i lo, __m256i hi, __m256i x0, __m256i x1) {
    const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_maddubs_epi16(hi, x1));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

AVX2_TARGET INLINE void q4_1_avx2_rows(const uint8_t *w, const act_row *a, int blocks, float *out, const int C) {
    Q4_1_ROWS(q4_dot_avx2)
}
ROW_TILES(AVX2_TARGET, tile_q4_1_avx2, q4_1_avx2_rows, 4)

// MARK: - AVX-512 VNNI path

// vpdpbusd: one instruction for the u8 × s8 products summed in fours, where AVX2 needs vpmaddubsw +
// vpmaddwd. Q4_1 stays on 256-bit registers, where a register already holds the nibbles of two blocks.
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

/// A Q8_0 group: per block, its 8 registers of weights (w + 128, unsigned) are loaded once for the tile;
/// each activation row's block is 8 broadcasts of 4 signed bytes, each one vpdpbusd for all 16 weight
/// rows, in two chains (the instruction's latency) that start from the row's −128·Σq. The 16 integer
/// sums then take one conversion and one FMA with d_w·d_x.
VNNI_TARGET INLINE void q8_0_group_vnni(const uint8_t *g, const act_row *a, int blocks, float *out, const int C) {
    __m512 acc[MAX_TILE_ROWS];
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++, g += GROUP_BLOCK_BYTES) {
        const __m512 dw = _mm512_cvtph_ps(load256(g));
        __m512i w[8];
        for (int s = 0; s < 8; s++) w[s] = _mm512_loadu_si512(g + 32 + 64 * s);
        for (int c = 0; c < C; c++) {
            const int8_t *q = a[c].q + 32 * b;
            int32_t x4[8], bias;
            memcpy(x4, q, 32);
            memcpy(&bias, a[c].ds + 2 * b + 1, 4);
            __m512i even = _mm512_set1_epi32(bias), odd = _mm512_setzero_si512();
            for (int s = 0; s < 8; s += 2) {
                even = _mm512_dpbusd_epi32(even, w[s], _mm512_set1_epi32(x4[s]));
                odd = _mm512_dpbusd_epi32(odd, w[s + 1], _mm512_set1_epi32(x4[s + 1]));
            }
            const __m512i sum = _mm512_add_epi32(even, odd);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(a[c].ds[2 * b])), acc[c]);
        }
    }
    for (int c = 0; c < C; c++) _mm512_storeu_ps(out + GROUP_ROWS * c, acc[c]);
}
ROW_TILES(VNNI_TARGET, group_q8_0_vnni, q8_0_group_vnni, 8)

VNNI_TARGET static inline __m256i q4_dot_vnni(__m256i lo, __m256i hi, __m256i x0, __m256i x1) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, x0), hi, x1);
}

VNNI_TARGET INLINE void q4_1_vnni_rows(const uint8_t *w, const act_row *a, int blocks, float *out, const int C) {
    Q4_1_ROWS(q4_dot_vnni)
}
ROW_TILES(VNNI_TARGET, tile_q4_1_vnni, q4_1_vnni_rows, 8)

#endif

// MARK: - Dispatch

bool raq_path_supported(int path) {
    switch (path) {
    case RAQ_PATH_AUTO:
    case RAQ_PATH_SCALAR: return true;
#if defined(__x86_64__)
    case RAQ_PATH_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    case RAQ_PATH_AVX512_VNNI:
        return raq_path_supported(RAQ_PATH_AVX2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
#endif
    default: return false;
    }
}

int raq_best_path(void) {
    if (raq_path_supported(RAQ_PATH_AVX512_VNNI)) return RAQ_PATH_AVX512_VNNI;
    if (raq_path_supported(RAQ_PATH_AVX2)) return RAQ_PATH_AVX2;
    return RAQ_PATH_SCALAR;
}

size_t raq_block_bytes(int format) {
    switch (format) {
    case RAQ_Q8_0: return 34;
    case RAQ_Q4_1: return 20;
    default: return 0;
    }
}

typedef void (*quantize_fn)(const float *x, int k, act_row a, act_layout layout);

/// A path's kernel for one format, its unit (1 weight row for Q4_1, a group of 16 for Q8_0), and the
/// activations' quantizer.
typedef struct {
    unit_fn multiply;
    int unit_rows;
    int tile_rows;
    quantize_fn quantize;
} kernel;

static kernel select_kernel(int format, int path) {
    const bool q8 = format == RAQ_Q8_0;
    const int unit_rows = q8 ? GROUP_ROWS : 1;
    switch (path) {
    case RAQ_PATH_SCALAR: return (kernel){q8 ? group_q8_0_scalar : tile_q4_1_scalar, unit_rows, MAX_TILE_ROWS, quantize_row};
#if defined(__x86_64__)
    case RAQ_PATH_AVX2: return (kernel){q8 ? group_q8_0_avx2 : tile_q4_1_avx2, unit_rows, 4, quantize_row_avx2};
    case RAQ_PATH_AVX512_VNNI: return (kernel){q8 ? group_q8_0_vnni : tile_q4_1_vnni, unit_rows, 8, quantize_row_avx2};
#endif
    default: return (kernel){NULL, unit_rows, 0, NULL};
    }
}

// MARK: - Rows

typedef struct {
    kernel kern;
    const uint8_t *w;
    size_t unit_bytes;  // of a Q4_1 row, or of a Q8_0 group of 16 rows
    int n, k, m;
    uint8_t *act;
    float *y;
    bool accumulate;
} job;

static inline void store(const job *j, int row, int column, float v) {
    float *out = j->y + (size_t)row * j->n + column;
    *out = j->accumulate ? *out + v : v;
}

/// Weight units [first, end) (Q4_1 rows or Q8_0 groups), each against every activation row, a tile at a
/// time; a last group's padding rows are not stored.
static void run_units(const void *context, int first, int end) {
    const job *j = context;
    const int blocks = j->k / 32, tile_rows = j->kern.tile_rows, unit_rows = j->kern.unit_rows;
    for (int u = first; u < end; u++) {
        const int present = rows_present(j->n, u, unit_rows);
        for (int i = 0; i < j->m; i += tile_rows) {
            const int rows = j->m - i < tile_rows ? j->m - i : tile_rows;
            act_row a[MAX_TILE_ROWS];
            float v[MAX_TILE_ROWS * GROUP_ROWS];
            for (int c = 0; c < rows; c++) a[c] = act_at(j->act, j->k, i + c);
            j->kern.multiply(j->w + (size_t)u * j->unit_bytes, a, rows, blocks, v);
            for (int c = 0; c < rows; c++)
                for (int r = 0; r < present; r++) store(j, i + c, unit_rows * u + r, v[unit_rows * c + r]);
        }
    }
}

/// Below this many weights per product, handing part to the helper costs more than it saves.
static const size_t parallel_min_weights = 1 << 16;

static int groups_of(int n) { return (n + GROUP_ROWS - 1) / GROUP_ROWS; }

size_t raq_packed_bytes(int format, int n, int k) {
    switch (format) {
    case RAQ_Q8_0: return (size_t)groups_of(n) * (size_t)(k / 32) * GROUP_BLOCK_BYTES;
    case RAQ_Q4_1: return (size_t)n * (size_t)(k / 32) * 20;
    default: return 0;
    }
}

void raq_pack(int format, const void *rows, int n, int k, void *out) {
    const size_t row_bytes = (size_t)(k / 32) * raq_block_bytes(format);
    if (format != RAQ_Q8_0) {
        memcpy(out, rows, (size_t)n * row_bytes);
        return;
    }
    const uint8_t *src = rows;
    uint8_t *o = out;
    for (int g = 0; g < groups_of(n); g++) {
        const int present = rows_present(n, g, GROUP_ROWS);
        for (int b = 0; b < k / 32; b++, o += GROUP_BLOCK_BYTES) {
            if (present < GROUP_ROWS) {  // padding rows: d = 0, q = 0 (stored as 128)
                memset(o, 0, 32);
                memset(o + 32, 0x80, GROUP_BLOCK_BYTES - 32);
            }
            for (int r = 0; r < present; r++) {
                const uint8_t *block = src + (size_t)(GROUP_ROWS * g + r) * row_bytes + (size_t)b * 34;
                memcpy(o + 2 * r, block, 2);
                for (int s = 0; s < 8; s++) {  // 4 bytes at a time, each + 128
                    uint32_t four;
                    memcpy(&four, block + 2 + 4 * s, 4);
                    four ^= 0x80808080u;
                    memcpy(o + 32 + 64 * s + 4 * r, &four, 4);
                }
            }
        }
    }
}

bool raq_matmul(int format, const void *w, int n, int k, const float *x, int m, float *y, bool accumulate,
                int path, int threads) {
    if (raq_block_bytes(format) == 0 || !raq_path_supported(path) || k % 32 != 0) return false;
    if (n <= 0 || m <= 0 || k <= 0) return true;
    const kernel kern = select_kernel(format, path == RAQ_PATH_AUTO ? raq_best_path() : path);
    if (kern.quantize == NULL) return false;
    const bool q8 = format == RAQ_Q8_0;
    // The quantized activations of a few rows fit on the stack; prefill-sized inputs go to the heap.
    uint8_t stack[32768] __attribute__((aligned(64)));
    const size_t bytes = (size_t)m * act_row_bytes(k);
    uint8_t *act = bytes <= sizeof stack ? stack : malloc(bytes);
    if (act == NULL) return false;
    for (int i = 0; i < m; i++) kern.quantize(x + (size_t)i * k, k, act_at(act, k, i), q8 ? ACT_Q8_0 : ACT_Q4_1);
    const job j = {kern, w, (size_t)(k / 32) * kern.unit_rows * raq_block_bytes(format), n, k, m, act, y, accumulate};
    const int helpers = (size_t)n * (size_t)k < parallel_min_weights ? 1 : threads;
    if (q8) {  // a group is 16 rows' work: chunks of whole groups, up to 16 of them
        const int groups = groups_of(n), chunks = groups < 16 ? groups : 16;
        rah_parallel_chunks(run_units, &j, groups, (groups + chunks - 1) / chunks, helpers);
    } else {
        rah_parallel_rows(run_units, &j, n, 1, helpers);
    }
    if (act != stack) free(act);
    return true;
}

// MARK: - Quantizing weights

/// One Q8_0 block: d = max|x|/127 as f16 (nearest even, as Swift's Float16(d)), q = round(x/d).
static inline float q8_0_scale(float amax, uint8_t *o) {
    const float d = amax / 127;
    const _Float16 h = (_Float16)d;
    memcpy(o, &h, 2);
    return d != 0 ? 1 / d : 0;
}

static void quantize_q8_0_scalar(const float *x, size_t blocks, uint8_t *o) {
    for (size_t b = 0; b < blocks; b++, x += 32, o += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float id = q8_0_scale(amax, o);
        for (int j = 0; j < 32; j++) o[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

#if defined(__x86_64__)
/// The same bytes on 8 lanes. roundf rounds half away from zero: t = trunc(v), plus sign(v) where
/// |v − t| ≥ 0.5 (v − t is exact, so no double rounding as in trunc(v + 0.5)).
AVX2_TARGET static void quantize_q8_0_avx2(const float *x, size_t blocks, uint8_t *o) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), half = _mm256_set1_ps(0.5f);
    for (size_t b = 0; b < blocks; b++, x += 32, o += 34) {
        __m256 v[4];
        const __m256 id = _mm256_set1_ps(q8_0_scale(load_block(x, v), o));
        __m256i q[4];
        for (int i = 0; i < 4; i++) {
            const __m256 y = _mm256_mul_ps(v[i], id), t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 away = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(y, t), magnitude), half, _CMP_GE_OQ),
                                              _mm256_or_ps(_mm256_andnot_ps(magnitude, y), _mm256_set1_ps(1)));
            q[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, away));
        }
        _mm256_storeu_si256((__m256i *)(o + 2), pack_block(q));
    }
}
#endif

bool raq_quantize_q8_0(const float *x, size_t blocks, void *out, int path) {
    switch (path == RAQ_PATH_AUTO ? raq_best_path() : path) {
    case RAQ_PATH_SCALAR: quantize_q8_0_scalar(x, blocks, out); return true;
#if defined(__x86_64__)
    case RAQ_PATH_AVX2:
    case RAQ_PATH_AVX512_VNNI:
        if (!raq_path_supported(path)) return false;
        quantize_q8_0_avx2(x, blocks, out);
        return true;
#endif
    default: return false;
    }
}
