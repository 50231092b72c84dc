// METEOR as nltk 3.10's meteor_score computes it (alpha 0.9, beta 3, gamma 0.5), over WordNet 3.0 as
// Debian's wordnet-base ships it (/usr/share/wordnet, installed by Scripts/bootstrap).
//
// Words are lowercased (Python's str.lower), then aligned in three stages, each on the words still
// unmatched: exact, Porter stem (the later stages see the stemmed words), and WordNet synonym (a
// hypothesis word matches a reference word among the single-word lemma names of its synsets, or
// itself). In every stage the
// hypothesis is walked from its last word and takes the last unmatched candidate in the reference.
//   P = m/|h|, R = m/|r|, Fmean = PR/(αP + (1−α)R), penalty = γ·(chunks/m)^β, METEOR = Fmean·(1 − penalty)
// with chunks the runs of matches contiguous in both; 0 without matches; the maximum over references.
// nltk takes pre-tokenised input: `meteorTokenize` offers nltk's wordpunct_tokenize (\w+|[^\w\s]+) and a
// whitespace split. Words are compared, looked up and hashed by code points (CodePointString), as
// Python compares str: a word spelt with U+00E9 and one spelt e + U+0301 are different words to nltk.
import Foundation
import Tokenizers

/// WordNet's index, exception lists and synsets, read lazily from the dictionary folder.
public final class WordNet: @unchecked Sendable {
    /// nltk's POS order: noun, verb, adjective, adverb.
    static let parts = [("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv")]
    static let substitutions: [String: [(String, String)]] = [
        "n": [("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y")],
        "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
        "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
        "r": [],
    ]
    /// lemma → POS → synset offsets
    let index: [CodePointString: [String: [Int]]]
    /// POS → inflected form → base forms
    let exceptions: [String: [CodePointString: [String]]]
    let data: [String: Data]
    private let lock = NSLock()
    private var cache: [CodePointString: Set<CodePointString>] = [:]

    public init(directory: String = "/usr/share/wordnet") throws {
        var index: [CodePointString: [String: [Int]]] = [:], exceptions: [String: [CodePointString: [String]]] = [:]
        var data: [String: Data] = [:]
        for (pos, name) in Self.parts {
            func read(_ file: String) throws -> String {
                guard let text = try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8) else {
                    throw RewardError("cannot read WordNet file \(directory)/\(file) (Scripts/bootstrap installs wordnet-base)")
                }
                return text
            }
            for line in try read("index.\(name)").split(separator: "\n") where !line.hasPrefix(" ") {
                let f = line.split(separator: " ")
                guard f.count > 4, let synsets = Int(f[2]) else { continue }
                let offsets = f.suffix(synsets).compactMap { Int($0) }  // the line ends with the synset offsets
                index[CodePointString(f[0]), default: [:]][pos] = offsets
            }
            var map: [CodePointString: [String]] = [:]
            for line in try read("\(name).exc").split(separator: "\n") {
                let terms = line.split(separator: " ").map(String.init)
                if let first = terms.first { map[CodePointString(first)] = Array(terms.dropFirst()) }
            }
            exceptions[pos] = map
            guard let bytes = FileManager.default.contents(atPath: "\(directory)/data.\(name)") else {
                throw RewardError("cannot read WordNet file \(directory)/data.\(name)")
            }
            data[pos] = bytes
        }
        self.index = index
        self.exceptions = exceptions
        self.data = data
    }

    /// nltk's _morphy: the exception list's base forms, else one pass of the suffix rules; kept when the
    /// form (or the word itself) is a lemma of that part of speech. Suffixes are matched and cut on code
    /// points (str.endswith and slicing), not on Characters.
    func morphy(_ form: String, _ pos: String) -> [String] {
        let scalars = Array(form.unicodeScalars)
        let forms = exceptions[pos]?[CodePointString(form)] ?? Self.substitutions[pos]!.compactMap { old, new in
            let suffix = Array(old.unicodeScalars)
            guard scalars.count >= suffix.count, scalars.suffix(suffix.count).elementsEqual(suffix) else { return nil }
            return String(String.UnicodeScalarView(scalars.dropLast(suffix.count))) + new
        }
        var seen = Set<CodePointString>(), result: [String] = []
        for f in [form] + forms {
            let key = CodePointString(f)
            if index[key]?[pos] != nil && seen.insert(key).inserted { result.append(f) }
        }
        return result
    }

    /// Lemma names of the synset at `offset` in data.POS (adjective markers such as "(a)" removed).
    func lemmaNames(_ pos: String, _ offset: Int) -> [String] {
        guard let bytes = data[pos], offset < bytes.count else { return [] }
        let line = bytes[bytes.startIndex + offset..<(bytes[(bytes.startIndex + offset)...].firstIndex(of: 0x0A) ?? bytes.endIndex)]
        let f = String(decoding: line, as: UTF8.self).split(separator: " ")
        guard f.count > 4, let count = Int(f[3], radix: 16) else { return [] }
        return (0..<count).map { i in
            let word = f[4 + 2 * i]
            return String(word.firstIndex(of: "(").map { word[..<$0] } ?? word)
        }
    }

    /// The single-word lemma names of every synset of `word` in any part of speech.
    public func synonyms(_ word: String) -> Set<CodePointString> {
        let key = CodePointString(word)
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        let lemma = pythonLowercased(word)
        var names = Set<CodePointString>()
        for (pos, _) in Self.parts {
            for form in morphy(lemma, pos) {
                for offset in index[CodePointString(form)]?[pos] ?? [] {
                    for name in lemmaNames(pos, offset) where !name.unicodeScalars.contains("_") { names.insert(CodePointString(name)) }
                }
            }
        }
        cache[key] = names
        return names
    }
}

