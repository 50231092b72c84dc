// BLEU in the two variants researchers use (definitions: shared notes, metrics.md §1–2).
//
// `bleuSmoothed`: HF evaluate's "bleu" (the TensorFlow-NMT compute_bleu port) with smooth=True, as
// BLEUBERI calls it per completion: add-one smoothing on all four orders, brevity penalty against the
// SHORTEST reference, counts clipped by the maximum over references, in [0, 1]. When the hypothesis or
// the shortest reference has no tokens, evaluate raises ZeroDivisionError (its brevity penalty divides by
// both lengths); both score 0 here: BLEUBERI returns 0 for an empty completion, and an empty reference
// must not pay (its add-one smoothing alone would give an unrelated hypothesis ≈ 0.3).
//
// `sacreBLEU`: sacrebleu 2.x defaults: exp smoothing, brevity penalty against the CLOSEST reference length
// (ties: the shorter), 0–100; sentence scores use the effective order, corpus scores sum the statistics.

/// Clipped n-gram matches and totals of one hypothesis, orders 1…4, plus its length and the lengths of
/// its references.
public struct NGramStatistics: Sendable, Equatable {
    public var matches = [Int](repeating: 0, count: 4)
    public var totals = [Int](repeating: 0, count: 4)
    public var hypothesisLength = 0
    public var referenceLengths: [Int] = []

    init<Token: Hashable>(hypothesis: [Token], references: [[Token]]) {
        hypothesisLength = hypothesis.count
        referenceLengths = references.map(\.count)
        let interned = internTokens([hypothesis] + references)
        let h = interned[0], refs = interned.dropFirst()
        for n in 1...4 {
            let counts = ngramCounts(h, n)
            var maxReference: [NGram: Int] = [:]
            for r in refs {
                for (gram, c) in ngramCounts(r, n) where counts[gram] != nil { maxReference[gram] = max(maxReference[gram] ?? 0, c) }
            }
            totals[n - 1] = max(0, h.count - n + 1)
            matches[n - 1] = counts.reduce(0) { $0 + min($1.value, maxReference[$1.key] ?? 0) }
        }
    }
}

/// The token lists with each distinct token replaced by a small integer, so n-grams hash as fixed-size
/// keys rather than strings.
func internTokens<Token: Hashable>(_ lists: [[Token]]) -> [[Int32]] {
    var vocabulary: [Token: Int32] = [:]
    return lists.map { tokens in
        tokens.map { t in
            if let id = vocabulary[t] { return id }
            let id = Int32(vocabulary.count)
            vocabulary[t] = id
            return id
        }
    }
}

/// Up to four token ids (unused positions −1).
struct NGram: Hashable {
    var a: Int32, b: Int32, c: Int32, d: Int32
}

func ngramCounts(_ tokens: [Int32], _ n: Int) -> [NGram: Int] {
    precondition((1...4).contains(n), "n-grams of order 1…4")
    var counts: [NGram: Int] = [:]
    guard tokens.count >= n else { return counts }
    counts.reserveCapacity(tokens.count - n + 1)
    for i in 0...(tokens.count - n) {
        let gram = NGram(a: tokens[i], b: n > 1 ? tokens[i + 1] : -1, c: n > 2 ? tokens[i + 2] : -1, d: n > 3 ? tokens[i + 3] : -1)
        counts[gram, default: 0] += 1
    }
    return counts
}

/// evaluate-style smoothed sentence BLEU in [0, 1] (BLEUBERI's reward).
public func bleuSmoothed(hypothesis: String, references: [String]) -> Double {
    let h = tokenize13aBytes(hypothesis)
    guard !h.isEmpty, !references.isEmpty else { return 0 }
    let stats = NGramStatistics(hypothesis: h, references: references.map(tokenize13aBytes))
    guard let shortest = stats.referenceLengths.min(), shortest > 0 else { return 0 }
    var logSum = 0.0
    for n in 0..<4 { logSum += log(Double(stats.matches[n] + 1) / Double(stats.totals[n] + 1)) }
    let ratio = Double(stats.hypothesisLength) / Double(shortest)
    let brevity = ratio > 1 ? 1 : exp(1 - 1 / ratio)
    return brevity * exp(logSum / 4)
}

public enum SacreBLEU {
    /// Closest reference length to the hypothesis length; ties go to the shorter reference.
    static func closestReferenceLength(_ s: NGramStatistics) -> Int {
        s.referenceLengths.min { a, b in
            let (da, db) = (abs(a - s.hypothesisLength), abs(b - s.hypothesisLength))
            return da < db || (da == db && a < b)
        } ?? 0
    }

    /// sacrebleu's compute_bleu with exp smoothing on summed statistics, 0–100.
    static func score(matches: [Int], totals: [Int], hypothesisLength: Int, referenceLength: Int, effectiveOrder: Bool) -> Double {
        if matches.allSatisfy({ $0 == 0 }) { return 0 }  // no match of any order: 0, before smoothing (sacrebleu #141)
        var precisions = [Double](repeating: 0, count: 4)
        var smooth = 1.0
        var order = 4
        for n in 1...4 {
            if totals[n - 1] == 0 { break }
            if effectiveOrder { order = n }
            if matches[n - 1] == 0 {
                smooth *= 2
                precisions[n - 1] = 100 / (smooth * Double(totals[n - 1]))
            } else {
                precisions[n - 1] = 100 * Double(matches[n - 1]) / Double(totals[n - 1])
            }
        }
        let brevity = hypothesisLength < referenceLength
            ? (hypothesisLength > 0 ? exp(1 - Double(referenceLength) / Double(hypothesisLength)) : 0) : 1
        let logs = precisions.prefix(order).map { $0 == 0 ? -9_999_999_999 : log($0) }
        return brevity * exp(logs.reduce(0, +) / Double(order))
    }

    public static func sentence(hypothesis: String, references: [String]) -> Double {
        let s = NGramStatistics(hypothesis: tokenize13aBytes(hypothesis), references: references.map(tokenize13aBytes))
        return score(matches: s.matches, totals: s.totals, hypothesisLength: s.hypothesisLength,
                     referenceLength: closestReferenceLength(s), effectiveOrder: true)
    }

    /// Corpus BLEU: statistics summed over sentences, then one score (not a mean of sentence scores).
    public static func corpus(hypotheses: [String], references: [[String]]) -> Double {
        var matches = [0, 0, 0, 0], totals = [0, 0, 0, 0], hypothesisLength = 0, referenceLength = 0
        for (h, refs) in zip(hypotheses, references) {
            let s = NGramStatistics(hypothesis: tokenize13aBytes(h), references: refs.map(tokenize13aBytes))
            for n in 0..<4 { matches[n] += s.matches[n]; totals[n] += s.totals[n] }
            hypothesisLength += s.hypothesisLength
            referenceLength += closestReferenceLength(s)
        }
        return score(matches: matches, totals: totals, hypothesisLength: hypothesisLength,
                     referenceLength: referenceLength, effectiveOrder: false)
    }
}

import Foundation
