import Foundation
import Testing
@testable import Alignment
@testable import Tensor
@testable import Transformer

/// DPO and online SimPO against TRL 1.16's own DPOTrainer and CPOTrainer (loss_type "simpo", cpo_alpha 0) on the
/// tiny model, for fixed pairs (Scripts/fixtures/trl_dpo.py and trl_simpo.py document the fixtures and what TRL
/// computes). Our side runs the training path of `PreferenceTask`: `completionTargets` over [prompt + chosen,
/// prompt + rejected] per pair, `forward`, `tokenLogProbs` at T = 1, the pair objective with weight 1/pairs,
/// `backward(dLogProb:)`.
///
/// Semantic differences the fixtures pin down (see the scripts' headers):
///   * TRL 1.16's DPO "sigmoid" ignores label_smoothing; its cDPO is no longer a loss type of its own. Our
///     `DPOObjective(labelSmoothing:)` is cDPO, which TRL computes as "aot" on one pair per call: that case is the
///     parity check for our smoothing. TRL's "robust" (rDPO) is a different loss, checked here against its formula.
///   * ipo: the loss agrees; the implicit rewards TRL logs are β·Σ(ℓ − ℓ_ref) (summed), ours β·mean — a known issue.
///   * SimPO: TRL's simpo_gamma is the γ of σ(β ℓ̄_c − β ℓ̄_r − γ), the same parameterisation as `SimPOObjective`.
@Suite("DPO and SimPO against TRL's DPOTrainer and CPOTrainer")
struct TRLPreferenceParityTests {
    struct Parameter: Decodable { let name: String; let shape: [Int]; let values: [Float] }
    struct Pair: Decodable { let prompt: [Int32]; let chosen: [Int32]; let rejected: [Int32] }

    struct DPOFixture: Decodable {
        struct Case: Decodable {
            let name: String
            let lossType: String
            let beta: Double
            let labelSmoothing: Double
            let onePairPerCall: Bool
            let loss: Float
            let loss64: Double
            let metrics: [String: Double]
            let chosenRewards64: [Double]
            let rejectedRewards64: [Double]
            let gradients64: [String: [Double]]
            let torchFp32RelativeError: [String: Double]
        }
        let config: LlamaConfig
        let parameters: [Parameter]
        let pairs: [Pair]
        let referenceChosen64: [Double]
        let referenceRejected64: [Double]
        let policyChosen64: [Double]
        let policyRejected64: [Double]
        let cases: [Case]
    }

    struct SimPOFixture: Decodable {
        struct Case: Decodable {
            let name: String
            let beta: Double
            let gamma: Double
            let labelSmoothing: Double
            let loss: Float
            let loss64: Double
            let metrics: [String: Double]
            let chosenLogps64: [Double]
            let rejectedLogps64: [Double]
            let chosenRewards64: [Double]
            let rejectedRewards64: [Double]
            let gradients64: [String: [Double]]
        }
        let config: LlamaConfig
        let parameters: [Parameter]
        let pairs: [Pair]
        let cases: [Case]
    }

