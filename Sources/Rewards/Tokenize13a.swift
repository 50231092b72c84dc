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
import Foundation

public func tokenize13a(_ text: String) -> [String] {
    tokenize13aBytes(text).map { String(decoding: $0, as: UTF8.self) }
}

/// The 13a tokens as UTF-8 byte slices (what BLEU counts, without building strings).
func tokenize13aBytes(_ text: String) -> [ArraySlice<UInt8>] {
    var bytes: [UInt8] = [0x20]
    bytes.reserveCapacity(text.utf8.count * 5 / 4 + 8)
    if text.contains("<skipped>") || text.contains("&") {  // rare: the literal sequence of replacements
        var line = text.replacingOccurrences(of: "<skipped>", with: "").replacingOccurrences(of: "-\n", with: "")
            .replacingOccurrences(of: "\n", with: " ")
        if line.contains("&") {
            line = line.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        }
        for b in line.utf8 { appendPadded(b, to: &bytes) }
    } else {  // one pass: drop "-\n", newline to space
        let utf8 = Array(text.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "-") && i + 1 < utf8.count && utf8[i + 1] == 0x0A {
                i += 2
                continue
            }
            appendPadded(utf8[i] == 0x0A ? 0x20 : utf8[i], to: &bytes)
            i += 1
        }
    }
    bytes.append(0x20)
    let dot = UInt8(ascii: "."), comma = UInt8(ascii: ","), dash = UInt8(ascii: "-")
    bytes = substitutePairs(bytes, { !isDigit($0) && ($1 == dot || $1 == comma) }, { a, b in [a, 0x20, b, 0x20] })
    bytes = substitutePairs(bytes, { ($0 == dot || $0 == comma) && !isDigit($1) }, { a, b in [0x20, a, 0x20, b] })
    bytes = substitutePairs(bytes, { isDigit($0) && $1 == dash }, { a, b in [a, 0x20, b, 0x20] })
    return splitOnPythonWhitespace(bytes)
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

/// Python's str.isspace(): Unicode White_Space plus the separators U+001C–U+001F.
@inline(__always) func isPythonWhitespace(_ c: Unicode.Scalar) -> Bool {
    (c.value >= 0x1C && c.value <= 0x1F) || c.properties.isWhitespace
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
