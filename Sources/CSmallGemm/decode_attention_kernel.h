// One decoding step's attention for one sequence (include/decode_attention.h), included by small_sgemm.c
// once per SIMD path (no include guard) with tile_kernel.h's macros plus
//   SET1(x)                  every lane x
//   STORE(p, v, m, masked)   unaligned store of v's lanes, only those in mask m when masked
// Each cached key and value row is read once for all the query heads of its group (OpenBLAS, called with
// the group's 3 query rows, spent more time packing the operands than multiplying them). A score keeps one
// vector of lanes over the head dimension and sums it at the end (HSUM); values are summed over the slots
// in order; the softmax between them is the same C for every path (softmax_row).
#define HEAD_ROWS 4  // query heads per pass over the slots
#define HEAD_VECS 4  // vectors of a value row per pass

/// p[r, j] = scale · q_r · k_j for r < rows and every unmasked slot j (q rows D apart, p rows `keys` apart).
TARGET static INLINE void PATH_NAME(scores)(const float *q, int D, const float *k, size_t ldkv, int keys, const bool *mask,
                                            float scale, float *p, int rows) {
    const int full = D / LANES * LANES;
    const MASK all = TAIL_MASK(LANES), tail = TAIL_MASK(D - full);
    for (int j = 0; j < keys; j++) {
        if (!mask[j]) continue;
        const float *kj = k + (size_t)j * ldkv;
        prefetch_row(kj, ldkv, D);
        VEC acc[HEAD_ROWS];
        for (int r = 0; r < rows; r++) acc[r] = ZERO;
        for (int d = 0; d < full; d += LANES) {
            const VEC kv = LOAD(kj + d, all, false);
            for (int r = 0; r < rows; r++) acc[r] = FMA(LOAD(q + r * D + d, all, false), kv, acc[r]);
        }
        if (full < D) {  // masked-off lanes load 0 and fma(0, 0, a) = a
            const VEC kv = LOAD(kj + full, tail, true);
            for (int r = 0; r < rows; r++) acc[r] = FMA(LOAD(q + r * D + full, tail, true), kv, acc[r]);
        }
        for (int r = 0; r < rows; r++) p[(size_t)r * keys + j] = scale * HSUM(acc[r]);
    }
}

/// out[r, d0 ..< d0 + vecs · LANES] = Σ_j p[r, j] · v_j over the unmasked slots in order, for r < rows;
/// columns from D on are neither read nor written. rows and vecs are constants at the calls that matter
/// (HEAD_VECS whole vectors), so the accumulators stay in registers.
TARGET static INLINE void PATH_NAME(values)(const float *p, int keys, const bool *mask, const float *v, size_t ldkv, int D,
                                            int d0, float *out, int rows, int vecs) {
    VEC acc[HEAD_ROWS][HEAD_VECS];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < vecs; c++) acc[r][c] = ZERO;
    const bool partial = d0 + vecs * LANES > D;
    const int last = D - (d0 + (vecs - 1) * LANES);  // floats in the last vector, when partial
    const MASK all = TAIL_MASK(LANES), tail = TAIL_MASK(partial ? last : LANES);
    for (int j = 0; j < keys; j++) {
        if (!mask[j]) continue;
        const float *vj = v + (size_t)j * ldkv + d0;
        prefetch_row(vj, ldkv, vecs * LANES < D - d0 ? vecs * LANES : D - d0);
        VEC x[HEAD_VECS];
        for (int c = 0; c < vecs; c++)
            x[c] = partial && c == vecs - 1 ? LOAD(vj + c * LANES, tail, true) : LOAD(vj + c * LANES, all, false);
        for (int r = 0; r < rows; r++) {
            const VEC pr = SET1(p[(size_t)r * keys + j]);
            for (int c = 0; c < vecs; c++) acc[r][c] = FMA(pr, x[c], acc[r][c]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < vecs; c++) {
            float *o = out + (size_t)r * D + d0 + c * LANES;
            if (partial && c == vecs - 1) STORE(o, acc[r][c], tail, true);
            else STORE(o, acc[r][c], all, false);
        }
}

/// `rows` query heads (≤ HEAD_ROWS) of one group: scores, softmax, values.
TARGET static INLINE void PATH_NAME(heads)(const float *q, const float *k, const float *v, size_t ldkv, const bool *mask,
                                           int D, int keys, float scale, float *p, float *out, int rows) {
    PATH_NAME(scores)(q, D, k, ldkv, keys, mask, scale, p, rows);
    for (int r = 0; r < rows; r++) softmax_row(p + (size_t)r * keys, keys, mask);
    for (int d0 = 0; d0 < D; d0 += HEAD_VECS * LANES) {
        if (D - d0 >= HEAD_VECS * LANES) PATH_NAME(values)(p, keys, mask, v, ldkv, D, d0, out, rows, HEAD_VECS);
        else PATH_NAME(values)(p, keys, mask, v, ldkv, D, d0, out, rows, (D - d0 + LANES - 1) / LANES);
    }
}

TARGET static void PATH_NAME(decode_attention)(int kv_heads, int group, int D, int keys, const float *q, const float *k,
                                               const float *v, size_t ldkv, const bool *mask, float scale, float *probs,
                                               float *out) {
    for (int g = 0; g < kv_heads; g++)
        for (int h0 = 0; h0 < group; h0 += HEAD_ROWS) {
            const int h = g * group + h0;
            const float *qh = q + (size_t)h * D, *kg = k + (size_t)g * D, *vg = v + (size_t)g * D;
            float *p = probs + (size_t)h * keys, *o = out + (size_t)h * D;
            switch (group - h0 < HEAD_ROWS ? group - h0 : HEAD_ROWS) {  // constant row counts for the compiler
            case 1: PATH_NAME(heads)(qh, kg, vg, ldkv, mask, D, keys, scale, p, o, 1); break;
            case 2: PATH_NAME(heads)(qh, kg, vg, ldkv, mask, D, keys, scale, p, o, 2); break;
            case 3: PATH_NAME(heads)(qh, kg, vg, ldkv, mask, D, keys, scale, p, o, 3); break;
            default: PATH_NAME(heads)(qh, kg, vg, ldkv, mask, D, keys, scale, p, o, 4); break;
            }
        }
}

#undef HEAD_ROWS
#undef HEAD_VECS
