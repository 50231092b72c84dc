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
    let h = TokenList(rougeTokenize(hypothesis, stem: stem))
    var best: ROUGEScore?
    for reference in references {
        let r = TokenList(rougeTokenize(reference, stem: stem))
        let s: ROUGEScore
        switch kind {
        case .n(let n):
            let overlap = Double(clippedMatches(h, [r], orders: n)[n - 1])
            s = ROUGEScore(precision: overlap / Double(max(1, h.count - n + 1)), recall: overlap / Double(max(1, r.count - n + 1)))
        case .l:
            if h.count == 0 || r.count == 0 {
                s = ROUGEScore(precision: 0, recall: 0)
            } else {
                let ids = internAgainstHypothesis(h, [r])
                let l = Double(longestCommonSubsequence(ids.hypothesis, ids.references[0]))
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
