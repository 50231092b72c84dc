// Clipped n-gram counting for BLEU and ROUGE-N over small integer ids. Tokens are byte ranges of one
// buffer (no String or array per token); each distinct token of the hypothesis is hashed once to get an
// id, and an n-gram's id is looked up from the pair (id of its first n − 1 tokens, id of its last token),
// so no n-gram is ever hashed as text. Only the hypothesis's n-grams get ids: a reference n-gram the
// hypothesis lacks can match nothing, so it is −1 and never counted.
import Foundation
import Tensor

/// Tokens as byte ranges of one buffer. Tokens compare by their bytes, as Python compares str code points.
struct TokenList {
    var bytes: [UInt8] = []
    var ranges: [Range<Int>] = []
    var count: Int { ranges.count }

    init(bytes: [UInt8], ranges: [Range<Int>]) {
        self.bytes = bytes
        self.ranges = ranges
    }

    init(_ tokens: [String]) {
        for t in tokens {
            let start = bytes.count
            bytes += t.utf8
            ranges.append(start..<bytes.count)
        }
    }
}

/// Open addressing (linear probing, power-of-two size) from the hypothesis's tokens to dense ids.
private struct TokenIDs: ~Copyable {
    let mask: Int
    let first: UnsafeMutablePointer<Int32>  // hypothesis token index of the slot's first occurrence, −1 empty
    let ids: UnsafeMutablePointer<Int32>
    let hashes: UnsafeMutablePointer<UInt64>
    private(set) var count: Int32 = 0

    init(capacityFor n: Int) {
        let size = max(16, (2 * n).nextPowerOfTwo)
        mask = size - 1
        first = .allocate(capacity: size)
        first.initialize(repeating: -1, count: size)
        ids = .allocate(capacity: size)
        hashes = .allocate(capacity: size)
    }

    deinit { first.deallocate(); ids.deallocate(); hashes.deallocate() }

    /// The id of `bytes[range]` (a token of the hypothesis `h`), new if unseen when `insert`, else −1.
    mutating func id(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, in h: UnsafePointer<UInt8>, hypothesis ranges: UnsafePointer<Range<Int>>,
                     index: Int, insert: Bool) -> Int32 {
        let length = range.count, hash = fnv1a(UnsafeRawBufferPointer(start: p + range.lowerBound, count: length))
        var slot = Int(truncatingIfNeeded: hash) & mask
        while first[slot] >= 0 {
            let other = ranges[Int(first[slot])]
            if hashes[slot] == hash && other.count == length && memcmp(h + other.lowerBound, p + range.lowerBound, length) == 0 {
                return ids[slot]
            }
            slot = (slot + 1) & mask
        }
        guard insert else { return -1 }
        first[slot] = Int32(index)
        hashes[slot] = hash
        ids[slot] = count
        count += 1
        return count - 1
    }
}

/// Open addressing from an n-gram (id of its first n − 1 tokens, id of its last token) to a dense id.
private struct NGramIDs: ~Copyable {
    let mask: Int
    let keys: UnsafeMutablePointer<UInt64>  // UInt64.max empty (ids are non-negative Int32s)
    let ids: UnsafeMutablePointer<Int32>
    private(set) var count: Int32 = 0

    init(capacityFor n: Int) {
        let size = max(16, (2 * n).nextPowerOfTwo)
        mask = size - 1
        keys = .allocate(capacity: size)
        keys.initialize(repeating: .max, count: size)
        ids = .allocate(capacity: size)
    }

    deinit { keys.deallocate(); ids.deallocate() }

    mutating func removeAll() {
        keys.update(repeating: .max, count: mask + 1)
        count = 0
    }

    @inline(__always) func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask }

    mutating func insert(_ prefix: Int32, _ last: Int32) -> Int32 {
        let key = UInt64(UInt32(prefix)) << 32 | UInt64(UInt32(last))
        var s = slot(key)
        while keys[s] != .max {
            if keys[s] == key { return ids[s] }
            s = (s + 1) & mask
        }
        keys[s] = key
        ids[s] = count
        count += 1
        return count - 1
    }

    func find(_ prefix: Int32, _ last: Int32) -> Int32 {
        let key = UInt64(UInt32(prefix)) << 32 | UInt64(UInt32(last))
        var s = slot(key)
        while keys[s] != .max {
            if keys[s] == key { return ids[s] }
            s = (s + 1) & mask
        }
        return -1
    }
}

extension Int {
    fileprivate var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}

