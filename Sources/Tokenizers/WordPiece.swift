// BERT's WordPiece tokenizer, as transformers 5's BertTokenizer (the one bert_score loads, backed by
// Hugging Face tokenizers' BertNormalizer, BertPreTokenizer and WordPiece) runs it with do_lower_case:
// clean the text (drop NUL, U+FFFD and control characters; whitespace to spaces), put spaces around CJK
// ideographs, split on whitespace, strip accents (NFD, drop nonspacing marks), then lowercase each code
// point on its own (no final-sigma rule: Σ becomes σ everywhere), split off punctuation (ASCII
// punctuation and Unicode P*), then greedy longest-match-first word pieces with the "##" continuation
// prefix; a word over 100 characters, or one that cannot be pieced, becomes [UNK]. Works on Unicode
// scalars and looks pieces up by code points (UTF-8 bytes), as tokenizers does: the accent stripping is
// the only normalisation (so a Hangul syllable, which NFD turns into conjoining jamo, is pieced as jamo).
// Performance: ASCII text is cleaned, lowercased and split byte by byte through a table built from the
// same predicates the general path uses; only runs of non-ASCII scalars go through NFD. A run ends at an
// ASCII character, so running NFD per run equals running it per word (ASCII characters are starters:
// canonical reordering never crosses them). Pieces are found by walking a byte trie of the vocabulary
// (the longest vocabulary prefix of the rest of the word is exactly the longest-match-first piece), so
// no substring is built or hashed.
import Foundation

public final class WordPiece: Sendable {
    public let vocabulary: [String]
    let trie: ByteTrie
    /// The trie node after "##", where continuation pieces start.
    let continuation: Int32
    /// What the basic tokenizer does with each ASCII byte.
    let asciiClass: [ASCIIClass]
    public let unknown: Int32, classifier: Int32, separator: Int32, padding: Int32

    enum ASCIIClass: UInt8 { case dropped, space, punctuation, word }

    /// From BERT's vocab.txt: one token per line, the line number is the id (the first line wins for a
    /// token listed twice).
    public init(vocabularyFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw TokenizerError("cannot read \(path)") }
        var lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        vocabulary = lines
        var trie = ByteTrie()
        for (i, token) in lines.enumerated() { trie.insert(token.utf8, id: Int32(i)) }
        continuation = trie.walk("##".utf8)
        self.trie = trie
        func special(_ token: String) throws -> Int32 {
            let id = trie.id(at: trie.walk(token.utf8))
            guard id >= 0 else { throw TokenizerError("\(path): no \(token) token") }
            return id
        }
        (unknown, classifier, separator, padding) = (try special("[UNK]"), try special("[CLS]"), try special("[SEP]"), try special("[PAD]"))
        asciiClass = (0..<128).map { v in
            let c = Unicode.Scalar(UInt8(v))
            if v == 0 || isControl(c) { return .dropped }
            if isPythonWhitespace(c) { return .space }
            return isBertPunctuation(c) ? .punctuation : .word
        }
    }

    /// [CLS] pieces [SEP], truncated to `maxLength` ids in all.
    public func encode(_ text: String, maxLength: Int = 512) -> [Int32] {
        var out: [Int32] = [classifier]
        var word: [UInt8] = []      // the current word, normalised, as UTF-8
        var run: [Unicode.Scalar] = []  // pending non-ASCII scalars of the current chunk
        var full = false
        func endWord() {
            guard !word.isEmpty, !full else { return word.removeAll(keepingCapacity: true) }
            appendPieces(of: word, to: &out)
            word.removeAll(keepingCapacity: true)
            full = out.count >= maxLength - 1
        }
        func punctuation(_ bytes: some Sequence<UInt8>) {
            endWord()
            word.append(contentsOf: bytes)
            endWord()
        }
        // NFD of the run, nonspacing marks dropped, each code point lowercased on its own, punctuation split off
        func endRun() {
            guard !run.isEmpty else { return }
            let decomposed = String(String.UnicodeScalarView(run)).decomposedStringWithCanonicalMapping.unicodeScalars
            for c in decomposed where c.properties.generalCategory != .nonspacingMark {
                for l in c.properties.lowercaseMapping.unicodeScalars {
                    if isBertPunctuation(l) { punctuation(UTF8.encode(l)!) } else { word.append(contentsOf: UTF8.encode(l)!) }
                }
            }
            run.removeAll(keepingCapacity: true)
        }
        asciiClass.withUnsafeBufferPointer { table in
            for c in text.unicodeScalars {
                if full { break }
                if c.isASCII {
                    let byte = UInt8(c.value)
                    switch table[Int(byte)] {
                    case .dropped: continue  // removed before NFD, so it does not end a run
                    case .space: endRun(); endWord()
                    case .punctuation: endRun(); punctuation(CollectionOfOne(byte))
                    case .word: endRun(); word.append(byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte)
                    }
                } else if c.value == 0xFFFD || isControl(c) {
                    continue
                } else if isPythonWhitespace(c) {  // tokenizers: char::is_whitespace (White_Space)
                    endRun(); endWord()
                } else if isCJK(c) {  // a word of its own
                    endRun(); endWord()
                    run.append(c)
                    endRun(); endWord()
                } else {
                    run.append(c)
                }
            }
            if !full { endRun(); endWord() }
        }
        return Array(out.prefix(maxLength - 1)) + [separator]
    }

    /// Greedy longest-match-first pieces of one normalised word (UTF-8), or [UNK] for a word over 100
    /// characters or one that cannot be pieced.
    func appendPieces(of word: [UInt8], to out: inout [Int32]) {
        let characters = word.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        guard characters <= 100 else { return out.append(unknown) }
        let start = out.count
        word.withUnsafeBufferPointer { bytes in
            var position = 0
            while position < bytes.count {
                var node = position == 0 ? ByteTrie.root : continuation
                var best: Int32 = -1, end = position
                var i = position
                while i < bytes.count {
                    node = trie.child(node, bytes[i])
                    if node < 0 { break }
                    i += 1
                    let id = trie.id(at: node)
                    if id >= 0 { (best, end) = (id, i) }
                }
                if best < 0 {
                    out.removeSubrange(start...)
                    out.append(unknown)
                    return
                }
                out.append(best)
                position = end
            }
        }
    }
}

