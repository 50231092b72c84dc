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
    let tokens = tokenize13aBytes(text)
    return tokens.ranges.map { String(decoding: tokens.bytes[$0], as: UTF8.self) }
}

/// The 13a tokens as byte ranges of one buffer (what BLEU counts, without building strings). Every step
/// works on bytes, as Python's str.replace and re.sub work on code points: no canonical equivalence, no
/// grapheme clusters (String's contains and Foundation's replacingOccurrences would miss "&amp;" before a
/// combining mark, and would match "&amp;" ending in U+037E GREEK QUESTION MARK as if it were ';').
func tokenize13aBytes(_ text: String) -> TokenList {
    var utf8 = Array(text.utf8)
    if utf8.contains(UInt8(ascii: "<")) { utf8 = replacing(utf8, "<skipped>", with: "") }
    if utf8.contains(0x0A) { utf8 = joinLines(utf8) }
    if utf8.contains(UInt8(ascii: "&")) {
        for (entity, character) in [("&quot;", "\""), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")] {
            utf8 = replacing(utf8, entity, with: character)
        }
    }
    var bytes = rewrite(utf8, capacity: 3 * utf8.count + 2) { input, out in
        var n = 0
        out[n] = 0x20; n += 1
        for c in input {
            if isPadded(c) {
                out[n] = 0x20; out[n + 1] = c; out[n + 2] = 0x20; n += 3
            } else {
                out[n] = c; n += 1
            }
        }
        out[n] = 0x20
        return n + 1
    }
    let dot = UInt8(ascii: "."), comma = UInt8(ascii: ","), dash = UInt8(ascii: "-")
    bytes = substitutePairs(bytes, spaceFirst: false) { !isDigit($0) && ($1 == dot || $1 == comma) }
    bytes = substitutePairs(bytes, spaceFirst: true) { ($0 == dot || $0 == comma) && !isDigit($1) }
    bytes = substitutePairs(bytes, spaceFirst: false) { isDigit($0) && $1 == dash }
    return TokenList(bytes: bytes, ranges: splitOnPythonWhitespace(bytes))
}

/// A new array of at most `capacity` bytes written by `body` from `input`; `body` returns the count.
@inline(__always) func rewrite(_ input: [UInt8], capacity: Int,
                               _ body: (UnsafeBufferPointer<UInt8>, UnsafeMutablePointer<UInt8>) -> Int) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: capacity) { out, count in
        count = input.withUnsafeBufferPointer { body($0, out.baseAddress!) }
    }
}

/// line.replace("-\n", "").replace("\n", " ") on bytes.
func joinLines(_ s: [UInt8]) -> [UInt8] {
    rewrite(s, capacity: s.count) { s, out in
        var i = 0, n = 0
        while i < s.count {
            if s[i] == UInt8(ascii: "-") && i + 1 < s.count && s[i + 1] == 0x0A {
                i += 2
                continue
            }
            out[n] = s[i] == 0x0A ? 0x20 : s[i]
            n += 1
            i += 1
        }
        return n
    }
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
@inline(__always) func isPadded(_ c: UInt8) -> Bool {
    switch c {
    case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: return true
    default: return false
    }
}

/// re.sub of a two-character pattern whose replacement is "\1 \2 " (or " \1 \2" with `spaceFirst`):
/// scan left to right; on a match emit the replacement and skip both.
@inline(__always) func substitutePairs(_ s: [UInt8], spaceFirst: Bool, _ matches: (UInt8, UInt8) -> Bool) -> [UInt8] {
    rewrite(s, capacity: 2 * s.count) { s, out in
        var i = 0, n = 0
        while i < s.count {
            if i + 1 < s.count && matches(s[i], s[i + 1]) {
                if spaceFirst {
                    out[n] = 0x20; out[n + 1] = s[i]; out[n + 2] = 0x20; out[n + 3] = s[i + 1]
                } else {
                    out[n] = s[i]; out[n + 1] = 0x20; out[n + 2] = s[i + 1]; out[n + 3] = 0x20
                }
                n += 4
                i += 2
            } else {
                out[n] = s[i]
                n += 1
                i += 1
            }
        }
        return n
    }
}

/// Token ranges split on ASCII whitespace bytes, then any token holding non-ASCII bytes split on Unicode
/// whitespace (the input is valid UTF-8: a String's bytes with ASCII spaces inserted).
func splitOnPythonWhitespace(_ s: [UInt8]) -> [Range<Int>] {
    var tokens: [Range<Int>] = []
    tokens.reserveCapacity(s.count / 4)
    s.withUnsafeBufferPointer { s in
        var start = 0, nonASCII = false
        func flush(_ end: Int) {
            guard start < end else { return }
            if !nonASCII { return tokens.append(start..<end) }
            var pieceStart = start, offset = start
            for scalar in String(decoding: UnsafeBufferPointer(rebasing: s[start..<end]), as: UTF8.self).unicodeScalars {
                let width = UTF8.width(scalar)
                if isPythonWhitespace(scalar) {
                    if pieceStart < offset { tokens.append(pieceStart..<offset) }
                    pieceStart = offset + width
                }
                offset += width
            }
            if pieceStart < end { tokens.append(pieceStart..<end) }
        }
        for i in 0..<s.count {
            let b = s[i]
            if b == 0x20 || (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x1F) {
                flush(i)
                start = i + 1
                nonASCII = false
            } else if b >= 0x80 {
                nonASCII = true
            }
        }
        flush(s.count)
    }
    return tokens
}
