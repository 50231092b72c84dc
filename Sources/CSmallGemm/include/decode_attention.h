// One decoding step's attention over a KV cache: one new query per sequence, grouped-query heads.
#ifndef REFALIGN_DECODE_ATTENTION_H
#define REFALIGN_DECODE_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>

/// For one sequence: query head h = g · group + r reads key/value head g. With s_j = scale · q_h · k_j
/// over the first `keys` cache slots whose mask entry is true, probs[h, j] = softmax(s)_j (0 where masked)
/// and out[h] = Σ_j probs[h, j] · v_j; a head that sees no slot gets zeros.
///   q, out [kv_heads · group, head_dim]   k, v [keys, ldkv] (head g at column g · head_dim)
///   mask [keys]   probs [kv_heads · group, keys]
/// `path` is a RAS_PATH_* of small_sgemm.h; returns false (nothing written) for a path this CPU cannot run.
bool ras_decode_attention(int kv_heads, int group, int head_dim, int keys, const float *q, const float *k,
                          const float *v, size_t ldkv, const bool *mask, float scale, float *probs, float *out, int path);

#endif
