// Text compared as the Python reference libraries compare it: code point by code point. Swift's String
// `==` and String hashing use canonical equivalence (é as U+00E9 equals e + U+0301, Å U+212B equals
// U+00C5, a Hangul syllable equals its conjoining jamo, the Kelvin sign equals K); Python's str does not.
// Every comparison, dictionary key and set member that must agree with a reference library goes through
// `CodePointString` or compares `unicodeScalars`/`utf8` directly.

/// A string whose equality and hash are those of its UTF-8 bytes (so of its code points).
public struct CodePointString: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }
    public init(_ substring: Substring) { string = String(substring) }

    public static func == (a: CodePointString, b: CodePointString) -> Bool {
        guard a.string.utf8.count == b.string.utf8.count else { return false }
        var x = a.string, y = b.string
        return x.withUTF8 { p in y.withUTF8 { p.elementsEqual($0) } }
    }

    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { string }
}

/// Python's str.lower(): each code point's full lowercase mapping, and capital sigma as final ς (U+03C2)
/// after a cased letter and not before one (case-ignorable code points skipped both ways), which
/// Swift's lowercased() does not apply.
public func pythonLowercased(_ text: some StringProtocol) -> String {
    let lowered = text.lowercased()
    guard text.unicodeScalars.contains("\u{03A3}") else { return lowered }
    let scalars = Array(text.unicodeScalars)
    var out = String.UnicodeScalarView()
    for (i, c) in scalars.enumerated() {
        guard c == "\u{03A3}" else {
            out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            continue
        }
        let before = scalars[..<i].last { !$0.properties.isCaseIgnorable }
        let after = scalars[(i + 1)...].first { !$0.properties.isCaseIgnorable }
        let final = before?.properties.isCased == true && after?.properties.isCased != true
        out.append(final ? "\u{03C2}" : "\u{03C3}")
    }
    return String(out)
}
