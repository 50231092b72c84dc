// Pairwise objectives: the loss of one (chosen, rejected) pair from each side's per-token log-probs,
// with its gradient in them. A pair is the unit of micro-batching (both sides share a forward).
//
// DPO (Rafailov et al. 2023; TRL's DPOTrainer, loss_type "sigmoid"):
//   π_y = Σ_t ℓ_t (completion tokens only), z = (π_c − π_r) − (π_ref,c − π_ref,r)
//   L   = −(1 − ε)·log σ(βz) − ε·log σ(−βz)                                β = 0.1, ε = 0
//   ε > 0 is cDPO (TRL ≤ 0.28's smoothed sigmoid; TRL 1.16's sigmoid ignores label_smoothing, its
//   "aot" loss computes cDPO one pair at a time, and its "robust" is a different loss)
//   ipo: z on token means (IPO averages over tokens), L = (z − 1/(2β))²
// Online SimPO (Meng et al. 2024; TRL's CPOTrainer loss_type "simpo" with cpo_alpha 0):
//   L = −(1 − ε)·log σ(β·mean ℓ_c − β·mean ℓ_r − γ) − ε·log σ(−(…))      no reference model
//   defaults: the SimPO paper's Mistral-7B-Instruct setting, β = 2.5, γ/β = 0.1 (γ = 0.25)
// Implicit rewards (logged, DPO): β(Σ_t ℓ_y − Σ_t ℓ_ref,y) for each side, for every loss type as TRL logs
// them (ipo included); margin = chosen − rejected.
import Foundation

public struct PairTerms: Sendable {
    public var chosen: [Float]
    public var rejected: [Float]
    /// Σ_t of the frozen reference's log-probs per side (DPO), nil for reference-free objectives.
    public var referenceChosen: Double?
    public var referenceRejected: Double?
    /// The pair's weight in the step's loss (1 / pairs).
    public var weight: Double

    public init(chosen: [Float], rejected: [Float], referenceChosen: Double? = nil, referenceRejected: Double? = nil, weight: Double) {
        self.chosen = chosen
        self.rejected = rejected
        self.referenceChosen = referenceChosen
        self.referenceRejected = referenceRejected
        self.weight = weight
    }
}

public struct PairLoss: Sendable {
    public var loss: Double
    public var dChosen: [Float]
    public var dRejected: [Float]
    /// Implicit rewards of each side (NaN where an objective has none).
    public var chosenReward: Double
    public var rejectedReward: Double
}

public protocol PairObjective: Sendable {
    var name: String { get }
    var usesReference: Bool { get }
    func loss(_ pair: PairTerms) -> PairLoss
}

/// log σ(x), stable for large |x|.
@inline(__always) func logSigmoid(_ x: Double) -> Double { x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)) }
@inline(__always) func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)) }

/// −(1 − ε)·log σ(u) − ε·log σ(−u) and its derivative in u.
@inline(__always) func smoothedLogistic(_ u: Double, smoothing ε: Double) -> (value: Double, slope: Double) {
    (-(1 - ε) * logSigmoid(u) - ε * logSigmoid(-u), -(1 - ε) * sigmoid(-u) + ε * sigmoid(u))
}

public struct DPOObjective: PairObjective {
    public enum Loss: String, Codable, Sendable, CaseIterable { case sigmoid, ipo }
    public let name = "dpo"
    public let usesReference = true
    public var beta: Double
    public var labelSmoothing: Double
    public var lossType: Loss

    public init(beta: Double = 0.1, labelSmoothing: Double = 0, lossType: Loss = .sigmoid) {
        self.beta = beta
        self.labelSmoothing = labelSmoothing
        self.lossType = lossType
    }

    public func loss(_ p: PairTerms) -> PairLoss {
        let mean = lossType == .ipo
        let nc = Double(max(p.chosen.count, 1)), nr = Double(max(p.rejected.count, 1))
        let sumC = p.chosen.reduce(0.0) { $0 + Double($1) }, sumR = p.rejected.reduce(0.0) { $0 + Double($1) }
        let refSumC = p.referenceChosen ?? 0, refSumR = p.referenceRejected ?? 0
        let z = mean ? (sumC / nc - sumR / nr) - (refSumC / nc - refSumR / nr) : (sumC - sumR) - (refSumC - refSumR)
        let value: Double, dz: Double
        switch lossType {
        case .sigmoid: (value, dz) = { let s = smoothedLogistic(beta * z, smoothing: labelSmoothing); return (s.value, beta * s.slope) }()
        case .ipo: (value, dz) = ((z - 1 / (2 * beta)) * (z - 1 / (2 * beta)), 2 * (z - 1 / (2 * beta)))
        }
        let gC = Float(p.weight * dz / (mean ? nc : 1)), gR = Float(-p.weight * dz / (mean ? nr : 1))
        return PairLoss(loss: p.weight * value, dChosen: [Float](repeating: gC, count: p.chosen.count),
                        dRejected: [Float](repeating: gR, count: p.rejected.count),
                        chosenReward: beta * (sumC - refSumC), rejectedReward: beta * (sumR - refSumR))
    }
}

public struct SimPOObjective: PairObjective {
    public let name = "simpo"
    public let usesReference = false
    public var beta: Double
    public var gamma: Double
    public var labelSmoothing: Double

    public init(beta: Double = 2.5, gamma: Double = 0.25, labelSmoothing: Double = 0) {
        self.beta = beta
        self.gamma = gamma
        self.labelSmoothing = labelSmoothing
    }

    public func loss(_ p: PairTerms) -> PairLoss {
        let nc = Double(max(p.chosen.count, 1)), nr = Double(max(p.rejected.count, 1))
        let avgC = p.chosen.reduce(0.0) { $0 + Double($1) } / nc, avgR = p.rejected.reduce(0.0) { $0 + Double($1) } / nr
        let (value, slope) = smoothedLogistic(beta * (avgC - avgR) - gamma, smoothing: labelSmoothing)
        return PairLoss(loss: p.weight * value,
                        dChosen: [Float](repeating: Float(p.weight * slope * beta / nc), count: p.chosen.count),
                        dRejected: [Float](repeating: Float(-p.weight * slope * beta / nr), count: p.rejected.count),
                        chosenReward: beta * avgC, rejectedReward: beta * avgR)
    }
}
