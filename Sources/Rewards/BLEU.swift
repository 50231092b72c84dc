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
    public var matches: [Int]
    public var totals: [Int]
    public var hypothesisLength: Int
    public var referenceLengths: [Int]

    init(hypothesis: TokenList, references: [TokenList]) {
        hypothesisLength = hypothesis.count
        referenceLengths = references.map(\.count)
        matches = clippedMatches(hypothesis, references, orders: 4)
        totals = (1...4).map { max(0, hypothesis.count - $0 + 1) }
    }
}

/// evaluate-style smoothed sentence BLEU in [0, 1] (BLEUBERI's reward).
public func bleuSmoothed(hypothesis: String, references: [String]) -> Double {
    let h = tokenize13aBytes(hypothesis)
    guard h.count > 0, !references.isEmpty else { return 0 }
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
