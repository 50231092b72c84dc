import Dispatch

/// A pointer that may cross into a parallel region. The caller guarantees that concurrent bodies
/// touch disjoint elements.
public struct SendablePointer<Pointee>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Pointee>
    public init(_ base: UnsafeMutablePointer<Pointee>) { self.base = base }
}

/// Runs `body` over `0..<count` split into a fixed number of contiguous chunks, so each element is
/// always computed by the same arithmetic regardless of the machine: results do not depend on the
/// core count. With `chunks == 1` it runs inline.
public func parallelChunks(_ count: Int, chunks: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let chunks = max(1, min(chunks, count))
    if chunks == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let per = (count + chunks - 1) / chunks
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = c * per, hi = min(count, lo + per)
        if lo < hi { body(lo..<hi) }
    }
}