/// Token ids for matching: the hypothesis's distinct tokens are 0, 1, … in order of first occurrence; a
/// reference token the hypothesis lacks is −1. Equal ids are equal tokens, so LCS can run on them too.
func internAgainstHypothesis(_ h: TokenList, _ references: [TokenList]) -> (hypothesis: [Int32], references: [[Int32]], distinct: Int) {
    guard h.count > 0 else { return ([], references.map { [Int32](repeating: -1, count: $0.count) }, 0) }
    var table = TokenIDs(capacityFor: h.count)
    return h.bytes.withUnsafeBufferPointer { hb in
        h.ranges.withUnsafeBufferPointer { hr in
            let hb = hb.baseAddress!, hr = hr.baseAddress!
            let hypothesis = [Int32](unsafeUninitializedCapacity: h.count) { out, count in
                for i in 0..<h.count { out[i] = table.id(hb, hr[i], in: hb, hypothesis: hr, index: i, insert: true) }
                count = h.count
            }
            let references = references.map { r in
                r.bytes.withUnsafeBufferPointer { rb in
                    [Int32](unsafeUninitializedCapacity: r.count) { out, count in
                        for (j, range) in r.ranges.enumerated() {
                            out[j] = table.id(rb.baseAddress!, range, in: hb, hypothesis: hr, index: -1, insert: false)
                        }
                        count = r.count
                    }
                }
            }
            return (hypothesis, references, Int(table.count))
        }
    }
}

/// For n = 1…`orders`: the hypothesis's n-grams counted, each count clipped by the n-gram's largest count
/// in any one reference, summed (BLEU's modified precision numerator; ROUGE-N's overlap with one reference).
func clippedMatches(_ h: TokenList, _ references: [TokenList], orders: Int) -> [Int] {
    let (hypothesis, referenceIDs, distinct) = internAgainstHypothesis(h, references)
    var matches = [Int](repeating: 0, count: orders)
    let m = hypothesis.count
    guard m > 0 else { return matches }
    var table = NGramIDs(capacityFor: m)
    let referenceTotal = referenceIDs.reduce(0) { $0 + $1.count }
    // scratch: n-gram ids of the hypothesis and references (updated in place order by order), then the
    // hypothesis count, one reference's count and the clip of each distinct n-gram
    let scratch = UnsafeMutablePointer<Int32>.allocate(capacity: m + referenceTotal + 3 * m)
    defer { scratch.deallocate() }
    let grams = scratch, referenceGrams = scratch + m
    let hypothesisCount = referenceGrams + referenceTotal, referenceCount = hypothesisCount + m, clip = referenceCount + m
    hypothesis.withUnsafeBufferPointer { grams.initialize(from: $0.baseAddress!, count: m) }
    var offset = 0
    for r in referenceIDs {
        r.withUnsafeBufferPointer { if let p = $0.baseAddress { (referenceGrams + offset).initialize(from: p, count: r.count) } }
        offset += r.count
    }
    var kinds = distinct
    for n in 1...orders {
        let count = m - n + 1
        guard count > 0 else { break }
        if n > 1 {
            table.removeAll()
            hypothesis.withUnsafeBufferPointer { tokens in
                for i in 0..<count { grams[i] = table.insert(grams[i], tokens[i + n - 1]) }
            }
            kinds = Int(table.count)
            var offset = 0
            for r in referenceIDs {
                let g = referenceGrams + offset
                r.withUnsafeBufferPointer { tokens in
                    for j in 0..<max(0, r.count - n + 1) {
                        g[j] = g[j] < 0 || tokens[j + n - 1] < 0 ? -1 : table.find(g[j], tokens[j + n - 1])
                    }
                }
                offset += r.count
            }
        }
        hypothesisCount.update(repeating: 0, count: kinds)
        for i in 0..<count { hypothesisCount[Int(grams[i])] += 1 }
        clip.update(repeating: 0, count: kinds)
        var offset = 0
        for r in referenceIDs {
            let g = referenceGrams + offset
            referenceCount.update(repeating: 0, count: kinds)
            for j in 0..<max(0, r.count - n + 1) where g[j] >= 0 { referenceCount[Int(g[j])] += 1 }
            for k in 0..<kinds { clip[k] = max(clip[k], referenceCount[k]) }
            offset += r.count
        }
        var total = 0
        for k in 0..<kinds { total += Int(min(hypothesisCount[k], clip[k])) }
        matches[n - 1] = total
    }
    return matches
}
