// y[m, n] (+)= x[m, k] · W[n, k]ᵀ for a few rows m, the linear layers of batched decoding. OpenBLAS's
// sgemm has a large fixed cost at small m, and one sgemv per row reads W m times; here a tile of NR
// rows of W is read from memory once and multiplied, from L1, into every row of x.
//
// Each output is a dot product of two contiguous rows, accumulated in an 8-lane vector over k (the last
// k % 8 lanes zero-padded) and summed across lanes at the end, in the same order for every tile shape,
// tile position and thread; so a chunk of output columns can go to either thread without changing a
// bit. Simplifications: no k-blocking (x's rows stream from L1/L2 once per W tile), alpha = 1 only.
// Two paths: AVX2+FMA (256-bit; 12 accumulators of MR × NR outputs in the 16 ymm registers) and
// portable C (the same order of lanes, separate multiply and add). Each function carries its own target
// attribute, so the file builds without global -m flags; ras_path_supported checks CPUID.
#include "small_sgemm.h"

#include "helper_thread.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { MR = 4, NR = 3 };  // AVX2 tiles: 12 accumulators and 3 weight vectors; x comes in as FMA memory operands

typedef struct {
    int m, n, k;
    const float *x, *w;
    size_t ldx, ldw, ldy;
    float *y;
    bool accumulate;
} product;

static inline void store(const product *p, int i, int j, float v) {
    float *out = p->y + (size_t)i * p->ldy + j;
    *out = p->accumulate ? *out + v : v;
}

/// Rows of x per tile: m split into groups of at most `most` rows, as even as possible (a group of one
/// row has too few independent accumulators to hide the FMA latency).
static inline int group_rows(int m, int most, int row) {
    const int groups = (m + most - 1) / most, small = m / groups, large_groups = m % groups;
    return row < large_groups * (small + 1) ? small + 1 : small;
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

#if defined(__x86_64__)

// MARK: - AVX2 path

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define INLINE inline __attribute__((always_inline))

/// The lanes summed as dot_portable sums them.
AVX2_TARGET static INLINE float hsum256(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

AVX2_TARGET static INLINE __m256 load(const float *p, __m256i mask, bool masked) {
    return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

/// acc[r][c] += x[row r, k0..k0+8) · w[col c, k0..k0+8), lanewise.
AVX2_TARGET static INLINE void fma_step(__m256 acc[MR][NR], const float *x, size_t ldx, const float *w, size_t ldw,
                                        int rows, int cols, int k0, __m256i mask, bool masked) {
    __m256 wv[NR];
    for (int c = 0; c < cols; c++) wv[c] = load(w + c * ldw + k0, mask, masked);
    for (int r = 0; r < rows; r++) {
        const __m256 xv = load(x + r * ldx + k0, mask, masked);
        for (int c = 0; c < cols; c++) acc[r][c] = _mm256_fmadd_ps(xv, wv[c], acc[r][c]);
    }
}

/// Outputs [row, row + rows) × [col, col + cols); rows and cols are constants at every call, so the
/// loops unroll and the accumulators stay in registers.
AVX2_TARGET static INLINE void block_avx2(const product *p, int row, int col, int rows, int cols) {
    __m256 acc[MR][NR];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) acc[r][c] = _mm256_setzero_ps();
    const float *x = p->x + (size_t)row * p->ldx, *w = p->w + (size_t)col * p->ldw;
    const __m256i none = _mm256_setzero_si256();
    int k0 = 0;
    for (; k0 + 8 <= p->k; k0 += 8) fma_step(acc, x, p->ldx, w, p->ldw, rows, cols, k0, none, false);
    if (k0 < p->k) {  // masked-off lanes load 0 and fma(0, 0, a) = a
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(p->k - k0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        fma_step(acc, x, p->ldx, w, p->ldw, rows, cols, k0, mask, true);
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) store(p, row + r, col + c, hsum256(acc[r][c]));
}

AVX2_TARGET static void block_avx2_of(const product *p, int row, int col, int rows, bool full) {
    switch (rows * 2 + full) {
    case 2: block_avx2(p, row, col, 1, 1); break;
    case 3: block_avx2(p, row, col, 1, NR); break;
    case 4: block_avx2(p, row, col, 2, 1); break;
    case 5: block_avx2(p, row, col, 2, NR); break;
    case 6: block_avx2(p, row, col, 3, 1); break;
    case 7: block_avx2(p, row, col, 3, NR); break;
    case 8: block_avx2(p, row, col, 4, 1); break;
    case 9: block_avx2(p, row, col, 4, NR); break;
    }
}

AVX2_TARGET static void rows_avx2(const void *context, int first, int end) {
    const product *p = context;
    for (int col = first; col < end;) {
        const bool full = end - col >= NR;  // the last < NR columns go one at a time
        for (int row = 0, rows; row < p->m; row += rows) {
            rows = group_rows(p->m, MR, row);
            block_avx2_of(p, row, col, rows, full);
        }
        col += full ? NR : 1;
    }
}

#endif

// MARK: - Dispatch

bool ras_path_supported(int path) {
    switch (path) {
    case RAS_PATH_AUTO:
    case RAS_PATH_PORTABLE: return true;
#if defined(__x86_64__)
    case RAS_PATH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return false;
    }
}

int ras_best_path(void) { return ras_path_supported(RAS_PATH_AVX2) ? RAS_PATH_AVX2 : RAS_PATH_PORTABLE; }

/// Below this many multiply-adds, handing half to the helper costs more than it saves.
static const size_t parallel_min_products = 1 << 17;

bool ras_sgemm_nt(int m, int n, int k, const float *x, size_t ldx, const float *w, size_t ldw, float *y, size_t ldy,
                  bool accumulate, int path, int threads) {
    if (!ras_path_supported(path)) return false;
    if (m <= 0 || n <= 0) return true;
    const product p = {m, n, k < 0 ? 0 : k, x, w, ldx, ldw, ldy, y, accumulate};
    rah_rows_fn rows = rows_portable;
#if defined(__x86_64__)
    if ((path == RAS_PATH_AUTO ? ras_best_path() : path) == RAS_PATH_AVX2) rows = rows_avx2;
#endif
    const size_t products = (size_t)m * (size_t)n * (size_t)p.k;
    rah_parallel_rows(rows, &p, n, NR, products < parallel_min_products ? 1 : threads);
    return true;
}
