// sacrebleu's "13a" tokenizer (mteval-v13a), which HF evaluate's "bleu" also uses. Case-sensitive.
// 1. delete "<skipped>", join "-\n", newlines to spaces; unescape &quot; &amp; &lt; &gt; if '&' occurs;
// 2. pad with one space each side and apply four substitutions, each global, left to right,
//    non-overlapping (Python re.sub):
//    a. ([{-~[-` -&(-+:-@/])  → " \1 "    (punctuation and symbols except ' - . ,)
//    b. ([^0-9])([.,])        → "\1 \2 "  (period/comma not after a digit)
//    c. ([.,])([^0-9])        → " \1 \2"  (period/comma not before a digit)
//    d. ([0-9])(-)            → "\1 \2 "  (dash after a digit)
// 3. split on whitespace (Python's str.split(): Unicode White_Space and U+001C–U+001F).
// The substitutions only insert spaces around ASCII characters, so they run on UTF-8 bytes: a byte of a
// multi-byte character is a non-digit exactly as the character is, and the output bytes are the same.
import Tokenizers

public func tokenize13a(_ text: String) -> [String] {
    tokenize13aBytes(text).map { String(decoding: $0, as: UTF8.self) }
}

/// The 13a tokens as UTF-8 byte slices (what BLEU counts, without building strings). Every step works on
/// bytes, as Python's str.replace and re.sub work on code points: no canonical equivalence, no grapheme
/// clusters (String's contains and Foundation's replacingOccurrences would miss "&amp;" before a combining
/// mark, and would match "&amp;" ending in U+037E GREEK QUESTION MARK as if it were ';').
func tokenize13aBytes(_ text: String) -> [ArraySlice<UInt8>] {
    var utf8 = Array(text.utf8)
    if utf8.contains(UInt8(ascii: "<")) { utf8 = replacing(utf8, "<skipped>", with: "") }
    utf8 = joinLines(utf8)
    if utf8.contains(UInt8(ascii: "&")) {
        for (entity, character) in [("&quot;", "\""), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")] {
            utf8 = replacing(utf8, entity, with: character)
        }
    }
    var bytes: [UInt8] = [0x20]
    bytes.reserveCapacity(utf8.count * 5 / 4 + 8)
    for b in utf8 { appendPadded(b, to: &bytes) }
    bytes.append(0x20)
    let dot = UInt8(ascii: "."), comma = UInt8(ascii: ","), dash = UInt8(ascii: "-")
    bytes = substitutePairs(bytes, { !isDigit($0) && ($1 == dot || $1 == comma) }, { a, b in [a, 0x20, b, 0x20] })
    bytes = substitutePairs(bytes, { ($0 == dot || $0 == comma) && !isDigit($1) }, { a, b in [0x20, a, 0x20, b] })
    bytes = substitutePairs(bytes, { isDigit($0) && $1 == dash }, { a, b in [a, 0x20, b, 0x20] })
    return splitOnPythonWhitespace(bytes)
}

/// line.replace("-\n", "").replace("\n", " ") on bytes.
func joinLines(_ s: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(s.count)
    var i = 0
    while i < s.count {
        if s[i] == UInt8(ascii: "-") && i + 1 < s.count && s[i + 1] == 0x0A {
            i += 2
            continue
        }
        out.append(s[i] == 0x0A ? 0x20 : s[i])
        i += 1
    }
    return out
}

/// Python's str.replace on UTF-8 bytes: every non-overlapping occurrence, left to right.
func replacing(_ s: [UInt8], _ pattern: String, with replacement: String) -> [UInt8] {
    let p = Array(pattern.utf8), r = Array(replacement.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(s.count)
    var i = 0
    while i < s.count {
        if s[i] == p[0] && i + p.count <= s.count && s[i..<i + p.count].elementsEqual(p) {
            out += r
            i += p.count
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

/// Rule a: [{-~[-` -&(-+:-@/] gets a space on each side.
@inline(__always) func appendPadded(_ c: UInt8, to out: inout [UInt8]) {
    switch c {
    case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F:
        out.append(0x20); out.append(c); out.append(0x20)
    default:
        out.append(c)
    }
}

/// re.sub of a two-character pattern: scan left to right; on a match emit the replacement and skip both.
func substitutePairs(_ s: [UInt8], _ matches: (UInt8, UInt8) -> Bool, _ replacement: (UInt8, UInt8) -> [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(s.count + s.count / 4)
    var i = 0
    while i < s.count {
        if i + 1 < s.count && matches(s[i], s[i + 1]) {
            out += replacement(s[i], s[i + 1])
            i += 2
        } else {
            out.append(s[i])
            i += 1
        }
    }
    return out
}

/// Splits on ASCII whitespace bytes, then splits any token holding non-ASCII bytes on Unicode whitespace.
func splitOnPythonWhitespace(_ s: [UInt8]) -> [ArraySlice<UInt8>] {
    var tokens: [ArraySlice<UInt8>] = []
    var start = 0, nonASCII = false
    func flush(_ end: Int) {
        guard start < end else { return }
        let token = s[start..<end]
        if !nonASCII {
            tokens.append(token)
            return
        }
        var piece: [UInt8] = []
        for scalar in String(decoding: token, as: UTF8.self).unicodeScalars {
            if isPythonWhitespace(scalar) {
                if !piece.isEmpty { tokens.append(piece[...]); piece = [] }
            } else {
                piece += Array(String(scalar).utf8)
            }
        }
        if !piece.isEmpty { tokens.append(piece[...]) }
    }
    for (i, b) in s.enumerated() {
        if b == 0x20 || (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x1F) {
            flush(i)
            start = i + 1
            nonASCII = false
        } else if b >= 0x80 {
            nonASCII = true
        }
    }
    flush(s.count)
    return tokens
}
