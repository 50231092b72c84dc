// Quantized matrix products for decoding, in the manner of llama.cpp's ggml_vec_dot_q8_0_q8_0 and
// ggml_vec_dot_q4_1_q8_1: the activations are quantized per 32-element block to int8 (d = max|x|/127),
// each block's integer dot product with the weight block is exact, and only the per-block scale
// products are floating point:
//   Q8_0:  Σ_b d_w·d_x·Σ_j q_w·q_x
//   Q4_1:  Σ_b d_w·d_x·Σ_j q_w·q_x + m_w·(d_x·Σ_j q_x)      (x = d·q + m for the weights)
// Three paths: AVX-512 VNNI (vpdpbusd: u8 × s8 summed in fours into int32), AVX2 (vpmaddubsw +
// vpmaddwd) and portable C; a register holds one Q8_0 block (a pair on the VNNI path), or the low (high)
// nibbles of two Q4_1 blocks. A weight row meets up to eight activation rows at once (a row tile): its
// blocks are loaded, unpacked and their scales converted once for all of them. Every output keeps the
// one-row operation order, so a row's result does not depend on how many rows are multiplied with it.
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

/// One activation row of k elements: per block its scale d and d·Σq (interleaved: d0 s0 d1 s1 …), then
/// the k int8 values in the kernel's `act_layout`.
typedef struct {
    float *ds;
    int8_t *q;
} act_row;

/// How a kernel wants its activations: block order, block order stored as q + 128 (unsigned, for
/// vpdpbusd with the weights as the signed operand), or Q4_1's paired order (`q4_slot`).
typedef enum { ACT_SIGNED, ACT_OFFSET, ACT_Q4_PAIRS } act_layout;

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
/// the sign trick of the SIMD paths never negates −128, and q + 128 fits a byte. The portable path's
/// quantizer, so its layouts only (ACT_SIGNED, ACT_Q4_PAIRS); `quantize_row_avx2` writes all three.
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
            a.q[layout == ACT_Q4_PAIRS ? q4_slot(b, j, blocks) : 32 * b + j] = (int8_t)q;
            sum += q;
        }
        a.ds[2 * b] = d;
        a.ds[2 * b + 1] = d * (float)sum;
    }
}

/// out[c] = the dot product of one weight row (`blocks` blocks at w) with activation row a[c], c < rows
/// ≤ the kernel's tile rows.
typedef void (*tile_fn)(const uint8_t *w, const act_row *a, int rows, int blocks, float *out);

/// Most activation rows a tile takes: the AVX-512 kernels have 32 registers for eight rows'
/// accumulators, the AVX2 ones 16, enough for four.
enum { MAX_TILE_ROWS = 8 };

/// A tile function from a body written for a constant row count (inlined once per count up to
/// `most`, so its per-row accumulators live in registers).
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

static float dot_q8_0_scalar(const uint8_t *w, const int8_t *q, const float *ds, int blocks) {
    float sum = 0;
    for (int b = 0; b < blocks; b++, w += 34, q += 32) {
        int acc = 0;
        for (int j = 0; j < 32; j++) acc += (int8_t)w[2 + j] * q[j];
        sum += f16_to_f32(load_u16(w)) * ds[2 * b] * (float)acc;
    }
    return sum;
}

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

