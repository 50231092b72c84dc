// RefAlign (Zhao et al., arXiv 2504.09895): REINFORCE on a similarity-to-reference reward, with no
// reward model, no reference model and no KL term.
//
//   R_i = (1 + 1/(C + |y_i|)) · sim(y_i, y*)          the length factor favours shorter answers
//   A_i = clip(R_i − mean_K R, −ε, ε)                 group-mean baseline (OpenRLHF's reinforce_baseline)
//   L   = −(1/N) Σ_i A_i Σ_t ℓ_it                     N completions in the step; sequence sum of log-probs
//
// Extensions (Extensions.swift): with `safetyWeight` w > 0, A_i = clip(R_i − mean R) + w·(harm_i − mean harm)
// over the reward's "harmlessness" component; with `confidenceAlpha` the similarity is CONQORD's
// confidence-coupled reward.
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
    /// w of the safety extension's harmless advantage (0: off).
    public var safetyWeight: Double
    /// α of the confidence extension (nil: off), and the group size its reward couples over.
    public var confidenceAlpha: Double?
    public var samples: Int

    public init(lengthConstant: Double, clip: Double, tokenMean: Bool = false, safetyWeight: Double = 0,
                confidenceAlpha: Double? = nil, samples: Int = 2) {
        self.lengthConstant = lengthConstant
        self.clip = clip
        self.tokenMean = tokenMean
        self.safetyWeight = safetyWeight
        self.confidenceAlpha = confidenceAlpha
        self.samples = samples
    }

    public func reward(from similarity: any Reward) -> any Reward {
        var base = similarity
        if safetyWeight > 0 { base = SafetyReward(base: base) }
        if let alpha = confidenceAlpha { base = ConfidenceReward(base: base, alpha: alpha, groupSize: samples) }
        return LengthFactorReward(base: base, constant: lengthConstant)
    }

    public func advantages(_ rewards: [[Double]], components: [String: [[Double]]]) throws -> [[Double]] {
        let similarity = advantages(rewards)
        guard safetyWeight > 0 else { return similarity }
        guard let harm = components["harmlessness"] else { throw RewardError("refalign --safety: the reward has no harmlessness component") }
        return zip(similarity, harm).map { a, h in
            let mean = h.reduce(0, +) / Double(h.count)
            return zip(a, h).map { $0 + safetyWeight * ($1 - mean) }
        }
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
