// Pairwise training as a `TrainingTask`: DPO on fixed pairs and online SimPO on pairs drawn from the
// current policy each step. A pair's two sequences (prompt + chosen, prompt + rejected) share a
// micro-batch; `microBatch` counts pairs.
//
// Pairs come from:
//   fixed       given (data lines {"prompt", "chosen", "rejected"}) or built once before training from the
//               base policy (reference ≻ its own sample; best ≻ worst of K samples under a reward, ties
//               skipped); DPO's reference log-probs are computed once with the frozen initial policy and
//               cached on disk (ReferenceCache)
//   online      each step: K samples per prompt from the current policy, best ≻ worst under the reward,
//               prompts whose K rewards all tie skipped and counted (RefAlign's online SimPO baseline)
// A chosen or rejected text is tokenised as the assistant turn's content followed by the end-of-turn token.
import Foundation
import Rewards
import RunRecords
import Tensor
import Tokenizers
import Training
import Transformer

/// One preference pair: a prompt (an example index into the task's examples) and two completions.
public struct PreferencePair: Sendable, Equatable {
    public var example: Int
    public var chosen: [Int32]
    public var rejected: [Int32]
    public init(example: Int, chosen: [Int32], rejected: [Int32]) {
        self.example = example
        self.chosen = chosen
        self.rejected = rejected
    }
}

public final class PreferenceTask: TrainingTask {
    public enum Pairs {
        /// Fixed pairs, with DPO's reference sums (Σ_t ℓ_ref of chosen and rejected) when the objective uses them.
        case fixed([PreferencePair], reference: [(chosen: Double, rejected: Double)]?)
        /// Best ≻ worst of `samples` current-policy samples per prompt under `reward`, every step.
        case online(sampler: RolloutSampler, samples: Int, reward: any Reward)
    }

    public let policy: Llama
    public let format: ChatFormat
    public let examples: [AlignmentExample]
    public let objective: any PairObjective
    public let pairs: Pairs
    public let microBatch: Int
    public let maxPromptTokens: Int
    public let seed: UInt64
    let prompts: [[Int32]]

    public init(policy: Llama, format: ChatFormat, examples: [AlignmentExample], objective: any PairObjective, pairs: Pairs,
                microBatch: Int, maxPromptTokens: Int, seed: UInt64) throws {
        if case .fixed(let p, let reference) = pairs {
            guard !p.isEmpty else { throw TrainingError("no preference pairs to train on") }
            guard !objective.usesReference || reference?.count == p.count else { throw TrainingError("\(objective.name) needs reference log-probs for every pair") }
        }
        self.policy = policy
        self.format = format
        self.examples = examples
        self.objective = objective
        self.pairs = pairs
        self.microBatch = max(microBatch, 1)
        self.maxPromptTokens = maxPromptTokens
        self.seed = seed
        prompts = examples.map { format.promptTokens($0.messages, maxTokens: maxPromptTokens) }
    }

    public var parameters: ParameterStore { policy.parameters }
    public var exampleCount: Int {
        if case .fixed(let p, _) = pairs { return p.count }
        return examples.count
    }