static void tile_q8_0_scalar(const uint8_t *w, const act_row *a, int rows, int blocks, float *out) {
    for (int c = 0; c < rows; c++) out[c] = dot_q8_0_scalar(w, a[c].q, a[c].ds, blocks);
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
        __m256i bytes = pack_block(q);
        if (layout == ACT_OFFSET) bytes = _mm256_xor_si256(bytes, _mm256_set1_epi8((char)0x80));
        _mm_storeu_si128((__m128i *)(a.q + (layout == ACT_Q4_PAIRS ? q4_slot(b, 0, blocks) : 32 * b)), _mm256_castsi256_si128(bytes));
        _mm_storeu_si128((__m128i *)(a.q + (layout == ACT_Q4_PAIRS ? q4_slot(b, 16, blocks) : 32 * b + 16)), _mm256_extracti128_si256(bytes, 1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        a.ds[2 * b] = d;
        a.ds[2 * b + 1] = d * (float)_mm_cvtsi128_si32(s4);
    }
}

/// Q8_0 rows, on the AVX2 path as on the VNNI one: even and odd blocks in two accumulator chains per row
/// (hiding the FMA latency), scale d_w·d_x per block. `DOT(w, x)` is one block's eight int32 partial sums.
#define Q8_0_ROWS(DOT, PREPARE)                                                                          \
    __m256 acc0[MAX_TILE_ROWS], acc1[MAX_TILE_ROWS];                                                    \
    for (int c = 0; c < C; c++) acc0[c] = acc1[c] = _mm256_setzero_ps();                                \
    int b = 0;                                                                                          \
    for (; b + 1 < blocks; b += 2, w += 68) {                                                           \
        const __m256i w0 = load256(w + 2), w1 = load256(w + 36);                                        \
        PREPARE(w0, u0) PREPARE(w1, u1)                                                                 \
        const float d0 = half_at(w), d1 = half_at(w + 34);                      \
        for (int c = 0; c < C; c++) {                                                                   \
            const int8_t *q = a[c].q + 32 * b;                                                          \
            acc0[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(w0, u0, load256(q))), _mm256_set1_ps(d0 * a[c].ds[2 * b]), acc0[c]); \
            acc1[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(w1, u1, load256(q + 32))), _mm256_set1_ps(d1 * a[c].ds[2 * b + 2]), acc1[c]); \
        }                                                                                               \
    }                                                                                                   \
    if (b < blocks) {                                                                                   \
        const __m256i w0 = load256(w + 2);                                                              \
        PREPARE(w0, u0)                                                                                 \
        const float d0 = half_at(w);                                                        \
        for (int c = 0; c < C; c++)                                                                     \
            acc0[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DOT(w0, u0, load256(a[c].q + 32 * b))), _mm256_set1_ps(d0 * a[c].ds[2 * b]), acc0[c]); \
    }                                                                                                   \
    for (int c = 0; c < C; c++) out[c] = ra_hsum256(_mm256_add_ps(acc0[c], acc1[c]));

/// vpmaddubsw multiplies unsigned by signed bytes: |w| (prepared once per block) by x with w's sign
/// moved onto it (llama.cpp's trick). Pair sums reach 2·127·127, inside int16.
#define AVX2_ABS(w, u) const __m256i u = _mm256_sign_epi8(w, w);
#define AVX2_DOT(w, u, x) _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1))

AVX2_TARGET INLINE void q8_0_avx2_rows(const uint8_t *w, const act_row *a, int blocks, float *out, const int C) {
    Q8_0_ROWS(AVX2_DOT, AVX2_ABS)
}
ROW_TILES(AVX2_TARGET, tile_q8_0_avx2, q8_0_avx2_rows, 4)

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
// vpmaddwd. Q8_0 pairs blocks in 512-bit registers: the pairing shuffle is paid once per weight pair for
// every row of the tile (for one row at a time it lost to 256-bit registers). Q4_1 stays on 256-bit
// registers, where a register already holds the nibbles of two blocks.
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

/// Q8_0 rows on 512-bit registers: a block pair per register (blocks b, b+1 in the low and high halves,
/// the two accumulator chains of the AVX2 path, so the sums are the same). The activations come as
/// x + 128 (unsigned) and the weights are the signed operand, so a row needs one vpdpbusd per pair:
/// Σ (x + 128)·w − 128·Σ w = Σ x·w, with −128·Σ w per int32 lane (the accumulator's start) computed
/// once per weight pair. Lanes stay far inside int32.
VNNI_TARGET INLINE void q8_0_vnni_rows(const uint8_t *w, const act_row *a, int blocks, float *out, const int C) {
    __m512 acc[MAX_TILE_ROWS];
    for (int c = 0; c < C; c++) acc[c] = _mm512_setzero_ps();
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    int b = 0;
    for (; b + 1 < blocks; b += 2, w += 68) {
        const __m512i wv = _mm512_inserti64x4(_mm512_castsi256_si512(load256(w + 2)), load256(w + 36), 1);
        const __m512i bias = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, wv));
        const __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)load_u16(w) | (uint64_t)load_u16(w + 34) << 32)));  // [d_w0, 0, d_w1, 0]
        for (int c = 0; c < C; c++) {
            // [d_w·d_x of block b] × 8, then of block b + 1: the ds row holds d at even places
            const __m512 scale = _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(_mm_permute_ps(_mm_mul_ps(dw, _mm_loadu_ps(a[c].ds + 2 * b)), 0x08)));
            const __m512i p = _mm512_dpbusd_epi32(bias, _mm512_loadu_si512(a[c].q + 32 * b), wv);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scale, acc[c]);
        }
    }
    for (int c = 0; c < C; c++) {
        __m256 even = _mm512_castps512_ps256(acc[c]);
        if (b < blocks) {
            const __m256i w0 = load256(w + 2);
            const __m256i bias = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm512_castsi512_si256(offset), w0));
            const __m256i p = _mm256_dpbusd_epi32(bias, load256(a[c].q + 32 * b), w0);
            even = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(half_at(w) * a[c].ds[2 * b]), even);
        }
        out[c] = ra_hsum256(_mm256_add_ps(even, _mm512_extractf32x8_ps(acc[c], 1)));
    }
}
ROW_TILES(VNNI_TARGET, tile_q8_0_vnni, q8_0_vnni_rows, 8)

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

