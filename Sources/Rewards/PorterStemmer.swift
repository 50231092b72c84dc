// nltk's PorterStemmer in its default NLTK_EXTENSIONS mode (Porter 1980 plus Martin Porter's and NLTK's
// amendments), the stemmer rouge-score and nltk's METEOR use. Words are lowercased first (Python's
// str.lower); words of at most two code points are returned lowercased; a small pool of irregular forms
// maps directly. Works on Unicode scalars and looks words up by code points, as Python's str does.
import Tokenizers

public struct PorterStemmer: Sendable {
    public init() {}

    typealias Word = [Unicode.Scalar]

    struct Rule {
        let suffix: Word
        let replacement: Word
        let condition: ((Word) -> Bool)?
        init(_ suffix: String, _ replacement: String, _ condition: ((Word) -> Bool)? = nil) {
            self.suffix = Array(suffix.unicodeScalars)
            self.replacement = Array(replacement.unicodeScalars)
            self.condition = condition
        }
    }

    static let pool: [CodePointString: String] = {
        let irregular: [(String, [String])] = [
            ("sky", ["sky", "skies"]), ("die", ["dying"]), ("lie", ["lying"]), ("tie", ["tying"]), ("news", ["news"]),
            ("inning", ["innings", "inning"]), ("outing", ["outings", "outing"]), ("canning", ["cannings", "canning"]),
            ("howe", ["howe"]), ("proceed", ["proceed"]), ("exceed", ["exceed"]), ("succeed", ["succeed"]),
        ]
        var pool: [CodePointString: String] = [:]
        for (key, forms) in irregular { for form in forms { pool[CodePointString(form)] = key } }
        return pool
    }()

    public func stem(_ word: String) -> String {
        let lower = pythonLowercased(word)
        if let irregular = Self.pool[CodePointString(lower)] { return irregular }
        if word.unicodeScalars.count <= 2 { return lower }
        var w = Array(lower.unicodeScalars)
        w = step1a(w); w = step1b(w); w = step1c(w); w = step2(w); w = step3(w); w = step4(w); w = step5a(w); w = step5b(w)
        return String(String.UnicodeScalarView(w))
    }

    // MARK: letters and measure

    static func isVowel(_ c: Unicode.Scalar) -> Bool { c == "a" || c == "e" || c == "i" || c == "o" || c == "u" }

    /// True where the letter is a consonant: not a vowel, and a 'y' only after a vowel or at the start.
    static func consonants(_ w: Word) -> [Bool] {
        var flags: [Bool] = []
        flags.reserveCapacity(w.count)
        for (i, c) in w.enumerated() {
            flags.append(isVowel(c) ? false : c == "y" ? (i == 0 ? true : !flags[i - 1]) : true)
        }
        return flags
    }

    /// m in [C](VC){m}[V].
    static func measure(_ w: Word) -> Int {
        let f = consonants(w)
        var m = 0
        for i in 0..<max(0, f.count - 1) where !f[i] && f[i + 1] { m += 1 }
        return m
    }

    static func containsVowel(_ w: Word) -> Bool { consonants(w).contains(false) }
    static func positiveMeasure(_ w: Word) -> Bool { measure(w) > 0 }

    static func endsDoubleConsonant(_ w: Word) -> Bool {
        w.count >= 2 && w[w.count - 1] == w[w.count - 2] && consonants(w)[w.count - 1]
    }

    /// *o: ends consonant-vowel-consonant, the last not w, x or y (NLTK: or is a two-letter vowel-consonant).
    static func endsCVC(_ w: Word) -> Bool {
        let f = consonants(w), n = w.count
        if n >= 3 && f[n - 3] && !f[n - 2] && f[n - 1] && !["w", "x", "y"].contains(w[n - 1]) { return true }
        return n == 2 && !f[0] && f[1]
    }

    static func hasSuffix(_ w: Word, _ s: Word) -> Bool { w.count >= s.count && Array(w.suffix(s.count)) == s }

    /// The first rule whose suffix matches decides: its replacement if its condition holds, else no change.
    static func apply(_ w: Word, _ rules: [Rule]) -> Word {
        for rule in rules where hasSuffix(w, rule.suffix) {
            let stem = Array(w.dropLast(rule.suffix.count))
            return rule.condition.map { $0(stem) } ?? true ? stem + rule.replacement : w
        }
        return w
    }

    // MARK: steps

