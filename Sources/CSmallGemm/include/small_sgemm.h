// fp32 linear-layer products for a few rows of activations: y = x · Wᵀ with W stored [n, k] row-major,
// each weight read from memory once for all rows.
#ifndef REFALIGN_SMALL_SGEMM_H
#define REFALIGN_SMALL_SGEMM_H

#include <stdbool.h>
#include <stddef.h>

/// Code paths. AUTO picks the best one the CPU (CPUID, with OS register state) supports.
enum { RAS_PATH_AUTO = 0, RAS_PATH_PORTABLE = 1, RAS_PATH_AVX2 = 2, RAS_PATH_AVX512 = 3 };

/// True when this CPU can run `path` (AUTO and PORTABLE always can).
bool ras_path_supported(int path);
/// The path AUTO resolves to.
int ras_best_path(void);

/// y[i, j] = Σ_l x[i, l] · w[j, l] for i < m, j < n, or y[i, j] += that with `accumulate`; rows of x, w
/// and y are ldx, ldw and ldy floats apart. With `threads` ≥ 2, large products share their output
/// columns with one helper thread; each output is summed in one fixed order whatever its thread or
/// tile, so results are bitwise the same for any `threads`. Returns false (nothing written) for a
/// path this CPU cannot run.
bool ras_sgemm_nt(int m, int n, int k, const float *x, size_t ldx, const float *w, size_t ldw, float *y, size_t ldy,
                  bool accumulate, int path, int threads);

#endif