typedef struct {
    tile_fn tile;
    int tile_rows;
    quantize_fn quantize;
    act_layout layout;
} kernel;

static kernel select_kernel(int format, int path) {
    const bool q8 = format == RAQ_Q8_0;
    const act_layout signed_layout = q8 ? ACT_SIGNED : ACT_Q4_PAIRS;
    switch (path) {
    case RAQ_PATH_SCALAR: return (kernel){q8 ? tile_q8_0_scalar : tile_q4_1_scalar, MAX_TILE_ROWS, quantize_row, signed_layout};
#if defined(__x86_64__)
    case RAQ_PATH_AVX2: return (kernel){q8 ? tile_q8_0_avx2 : tile_q4_1_avx2, 4, quantize_row_avx2, signed_layout};
    case RAQ_PATH_AVX512_VNNI: return (kernel){q8 ? tile_q8_0_vnni : tile_q4_1_vnni, 8, quantize_row_avx2, q8 ? ACT_OFFSET : ACT_Q4_PAIRS};
#endif
    default: return (kernel){NULL, 0, NULL, signed_layout};
    }
}

// MARK: - Rows

typedef struct {
    tile_fn tile;
    int tile_rows;
    const uint8_t *w;
    size_t row_bytes;
    int n, k, m;
    uint8_t *act;
    float *y;
    bool accumulate;
} job;

static void run_rows(const void *context, int first, int end) {
    const job *j = context;
    const int blocks = j->k / 32;
    for (int r = first; r < end; r++) {
        const uint8_t *wr = j->w + (size_t)r * j->row_bytes;
        for (int i = 0; i < j->m; i += j->tile_rows) {
            const int rows = j->m - i < j->tile_rows ? j->m - i : j->tile_rows;
            act_row a[MAX_TILE_ROWS];
            float v[MAX_TILE_ROWS];
            for (int c = 0; c < rows; c++) a[c] = act_at(j->act, j->k, i + c);
            j->tile(wr, a, rows, blocks, v);
            for (int c = 0; c < rows; c++) {
                float *out = j->y + (size_t)(i + c) * j->n + r;
                *out = j->accumulate ? *out + v[c] : v[c];
            }
        }
    }
}

/// Below this many weights per product, handing part to the helper costs more than it saves.
static const size_t parallel_min_weights = 1 << 16;

bool raq_matmul(int format, const void *w, int n, int k, const float *x, int m, float *y, bool accumulate,
                int path, int threads) {
    if (raq_block_bytes(format) == 0 || !raq_path_supported(path) || k % 32 != 0) return false;
    if (n <= 0 || m <= 0 || k <= 0) return true;
    const kernel kern = select_kernel(format, path == RAQ_PATH_AUTO ? raq_best_path() : path);
    if (kern.tile == NULL) return false;
    // The quantized activations of a few rows fit on the stack; prefill-sized inputs go to the heap.
    uint8_t stack[32768] __attribute__((aligned(64)));
    const size_t bytes = (size_t)m * act_row_bytes(k);
    uint8_t *act = bytes <= sizeof stack ? stack : malloc(bytes);
    if (act == NULL) return false;
    for (int i = 0; i < m; i++) kern.quantize(x + (size_t)i * k, k, act_at(act, k, i), kern.layout);
    const job j = {kern.tile, kern.tile_rows, w, (size_t)(k / 32) * raq_block_bytes(format), n, k, m, act, y, accumulate};
    rah_parallel_rows(run_rows, &j, n, 1, (size_t)n * (size_t)k < parallel_min_weights ? 1 : threads);
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