public enum METEORTokenization: String, Sendable { case wordpunct, whitespace }

/// nltk's wordpunct_tokenize (\w+|[^\w\s]+ compiled by the `regex` module, whose \w is Unicode's word
/// class: Alphabetic, marks, decimal digits, connector punctuation, join controls; \s is White_Space),
/// or Python's str.split().
public func meteorTokenize(_ text: String, _ tokenization: METEORTokenization = .wordpunct) -> [String] {
    enum Kind { case word, other, space }
    func kind(_ c: Unicode.Scalar) -> Kind {
        if tokenization == .whitespace { return isPythonWhitespace(c) ? .space : .word }
        let p = c.properties
        if p.isWhitespace { return .space }
        if p.isAlphabetic || p.isJoinControl { return .word }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return .word
        default: return .other
        }
    }
    var tokens: [String] = [], current = String.UnicodeScalarView(), currentKind = Kind.space
    for c in text.unicodeScalars {
        let k = kind(c)
        if k != currentKind, !current.isEmpty { tokens.append(String(current)); current = String.UnicodeScalarView() }
        if k != .space { current.append(c) }
        currentKind = k
    }
    if !current.isEmpty { tokens.append(String(current)) }
    return tokens
}

public struct METEOR: Sendable {
    public let wordNet: WordNet
    public var alpha = 0.9, beta = 3.0, gamma = 0.5
    let stemmer = PorterStemmer()

    public init(wordNet: WordNet) { self.wordNet = wordNet }

    public func score(hypothesis: [String], references: [[String]]) -> Double {
        references.map { single(hypothesis: hypothesis, reference: $0) }.max() ?? 0
    }

    func single(hypothesis: [String], reference: [String]) -> Double {
        var h = hypothesis.enumerated().map { ($0.offset, CodePointString(pythonLowercased($0.element))) }
        var r = reference.enumerated().map { ($0.offset, CodePointString(pythonLowercased($0.element))) }
        var matches = matchStage(&h, &r) { [$0] }
        h = h.map { ($0.0, CodePointString(stemmer.stem($0.1.string))) }
        r = r.map { ($0.0, CodePointString(stemmer.stem($0.1.string))) }
        matches += matchStage(&h, &r) { [$0] }
        matches += matchStage(&h, &r) { Array(wordNet.synonyms($0.string)) + [$0] }
        guard !matches.isEmpty, !hypothesis.isEmpty, !reference.isEmpty else { return 0 }
        matches.sort { $0.0 < $1.0 }
        var chunks = 1
        for i in 0..<matches.count - 1 where !(matches[i + 1].0 == matches[i].0 + 1 && matches[i + 1].1 == matches[i].1 + 1) {
            chunks += 1
        }
        let m = Double(matches.count)
        let precision = m / Double(hypothesis.count), recall = m / Double(reference.count)
        let fmean = precision * recall / (alpha * precision + (1 - alpha) * recall)
        return (1 - gamma * pow(Double(chunks) / m, beta)) * fmean
    }

    /// One alignment stage: from the last hypothesis word back, each takes the last unmatched reference
    /// position holding one of its candidate forms. Matched words leave both lists.
    func matchStage(_ h: inout [(Int, CodePointString)], _ r: inout [(Int, CodePointString)],
                    candidates: (CodePointString) -> [CodePointString]) -> [(Int, Int)] {
        var positions: [CodePointString: [Int]] = [:]
        for (j, (_, word)) in r.enumerated() { positions[word, default: []].append(j) }
        var matches: [(Int, Int)] = [], matchedH = Set<Int>(), matchedR = Set<Int>()
        for i in h.indices.reversed() {
            var best: (j: Int, word: CodePointString)?
            for word in candidates(h[i].1) {
                if let j = positions[word]?.last, j > (best?.j ?? -1) { best = (j, word) }
            }
            guard let b = best else { continue }
            positions[b.word]!.removeLast()
            matchedH.insert(i)
            matchedR.insert(b.j)
            matches.append((h[i].0, r[b.j].0))
        }
        h = h.enumerated().filter { !matchedH.contains($0.offset) }.map(\.element)
        r = r.enumerated().filter { !matchedR.contains($0.offset) }.map(\.element)
        return matches
    }
}
