// ROUGE-N and ROUGE-L F-measures as Google's rouge-score 0.1.2 computes them: lowercase, every run of
// characters outside [a-z0-9] becomes a space, split (so non-ASCII letters vanish); with the stemmer,
// tokens longer than three characters go through nltk's Porter stemmer.
// ROUGE-N: clipped n-gram overlap; precision over the hypothesis's n-grams, recall over the reference's
// (each denominator at least 1). ROUGE-L: longest common subsequence; 0 when either side is empty.
// Several references: the one with the highest F (the first on ties), as score_multi.

public struct ROUGEScore: Sendable, Equatable {
    public let precision: Double
    public let recall: Double
    public let f: Double

    init(precision: Double, recall: Double) {
        self.precision = precision
        self.recall = recall
        f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
    }
}

public enum ROUGEKind: Sendable, Equatable {
    /// ROUGE-N for n in 1…4.
    case n(Int)
    case l
}

public func rougeTokenize(_ text: String, stem: Bool = false) -> [String] {
    var tokens: [String] = []
    var current = ""
    for c in text.lowercased().unicodeScalars {
        let v = c.value
        if (v >= 0x61 && v <= 0x7A) || (v >= 0x30 && v <= 0x39) {
            current.unicodeScalars.append(c)
        } else if !current.isEmpty {
            tokens.append(current)
            current = ""
        }
    }
    if !current.isEmpty { tokens.append(current) }
    guard stem else { return tokens }
    let stemmer = PorterStemmer()
    return tokens.map { $0.count > 3 ? stemmer.stem($0) : $0 }
}

public func rouge(_ kind: ROUGEKind, hypothesis: String, references: [String], stem: Bool = false) -> ROUGEScore {
    let interned = internTokens([rougeTokenize(hypothesis, stem: stem)] + references.map { rougeTokenize($0, stem: stem) })
    let h = interned[0]
    var best: ROUGEScore?
    for r in interned.dropFirst() {
        let s: ROUGEScore
        switch kind {
        case .n(let n):
            let hc = ngramCounts(h, n), rc = ngramCounts(r, n)
            let overlap = hc.reduce(0) { $0 + min($1.value, rc[$1.key] ?? 0) }
            s = ROUGEScore(precision: Double(overlap) / Double(max(1, hc.values.reduce(0, +))),
                           recall: Double(overlap) / Double(max(1, rc.values.reduce(0, +))))
        case .l:
            if h.isEmpty || r.isEmpty {
                s = ROUGEScore(precision: 0, recall: 0)
            } else {
                let l = Double(longestCommonSubsequence(h, r))
                s = ROUGEScore(precision: l / Double(h.count), recall: l / Double(r.count))
            }
        }
        if best == nil || s.f > best!.f { best = s }
    }
    return best ?? ROUGEScore(precision: 0, recall: 0)
}

/// Length of the LCS, with one row of the DP table.
func longestCommonSubsequence(_ a: [Int32], _ b: [Int32]) -> Int {
    var previous = [Int](repeating: 0, count: b.count + 1), current = previous
    for x in a {
        for (j, y) in b.enumerated() {
            current[j + 1] = x == y ? previous[j] + 1 : max(previous[j + 1], current[j])
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// BRF1: harmonic mean of smoothed BLEU and ROUGE-L F (0 when both are 0).
public func brf1(hypothesis: String, references: [String]) -> Double {
    let b = bleuSmoothed(hypothesis: hypothesis, references: references)
    let r = rouge(.l, hypothesis: hypothesis, references: references).f
    return b + r > 0 ? 2 * b * r / (b + r) : 0
}
