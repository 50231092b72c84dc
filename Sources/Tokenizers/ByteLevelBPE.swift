// Byte-level BPE (GPT-2 style) as SmolLM2 uses it. Text is split around special tokens (matched whole,
// before anything else), pre-tokenized (PreTokenizer.swift), each piece's UTF-8 bytes become byte
// tokens, and adjacent pairs are merged lowest rank first (leftmost on ties) with a min-heap over a
// linked list of symbols. A byte with no token in the vocabulary is dropped, as Hugging Face
// tokenizers do with no unknown token (SmolLM2 lacks 21 byte values, six of them reachable in valid
// UTF-8: the controls 0x04 0x06 0x13 0x14 0x16 0x1D).
import Foundation
import ModelFiles

public struct TokenizerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public final class ByteLevelBPE: Sendable {
    /// Token text (in byte-level symbols) by id.
    public let tokens: [String]
    /// Raw bytes of each token (specials: their UTF-8 text).
    let tokenBytes: [[UInt8]]
    /// Token id of each byte value, or −1.
    let byteToken: [Int32]
    /// (left id << 32 | right id) → (rank, merged id).
    let merges: [UInt64: (rank: Int32, merged: Int32)]
    /// Special tokens, longest first so that a longer one wins where two share a prefix.
    public let specialTokens: [(text: String, id: Int32)]
    private let specialBytes: [[UInt8]]

