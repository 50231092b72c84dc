import Foundation
import Testing
@testable import Alignment
import Tensor

/// Every objective's gradient in the log-probs against central finite differences of its loss, and
/// its advantages against the formulas in its file header.
@Suite("Objectives: advantages, aggregation weights, gradients")
struct ObjectiveTests {
    /// Random completion terms: log-probs in (−4, −0.1); off-policy old log-probs differ by ±0.05 (ratio
    /// inside the clip range) or ±0.4 (outside), so finite differences never straddle the clip's kink.
    static func terms(seed: UInt64, length: Int, advantage: Double, weight: Double, offPolicy: Bool) -> CompletionTerms {
        var rng = Xoshiro256(seed: seed)
        let lp = (0..<length).map { _ in Float(-0.1 - 3.9 * rng.nextDouble()) }
        let old = lp.map { l -> Float in
            guard offPolicy else { return l }
            let size: Float = rng.nextDouble() < 0.5 ? 0.05 : 0.4
            return l + (rng.nextDouble() < 0.5 ? size : -size)
        }
        let ref = lp.map { $0 + Float(rng.nextDouble() - 0.5) }
        return CompletionTerms(logProbs: lp, oldLogProbs: old, referenceLogProbs: ref, advantage: advantage, weight: weight)
    }

