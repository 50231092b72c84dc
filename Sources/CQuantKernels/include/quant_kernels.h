// Matrix products over GGUF-quantized weights (Q8_0, Q4_1 blocks as stored in the file) with the
// activations quantized to int8 per 32-element block, for decoding (a few rows at a time).
#ifndef REFALIGN_QUANT_KERNELS_H
#define REFALIGN_QUANT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/// Weight formats, by their ggml type ids. Q8_0: f16 d, 32 × int8 (x = d·q), 34 bytes.
/// Q4_1: f16 d, f16 m, 16 bytes of nibbles, low nibbles first (x = d·q + m), 20 bytes.
enum { RAQ_Q4_1 = 3, RAQ_Q8_0 = 8 };

/// Code paths. AUTO picks the best one the CPU (CPUID, with OS register state) supports.
enum { RAQ_PATH_AUTO = 0, RAQ_PATH_SCALAR = 1, RAQ_PATH_AVX2 = 2, RAQ_PATH_AVX512_VNNI = 3 };

/// True when this CPU can run `path` (AUTO and SCALAR always can).
bool raq_path_supported(int path);
/// The path AUTO resolves to.
int raq_best_path(void);

/// Bytes of one 32-element block of `format`, or 0 for an unknown format.
size_t raq_block_bytes(int format);

/// Bytes of a [n, k] matrix of `format` in the kernels' layout (`raq_pack`), 0 for an unknown format.
size_t raq_packed_bytes(int format, int n, int k);

/// n rows of k/32 `format` blocks, as a GGUF file stores them, into the kernels' layout at `out`
/// (raq_packed_bytes(format, n, k) bytes). Q4_1 keeps the rows; Q8_0 goes in groups of 16 rows (the
/// last one padded with zero rows), per block the 16 f16 scales, then 8 × 64 bytes, the s-th holding
/// bytes 4s..4s+3 of each row's q + 128. Rows are packed independently of each other: the packing of
/// rows [16i, n) is the tail of the packing of [0, n) from group i on.
void raq_pack(int format, const void *rows, int n, int k, void *out);

/// y[m, n] = x[m, k] · Wᵀ (or y += with `accumulate`), W [n, k] in `format` blocks as `raq_pack` lays them out.
/// k is a multiple of 32; x and y are row-major fp32. With `threads` ≥ 2, large products share their
/// output rows with one helper thread; every output element is one thread's dot product in a fixed
/// order, so the result does not depend on `threads` or on which thread computed it. Safe to call from
/// several threads at once (a caller that finds the helper taken computes alone). Returns false for an
/// unknown format, a path this CPU cannot run, or k not a multiple of 32 (nothing is written).
bool raq_matmul(int format, const void *w, int n, int k, const float *x, int m, float *y, bool accumulate,
                int path, int threads);

/// Q8_0 blocks of `blocks` × 32 values into `out` (34 bytes a block): d = max|x|/127 stored as f16 and
/// q = round(x/d), ties away from zero, as llama.cpp's quantize_row_q8_0_ref (a file written from it
/// matches one llama-quantize writes). Every path writes the same bytes; false for a path this CPU
/// cannot run (nothing is written).
bool raq_quantize_q8_0(const float *x, size_t blocks, void *out, int path);

#endif
