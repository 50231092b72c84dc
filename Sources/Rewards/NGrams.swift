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

/// What a slot of `DenseIDs` holds to recognise its key; `empty` marks a free slot.
private protocol SlotKey: BitwiseCopyable {
    static var empty: Self { get }
    var isEmpty: Bool { get }
}

/// Open addressing (linear probing, power-of-two size, at most half full) from keys to dense ids 0, 1, …
/// in order of insertion. The caller hashes a key and says when a slot holds it, so a token can be
/// compared by its bytes in the hypothesis without the table knowing about buffers.
private struct DenseIDs<Key: SlotKey>: ~Copyable {
    let mask: Int
    let keys: UnsafeMutablePointer<Key>
    let ids: UnsafeMutablePointer<Int32>
    private(set) var count: Int32 = 0

    init(capacityFor n: Int) {
        let size = max(16, (2 * n).nextPowerOfTwo)
        mask = size - 1
        keys = .allocate(capacity: size)
        keys.initialize(repeating: .empty, count: size)
        ids = .allocate(capacity: size)
    }

    deinit { keys.deallocate(); ids.deallocate() }

    mutating func removeAll() {
        keys.update(repeating: .empty, count: mask + 1)
        count = 0
    }

    /// The id of the key that `holds` recognises, probing from the slot `hash`'s low bits pick; if absent,
    /// `key` gets a new id when `insert`, else −1.
    @inline(__always)
    mutating func id(hash: UInt64, key: Key, insert: Bool, holds: (Key) -> Bool) -> Int32 {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while !keys[slot].isEmpty {
            if holds(keys[slot]) { return ids[slot] }
            slot = (slot + 1) & mask
        }
        guard insert else { return -1 }
        keys[slot] = key
        ids[slot] = count
        count += 1
        return count - 1
    }
}

/// A hypothesis token: its full hash (compared before the bytes) and the index of its first occurrence.
/// `first` is an Int so that `empty` is all one bits without padding, which filling turns into memset.
private struct TokenKey: SlotKey {
    var hash: UInt64
    var first: Int
    static var empty: TokenKey { TokenKey(hash: .max, first: -1) }
    var isEmpty: Bool { first < 0 }
}

/// An n-gram: the id of its first n − 1 tokens in the high half, the id of its last token in the low half.
private struct NGramKey: SlotKey {
    var bits: UInt64
    init(_ prefix: Int32, _ last: Int32) { bits = UInt64(UInt32(prefix)) << 32 | UInt64(UInt32(last)) }
    private init(bits: UInt64) { self.bits = bits }
    static var empty: NGramKey { NGramKey(bits: .max) }  // ids are non-negative Int32s
    var isEmpty: Bool { bits == .max }
    /// Fibonacci hashing: consecutive ids would otherwise fill neighbouring slots.
    var hash: UInt64 { (bits &* 0x9E37_79B9_7F4A_7C15) >> 32 }
}

extension DenseIDs where Key == TokenKey {
    /// The id of `p[range]` (a token of the hypothesis `h`), new if unseen when `insert`, else −1.
    mutating func id(_ p: UnsafePointer<UInt8>, _ range: Range<Int>, in h: UnsafePointer<UInt8>, hypothesis ranges: UnsafePointer<Range<Int>>,
                     index: Int, insert: Bool) -> Int32 {
        let length = range.count, hash = fnv1a(UnsafeRawBufferPointer(start: p + range.lowerBound, count: length))
        return id(hash: hash, key: TokenKey(hash: hash, first: index), insert: insert) { key in
            let other = ranges[key.first]
            return key.hash == hash && other.count == length && memcmp(h + other.lowerBound, p + range.lowerBound, length) == 0
        }
    }
}

extension DenseIDs where Key == NGramKey {
    mutating func id(_ prefix: Int32, _ last: Int32, insert: Bool) -> Int32 {
        let key = NGramKey(prefix, last)
        return id(hash: key.hash, key: key, insert: insert) { $0.bits == key.bits }
    }
}

extension Int {
    fileprivate var nextPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}

/// Token ids for matching: the hypothesis's distinct tokens are 0, 1, … in order of first occurrence; a
/// reference token the hypothesis lacks is −1. Equal ids are equal tokens, so LCS can run on them too.
func internAgainstHypothesis(_ h: TokenList, _ references: [TokenList]) -> (hypothesis: [Int32], references: [[Int32]], distinct: Int) {
    guard h.count > 0 else { return ([], references.map { [Int32](repeating: -1, count: $0.count) }, 0) }
    var table = DenseIDs<TokenKey>(capacityFor: h.count)
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
    var table = DenseIDs<NGramKey>(capacityFor: m)
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
                for i in 0..<count { grams[i] = table.id(grams[i], tokens[i + n - 1], insert: true) }
            }
            kinds = Int(table.count)
            var offset = 0
            for r in referenceIDs {
                let g = referenceGrams + offset
                r.withUnsafeBufferPointer { tokens in
                    for j in 0..<max(0, r.count - n + 1) {
                        g[j] = g[j] < 0 || tokens[j + n - 1] < 0 ? -1 : table.id(g[j], tokens[j + n - 1], insert: false)
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
