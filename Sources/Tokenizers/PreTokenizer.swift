// SmolLM2's pre-tokenizer over Unicode scalars (never `Character`: grapheme clusters would fuse a
// letter with its combining marks). First every number (\p{N}) is isolated, one scalar per piece; then
// GPT-2's pattern splits each run between numbers:
//   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
// hand-coded as a scan (no regex engine), with \s = Unicode White_Space.

enum ScalarClass: UInt8 { case letter, number, whitespace, other }

@inline(__always) func classify(_ s: Unicode.Scalar) -> ScalarClass {
    let v = s.value
    if v < 0x80 {  // ASCII fast path
        if (v >= 0x61 && v <= 0x7A) || (v >= 0x41 && v <= 0x5A) { return .letter }
        if v >= 0x30 && v <= 0x39 { return .number }
        if v == 0x20 || (v >= 0x09 && v <= 0x0D) { return .whitespace }
        return .other
    }
    if s.properties.isWhitespace { return .whitespace }
    switch s.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
    case .decimalNumber, .letterNumber, .otherNumber: return .number
    default: return .other
    }
}

/// Calls `emit` with the scalar range of each piece, in order; the pieces tile the input.
func preTokenize(_ s: [Unicode.Scalar], _ emit: (Range<Int>) -> Void) {
    let classes = s.map(classify)
    var start = 0
    for i in 0...s.count {
        if i == s.count || classes[i] == .number {
            gpt2Split(s, classes, start..<i, emit)
            if i < s.count { emit(i..<i + 1) }
            start = i + 1
        }
    }
}

/// GPT-2's pattern within one run that holds no number.
private func gpt2Split(_ s: [Unicode.Scalar], _ classes: [ScalarClass], _ run: Range<Int>, _ emit: (Range<Int>) -> Void) {
    var i = run.lowerBound
    let end = run.upperBound
    while i < end {
        if s[i] == "'" && i + 1 < end, let length = contractionLength(s, i + 1, end) {
            emit(i..<i + 1 + length)
            i += 1 + length
            continue
        }
        // ' ?' then a run of one class (letters, or neither space nor letter nor number)
        let j = s[i] == " " && i + 1 < end && classes[i + 1] != .whitespace ? i + 1 : i
        let kind = classes[j]
        if kind != .whitespace {
            var e = j + 1
            while e < end && classes[e] == kind { e += 1 }
            emit(i..<e)
            i = e
            continue
        }
        // \s+(?!\S) keeps the last space of a run that precedes a non-space for the next piece; \s+
        // takes a single space that precedes one.
        var e = i
        while e < end && classes[e] == .whitespace { e += 1 }
        let stop = e == end || e - i == 1 ? e : e - 1
        emit(i..<stop)
        i = stop
    }
}

/// Length after the apostrophe of 's 't 'm 'd 're 've 'll at `i`, or nil.
@inline(__always) private func contractionLength(_ s: [Unicode.Scalar], _ i: Int, _ end: Int) -> Int? {
    switch s[i] {
    case "s", "t", "m", "d": return 1
    case "r", "v": return i + 1 < end && s[i + 1] == "e" ? 2 : nil
    case "l": return i + 1 < end && s[i + 1] == "l" ? 2 : nil
    default: return nil
    }
}
