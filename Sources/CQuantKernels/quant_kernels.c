// Quantized matrix products for decoding, in the manner of llama.cpp's ggml_vec_dot_q8_0_q8_0 and
// ggml_vec_dot_q4_1_q8_1: the activations are quantized per 32-element block to int8 (d = max|x|/127),
// each block's integer dot product with the weight block is exact, and only the per-block scale
// products are floating point:
//   Q8_0:  Σ_b d_w·d_x·Σ_j q_w·q_x
//   Q4_1:  Σ_b d_w·d_x·Σ_j q_w·q_x + m_w·(d_x·Σ_j q_x)      (x = d·q + m for the weights)
// Three paths: AVX-512 VNNI (vpdpbusd: u8 × s8 summed in fours into int32, on 256-bit registers),
// AVX2 (vpmaddubsw + vpmaddwd) and portable C; a register holds one Q8_0 block, or the low (high)
// nibbles of two Q4_1 blocks. Each function carries its own
// target attribute, so the file builds without global -m flags; raq_path_supported checks CPUID.
#include "quant_kernels.h"

#include "helper_thread.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef float (*dot_fn)(const uint8_t *w, const int8_t *q, const float *ds, int blocks);

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
/// the k int8 values, in block order for Q8_0 and in `q4_slot` order for Q4_1.
typedef struct {
    float *ds;
    int8_t *q;
} act_row;

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
/// the sign trick of the SIMD paths never negates −128.
static void quantize_row(const float *x, int k, act_row a, bool q4_order) {
    const int blocks = k / 32;
    for (int b = 0; b < blocks; b++) {
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127, id = d > 0 ? 1 / d : 0;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int q = (int)nearbyintf(xb[j] * id);
            a.q[q4_order ? q4_slot(b, j, blocks) : 32 * b + j] = (int8_t)q;
            sum += q;
        }
        a.ds[2 * b] = d;
        a.ds[2 * b + 1] = d * (float)sum;
    }
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

#if defined(__x86_64__)

// MARK: - AVX2 path

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline float hsum256(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// Nibbles of a Q4_1 block's 16 bytes as 32 bytes in element order: low nibbles, then high.
AVX2_TARGET static inline __m256i unpack_q4(const uint8_t *qs) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(bytes), _mm_srli_epi16(bytes, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/// vpmaddubsw multiplies unsigned by signed bytes: |w| by x with w's sign moved onto x (llama.cpp's
/// trick). Pair sums reach 2·127·127, inside int16.
AVX2_TARGET static inline __m256i dot_i8_avx2(__m256i w, __m256i x) {
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
}

AVX2_TARGET static float dot_q8_0_avx2(const uint8_t *w, const int8_t *q, const float *ds, int blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();  // two chains hide the FMA latency
    int b = 0;
    for (; b + 1 < blocks; b += 2, w += 68, q += 64) {
        const __m256i p0 = dot_i8_avx2(_mm256_loadu_si256((const __m256i *)(w + 2)), _mm256_loadu_si256((const __m256i *)q));
        const __m256i p1 = dot_i8_avx2(_mm256_loadu_si256((const __m256i *)(w + 36)), _mm256_loadu_si256((const __m256i *)(q + 32)));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_cvtsh_ss(load_u16(w)) * ds[2 * b]), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(_cvtsh_ss(load_u16(w + 34)) * ds[2 * b + 2]), acc1);
    }
    if (b < blocks) {
        const __m256i p = dot_i8_avx2(_mm256_loadu_si256((const __m256i *)(w + 2)), _mm256_loadu_si256((const __m256i *)q));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(_cvtsh_ss(load_u16(w)) * ds[2 * b]), acc0);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

/// Two Q4_1 blocks' nibbles: [low nibbles of b0 | of b1] and [high of b0 | of b1] (the `q4_slot` order).
AVX2_TARGET static inline void unpack_q4_pair(const uint8_t *w, __m256i *lo, __m256i *hi) {
    const __m256i bytes = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(w + 4))),
                                                  _mm_loadu_si128((const __m128i *)(w + 24)), 1);
    const __m256i low = _mm256_set1_epi8(0x0F);
    *lo = _mm256_and_si256(bytes, low);
    *hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
}

