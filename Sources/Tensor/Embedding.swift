// Embedding lookup: out[n, :] = table[ids[n], :].

/// out [n, dim] = table[ids] where table is [vocab, dim]. Ids must be in 0..<vocab (checked by the
/// tokenizer/data layer, not here, since this is on the hot path).
@inlinable
public func embeddingForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, table: UnsafePointer<S>, ids: UnsafePointer<Int32>,
    count n: Int, dim: Int
) {
    for i in 0..<n {
        (out + i * dim).update(from: table + Int(ids[i]) * dim, count: dim)
    }
}

/// dTable[ids[n], :] += dOut[n, :] (scatter-add: repeated ids accumulate). Threads split the columns,
/// each adding the rows in order, so the bits are those of one thread on every thread count.
@inlinable
public func embeddingBackward<S: TensorScalar>(
    dTable: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, ids: UnsafePointer<Int32>,
    count n: Int, dim: Int, threads: Int = BLAS.threads
) {
    parallelFor(dim, grain: max(1, parallelGrain / max(1, n)), threads: threads) { columns in
        for i in 0..<n {
            let row = dTable + Int(ids[i]) * dim, g = dOut + i * dim
            for j in columns { row[j] += g[j] }
        }
    }
}
