// The horizontal sum both C kernel modules use (CSmallGemm's portable path adds its eight lanes in
// this same order). Kept beside the helper thread because both modules already depend on it.
#ifndef REFALIGN_SIMD_SUMS_H
#define REFALIGN_SIMD_SUMS_H

#if defined(__x86_64__)
#include <immintrin.h>

/// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). The target is the least its callers have, so it
/// inlines into AVX2 and AVX-512 functions alike.
__attribute__((target("avx2"), always_inline)) static inline float ra_hsum256(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}
#endif

#endif