/// The scales of a block pair: [d_w0·d_x0, m_w0·s_x0, d_w1·d_x1, m_w1·s_x1] from the two (d, m) f16 pairs.
AVX2_TARGET static inline __m128 q4_pair_scales(const uint8_t *w, const float *ds) {
    uint32_t dm0, dm1;
    memcpy(&dm0, w, 4);
    memcpy(&dm1, w + 20, 4);
    const __m128i halves = _mm_insert_epi32(_mm_cvtsi32_si128((int)dm0), (int)dm1, 1);
    return _mm_mul_ps(_mm_cvtph_ps(halves), _mm_loadu_ps(ds));
}

/// The last, unpaired block of a Q4_1 row (in block order), from its int32 products.
AVX2_TARGET static inline float q4_tail(const uint8_t *w, const float *ds, __m256i products) {
    return _cvtsh_ss(load_u16(w)) * ds[0] * hsum256(_mm256_cvtepi32_ps(products)) + _cvtsh_ss(load_u16(w + 2)) * ds[1];
}

AVX2_TARGET static float dot_q4_1_avx2(const uint8_t *w, const int8_t *q, const float *ds, int blocks) {
    __m256 acc = _mm256_setzero_ps();
    __m128 mins = _mm_setzero_ps();  // lanes 1 and 3
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);
    int b = 0;
    for (; b + 1 < blocks; b += 2, w += 40, q += 64) {
        __m256i lo, hi;
        unpack_q4_pair(w, &lo, &hi);
        // nibbles are 0..15, already unsigned: no sign trick; int32 lanes 0-3 are block b, 4-7 block b+1
        const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q)),
                                               _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q + 32))));
        const __m128 scales = q4_pair_scales(w, ds + 2 * b);
        mins = _mm_add_ps(mins, scales);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)),
                              _mm256_permutevar8x32_ps(_mm256_castps128_ps256(scales), spread), acc);
    }
    float sum = hsum256(acc) + _mm_cvtss_f32(_mm_shuffle_ps(mins, mins, 1)) + _mm_cvtss_f32(_mm_shuffle_ps(mins, mins, 3));
    if (b < blocks) sum += q4_tail(w, ds + 2 * b, _mm256_madd_epi16(_mm256_maddubs_epi16(unpack_q4(w + 4), _mm256_loadu_si256((const __m256i *)q)), ones));
    return sum;
}

// MARK: - AVX-512 VNNI path

// vpdpbusd on 256-bit registers (AVX512-VL): one instruction for the u8 × s8 products summed in fours,
// where AVX2 needs vpmaddubsw + vpmaddwd. Whole 512-bit registers were measured slower here: a block
// is 32 bytes, and pairing blocks costs shuffles on the one port they share.
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))

VNNI_TARGET static float dot_q8_0_vnni(const uint8_t *w, const int8_t *q, const float *ds, int blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i zero = _mm256_setzero_si256();
    int b = 0;
    for (; b + 1 < blocks; b += 2, w += 68, q += 64) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 2)), w1 = _mm256_loadu_si256((const __m256i *)(w + 36));
        const __m256i p0 = _mm256_dpbusd_epi32(zero, _mm256_sign_epi8(w0, w0), _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q), w0));
        const __m256i p1 = _mm256_dpbusd_epi32(zero, _mm256_sign_epi8(w1, w1), _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q + 32)), w1));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(_cvtsh_ss(load_u16(w)) * ds[2 * b]), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(_cvtsh_ss(load_u16(w + 34)) * ds[2 * b + 2]), acc1);
    }
    if (b < blocks) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + 2));
        const __m256i p = _mm256_dpbusd_epi32(zero, _mm256_sign_epi8(w0, w0), _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)q), w0));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(_cvtsh_ss(load_u16(w)) * ds[2 * b]), acc0);
    }
    return hsum256(_mm256_add_ps(acc0, acc1));
}

