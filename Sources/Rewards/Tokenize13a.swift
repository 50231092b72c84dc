// sacrebleu's "13a" tokenizer (mteval-v13a), which HF evaluate's "bleu" also uses. Case-sensitive.
// 1. delete "<skipped>", join "-\n", newlines to spaces; unescape &quot; &amp; &lt; &gt; if '&' occurs;
// 2. pad with one space each side and apply four substitutions, each global, left to right,
//    non-overlapping (Python re.sub):
//    a. ([{-~[-` -&(-+:-@/])  → " \1 "    (punctuation and symbols except ' - . ,)
//    b. ([^0-9])([.,])        → "\1 \2 "  (period/comma not after a digit)
//    c. ([.,])([^0-9])        → " \1 \2"  (period/comma not before a digit)
//    d. ([0-9])(-)            → "\1 \2 "  (dash after a digit)
// 3. split on whitespace (Python's str.split()).
// Works on Unicode scalars, as Python's str does on code points.

public func tokenize13a(_ text: String) -> [String] {
    var line = text.replacingOccurrences(of: "<skipped>", with: "")
        .replacingOccurrences(of: "-\n", with: "")
        .replacingOccurrences(of: "\n", with: " ")
    if line.contains("&") {
        line = line.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
    }
    var s: [Unicode.Scalar] = [" "] + Array(line.unicodeScalars) + [" "]
    s = s.flatMap { isPunctuation13a($0) ? [" ", $0, " "] : [$0] }
    s = substitutePairs(s, { !isDigit($0) && ($1 == "." || $1 == ",") }, { a, b in [a, " ", b, " "] })
    s = substitutePairs(s, { ($0 == "." || $0 == ",") && !isDigit($1) }, { a, b in [" ", a, " ", b] })
    s = substitutePairs(s, { isDigit($0) && $1 == "-" }, { a, b in [a, " ", b, " "] })
    return splitOnPythonWhitespace(s)
}

@inline(__always) func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }

/// [{-~[-` -&(-+:-@/]
@inline(__always) func isPunctuation13a(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x7B...0x7E, 0x5B...0x60, 0x20...0x26, 0x28...0x2B, 0x3A...0x40, 0x2F: return true
    default: return false
    }
}

/// re.sub of a two-character pattern: scan left to right; on a match emit the replacement and skip both.
func substitutePairs(
    _ s: [Unicode.Scalar], _ matches: (Unicode.Scalar, Unicode.Scalar) -> Bool,
    _ replacement: (Unicode.Scalar, Unicode.Scalar) -> [Unicode.Scalar]
) -> [Unicode.Scalar] {
    var out: [Unicode.Scalar] = []
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

func splitOnPythonWhitespace(_ s: [Unicode.Scalar]) -> [String] {
    var tokens: [String] = []
    var current = String.UnicodeScalarView()
    for c in s {
        if isPythonWhitespace(c) {
            if !current.isEmpty { tokens.append(String(current)); current = String.UnicodeScalarView() }
        } else {
            current.append(c)
        }
    }
    if !current.isEmpty { tokens.append(String(current)) }
    return tokens
}