    func step1a(_ w: Word) -> Word {
        if Self.hasSuffix(w, ["i", "e", "s"]) && w.count == 4 { return Array(w.dropLast(3)) + ["i", "e"] }
        return Self.apply(w, [Rule("sses", "ss"), Rule("ies", "i"), Rule("ss", "ss"), Rule("s", "")])
    }

    func step1b(_ w: Word) -> Word {
        if Self.hasSuffix(w, ["i", "e", "d"]) { return Array(w.dropLast(3)) + (w.count == 4 ? ["i", "e"] : ["i"]) }
        if Self.hasSuffix(w, ["e", "e", "d"]) {
            let stem = Array(w.dropLast(3))
            return Self.measure(stem) > 0 ? stem + ["e", "e"] : w
        }
        var stem: Word?
        for suffix: Word in [["e", "d"], ["i", "n", "g"]] where Self.hasSuffix(w, suffix) {
            let candidate = Array(w.dropLast(suffix.count))
            if Self.containsVowel(candidate) { stem = candidate; break }
        }
        guard let s = stem else { return w }
        for (suffix, replacement): (Word, Word) in [(["a", "t"], ["a", "t", "e"]), (["b", "l"], ["b", "l", "e"]), (["i", "z"], ["i", "z", "e"])]
        where Self.hasSuffix(s, suffix) {
            return Array(s.dropLast(suffix.count)) + replacement
        }
        if Self.endsDoubleConsonant(s) {  // hopp → hop, but fall, hiss, fizz stay
            return ["l", "s", "z"].contains(s[s.count - 1]) ? s : Array(s.dropLast())
        }
        return Self.measure(s) == 1 && Self.endsCVC(s) ? s + ["e"] : s
    }

    func step1c(_ w: Word) -> Word {
        Self.apply(w, [Rule("y", "i") { $0.count > 1 && Self.consonants($0)[$0.count - 1] }])
    }

    func step2(_ w: Word) -> Word {
        if Self.hasSuffix(w, ["a", "l", "l", "i"]) && Self.positiveMeasure(Array(w.dropLast(4))) {
            return step2(Array(w.dropLast(4)) + ["a", "l"])
        }
        let m = Self.positiveMeasure
        return Self.apply(w, [
            Rule("ational", "ate", m), Rule("tional", "tion", m), Rule("enci", "ence", m), Rule("anci", "ance", m),
            Rule("izer", "ize", m), Rule("bli", "ble", m), Rule("alli", "al", m), Rule("entli", "ent", m),
            Rule("eli", "e", m), Rule("ousli", "ous", m), Rule("ization", "ize", m), Rule("ation", "ate", m),
            Rule("ator", "ate", m), Rule("alism", "al", m), Rule("iveness", "ive", m), Rule("fulness", "ful", m),
            Rule("ousness", "ous", m), Rule("aliti", "al", m), Rule("iviti", "ive", m), Rule("biliti", "ble", m),
            Rule("fulli", "ful", m), Rule("logi", "log") { _ in m(Array(w.dropLast(3))) },
        ])
    }

    func step3(_ w: Word) -> Word {
        let m = Self.positiveMeasure
        return Self.apply(w, [
            Rule("icate", "ic", m), Rule("ative", "", m), Rule("alize", "al", m), Rule("iciti", "ic", m),
            Rule("ical", "ic", m), Rule("ful", "", m), Rule("ness", "", m),
        ])
    }

    func step4(_ w: Word) -> Word {
        let m: (Word) -> Bool = { Self.measure($0) > 1 }
        return Self.apply(w, [
            Rule("al", "", m), Rule("ance", "", m), Rule("ence", "", m), Rule("er", "", m), Rule("ic", "", m),
            Rule("able", "", m), Rule("ible", "", m), Rule("ant", "", m), Rule("ement", "", m), Rule("ment", "", m),
            Rule("ent", "", m), Rule("ion", "") { m($0) && ($0.last == "s" || $0.last == "t") }, Rule("ou", "", m),
            Rule("ism", "", m), Rule("ate", "", m), Rule("iti", "", m), Rule("ous", "", m), Rule("ive", "", m),
            Rule("ize", "", m),
        ])
    }

    func step5a(_ w: Word) -> Word {
        guard w.last == "e" else { return w }
        let stem = Array(w.dropLast()), m = Self.measure(stem)
        return m > 1 || (m == 1 && !Self.endsCVC(stem)) ? stem : w
    }

    func step5b(_ w: Word) -> Word {
        Self.hasSuffix(w, ["l", "l"]) && Self.measure(Array(w.dropLast())) > 1 ? Array(w.dropLast()) : w
    }
}
