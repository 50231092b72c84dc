// Held-out evaluation of a policy: N completions per prompt (greedy or sampled from the "eval" streams),
// each scored by several reward metrics against the references; per metric the mean over prompts with
// a percentile bootstrap 95 % interval (prompts resampled with replacement, 1,000 times, from the
// "bootstrap" stream), and the mean completion length.
import Foundation
import Rewards
import RunRecords
import Tensor
import Transformer

public struct EvaluationSample: Sendable {
    public let example: Int
    public let sample: Int
    public let completion: Completion
    /// One score per metric, in the evaluation's metric order.
    public let scores: [Double]
}

public struct MetricSummary: Sendable, Equatable {
    public let name: String
    public let mean: Double
    public let lower: Double
    public let upper: Double
}

public struct EvaluationResult: Sendable {
    public let metrics: [MetricSummary]
    public let lengthMean: Double
    public let truncatedFraction: Double
    public let samples: [EvaluationSample]

    /// The /eval row: <metric>_mean, <metric>_lo, <metric>_hi per metric, then length_mean and truncated_fraction.
    public var row: [Metric] {
        metrics.flatMap { [Metric($0.name + "_mean", $0.mean), Metric($0.name + "_lo", $0.lower), Metric($0.name + "_hi", $0.upper)] }
            + [Metric("length_mean", lengthMean), Metric("truncated_fraction", truncatedFraction)]
    }
}

public struct Evaluator: Sendable {
    public var sampler: RolloutSampler
    public var samples: Int
    public var maxPromptTokens: Int
    public var seed: UInt64

    public init(sampler: RolloutSampler, samples: Int, maxPromptTokens: Int, seed: UInt64) {
        self.sampler = sampler
        self.samples = samples
        self.maxPromptTokens = maxPromptTokens
        self.seed = seed
    }

    public func evaluate(
        policy: Llama, examples: [AlignmentExample], metrics: [(name: String, reward: any Reward)],
        onToken: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> EvaluationResult {
        let prompts = examples.enumerated().map { ($0.offset, sampler.format.promptTokens($0.element.messages, maxTokens: maxPromptTokens)) }
        let groups = try sampler.sample(policy: policy, prompts: prompts, samples: samples, seed: seed, purpose: "eval", step: 0, onToken: onToken)
        let inputs = groups.flatMap { g in
            g.completions.map { examples[g.example].rewardInput($0) }
        }
        let scores = try metrics.map { try $0.reward.score(inputs).scores }  // [metric][completion]
        var rows: [EvaluationSample] = []
        var i = 0
        for g in groups {
            for (s, c) in g.completions.enumerated() {
                rows.append(EvaluationSample(example: g.example, sample: s, completion: c, scores: scores.map { $0[i] }))
                i += 1
            }
        }
        var rng = Xoshiro256(seed: seed, stream: "bootstrap")
        let summaries = metrics.indices.map { m -> MetricSummary in
            let perPrompt = groups.indices.map { g in (0..<samples).reduce(0.0) { $0 + scores[m][g * samples + $1] } / Double(samples) }
            let (lower, upper) = bootstrapInterval(perPrompt, rng: &rng)
            return MetricSummary(name: metrics[m].name, mean: perPrompt.reduce(0, +) / Double(perPrompt.count), lower: lower, upper: upper)
        }
        let completions = groups.flatMap(\.completions)
        return EvaluationResult(
            metrics: summaries, lengthMean: Double(completions.reduce(0) { $0 + $1.tokens.count }) / Double(completions.count),
            truncatedFraction: Double(completions.filter(\.truncated).count) / Double(completions.count), samples: rows)
    }
}

/// Percentile bootstrap 95 % interval of the mean: `resamples` means of n values drawn with replacement.
public func bootstrapInterval(_ values: [Double], resamples: Int = 1000, rng: inout Xoshiro256) -> (lower: Double, upper: Double) {
    guard values.count > 1 else { return (values.first ?? .nan, values.first ?? .nan) }
    let means = (0..<resamples).map { _ in
        (0..<values.count).reduce(0.0) { sum, _ in sum + values[rng.nextInt(below: values.count)] } / Double(values.count)
    }
    return percentileInterval(means)
}

/// The 2.5 % and 97.5 % quantiles of `values`, interpolating linearly between order statistics (numpy's default).
public func percentileInterval(_ values: [Double]) -> (lower: Double, upper: Double) {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return (.nan, .nan) }
    func quantile(_ q: Double) -> Double {
        let position = q * Double(sorted.count - 1), low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }
    return (quantile(0.025), quantile(0.975))
}