VNNI_TARGET static float dot_q4_1_vnni(const uint8_t *w, const int8_t *q, const float *ds, int blocks) {
    __m256 acc = _mm256_setzero_ps();
    __m128 mins = _mm_setzero_ps();  // lanes 1 and 3
    const __m256i zero = _mm256_setzero_si256();
    const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);
    int b = 0;
    for (; b + 1 < blocks; b += 2, w += 40, q += 64) {
        __m256i lo, hi;
        unpack_q4_pair(w, &lo, &hi);
        // int32 lanes 0-3 are block b, 4-7 block b+1
        const __m256i p = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(zero, lo, _mm256_loadu_si256((const __m256i *)q)), hi,
                                              _mm256_loadu_si256((const __m256i *)(q + 32)));
        const __m128 scales = q4_pair_scales(w, ds + 2 * b);
        mins = _mm_add_ps(mins, scales);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_permutevar8x32_ps(_mm256_castps128_ps256(scales), spread), acc);
    }
    float sum = hsum256(acc) + _mm_cvtss_f32(_mm_shuffle_ps(mins, mins, 1)) + _mm_cvtss_f32(_mm_shuffle_ps(mins, mins, 3));
    if (b < blocks) sum += q4_tail(w, ds + 2 * b, _mm256_dpbusd_epi32(zero, unpack_q4(w + 4), _mm256_loadu_si256((const __m256i *)q)));
    return sum;
}

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

static dot_fn select_dot(int format, int path) {
    const bool q8 = format == RAQ_Q8_0;
    switch (path) {
    case RAQ_PATH_SCALAR: return q8 ? dot_q8_0_scalar : dot_q4_1_scalar;
#if defined(__x86_64__)
    case RAQ_PATH_AVX2: return q8 ? dot_q8_0_avx2 : dot_q4_1_avx2;
    case RAQ_PATH_AVX512_VNNI: return q8 ? dot_q8_0_vnni : dot_q4_1_vnni;
#endif
    default: return NULL;
    }
}

// MARK: - Rows

typedef struct {
    dot_fn dot;
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
        for (int i = 0; i < j->m; i++) {
            const act_row a = act_at(j->act, j->k, i);
            const float v = j->dot(wr, a.q, a.ds, blocks);
            float *out = j->y + (size_t)i * j->n + r;
            *out = j->accumulate ? *out + v : v;
        }
    }
}

/// Below this many weights per product, handing part to the helper costs more than it saves.
static const size_t parallel_min_weights = 1 << 16;

bool raq_matmul(int format, const void *w, int n, int k, const float *x, int m, float *y, bool accumulate,
                int path, int threads) {
    if (raq_block_bytes(format) == 0 || !raq_path_supported(path) || k % 32 != 0) return false;
    if (n <= 0 || m <= 0 || k <= 0) return true;
    const dot_fn dot = select_dot(format, path == RAQ_PATH_AUTO ? raq_best_path() : path);
    if (dot == NULL) return false;
    // The quantized activations of a few rows fit on the stack; prefill-sized inputs go to the heap.
    uint8_t stack[32768] __attribute__((aligned(64)));
    const size_t bytes = (size_t)m * act_row_bytes(k);
    uint8_t *act = bytes <= sizeof stack ? stack : malloc(bytes);
    if (act == NULL) return false;
    for (int i = 0; i < m; i++) quantize_row(x + (size_t)i * k, k, act_at(act, k, i), format == RAQ_Q4_1);
    const job j = {dot, w, (size_t)(k / 32) * raq_block_bytes(format), n, k, m, act, y, accumulate};
    rah_parallel_rows(run_rows, &j, n, 1, (size_t)n * (size_t)k < parallel_min_weights ? 1 : threads);
    if (act != stack) free(act);
    return true;
}

// MARK: - Quantizing weights

void raq_quantize_q8_0(const float *x, size_t blocks, void *out) {
    uint8_t *o = out;
    for (size_t b = 0; b < blocks; b++, x += 32, o += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127, id = d != 0 ? 1 / d : 0;
        const _Float16 h = (_Float16)d;  // round to nearest even, as Swift's Float16(d)
        memcpy(o, &h, 2);
        for (int j = 0; j < 32; j++) o[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}
