// GRPO as BLEUBERI ran it (TRL 0.17's GRPOTrainer defaults; arXiv 2505.11080), with TRL's later
// aggregations as options.
//
//   Â_i   = (r_i − mean_G r) / (std_G r + 1e-4)       unbiased std; `scaleRewards` batch: the step's std; none: no division
//   ρ_it  = exp(ℓ_it − ℓold_it)
//   D_it  = exp(ℓref_it − ℓ_it) − (ℓref_it − ℓ_it) − 1     k3 estimate of KL(π_θ ‖ π_ref)
//   l_it  = −τ_it min(ρ Â_i, clip(ρ, 1 − ε, 1 + ε_high) Â_i) + β D_it
//           τ_it: the truncated importance weight of a sampler with other weights (1 when it has the trainer's)
//   L     = Σ_i w_i Σ_t l_it, with w_i by `aggregation`:
//     bnpo     1 / (groups · tokens of i's group)    TRL 0.17: Σ M·l / Σ M per micro-batch, a micro-batch being
//                                                    one prompt's group (BLEUBERI: 8 per device), averaged over groups
//     grpo     1 / (N · |o_i|)                       mean over each sequence's tokens, then over sequences
//     dr_grpo  1 / (N · max_completion_length)
//     dapo     1 / (tokens in the step)
//
// `biasCorrectedKL` multiplies D_it by ρ_it (TRL ≥ 1.x's `use_bias_correction_kl`, its default there; off
// here, as in the TRL 0.17 that BLEUBERI ran): the value is unchanged at μ = 1, the gradient gains D ∇ℓ.
//
// With one update per batch (μ = 1) the ratio is exactly 1, so the loss *value* is β·KL plus a
// length-weighted mean of centred advantages, close to 0, while its gradient is not (trl#3452): plot
// reward, KL and grad norm instead. Log-probs are taken at the sampling temperature (TRL divides the
// logits by it when it recomputes them).
import Foundation
import Rewards

public struct GRPOObjective: PolicyObjective {
    public enum Aggregation: String, Codable, Sendable, CaseIterable { case bnpo, grpo, drGRPO = "dr_grpo", dapo }
    public enum RewardScaling: String, Codable, Sendable, CaseIterable { case group, batch, none }

    public let name = "grpo"
    public var beta: Double
    public var epsilon: Double
    public var epsilonHigh: Double
    public var aggregation: Aggregation
    public var scaleRewards: RewardScaling
    public var biasCorrectedKL: Bool
    public var usesReference: Bool { beta != 0 }

    public init(beta: Double = 0.04, epsilon: Double = 0.2, epsilonHigh: Double? = nil, aggregation: Aggregation = .bnpo,
                scaleRewards: RewardScaling = .group, biasCorrectedKL: Bool = false) {
        self.beta = beta
        self.epsilon = epsilon
        self.epsilonHigh = epsilonHigh ?? epsilon
        self.aggregation = aggregation
        self.scaleRewards = scaleRewards
        self.biasCorrectedKL = biasCorrectedKL
    }

    public func advantages(_ rewards: [[Double]]) -> [[Double]] {
        let batchStd = meanAndStd(rewards.flatMap { $0 }).std
        return rewards.map { group in
            let (mean, std) = meanAndStd(group)
            switch scaleRewards {
            case .group: return group.map { ($0 - mean) / (std + 1e-4) }
            case .batch: return group.map { ($0 - mean) / (batchStd + 1e-4) }
            case .none: return group.map { $0 - mean }
            }
        }
    }

    public func weights(lengths: [[Int]], maxNewTokens: Int) -> [[Double]] {
        let groups = Double(lengths.count)
        switch aggregation {
        case .bnpo:
            return lengths.map { group in
                let tokens = Double(max(group.reduce(0, +), 1))
                return group.map { _ in 1 / (groups * tokens) }
            }
        case .grpo: return uniformWeights(lengths) { length, n in 1 / Double(n * max(length, 1)) }
        case .drGRPO: return uniformWeights(lengths) { _, n in 1 / Double(n * maxNewTokens) }
        case .dapo:
            let tokens = Double(max(lengths.reduce(0) { $0 + $1.reduce(0, +) }, 1))
            return uniformWeights(lengths) { _, _ in 1 / tokens }
        }
    }

    public func loss(_ terms: CompletionTerms) -> CompletionLoss {
        let a = terms.advantage, w = terms.weight, n = terms.logProbs.count
        var out = CompletionLoss(loss: 0, dLogProbs: [Float](repeating: 0, count: n))
        var sum = 0.0, kl = 0.0
        for t in 0..<n {
            let l = Double(terms.logProbs[t]), ratio = exp(l - Double(terms.oldLogProbs[t]))
            let clipped = min(max(ratio, 1 - epsilon), 1 + epsilonHigh)
            // −min(ρA, clip(ρ)A): the clipped branch is constant in ℓ, so it passes no gradient.
            let unclippedWins = ratio * a <= clipped * a
            let tau = terms.importanceWeight(t)  // the sampler correction scales the policy term only
            var value = -min(ratio * a, clipped * a) * tau
            var grad = unclippedWins ? -ratio * a * tau : 0
            if !unclippedWins { out.clippedTokens += 1 }
            if let reference = terms.referenceLogProbs {
                let delta = Double(reference[t]) - l, e = exp(delta)
                let d = e - delta - 1
                kl += d
                if biasCorrectedKL {  // ρ·D, with ρ's own gradient
                    value += beta * ratio * d
                    grad += beta * ratio * (d + 1 - e)
                } else {
                    value += beta * d
                    grad += beta * (1 - e)
                }
            }
            sum += value
            out.dLogProbs[t] = Float(w * grad)
        }
        out.loss = w * sum
        out.klSum = kl
        return out
    }
}
