// y[m, n] (+)= x[m, k] · W[n, k]ᵀ for a few rows m, the linear layers of batched decoding. OpenBLAS's
// sgemm has a large fixed cost at small m, and one sgemv per row reads W m times; here a tile of a few
// rows of W is read from memory once and multiplied, from L1, into every row of x.
//
// Each output is a dot product of two contiguous rows, accumulated in one vector over k (the last
// partial vector zero-padded) and summed across lanes at the end, in the same order for every tile
// shape, tile position and thread; so a chunk of output columns can go to either thread without
// changing a bit. Simplifications: no k-blocking (x's rows stream from L1/L2 once per W tile), alpha = 1.
// Three paths, one kernel (tile_kernel.h) instantiated twice plus portable C:
//   AVX-512  zmm, tiles of 4 × 6 outputs: 24 accumulators and 6 weight vectors of the 32 registers
//   AVX2     ymm, tiles of 4 × 3: 12 accumulators and 3 weight vectors of the 16
//   portable one output at a time, in the AVX2 path's order of lanes (separate multiply and add)
// Each function carries its own target attribute, so the file builds without global -m flags;
// ras_path_supported checks CPUID. The same paths run a decoding step's attention
// (decode_attention_kernel.h, include/decode_attention.h).
#include "small_sgemm.h"
#include "decode_attention.h"

#include <math.h>

#include "helper_thread.h"
#include "simd_sums.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define INLINE inline __attribute__((always_inline))

typedef struct {
    int m, n, k;
    const float *x, *w;
    size_t ldx, ldw, ldy;
    float *y;
    bool accumulate;
} product;

static INLINE void store(const product *p, int i, int j, float v) {
    float *out = p->y + (size_t)i * p->ldy + j;
    *out = p->accumulate ? *out + v : v;
}

/// Rows of x per tile: m split into groups of at most `most` rows, as even as possible (a group of one
/// row has too few independent accumulators to hide the FMA latency).
static INLINE int group_rows(int m, int most, int row) {
    const int groups = (m + most - 1) / most, small = m / groups, large_groups = m % groups;
    return row < large_groups * (small + 1) ? small + 1 : small;
}

/// The softmax of one head's scores over the unmasked slots, in slot order (libm's expf): written in
/// place, 0 where masked; all 0 when no slot is visible.
static void softmax_row(float *p, int keys, const bool *mask) {
    float m = -INFINITY, sum = 0;
    for (int j = 0; j < keys; j++)
        if (mask[j] && p[j] > m) m = p[j];
    if (m == -INFINITY) {
        for (int j = 0; j < keys; j++) p[j] = 0;
        return;
    }
    for (int j = 0; j < keys; j++) {
        p[j] = mask[j] ? expf(p[j] - m) : 0;
        sum += p[j];
    }
    const float inv = 1 / sum;
    for (int j = 0; j < keys; j++) p[j] *= inv;
}

/// Asks for the first `floats` of the cache row 8 slots on: rows are ldkv floats apart and the work per row
/// is small, so the hardware's prefetch alone leaves the kernel waiting. (A hint: past the cache's end it
/// does nothing.)
static INLINE void prefetch_row(const float *row, size_t ldkv, int floats) {
    const char *next = (const char *)(row + 8 * ldkv);
    for (int b = 0; b < floats * (int)sizeof(float); b += 64) __builtin_prefetch(next + b);
}

// MARK: - Portable path

