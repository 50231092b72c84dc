// RefAlign (Zhao et al., arXiv 2504.09895): REINFORCE on a similarity-to-reference reward, with no
// reward model, no reference model and no KL term.
//
//   R_i = (1 + 1/(C + |y_i|)) · sim(y_i, y*)          the length factor favours shorter answers
//   A_i = clip(R_i − mean_K R, −ε, ε)                 group-mean baseline (OpenRLHF's reinforce_baseline)
//   L   = −(1/N) Σ_i A_i Σ_t ℓ_it                     N completions in the step; sequence sum of log-probs
//
// Simplifications and choices (the paper's values are unknown, see the notes): C and ε are exposed;
// |y| counts completion tokens without the stop token; `tokenMean` replaces Σ_t by the mean over the
// completion's tokens (an ablation); one gradient step per batch of samples.
import Rewards

public struct RefAlignObjective: PolicyObjective {
    public let name = "refalign"
    public let usesReference = false
    /// C of the length factor.
    public var lengthConstant: Double
    /// ε of the advantage clip.
    public var clip: Double
    public var tokenMean: Bool

    public init(lengthConstant: Double, clip: Double, tokenMean: Bool = false) {
        self.lengthConstant = lengthConstant
        self.clip = clip
        self.tokenMean = tokenMean
    }

    public func reward(from similarity: any Reward) -> any Reward {
        LengthFactorReward(base: similarity, constant: lengthConstant)
    }

    public func advantages(_ rewards: [[Double]]) -> [[Double]] {
        rewards.map { group in
            let mean = meanAndStd(group).mean
            return group.map { min(max($0 - mean, -clip), clip) }
        }
    }

    public func weights(lengths: [[Int]], maxNewTokens: Int) -> [[Double]] {
        uniformWeights(lengths) { length, n in tokenMean ? 1 / Double(n * max(length, 1)) : 1 / Double(n) }
    }

    public func loss(_ terms: CompletionTerms) -> CompletionLoss { reinforceLoss(terms) }
}