    /// GPT-2's byte → symbol map: printable Latin-1 bytes map to themselves, the other 68 in order to
    /// U+0100….
    static let byteSymbols: [Unicode.Scalar] = {
        var symbols = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 0x100
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            symbols[b] = Unicode.Scalar(printable ? UInt32(b) : { defer { next += 1 }; return next }())!
        }
        return symbols
    }()

    /// - Parameters:
    ///   - tokens: token texts by id, in byte-level symbols;
    ///   - merges: "left right" pairs, by rank;
    ///   - special: ids of tokens matched whole in the input (control tokens).
    public init(tokens: [String], merges mergeList: [String], special: [Int32]) throws {
        self.tokens = tokens
        var symbolByte: [Unicode.Scalar: UInt8] = [:]
        for (b, s) in Self.byteSymbols.enumerated() { symbolByte[s] = UInt8(b) }
        let specialSet = Set(special)
        var ids: [CodePointString: Int32] = [:]  // tokenizers compares token texts by bytes
        ids.reserveCapacity(tokens.count)
        var tokenBytes: [[UInt8]] = []
        for (id, token) in tokens.enumerated() {
            ids[CodePointString(token)] = Int32(id)
            if specialSet.contains(Int32(id)) {
                tokenBytes.append(Array(token.utf8))
            } else {
                tokenBytes.append(try token.unicodeScalars.map { s in
                    guard let b = symbolByte[s] else { throw TokenizerError("token \(id) \(token.debugDescription) is not byte-level text") }
                    return b
                })
            }
        }
        self.tokenBytes = tokenBytes
        byteToken = Self.byteSymbols.map { ids[CodePointString(String($0))] ?? -1 }
        var merges: [UInt64: (Int32, Int32)] = [:]
        merges.reserveCapacity(mergeList.count)
        for (rank, merge) in mergeList.enumerated() {
            let parts = merge.unicodeScalars.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map { String($0) }
            guard parts.count == 2, let l = ids[CodePointString(parts[0])], let r = ids[CodePointString(parts[1])],
                  let m = ids[CodePointString(parts[0] + parts[1])] else {
                throw TokenizerError("merge \(rank) \(merge.debugDescription) names a token not in the vocabulary")
            }
            merges[UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))] = (Int32(rank), m)
        }
        self.merges = merges
        if let bad = special.first(where: { $0 < 0 || Int($0) >= tokens.count }) {
            throw TokenizerError("special token id \(bad) is not in the vocabulary of \(tokens.count) tokens")
        }
        specialTokens = special.map { (tokens[Int($0)], $0) }.sorted { $0.0.utf8.count > $1.0.utf8.count }
        specialBytes = specialTokens.map { Array($0.text.utf8) }
    }

    /// The tokenizer stored in a GGUF file (`tokenizer.ggml.*`; control tokens are special).
    public convenience init(gguf: GGUFFile) throws {
        guard gguf["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw TokenizerError("\(gguf.path): tokenizer.ggml.model is \(gguf["tokenizer.ggml.model"]?.string ?? "absent"), not gpt2 (byte-level BPE)")
        }
        /// An array metadata value whose every element converts, or an error saying which one does not.
        func array<T>(_ key: String, _ what: String, _ convert: (GGUFValue) -> T?) throws -> [T] {
            guard let value = gguf[key] else { throw TokenizerError("\(gguf.path): missing \(key)") }
            guard let items = value.array else { throw TokenizerError("\(gguf.path): \(key) is not an array") }
            return try items.enumerated().map { i, item in
                guard let v = convert(item) else { throw TokenizerError("\(gguf.path): \(key)[\(i)] is \(item), not \(what)") }
                return v
            }
        }
        let tokens = try array("tokenizer.ggml.tokens", "a string", \.string)
        let merges = try array("tokenizer.ggml.merges", "a string", \.string)
        var special: [Int32] = []
        if gguf["tokenizer.ggml.token_type"] != nil {
            let types = try array("tokenizer.ggml.token_type", "an integer", \.int)
            guard types.count == tokens.count else {
                throw TokenizerError("\(gguf.path): \(types.count) token types for \(tokens.count) tokens")
            }
            special = types.indices.filter { types[$0] == 3 }.map(Int32.init)
        }
        do {
            try self.init(tokens: tokens, merges: merges, special: special)
        } catch {
            throw TokenizerError("\(gguf.path): \(error)")
        }
    }

    public func id(of token: String) -> Int32? { tokens.firstIndex { $0.utf8.elementsEqual(token.utf8) }.map(Int32.init) }

    // MARK: encode

    public func encode(_ text: String) -> [Int32] {
        var out: [Int32] = []
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        let bytes = Array(text.utf8)
        var start = 0, i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "<"), let k = specialBytes.firstIndex(where: { matches($0, bytes, at: i) }) {
                encodeOrdinary(bytes[start..<i], into: &out, cache: &cache)
                out.append(specialTokens[k].id)
                i += specialBytes[k].count
                start = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(bytes[start..<bytes.count], into: &out, cache: &cache)
        return out
    }

    private func matches(_ pattern: [UInt8], _ bytes: [UInt8], at i: Int) -> Bool {
        guard i + pattern.count <= bytes.count else { return false }
        for (k, b) in pattern.enumerated() where bytes[i + k] != b { return false }
        return true
    }

    /// Text without special tokens: pre-tokenize, then BPE each piece (memoised per call).
    private func encodeOrdinary(_ bytes: ArraySlice<UInt8>, into out: inout [Int32], cache: inout [ArraySlice<UInt8>: [Int32]]) {
        guard !bytes.isEmpty else { return }
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        var offsets = [Int](repeating: 0, count: scalars.count + 1)  // byte offset of each scalar
        for (k, s) in scalars.enumerated() { offsets[k + 1] = offsets[k] + UTF8.width(s) }
        let base = bytes.startIndex
        preTokenize(scalars) { range in
            let piece = bytes[base + offsets[range.lowerBound]..<base + offsets[range.upperBound]]
            if let hit = cache[piece] {
                out += hit
            } else {
                let ids = merge(piece)
                cache[piece] = ids
                out += ids
            }
        }
    }

    /// BPE of one piece: byte tokens, then the lowest-ranked adjacent pair merged until none is left.
    func merge(_ piece: ArraySlice<UInt8>) -> [Int32] {
        var symbols = piece.compactMap { byteToken[Int($0)] >= 0 ? byteToken[Int($0)] : nil }
        let n = symbols.count
        guard n > 1 else { return symbols }
        var next = Array(1...n), previous = Array(-1..<n - 1)
        next[n - 1] = -1
        var heap = MergeHeap()
        func key(_ l: Int32, _ r: Int32) -> UInt64 { UInt64(UInt32(l)) << 32 | UInt64(UInt32(r)) }
        func consider(_ left: Int) {
            guard left >= 0, next[left] >= 0, let m = merges[key(symbols[left], symbols[next[left]])] else { return }
            heap.push(rank: m.rank, position: Int32(left))
        }
        for k in 0..<n - 1 { consider(k) }
        while let (rank, position) = heap.pop() {
            let left = Int(position), right = next[left]
            // Stale entries: the pair at `left` has changed since it was pushed (ranks are unique).
            guard right >= 0, symbols[left] >= 0, let m = merges[key(symbols[left], symbols[right])], m.rank == rank else { continue }
            symbols[left] = m.merged
            symbols[right] = -1
            next[left] = next[right]
            if next[right] >= 0 { previous[next[right]] = left }
            consider(previous[left])
            consider(left)
        }
        return symbols.filter { $0 >= 0 }
    }

    // MARK: decode

    /// Concatenates the tokens' bytes and decodes them as UTF-8 (invalid sequences become U+FFFD).
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokenBytes.count { bytes += tokenBytes[Int(id)] }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Binary min-heap of (rank, position), ordered by rank then position.
struct MergeHeap {
    private var items: [UInt64] = []  // rank << 32 | position: one integer compare orders both

    mutating func push(rank: Int32, position: Int32) {
        items.append(UInt64(UInt32(rank)) << 32 | UInt64(UInt32(position)))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (Int32, Int32)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count && items[l] < items[smallest] { smallest = l }
                if r < items.count && items[r] < items[smallest] { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return (Int32(truncatingIfNeeded: top >> 32), Int32(truncatingIfNeeded: top & 0xFFFF_FFFF))
    }
}