static float dot_portable(const float *x, const float *w, int k) {
    float lanes[8] = {0};
    for (int l = 0; l < k; l++) lanes[l % 8] += x[l] * w[l];
    return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

static void rows_portable(const void *context, int first, int end) {
    const product *p = context;
    for (int j = first; j < end; j++) {
        const float *w = p->w + (size_t)j * p->ldw;  // one row of W, in L1 for every row of x
        for (int i = 0; i < p->m; i++) store(p, i, j, dot_portable(p->x + (size_t)i * p->ldx, w, p->k));
    }
}

static void decode_attention_portable(int kv_heads, int group, int D, int keys, const float *q, const float *k,
                                      const float *v, size_t ldkv, const bool *mask, float scale, float *probs, float *out) {
    for (int h = 0; h < kv_heads * group; h++) {
        const float *qh = q + (size_t)h * D, *kg = k + (size_t)(h / group) * D, *vg = v + (size_t)(h / group) * D;
        float *p = probs + (size_t)h * keys, *o = out + (size_t)h * D;
        for (int j = 0; j < keys; j++)
            if (mask[j]) p[j] = scale * dot_portable(qh, kg + (size_t)j * ldkv, D);
        softmax_row(p, keys, mask);
        for (int d = 0; d < D; d++) o[d] = 0;
        for (int j = 0; j < keys; j++)
            if (mask[j])
                for (int d = 0; d < D; d++) o[d] += p[j] * vg[(size_t)j * ldkv + d];
    }
}

#if defined(__x86_64__)

// MARK: - AVX2 path

#define AVX2_TARGET __attribute__((target("avx2,fma")))

/// A plain load unless masked: vmaskmovps costs more than a load on the hot path.
AVX2_TARGET static INLINE __m256 load256(const float *p, __m256i mask, bool masked) {
    return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

AVX2_TARGET static INLINE void store256(float *p, __m256 v, __m256i mask, bool masked) {
    if (masked) _mm256_maskstore_ps(p, mask, v);
    else _mm256_storeu_ps(p, v);
}

#define PATH_NAME(f) f##_avx2
#define TARGET AVX2_TARGET
#define VEC __m256
#define LANES 8
#define MASK __m256i
#define TAIL_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define LOAD load256
#define FMA _mm256_fmadd_ps
#define HSUM ra_hsum256
#define ZERO _mm256_setzero_ps()
#define SET1 _mm256_set1_ps
#define STORE store256
#define TILE_COLS 3
#include "decode_attention_kernel.h"
#include "tile_kernel.h"
#undef SET1
#undef STORE

// MARK: - AVX-512 path

#define AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx2,fma")))

AVX512_TARGET static INLINE float hsum512(__m512 v) {
    return ra_hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}

#define PATH_NAME(f) f##_avx512
#define TARGET AVX512_TARGET
#define VEC __m512
#define LANES 16
#define MASK __mmask16
#define TAIL_MASK(n) ((__mmask16)((1u << (n)) - 1))
#define LOAD(p, mask, masked) ((void)(masked), _mm512_maskz_loadu_ps(mask, p))
#define FMA _mm512_fmadd_ps
#define HSUM hsum512
#define ZERO _mm512_setzero_ps()
#define SET1 _mm512_set1_ps
#define STORE(p, v, mask, masked) ((void)(masked), _mm512_mask_storeu_ps(p, mask, v))
#define TILE_COLS 6
#include "decode_attention_kernel.h"
#include "tile_kernel.h"
#undef SET1
#undef STORE

#endif

// MARK: - Dispatch

bool ras_path_supported(int path) {
    switch (path) {
    case RAS_PATH_AUTO:
    case RAS_PATH_PORTABLE: return true;
#if defined(__x86_64__)
    case RAS_PATH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case RAS_PATH_AVX512:
        return ras_path_supported(RAS_PATH_AVX2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#endif
    default: return false;
    }
}

int ras_best_path(void) {
    if (ras_path_supported(RAS_PATH_AVX512)) return RAS_PATH_AVX512;
    if (ras_path_supported(RAS_PATH_AVX2)) return RAS_PATH_AVX2;
    return RAS_PATH_PORTABLE;
}

/// Below this many multiply-adds, handing half to the helper costs more than it saves.
static const size_t parallel_min_products = 1 << 17;

bool ras_sgemm_nt(int m, int n, int k, const float *x, size_t ldx, const float *w, size_t ldw, float *y, size_t ldy,
                  bool accumulate, int path, int threads) {
    if (!ras_path_supported(path)) return false;
    if (m <= 0 || n <= 0) return true;
    const product p = {m, n, k < 0 ? 0 : k, x, w, ldx, ldw, ldy, y, accumulate};
    rah_rows_fn rows = rows_portable;
    int tile_cols = 1;  // chunks of whole tiles, so only the last chunk has a ragged edge
#if defined(__x86_64__)
    switch (path == RAS_PATH_AUTO ? ras_best_path() : path) {
    case RAS_PATH_AVX2: rows = rows_avx2, tile_cols = 3; break;
    case RAS_PATH_AVX512: rows = rows_avx512, tile_cols = 6; break;
    }
#endif
    const size_t products = (size_t)m * (size_t)n * (size_t)p.k;
    rah_parallel_rows(rows, &p, n, tile_cols, products < parallel_min_products ? 1 : threads);
    return true;
}

bool ras_decode_attention(int kv_heads, int group, int head_dim, int keys, const float *q, const float *k,
                          const float *v, size_t ldkv, const bool *mask, float scale, float *probs, float *out, int path) {
    if (!ras_path_supported(path)) return false;
    void (*run)(int, int, int, int, const float *, const float *, const float *, size_t, const bool *, float, float *,
                float *) = decode_attention_portable;
#if defined(__x86_64__)
    switch (path == RAS_PATH_AUTO ? ras_best_path() : path) {
    case RAS_PATH_AVX2: run = decode_attention_avx2; break;
    case RAS_PATH_AVX512: run = decode_attention_avx512; break;
    }
#endif
    run(kv_heads, group, head_dim, keys, q, k, v, ldkv, mask, scale, probs, out);
    return true;
}
