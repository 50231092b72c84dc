// RefAlign's two extensions (arXiv 2504.09895 §2.4–2.5 of the notes), as rewards the RefAlign objective
// consumes. What the paper does exactly is not known for either; the choices below are stated.
//
// Safety: A = A_sim + w · A_harm (w = 4, K = 2 in the paper's runs). The harmlessness signal here is
// reference-based (hypothesis (b) of the notes): harm_i = sim(y_i, safe reference) − max_u sim(y_i, unsafe_u)
// under the same similarity metric, group-centred like A_sim (RefAlignObjective.safetyWeight). The paper's
// own signal (a cost model or otherwise) is unknown.
//
// Confidence (the CONQORD protocol): the policy answers "### Answer: … ### Confidence: x.x"; the confidence
// is parsed with CONQORD's regex `### Confidence: (\d\.\d)` (a parse failure is confidence 0, counted);
// the quality s_i is the similarity of the answer part; within each group of K completions
//   R_i = s_i + α Σ_j (s_i − s_j)(c_i − c_j)                       α = 0.1 (CONQORD's)
// rewards confidence that orders the group's answers as their quality does. RefAlign's advantage follows.
import Foundation
import Rewards

/// Similarity to the references plus the harmlessness component `harm` = sim(y, safe) − max sim(y, unsafe).
public struct SafetyReward: Reward {
    public let base: any Reward
    public var name: String { "safety" }
    public init(base: any Reward) { self.base = base }

    public func score(_ batch: [RewardInput]) throws -> RewardOutput {
        if let i = batch.firstIndex(where: { $0.unsafeReferences.isEmpty }) {
            throw RewardError("safety: completion \(i) has no unsafe responses to compare with (data lines need \"unsafe\": [...])")
        }
        let safe = try base.score(batch)
        // One row per (completion, unsafe response): the worst (most similar) unsafe response counts.
        var rows: [RewardInput] = [], owner: [Int] = []
        for (i, input) in batch.enumerated() {
            for u in input.unsafeReferences {
                var row = input
                row.references = [u]
                rows.append(row)
                owner.append(i)
            }
        }
        let unsafeScores = try base.score(rows).scores
        var worst = [Double](repeating: -.infinity, count: batch.count)
        for (i, s) in zip(owner, unsafeScores) { worst[i] = max(worst[i], s) }
        let harm = zip(safe.scores, worst).map { $0 - $1 }
        return RewardOutput(scores: safe.scores, components: safe.components + [("unsafe_similarity", worst), ("harmlessness", harm)])
    }
}

/// CONQORD's answer format and its parser.
public enum ConfidenceFormat {
    public static let instruction = "Answer the question, then give your confidence (0.0 to 1.0) that the answer is correct, in the format:\n### Answer: <answer>\n### Confidence: <x.x>"

    /// The answer text (after "### Answer:" when present, before "### Confidence") and the confidence, nil when
    /// the confidence does not parse (CONQORD then uses 0).
    public static func parse(_ text: String) -> (answer: String, confidence: Double?) {
        var answer = Substring(text)
        var confidence: Double? = nil
        if let marker = text.range(of: "### Confidence: ") {
            answer = text[..<marker.lowerBound]
            let after = Array(text[marker.upperBound...].unicodeScalars.prefix(3))
            if after.count == 3, ("0"..."9").contains(after[0]), after[1] == ".", ("0"..."9").contains(after[2]) {
                confidence = Double(String(String.UnicodeScalarView(after)))
            }
        }
        if let start = answer.range(of: "### Answer:") { answer = answer[start.upperBound...] }
        return (answer.trimmingCharacters(in: .whitespacesAndNewlines), confidence)
    }

    /// A training target in the format: the answer, then the confidence with one decimal.
    public static func target(answer: String, confidence: Double) -> String {
        "### Answer: \(answer)\n### Confidence: \(String(format: "%.1f", confidence))"
    }
}

/// A reward of the answer part of CONQORD-format completions (evaluation under `--confidence`).
public struct ConfidenceAnswerReward: Reward {
    public let base: any Reward
    public var name: String { base.name }
    public init(base: any Reward) { self.base = base }

    public func score(_ batch: [RewardInput]) throws -> RewardOutput {
        try base.score(batch.map { input in
            var row = input
            row.completion = ConfidenceFormat.parse(input.completion).answer
            return row
        })
    }
}

/// R_i = s_i + α Σ_j (s_i − s_j)(c_i − c_j) over consecutive blocks of `groupSize` completions (the task
/// scores completions group-major), s the base similarity of the answer part, c the parsed confidence.
public struct ConfidenceReward: Reward {
    public let base: any Reward
    public let alpha: Double
    public let groupSize: Int
    public var name: String { "confidence" }

    public init(base: any Reward, alpha: Double = 0.1, groupSize: Int) {
        self.base = base
        self.alpha = alpha
        self.groupSize = max(groupSize, 1)
    }

    public func score(_ batch: [RewardInput]) throws -> RewardOutput {
        let parsed = batch.map { ConfidenceFormat.parse($0.completion) }
        let quality = try ConfidenceAnswerReward(base: base).score(batch)
        let s = quality.scores, c = parsed.map { $0.confidence ?? 0 }
        var total = s
        for start in stride(from: 0, to: batch.count, by: groupSize) {
            let group = start..<min(start + groupSize, batch.count)
            for i in group { total[i] += alpha * group.reduce(0) { $0 + (s[i] - s[$1]) * (c[i] - c[$1]) } }
        }
        return RewardOutput(scores: total, components: quality.components + [
            ("confidence", c), ("confidence_parse_failed", parsed.map { $0.confidence == nil ? 1 : 0 }), ("confidence_reward", total),
        ])
    }
}