    static func load<T: Decodable>(_ name: String, as: T.Type) throws -> T {
        guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "missing \(name).json: run Scripts/fixtures/make \(name)"])
        }
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }

    static func model(config: LlamaConfig, parameters: [Parameter]) throws -> Llama {
        let model = Llama(config: config)
        for p in parameters {
            let entry = try #require(model.parameters.entry(p.name))
            try #require(entry.shape == p.shape)
            p.values.withUnsafeBufferPointer { model.parameters.value(entry).update(from: $0.baseAddress!, count: entry.count) }
        }
        return model
    }

    static func relativeError(_ ours: [Double], _ theirs: [Double]) -> Double {
        let diff = zip(ours, theirs).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (diff / max(theirs.reduce(0) { $0 + $1 * $1 }, 1e-300)).squareRoot()
    }

    static func close(_ a: Double, _ b: Double, abs absTol: Double = 1e-5, rel: Double = 1e-4) -> Bool {
        abs(a - b) <= absTol + rel * abs(b)
    }

    static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    /// One step of the preference training path on fixed pairs: the loss (Σ of the pairs' weighted losses), each
    /// pair's `PairLoss`, each pair's per-token log-probs, with the parameter gradients left in the model.
    static func step(_ model: Llama, pairs: [Pair], objective: (PairTerms) -> PairLoss,
                     reference: [(chosen: Double, rejected: Double)]?) throws -> (loss: Double, out: [PairLoss], logProbs: [(chosen: [Float], rejected: [Float])]) {
        var sequences: [[Int32]] = [], completions: [[Int32]] = []
        for p in pairs {
            for side in [p.chosen, p.rejected] {
                sequences.append(p.prompt + side)
                completions.append(side)
            }
        }
        let (batch, targets, spans) = completionTargets(sequences: sequences, completions: completions)
        model.parameters.zeroGradients()
        let acts = try model.forward(batch)
        let lp = try model.tokenLogProbs(acts, targets: targets)
        var dLogProb = [Float](repeating: 0, count: targets.count)
        var loss = 0.0, outs: [PairLoss] = [], logProbs: [(chosen: [Float], rejected: [Float])] = []
        let weight = 1 / Double(pairs.count)
        for k in pairs.indices {
            let c = spans[2 * k], r = spans[2 * k + 1]
            let out = objective(PairTerms(chosen: Array(lp[c]), rejected: Array(lp[r]), referenceChosen: reference?[k].chosen,
                                          referenceRejected: reference?[k].rejected, weight: weight))
            for (t, d) in zip(c, out.dChosen) { dLogProb[t] = d }
            for (t, d) in zip(r, out.dRejected) { dLogProb[t] = d }
            loss += out.loss
            outs.append(out)
            logProbs.append((Array(lp[c]), Array(lp[r])))
        }
        try model.backward(acts, targets: targets, dLogProb: dLogProb)
        return (loss, outs, logProbs)
    }

    /// The worst per-tensor relative error of the model's gradients against TRL's float64 gradients.
    static func worstGradientError(_ model: Llama, _ theirs: [String: [Double]]) throws -> (name: String, error: Double) {
        var worst = (name: "", error: 0.0)
        for entry in model.parameters.entries {
            let reference = try #require(theirs[entry.name])
            let ours = (0..<entry.count).map { Double(model.parameters.gradient(entry)[$0]) }
            let error = relativeError(ours, reference)
            if error > worst.error { worst = (entry.name, error) }
        }
        return worst
    }

    /// TRL 1.16's DPO "robust" loss (rDPO, Chowdhury et al. 2024), which `DPOObjective` does not implement:
    ///   L = [−(1 − ε) log σ(βz) + ε log σ(−βz)] / (1 − 2ε),  dL/dz = β[−(1 − ε) σ(−βz) − ε σ(βz)] / (1 − 2ε)
    static func robustDPO(_ p: PairTerms, beta: Double, smoothing ε: Double) -> PairLoss {
        let piC = p.chosen.reduce(0.0) { $0 + Double($1) }, piR = p.rejected.reduce(0.0) { $0 + Double($1) }
        let z = (piC - p.referenceChosen!) - (piR - p.referenceRejected!), u = beta * z
        let value = (-(1 - ε) * logSigmoid(u) + ε * logSigmoid(-u)) / (1 - 2 * ε)
        let dz = beta * (-(1 - ε) * sigmoid(-u) - ε * sigmoid(u)) / (1 - 2 * ε)
        return PairLoss(loss: p.weight * value, dChosen: [Float](repeating: Float(p.weight * dz), count: p.chosen.count),
                        dRejected: [Float](repeating: Float(-p.weight * dz), count: p.rejected.count),
                        chosenReward: beta * (piC - p.referenceChosen!), rejectedReward: beta * (piR - p.referenceRejected!))
    }

    @Test func dpoMatchesTRL() throws {
        let f = try Self.load("trl_dpo", as: DPOFixture.self)
        #expect(f.cases.count == 5)
        let model = try Self.model(config: f.config, parameters: f.parameters)
        let reference = zip(f.referenceChosen64, f.referenceRejected64).map { (chosen: $0, rejected: $1) }
        let plainSigmoid = try #require(f.cases.first { $0.lossType == "sigmoid" && $0.labelSmoothing == 0 })
        for c in f.cases {
            let objective: (PairTerms) -> PairLoss
            switch c.lossType {
            case "sigmoid":
                // TRL 1.16's sigmoid ignores label_smoothing: it equals the ε = 0 loss, which is what we compare to.
                #expect(c.loss64 == plainSigmoid.loss64, "\(c.name): TRL's sigmoid used label_smoothing")
                let ours = DPOObjective(beta: c.beta, labelSmoothing: 0, lossType: .sigmoid)
                objective = ours.loss
            case "aot":  // one pair per call: exactly cDPO, our label smoothing
                try #require(c.onePairPerCall)
                objective = DPOObjective(beta: c.beta, labelSmoothing: c.labelSmoothing, lossType: .sigmoid).loss
            case "ipo":
                objective = DPOObjective(beta: c.beta, labelSmoothing: 0, lossType: .ipo).loss
            case "robust":
                objective = { Self.robustDPO($0, beta: c.beta, smoothing: c.labelSmoothing) }
            default:
                Issue.record("unexpected case \(c.name)")
                continue
            }
            let (loss, outs, logProbs) = try Self.step(model, pairs: f.pairs, objective: objective, reference: reference)
            for (k, (lc, lr)) in logProbs.enumerated() {
                let sc = lc.reduce(0.0) { $0 + Double($1) }, sr = lr.reduce(0.0) { $0 + Double($1) }
                #expect(Self.close(sc, f.policyChosen64[k]) && Self.close(sr, f.policyRejected64[k]),
                        "\(c.name): pair \(k) log-prob sums \(sc), \(sr) vs TRL \(f.policyChosen64[k]), \(f.policyRejected64[k])")
            }
            #expect(Self.close(loss, c.loss64), "\(c.name): loss \(loss) vs TRL \(c.loss64)")
            let worst = try Self.worstGradientError(model, c.gradients64)
            #expect(worst.error < 1e-4, "\(c.name): worst parameter gradient \(worst.name) relative error \(worst.error)")
            print("[dpo parity] \(c.name): loss \(loss) vs TRL \(c.loss64); worst gradient \(worst.name) \(worst.error)")

            // Implicit rewards, margin and accuracy as TRL logs them (β·(π − π_ref) with π summed, for every loss type).
            let rewardsAgree = {
                for k in outs.indices {
                    #expect(Self.close(outs[k].chosenReward, c.chosenRewards64[k]) && Self.close(outs[k].rejectedReward, c.rejectedRewards64[k]),
                            "\(c.name): pair \(k) rewards \(outs[k].chosenReward), \(outs[k].rejectedReward) vs TRL \(c.chosenRewards64[k]), \(c.rejectedRewards64[k])")
                }
                let margins = outs.map { $0.chosenReward - $0.rejectedReward }
                #expect(Self.close(Self.mean(outs.map(\.chosenReward)), c.metrics["rewards/chosen"]!))
                #expect(Self.close(Self.mean(outs.map(\.rejectedReward)), c.metrics["rewards/rejected"]!))
                #expect(Self.close(Self.mean(margins), c.metrics["rewards/margins"]!))
                #expect(abs(Self.mean(margins.map { $0 > 0 ? 1 : 0 }) - c.metrics["rewards/accuracies"]!) < 1e-6)
            }
            rewardsAgree()  // TRL logs β·(Σ ℓ − Σ ℓ_ref) for every loss type, ipo included
        }
        // Our label smoothing is cDPO, not what TRL 1.16's sigmoid does (nothing) nor its robust loss.
        let smoothed = try #require(f.cases.first { $0.lossType == "sigmoid" && $0.labelSmoothing > 0 })
        let robust = try #require(f.cases.first { $0.lossType == "robust" })
        let cdpo = DPOObjective(beta: smoothed.beta, labelSmoothing: smoothed.labelSmoothing, lossType: .sigmoid)
        let (ours, _, _) = try Self.step(model, pairs: f.pairs, objective: cdpo.loss, reference: reference)
        #expect(!Self.close(ours, smoothed.loss64, abs: 1e-6, rel: 0) && !Self.close(ours, robust.loss64, abs: 1e-6, rel: 0))
    }

    @Test func simpoMatchesTRL() throws {
        let f = try Self.load("trl_simpo", as: SimPOFixture.self)
        #expect(f.cases.count == 3)
        let model = try Self.model(config: f.config, parameters: f.parameters)
        for c in f.cases {
            let objective = SimPOObjective(beta: c.beta, gamma: c.gamma, labelSmoothing: c.labelSmoothing)
            let (loss, outs, logProbs) = try Self.step(model, pairs: f.pairs, objective: objective.loss, reference: nil)
            for (k, (lc, lr)) in logProbs.enumerated() {
                let mc = lc.reduce(0.0) { $0 + Double($1) } / Double(lc.count), mr = lr.reduce(0.0) { $0 + Double($1) } / Double(lr.count)
                #expect(Self.close(mc, c.chosenLogps64[k], abs: 2e-6) && Self.close(mr, c.rejectedLogps64[k], abs: 2e-6),
                        "\(c.name): pair \(k) mean log-probs \(mc), \(mr) vs TRL \(c.chosenLogps64[k]), \(c.rejectedLogps64[k])")
                #expect(Self.close(outs[k].chosenReward, c.chosenRewards64[k]) && Self.close(outs[k].rejectedReward, c.rejectedRewards64[k]),
                        "\(c.name): pair \(k) rewards")
            }
            #expect(Self.close(loss, c.loss64), "\(c.name): loss \(loss) vs TRL \(c.loss64)")
            let margins = outs.map { $0.chosenReward - $0.rejectedReward }
            #expect(Self.close(Self.mean(outs.map(\.chosenReward)), c.metrics["rewards/chosen"]!))
            #expect(Self.close(Self.mean(outs.map(\.rejectedReward)), c.metrics["rewards/rejected"]!))
            #expect(Self.close(Self.mean(margins), c.metrics["rewards/margins"]!))
            #expect(abs(Self.mean(margins.map { $0 > 0 ? 1 : 0 }) - c.metrics["rewards/accuracies"]!) < 1e-6)
            let worst = try Self.worstGradientError(model, c.gradients64)
            #expect(worst.error < 1e-4, "\(c.name): worst parameter gradient \(worst.name) relative error \(worst.error)")
            print("[simpo parity] \(c.name): loss \(loss) vs TRL \(c.loss64); worst gradient \(worst.name) \(worst.error)")
        }
    }
}
