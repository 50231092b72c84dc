import Dispatch

/// Scalars of simple elementwise work below which a second thread costs more than it saves: waking a
/// worker for concurrentPerform takes about 4 µs (median on the 2-core machine), and 32 K scalars of
/// SwiGLU or RMSNorm take 10–30 µs, so decode's 8-row calls stay on one thread and training's 1024-row
/// calls split.
public let parallelGrain = 1 << 15

/// Runs `body` over 0..<count cut into at most `threads` contiguous ranges of at least `grain` items:
/// part p of P gets count·p/P ..< count·(p+1)/P, and one part runs on the calling thread. The cut depends
/// only on count, grain and threads, never on timing, so a kernel that computes each item alone gives
/// the same bits on every thread count, and one that reduces must combine per-item (not per-range)
/// partials in a fixed order to do so.
@inlinable
public func parallelFor(_ count: Int, grain: Int, threads: Int = BLAS.threads, _ body: (Range<Int>) -> Void) {
    let parts = max(1, min(threads, count / max(1, grain)))
    if parts == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    // The parts touch disjoint data by contract and concurrentPerform returns once all have run, so
    // `body` neither escapes nor races: the Sendable check is waived here, for every kernel.
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: parts) { p in body(count * p / parts..<count * (p + 1) / parts) }
    }
}
