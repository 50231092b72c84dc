// RLOO (Ahmadian et al. 2024; TRL's RLOOTrainer since v0.22 with μ = 1): REINFORCE with a
// leave-one-out baseline.
//
//   A_i = r_i − (1/(K−1)) Σ_{j≠i} r_j                 = K/(K−1) · (r_i − mean_K r)
//   L   = −(1/N) Σ_i A_i Σ_t ℓ_it                     sequence-level log-prob, N completions in the step
//
// Simplifications: TRL shapes r_i with a k1 KL to a reference (β = 0.05 by default); here β = 0 and no
// reference is held, so RLOO and RefAlign differ only in the baseline's scale, the clip and the length
// factor (the notes' §6). K ≥ 2 (a group of one has no baseline: its advantage is 0).
import Rewards

public struct RLOOObjective: PolicyObjective {
    public let name = "rloo"
    public let usesReference = false

    public init() {}

    public func advantages(_ rewards: [[Double]]) -> [[Double]] {
        rewards.map { group in
            guard group.count > 1 else { return group.map { _ in 0 } }
            let total = group.reduce(0, +), k = Double(group.count)
            return group.map { $0 - (total - $0) / (k - 1) }
        }
    }

    public func weights(lengths: [[Int]], maxNewTokens: Int) -> [[Double]] {
        uniformWeights(lengths) { _, n in 1 / Double(n) }
    }

    public func loss(_ terms: CompletionTerms) -> CompletionLoss { reinforceLoss(terms) }
}
