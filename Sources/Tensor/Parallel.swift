import CHelperThread
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

/// Runs `body` over 0..<count in chunks of `chunk` items shared with the helper thread of the C kernels
/// (`CHelperThread`), for work between a decoding step's products: that thread spins there, so handing
/// it a chunk costs well under a microsecond, where waking a concurrentPerform worker costs about 4.
/// Which thread runs a chunk varies with timing; a body that computes each item alone gives the same
/// bits regardless. With threads < 2, or when the helper is busy, the caller runs every chunk.
public func helperParallelFor(_ count: Int, chunk: Int = 1, threads: Int = BLAS.threads, _ body: (Range<Int>) -> Void) {
    guard threads >= 2, count > chunk else {
        if count > 0 { body(0..<count) }
        return
    }
    withoutActuallyEscaping(body) { body in
        final class Box { let body: (Range<Int>) -> Void; init(_ body: @escaping (Range<Int>) -> Void) { self.body = body } }
        let box = Box(body)
        withExtendedLifetime(box) {
            rah_parallel_chunks({ context, first, end in
                Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue().body(Int(first)..<Int(end))
            }, Unmanaged.passUnretained(box).toOpaque(), Int32(count), Int32(chunk), Int32(threads))
        }
    }
}
