// One helper thread that the C kernels share: a product's output rows are cut into chunks that the
// caller and the helper claim, so two cores work on it without changing any result.
#ifndef REFALIGN_HELPER_THREAD_H
#define REFALIGN_HELPER_THREAD_H

/// Computes output rows [first, end) of the product described by `context`.
typedef void (*rah_rows_fn)(const void *context, int first, int end);

/// Runs rows(context, ·, ·) over [0, n) in chunks whose sizes are multiples of `granule`, claimed by
/// the caller and, when `threads` ≥ 2, by the helper thread. `rows` must give each output row a value
/// that does not depend on the chunk it falls in; then the result does not depend on `threads` or on
/// which thread ran a chunk. Returns when every row is done. Safe to call from several threads at
/// once: a caller that finds the helper taken runs every chunk itself.
void rah_parallel_rows(rah_rows_fn rows, const void *context, int n, int granule, int threads);

/// The same with chunks of exactly `chunk_rows` rows (the last one shorter), for rows that are each
/// much work (a sequence's attention), where rah_parallel_rows' 16-row minimum would leave one thread.
void rah_parallel_chunks(rah_rows_fn rows, const void *context, int n, int chunk_rows, int threads);

#endif
