// BERT's WordPiece tokenizer, as transformers 5's BertTokenizer (the one bert_score loads, backed by
// Hugging Face tokenizers' BertNormalizer, BertPreTokenizer and WordPiece) runs it with do_lower_case:
// clean the text (drop NUL, U+FFFD and control characters; whitespace to spaces), put spaces around CJK
// ideographs, split on whitespace, strip accents (NFD, drop nonspacing marks), then lowercase each code
// point on its own (no final-sigma rule: Σ becomes σ everywhere), split off punctuation (ASCII
// punctuation and Unicode P*), then greedy longest-match-first word pieces with the "##" continuation
// prefix; a word over 100 characters, or one that cannot be pieced, becomes [UNK]. Works on Unicode
// scalars and looks pieces up by code points (UTF-8 bytes), as tokenizers does: the accent stripping is
// the only normalisation (so a Hangul syllable, which NFD turns into conjoining jamo, is pieced as jamo).
import Foundation

public final class WordPiece: Sendable {
    public let vocabulary: [String]
    let ids: [CodePointString: Int32]
    public let unknown: Int32, classifier: Int32, separator: Int32, padding: Int32

    /// From BERT's vocab.txt: one token per line, the line number is the id.
    public init(vocabularyFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw TokenizerError("cannot read \(path)") }
        var lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        vocabulary = lines
        var ids: [CodePointString: Int32] = [:]
        for (i, token) in lines.enumerated() where ids[CodePointString(token)] == nil { ids[CodePointString(token)] = Int32(i) }
        self.ids = ids
        func special(_ token: String) throws -> Int32 {
            guard let id = ids[CodePointString(token)] else { throw TokenizerError("\(path): no \(token) token") }
            return id
        }
        (unknown, classifier, separator, padding) = (try special("[UNK]"), try special("[CLS]"), try special("[SEP]"), try special("[PAD]"))
    }

    /// [CLS] pieces [SEP], truncated to `maxLength` ids in all.
    public func encode(_ text: String, maxLength: Int = 512) -> [Int32] {
        var out: [Int32] = [classifier]
        for word in basicTokens(text) {
            out += pieces(word)
            if out.count >= maxLength - 1 { break }
        }
        return Array(out.prefix(maxLength - 1)) + [separator]
    }

    /// Words after cleaning, CJK spacing, accent stripping, lowercasing and punctuation splitting.
    func basicTokens(_ text: String) -> [String] {
        var cleaned: [Unicode.Scalar] = []
        for c in text.unicodeScalars {
            if c.value == 0 || c.value == 0xFFFD || isControl(c) { continue }
            if isPythonWhitespace(c) {  // tokenizers: char::is_whitespace (White_Space)
                cleaned.append(" ")
            } else if isCJK(c) {
                cleaned.append(" "); cleaned.append(c); cleaned.append(" ")
            } else {
                cleaned.append(c)
            }
        }
        var words: [String] = []
        // split on code points (a Character would fuse a space with a following combining mark)
        for chunk in cleaned.split(separator: " ") {
            var normalized: [Unicode.Scalar] = []
            normalized.reserveCapacity(chunk.count)
            if chunk.allSatisfy(\.isASCII) {  // NFD is the identity and there is no mark to strip
                for c in chunk { normalized.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(UInt8(c.value + 0x20)) : c) }
            } else {
                let decomposed = String(String.UnicodeScalarView(chunk)).decomposedStringWithCanonicalMapping.unicodeScalars
                for c in decomposed where c.properties.generalCategory != .nonspacingMark {
                    normalized.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
                }
            }
            var current = String.UnicodeScalarView()
            for c in normalized {
                if isBertPunctuation(c) {
                    if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
                    words.append(String(c))
                } else {
                    current.append(c)
                }
            }
            if !current.isEmpty { words.append(String(current)) }
        }
        return words
    }

    /// Greedy longest-match-first pieces of one word.
    func pieces(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        guard scalars.count <= 100 else { return [unknown] }
        var out: [Int32] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32?
            while start < end {
                var piece = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if let id = ids[CodePointString(piece)] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            out.append(id)
            start = end
        }
        return out
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