    /// ‖analytic − numeric‖ / max(‖·‖) over the tokens, with the old log-probs held fixed.
    static func gradientError(_ objective: any PolicyObjective, _ t: CompletionTerms) -> Double {
        let analytic = objective.loss(t).dLogProbs.map(Double.init)
        let h: Float = 1e-2
        let numeric = t.logProbs.indices.map { i -> Double in
            var plus = t, minus = t
            plus.logProbs[i] += h
            minus.logProbs[i] -= h
            return (objective.loss(plus).loss - objective.loss(minus).loss) / (2 * Double(h))
        }
        let diff = zip(analytic, numeric).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        let scale = max(analytic.reduce(0) { $0 + $1 * $1 }.squareRoot(), numeric.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        return diff / scale
    }

    static let objectives: [any PolicyObjective] = [
        RefAlignObjective(lengthConstant: 0, clip: 0.5), RefAlignObjective(lengthConstant: 10, clip: 0.1, tokenMean: true),
        RLOOObjective(),
        GRPOObjective(beta: 0.04, aggregation: .bnpo), GRPOObjective(beta: 0, aggregation: .grpo),
        GRPOObjective(beta: 0.04, aggregation: .drGRPO), GRPOObjective(beta: 0.1, epsilon: 0.2, epsilonHigh: 0.28, aggregation: .dapo),
    ]

    @Test(arguments: 0..<objectives.count, [false, true])
    func gradientMatchesFiniteDifferences(index: Int, offPolicy: Bool) {
        let objective = Self.objectives[index]
        for (seed, advantage) in [(1, 0.7), (2, -1.3)] {
            var t = Self.terms(seed: UInt64(seed), length: 9, advantage: advantage, weight: 0.05, offPolicy: offPolicy)
            let error = Self.gradientError(objective, t)
            #expect(error < 2e-3, "\(objective.name) (\(type(of: objective))) off-policy \(offPolicy): gradient error \(error)")
            // with a sampler correction: τ_t in [0.2, 2] weighting each token's policy term
            var rng = Xoshiro256(seed: UInt64(seed), stream: "importance")
            t.importanceWeights = t.logProbs.map { _ in 0.2 + 1.8 * rng.nextDouble() }
            let corrected = Self.gradientError(objective, t)
            #expect(corrected < 2e-3, "\(objective.name) off-policy \(offPolicy), importance-weighted: gradient error \(corrected)")
        }
    }

    /// The correction scales the policy term token by token and leaves GRPO's KL term alone: with β = 0
    /// every gradient entry is τ_t times the uncorrected one; with β > 0 the difference is the policy part's.
    @Test func importanceWeightsScaleThePolicyTermOnly() {
        var t = Self.terms(seed: 3, length: 6, advantage: 0.8, weight: 0.1, offPolicy: false)
        let tau = [0.5, 1, 2, 0.25, 1.5, 3]
        for objective in Self.objectives {
            var corrected = t
            corrected.importanceWeights = tau
            let plain = objective.loss(t).dLogProbs, weighted = objective.loss(corrected).dLogProbs
            if let grpo = objective as? GRPOObjective, grpo.beta != 0 {
                let p = GRPOObjective(beta: 0, epsilon: grpo.epsilon, epsilonHigh: grpo.epsilonHigh).loss(t).dLogProbs
                for k in tau.indices {
                    #expect(abs(Double(weighted[k] - plain[k]) - (tau[k] - 1) * Double(p[k])) < 1e-6, "\(objective.name) token \(k)")
                }
            } else {
                for k in tau.indices { #expect(abs(Double(weighted[k]) - tau[k] * Double(plain[k])) < 1e-6, "\(objective.name) token \(k)") }
            }
        }
        t.importanceWeights = [Double](repeating: 1, count: 6)
        for objective in Self.objectives {  // τ = 1 is no correction
            var plain = t
            plain.importanceWeights = nil
            #expect(objective.loss(t).dLogProbs == objective.loss(plain).dLogProbs)
        }
    }

    @Test func refAlignAdvantagesAreCentredAndClipped() {
        let a = RefAlignObjective(lengthConstant: 0, clip: 0.1).advantages([[0.9, 0.5], [0.3, 0.32, 0.34]])
        #expect(a[0] == [0.1, -0.1])  // ±0.2 clipped to ±ε
        #expect(zip(a[1], [-0.02, 0, 0.02]).allSatisfy { abs($0 - $1) < 1e-12 })
    }

    @Test func rlooIsTheScaledGroupMeanAdvantage() {
        let rewards = [[0.2, 0.5, 0.9, 0.4]]
        let loo = RLOOObjective().advantages(rewards)[0]
        let mean = rewards[0].reduce(0, +) / 4
        for (a, r) in zip(loo, rewards[0]) { #expect(abs(a - 4.0 / 3.0 * (r - mean)) < 1e-12) }
        #expect(RLOOObjective().advantages([[0.3]]) == [[0]])
    }

    @Test func grpoAdvantagesUseTheUnbiasedGroupStd() {
        let r = [1.0, 2.0, 4.0]
        let mean = 7.0 / 3, std = ((pow(1 - mean, 2) + pow(2 - mean, 2) + pow(4 - mean, 2)) / 2).squareRoot()
        let a = GRPOObjective().advantages([r])[0]
        for (x, v) in zip(a, r) { #expect(abs(x - (v - mean) / (std + 1e-4)) < 1e-12) }
        #expect(GRPOObjective().advantages([[0.5, 0.5]])[0] == [0, 0])  // zero spread: no signal
        #expect(GRPOObjective(scaleRewards: .none).advantages([r])[0] == r.map { $0 - mean })
    }

    @Test func aggregationWeightsAreTRLsNormalisers() {
        let lengths = [[3, 5], [2, 6]]  // two groups of 8 tokens
        func weights(_ a: GRPOObjective.Aggregation) -> [Double] {
            GRPOObjective(aggregation: a).weights(lengths: lengths, maxNewTokens: 8).flatMap { $0 }
        }
        let bnpo: [Double] = [1 / 16, 1 / 16, 1 / 16, 1 / 16]  // (groups · group tokens): 2 · 8
        let grpo: [Double] = [1 / 12, 1 / 20, 1 / 8, 1 / 24]   // (N · |o_i|)
        let drGRPO: [Double] = [1 / 32, 1 / 32, 1 / 32, 1 / 32] // (N · max length)
        let dapo: [Double] = [1 / 16, 1 / 16, 1 / 16, 1 / 16]   // (step tokens)
        #expect(weights(.bnpo) == bnpo)
        #expect(weights(.grpo) == grpo)
        #expect(weights(.drGRPO) == drGRPO)
        #expect(weights(.dapo) == dapo)
    }

    /// With one update per batch the ratio is 1 and the advantages are centred, so GRPO's loss value is
    /// 0 under `grpo` aggregation with β = 0 (and near 0 under bnpo), while its gradient is not zero:
    /// the "loss is 0" of trl#3452.
    @Test func grpoLossIsZeroAtOneUpdatePerBatchButItsGradientIsNot() {
        let objective = GRPOObjective(beta: 0, aggregation: .grpo)
        let lengths = [[4, 7, 5, 6]]
        let advantages = objective.advantages([[0.1, 0.7, 0.3, 0.2]])[0]
        let weights = objective.weights(lengths: lengths, maxNewTokens: 8)[0]
        var loss = 0.0, gradientNorm = 0.0
        for i in 0..<4 {
            var t = Self.terms(seed: UInt64(10 + i), length: lengths[0][i], advantage: advantages[i], weight: weights[i], offPolicy: false)
            t.referenceLogProbs = nil
            let out = objective.loss(t)
            loss += out.loss
            gradientNorm += out.dLogProbs.reduce(0) { $0 + Double($1 * $1) }
        }
        #expect(abs(loss) < 1e-12)
        #expect(gradientNorm.squareRoot() > 0.1)
    }
}