/// A byte trie of the vocabulary: children in one open-addressing table keyed by (node, byte), and the
/// token id ending at each node (−1 where none does).
struct ByteTrie: Sendable {
    static let root: Int32 = 0
    private var keys: [UInt64]  // node << 8 | byte, UInt64.max empty
    private var children: [Int32]
    private var ids: [Int32] = [-1]
    private var mask: Int

    init() {
        keys = [UInt64](repeating: .max, count: 1 << 10)
        children = [Int32](repeating: -1, count: 1 << 10)
        mask = (1 << 10) - 1
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask }

    /// The child of `node` by `byte`, or −1 (also when `node` is −1).
    @inline(__always) func child(_ node: Int32, _ byte: UInt8) -> Int32 {
        guard node >= 0 else { return -1 }
        let key = UInt64(node) << 8 | UInt64(byte)
        return keys.withUnsafeBufferPointer { keys in
            var s = slot(key)
            while keys[s] != .max {
                if keys[s] == key { return children.withUnsafeBufferPointer { $0[s] } }
                s = (s + 1) & mask
            }
            return -1
        }
    }

    @inline(__always) func id(at node: Int32) -> Int32 { node < 0 ? -1 : ids[Int(node)] }

    /// The node reached from the root by `bytes`, or −1.
    func walk(_ bytes: some Sequence<UInt8>) -> Int32 {
        var node = Self.root
        for b in bytes where node >= 0 { node = child(node, b) }
        return node
    }

    mutating func insert(_ bytes: some Sequence<UInt8>, id: Int32) {
        var node = Self.root
        for b in bytes {
            var next = child(node, b)
            if next < 0 {
                next = Int32(ids.count)
                ids.append(-1)
                if 2 * ids.count > keys.count { grow() }
                var s = slot(UInt64(node) << 8 | UInt64(b))
                while keys[s] != .max { s = (s + 1) & mask }
                keys[s] = UInt64(node) << 8 | UInt64(b)
                children[s] = next
            }
            node = next
        }
        if ids[Int(node)] < 0 { ids[Int(node)] = id }
    }

    private mutating func grow() {
        let (oldKeys, oldChildren) = (keys, children)
        keys = [UInt64](repeating: .max, count: 2 * oldKeys.count)
        children = [Int32](repeating: -1, count: 2 * oldKeys.count)
        mask = keys.count - 1
        for (key, child) in zip(oldKeys, oldChildren) where key != .max {
            var s = slot(key)
            while keys[s] != .max { s = (s + 1) & mask }
            keys[s] = key
            children[s] = child
        }
    }
}

/// Python's unicodedata category "C*" other than \t \n \r.
func isControl(_ c: Unicode.Scalar) -> Bool {
    if c == "\t" || c == "\n" || c == "\r" { return false }
    switch c.properties.generalCategory {
    case .control, .format, .unassigned, .privateUse, .surrogate: return true
    default: return false
    }
}

/// Python's str.isspace() (what str.split() splits on): Unicode White_Space plus U+001C–U+001F.
public func isPythonWhitespace(_ c: Unicode.Scalar) -> Bool {
    (c.value >= 0x1C && c.value <= 0x1F) || c.properties.isWhitespace
}

func isBertPunctuation(_ c: Unicode.Scalar) -> Bool {
    let v = c.value
    if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
    switch c.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
         .finalPunctuation, .otherPunctuation: return true
    default: return false
    }
}

func isCJK(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
         0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
    default: return false
    }
}
