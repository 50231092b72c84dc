// The interface between rollouts and the optimiser. An objective turns a step's rewards into
// advantages, fixes how each completion's tokens are weighted (the aggregation), and gives the loss of
// one completion and its gradient in that completion's per-token log-probs. Every objective here is a
// sum over completions,
//
//   L = Σ_i w_i Σ_t l(ℓ_it, ℓold_it, ℓref_it, A_i)
//
// so the step's completions can be split into micro-batches of any size: each micro-batch's forward,
// loss and backward run alone and their gradients add up to the whole step's (up to float rounding).
// The weights w_i depend only on the step's shape (token counts, group sizes), known after sampling.
import Rewards

/// One completion's inputs to the loss. Arrays have one entry per completion token (stop token included).
public struct CompletionTerms: Sendable {
    /// ℓ_t = log π_θ(y_t | x, y_<t) at the sampling temperature, from the training forward.
    public var logProbs: [Float]
    /// The sampling policy's log-probs (π_old); equal to `logProbs` when each batch gets one update.
    public var oldLogProbs: [Float]
    /// The frozen initial policy's log-probs, when the objective uses a reference.
    public var referenceLogProbs: [Float]?
    public var advantage: Double
    /// w_i: the aggregation's weight of this completion's token sum.
    public var weight: Double
    /// Per-token weights of the policy term (not of a KL term): the truncated importance ratios
    /// min(π_old/π_sampler, C) that correct for a sampler whose weights differ from the trainer's; nil: 1.
    public var importanceWeights: [Double]?

    public init(logProbs: [Float], oldLogProbs: [Float], referenceLogProbs: [Float]?, advantage: Double, weight: Double,
                importanceWeights: [Double]? = nil) {
        self.logProbs = logProbs
        self.oldLogProbs = oldLogProbs
        self.referenceLogProbs = referenceLogProbs
        self.advantage = advantage
        self.weight = weight
        self.importanceWeights = importanceWeights
    }

    /// The importance weight of token t (1 without a correction).
    @inline(__always) func importanceWeight(_ t: Int) -> Double { importanceWeights?[t] ?? 1 }
}

/// One completion's contribution to the loss.
public struct CompletionLoss: Sendable {
    /// w_i Σ_t l_t.
    public var loss: Double
    /// d loss / d ℓ_t.
    public var dLogProbs: [Float]
    /// Σ_t of the k3 estimate of KL(π_θ ‖ π_ref) (0 without a reference).
    public var klSum: Double = 0
    /// Tokens whose probability ratio was clipped.
    public var clippedTokens: Int = 0
}

public protocol PolicyObjective: Sendable {
    /// The method's name as `--method` spells it.
    var name: String { get }
    /// Whether the loss needs the frozen reference policy's log-probs.
    var usesReference: Bool { get }
    /// The reward the method optimises, built from a similarity reward (RefAlign adds its length factor).
    func reward(from similarity: any Reward) -> any Reward
    /// Advantages from the rewards of each prompt's group of completions, [groups][samples].
    func advantages(_ rewards: [[Double]]) -> [[Double]]
    /// The same with the reward's named components grouped alike (RefAlign's safety term reads one).
    func advantages(_ rewards: [[Double]], components: [String: [[Double]]]) throws -> [[Double]]
    /// w_i for every completion from the completions' token counts, [groups][samples].
    func weights(lengths: [[Int]], maxNewTokens: Int) -> [[Double]]
    func loss(_ terms: CompletionTerms) -> CompletionLoss
}

extension PolicyObjective {
    public func reward(from similarity: any Reward) -> any Reward { similarity }
    public func advantages(_ rewards: [[Double]], components: [String: [[Double]]]) throws -> [[Double]] { advantages(rewards) }
}

/// REINFORCE with a fixed advantage per completion: l_t = −A·τ_t·ℓ_t (RefAlign, RLOO), τ_t the importance
/// weight (1 without a correction). Its value is the weighted negative advantage-weighted sequence
/// log-prob; its gradient −w·A·τ_t on token t.
func reinforceLoss(_ terms: CompletionTerms) -> CompletionLoss {
    let scale = -terms.advantage * terms.weight
    var out = CompletionLoss(loss: 0, dLogProbs: [Float](repeating: Float(scale), count: terms.logProbs.count))
    var sum = 0.0
    for (t, l) in terms.logProbs.enumerated() {
        let tau = terms.importanceWeight(t)
        sum += tau * Double(l)
        if terms.importanceWeights != nil { out.dLogProbs[t] = Float(scale * tau) }
    }
    out.loss = scale * sum
    return out
}

/// Weights of a per-completion aggregation, the same for every completion of a group.
func uniformWeights(_ lengths: [[Int]], _ weight: (_ length: Int, _ completions: Int) -> Double) -> [[Double]] {
    let completions = lengths.reduce(0) { $0 + $1.count }
    return lengths.map { group in group.map { weight($0, completions) } }
}

/// Mean and standard deviation (unbiased, N − 1; 0 for one value) of a list.
func meanAndStd(_ xs: [Double]) -> (mean: Double, std: Double) {
    let mean = xs.reduce(0, +) / Double(max(xs.count, 1))
    guard xs.count > 1 else { return (mean, 0) }
    let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)
    return (mean, variance.squareRoot())
}
