// The register-blocked kernel of small_sgemm.c, included once per SIMD path (no include guard): it
// defines PATH_NAME(rows), which computes output columns [first, end) in tiles of TILE_ROWS rows of x ×
// TILE_COLS rows of W. The includer defines
//   PATH_NAME(f)        f with the path's suffix    TARGET                 the target attribute
//   VEC, LANES          vector type, its floats     MASK, TAIL_MASK(n)     a lane mask, its first n lanes
//   LOAD(p, m, masked)  unaligned load of LANES floats, zero outside mask m when masked
//   FMA(a, b, acc)      acc + a·b, lanewise          HSUM(v)                the sum of v's lanes
//   TILE_COLS           W rows per tile (TILE_ROWS is 4)
// and this file undefines them again.
#define TILE_ROWS 4

/// acc[r][c] += x[row r, k0 …] · w[col c, k0 …], lanewise.
TARGET static INLINE void PATH_NAME(fma_step)(VEC acc[TILE_ROWS][TILE_COLS], const float *x, size_t ldx, const float *w,
                                              size_t ldw, int rows, int cols, int k0, MASK mask, bool masked) {
    VEC wv[TILE_COLS];
    for (int c = 0; c < cols; c++) wv[c] = LOAD(w + c * ldw + k0, mask, masked);
    for (int r = 0; r < rows; r++) {
        const VEC xv = LOAD(x + r * ldx + k0, mask, masked);
        for (int c = 0; c < cols; c++) acc[r][c] = FMA(xv, wv[c], acc[r][c]);
    }
}

/// Outputs [row, row + rows) × [col, col + cols); rows and cols are constants at every call, so the
/// loops unroll and the accumulators stay in registers.
TARGET static INLINE void PATH_NAME(block)(const product *p, int row, int col, int rows, int cols) {
    VEC acc[TILE_ROWS][TILE_COLS];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) acc[r][c] = ZERO;
    const float *x = p->x + (size_t)row * p->ldx, *w = p->w + (size_t)col * p->ldw;
    int k0 = 0;
    for (; k0 + LANES <= p->k; k0 += LANES) PATH_NAME(fma_step)(acc, x, p->ldx, w, p->ldw, rows, cols, k0, TAIL_MASK(LANES), false);
    // masked-off lanes load 0 and fma(0, 0, a) = a
    if (k0 < p->k) PATH_NAME(fma_step)(acc, x, p->ldx, w, p->ldw, rows, cols, k0, TAIL_MASK(p->k - k0), true);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) store(p, row + r, col + c, HSUM(acc[r][c]));
}

TARGET static void PATH_NAME(block_of)(const product *p, int row, int col, int rows, bool full) {
    switch (rows * 2 + full) {
    case 2: PATH_NAME(block)(p, row, col, 1, 1); break;
    case 3: PATH_NAME(block)(p, row, col, 1, TILE_COLS); break;
    case 4: PATH_NAME(block)(p, row, col, 2, 1); break;
    case 5: PATH_NAME(block)(p, row, col, 2, TILE_COLS); break;
    case 6: PATH_NAME(block)(p, row, col, 3, 1); break;
    case 7: PATH_NAME(block)(p, row, col, 3, TILE_COLS); break;
    case 8: PATH_NAME(block)(p, row, col, 4, 1); break;
    case 9: PATH_NAME(block)(p, row, col, 4, TILE_COLS); break;
    }
}

TARGET static void PATH_NAME(rows)(const void *context, int first, int end) {
    const product *p = context;
    for (int col = first; col < end;) {
        const bool full = end - col >= TILE_COLS;  // the last < TILE_COLS columns go one at a time
        for (int row = 0, rows; row < p->m; row += rows) {
            rows = group_rows(p->m, TILE_ROWS, row);
            PATH_NAME(block_of)(p, row, col, rows, full);
        }
        col += full ? TILE_COLS : 1;
    }
}

#undef TILE_ROWS
#undef PATH_NAME
#undef TARGET
#undef VEC
#undef LANES
#undef MASK
#undef TAIL_MASK
#undef LOAD
#undef FMA
#undef HSUM
#undef ZERO
#undef TILE_COLS