    public func computeGradients(step: Int, examples batch: [Int], rng: inout Xoshiro256, progress: (PhaseProgress) -> Void) throws -> TaskStep {
        var stepPairs: [(pair: PreferencePair, reference: (chosen: Double, rejected: Double)?)] = []
        var metrics: [Metric] = []
        var rollouts: [RolloutRow] = []
        var sampledTokens = 0
        switch pairs {
        case .fixed(let all, let reference):
            stepPairs = batch.map { (all[$0], reference?[$0]) }
        case .online(let sampler, let samples, let reward):
            let groups = try withoutActuallyEscaping(progress) { progress in
                try sampler.sample(policy: policy, prompts: batch.map { ($0, prompts[$0]) }, samples: samples, seed: seed, purpose: "rollout",
                                   step: step, onToken: { progress(PhaseProgress(step: step, phase: "sampling", done: $0, total: $1)) })
            }
            let scores = try reward.score(groups.flatMap { g in
                g.completions.map { examples[g.example].rewardInput($0) }
            }).scores
            let grouped = regroup(scores, like: groups)
            var ties = 0
            for (g, rewards) in zip(groups, grouped) {
                let pair = bestAndWorst(rewards)
                for (s, c) in g.completions.enumerated() {
                    rollouts.append(RolloutRow(example: g.example, sample: s, reward: rewards[s], components: [],
                                               advantage: s == pair?.best ? 1 : s == pair?.worst ? -1 : 0, length: c.tokens.count,
                                               truncated: c.truncated, completion: c.text))
                    sampledTokens += c.tokens.count
                }
                guard let (best, worst) = pair else { ties += 1; continue }
                stepPairs.append((PreferencePair(example: g.example, chosen: g.completions[best].tokens, rejected: g.completions[worst].tokens), nil))
            }
            metrics += [Metric("reward_mean", scores.reduce(0, +) / Double(scores.count)),
                        Metric("tie_fraction", Double(ties) / Double(groups.count)), Metric("pairs", Double(stepPairs.count))]
        }

        let weight = 1 / Double(max(stepPairs.count, 1))
        var loss = 0.0, margins: [Double] = [], chosenRewards: [Double] = [], rejectedRewards: [Double] = [], tokens = 0
        for start in stride(from: 0, to: stepPairs.count, by: microBatch) {
            let part = stepPairs[start..<min(start + microBatch, stepPairs.count)]
            var sequences: [[Int32]] = [], completions: [[Int32]] = []
            for (pair, _) in part {
                for side in [pair.chosen, pair.rejected] {
                    sequences.append(prompts[pair.example] + side)
                    completions.append(side)
                }
            }
            let (tokenBatch, targets, spans) = completionTargets(sequences: sequences, completions: completions)
            let acts = try policy.forward(tokenBatch)
            let lp = try policy.tokenLogProbs(acts, targets: targets)
            var dLogProb = [Float](repeating: 0, count: targets.count)
            for (k, (_, reference)) in part.enumerated() {
                let c = spans[2 * k], r = spans[2 * k + 1]
                let out = objective.loss(PairTerms(chosen: Array(lp[c]), rejected: Array(lp[r]), referenceChosen: reference?.chosen,
                                                   referenceRejected: reference?.rejected, weight: weight))
                for (t, d) in zip(c, out.dChosen) { dLogProb[t] = d }
                for (t, d) in zip(r, out.dRejected) { dLogProb[t] = d }
                loss += out.loss
                chosenRewards.append(out.chosenReward)
                rejectedRewards.append(out.rejectedReward)
                margins.append(out.chosenReward - out.rejectedReward)
                tokens += c.count + r.count
            }
            try policy.backward(acts, targets: targets, dLogProb: dLogProb)
            progress(PhaseProgress(step: step, phase: "update", done: start + part.count, total: stepPairs.count))
        }
        func mean(_ xs: [Double]) -> Double { xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count) }
        metrics += [
            Metric("loss", loss), Metric("reward_margin", mean(margins)),
            Metric("reward_accuracy", mean(margins.map { $0 > 0 ? 1 : 0 })),
            Metric("chosen_reward", mean(chosenRewards)), Metric("rejected_reward", mean(rejectedRewards)),
            Metric("chosen_length", mean(stepPairs.map { Double($0.pair.chosen.count) })),
            Metric("rejected_length", mean(stepPairs.map { Double($0.pair.rejected.count) })),
        ]
        return TaskStep(metrics: metrics, tokens: sampledTokens > 0 ? sampledTokens : tokens, rollouts: rollouts)
    }

    public func evaluate(step: Int) throws -> [Metric] { [] }
    public func samples(step: Int, rng: inout Xoshiro256) throws -> [SampleRow] { [] }
}

/// The indices of the highest and lowest score (the first of equals), nil when every score ties: a
/// group's best ≻ worst pair.
public func bestAndWorst(_ scores: [Double]) -> (best: Int, worst: Int)? {
    guard let best = scores.indices.max(by: { scores[$0] < scores[$1] }),
          let worst = scores.indices.min(by: { scores[$0] < scores[$1] }), scores[best] > scores[worst] else { return nil }
    return (best, worst)
}

/// Left-padded prompt + completion sequences with next-token targets on the rows that predict the
/// completion tokens (the last `completions[b].count` tokens of sequence b), and each one's target rows.
public func completionTargets(sequences: [[Int32]], completions: [[Int32]]) -> (TokenBatch, [Int32], [Range<Int>]) {
    let batch = TokenBatch(leftPadding: sequences)
    var targets = [Int32](repeating: -1, count: batch.tokens.count)
    var spans: [Range<Int>] = []
    for (b, completion) in completions.enumerated() {
        let first = (b + 1) * batch.seq - completion.count - 1  // the row predicting the first completion token
        for (k, token) in completion.enumerated() { targets[first + k] = token }
        spans.append(first..<first + completion.count)
    }
    return (batch, targets, spans)
}

/// Σ_t log π(y_t | x, y_<t) of each (prompt + completion) under `model`, through the inference path, in
/// micro-batches of `microBatch` sequences (DPO's reference sums; a base policy's own scores).
public func sequenceLogProbs(model: Llama, sequences: [[Int32]], completions: [[Int32]], microBatch: Int) throws -> [Double] {
    var out: [Double] = []
    for start in stride(from: 0, to: sequences.count, by: max(microBatch, 1)) {
        let end = min(start + microBatch, sequences.count)
        let (batch, targets, spans) = completionTargets(sequences: Array(sequences[start..<end]), completions: Array(completions[start..<end]))
        let lp = try model.scoreLogProbs(batch, targets: targets)
        out += spans.map { lp[$0].reduce(0.0) { $0 + Double($1) } }
    }
    return out
}
