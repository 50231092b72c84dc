import Foundation
import Testing
@testable import Alignment
@testable import Tensor
@testable import Transformer

/// GRPO's loss, its gradient in the per-token log-probs and every parameter's gradient against TRL 1.16's
/// own GRPOTrainer on the tiny model, for fixed completions (Scripts/fixtures/trl_grpo.py documents the
/// fixture and what TRL computes). Our side runs the training path: forward over the unpadded sequences,
/// `tokenLogProbs` at T = 0.9, `GRPOObjective`, `backward(dLogProb:)`.
@Suite("GRPO against TRL's GRPOTrainer")
struct TRLParityTests {
    struct Fixture: Decodable {
        struct Parameter: Decodable { let name: String; let shape: [Int]; let values: [Float] }
        struct Case: Decodable {
            let name: String
            let lossType: String
            let beta: Double
            let useBiasCorrectionKL: Bool
            let gradientAccumulationSteps: Int
            let numItemsInBatch: Int
            let oldPerTokenLogps: [[Float]]?
            let samplingPerTokenLogps: [[Float]]?
            let importanceSamplingCap: Double?
            let loss: Float
            let loss64: Double
            let perTokenLogps: [[Float]]
            let clippedTokens: Int
            let dLossDPerTokenLogps: [[Float]]
            let gradients64: [String: [Double]]
            let torchFp32RelativeError: [String: Double]
        }
        let config: LlamaConfig
        let parameters: [Parameter]
        let temperature: Float
        let epsilon: Double
        let maxCompletionLength: Int
        let completionMask: [[Int]]
        let sequences: [[Int32]]
        let promptLengths: [Int]
        let advantages: [Double]
        let refPerTokenLogps: [[Float]]
        let cases: [Case]
    }

    static let fixture: Result<Fixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/trl_grpo", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "missing trl_grpo.json: run Scripts/fixtures/make trl_grpo"])
        }
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    static func relativeError(_ ours: [Double], _ theirs: [Double]) -> Double {
        let diff = zip(ours, theirs).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (diff / max(theirs.reduce(0) { $0 + $1 * $1 }, 1e-300)).squareRoot()
    }

    @Test func lossAndGradientsMatchTRL() throws {
        let f = try Self.fixture.get()
        #expect(f.cases.count == 14)
        let model = Llama(config: f.config)
        for p in f.parameters {
            let entry = try #require(model.parameters.entry(p.name))
            try #require(entry.shape == p.shape)
            p.values.withUnsafeBufferPointer { model.parameters.value(entry).update(from: $0.baseAddress!, count: entry.count) }
        }
        let lengths = f.completionMask.map { $0.reduce(0, +) }
        let batch = TokenBatch(leftPadding: f.sequences)
        var targets = [Int32](repeating: -1, count: batch.tokens.count)
        var spans: [Range<Int>] = []
        for (b, s) in f.sequences.enumerated() {
            let first = (b + 1) * batch.seq - lengths[b] - 1
            for k in 0..<lengths[b] { targets[first + k] = s[f.promptLengths[b] + k] }
            spans.append(first..<first + lengths[b])
        }
        for c in f.cases {
            let objective = GRPOObjective(beta: c.beta, epsilon: f.epsilon, aggregation: try #require(.init(rawValue: c.lossType)),
                                          biasCorrectedKL: c.useBiasCorrectionKL)
            // Gradient accumulation over k micro-batches: the other micro-batches' tokens, absent here, count
            // in the normalisers as one more group (TRL's bnpo divides by k, its dapo by the whole batch's tokens).
            let absent = c.numItemsInBatch - lengths.reduce(0, +)
            let groups = c.gradientAccumulationSteps > 1 ? [lengths, [absent]] : [lengths]
            let weights = objective.weights(lengths: groups, maxNewTokens: f.maxCompletionLength)[0]
            model.parameters.zeroGradients()
            let acts = try model.forward(batch)
            let lp = try model.tokenLogProbs(acts, targets: targets, temperature: f.temperature)
            var dLogProb = [Float](repeating: 0, count: targets.count)
            var loss = 0.0, clipped = 0
            for (b, span) in spans.enumerated() {
                let current = Array(lp[span])
                for (x, y) in zip(current, c.perTokenLogps[b]) { #expect(abs(x - y) < 2e-5, "\(c.name): log-prob \(x) vs TRL \(y)") }
                let old = c.oldPerTokenLogps.map { Array($0[b].prefix(lengths[b])) } ?? current
                let importance = c.importanceSamplingCap.map { cap in
                    truncatedImportanceWeights(delta: zip(old, c.samplingPerTokenLogps![b]).map { Double($0) - Double($1) }, cap: cap)
                }
                let out = objective.loss(CompletionTerms(
                    logProbs: current, oldLogProbs: old, referenceLogProbs: Array(f.refPerTokenLogps[b].prefix(lengths[b])),
                    advantage: f.advantages[b], weight: weights[b], importanceWeights: importance))
                loss += out.loss
                clipped += out.clippedTokens
                for (k, d) in out.dLogProbs.enumerated() {
                    #expect(abs(d - c.dLossDPerTokenLogps[b][k]) < 1e-6 + 1e-4 * abs(c.dLossDPerTokenLogps[b][k]),
                            "\(c.name): d loss/d ℓ[\(b)][\(k)] \(d) vs TRL \(c.dLossDPerTokenLogps[b][k])")
                    dLogProb[span.lowerBound + k] = d
                }
            }
            #expect(abs(loss - c.loss64) < 1e-5 + 1e-4 * abs(c.loss64), "\(c.name): loss \(loss) vs TRL \(c.loss64)")
            // The fixture counts ratios outside [1 − ε, 1 + ε]; the loss cuts the gradient only where that
            // side matters for the advantage's sign (TRL's logged clip_ratio): count those from TRL's ratios.
            var cut = 0, outside = 0
            for b in spans.indices {
                for k in 0..<lengths[b] {
                    guard let old = c.oldPerTokenLogps?[b][k] else { continue }
                    let ratio = exp(Double(c.perTokenLogps[b][k]) - Double(old)), a = f.advantages[b]
                    if ratio < 1 - f.epsilon || ratio > 1 + f.epsilon { outside += 1 }
                    if (ratio < 1 - f.epsilon && a < 0) || (ratio > 1 + f.epsilon && a > 0) { cut += 1 }
                }
            }
            #expect(outside == c.clippedTokens && clipped == cut, "\(c.name): clipped tokens")
            try model.backward(acts, targets: targets, dLogProb: dLogProb, temperature: f.temperature)
            var worst = (name: "", error: 0.0)
            for entry in model.parameters.entries {
                let theirs = try #require(c.gradients64[entry.name])
                let ours = (0..<entry.count).map { Double(model.parameters.gradient(entry)[$0]) }
                let error = Self.relativeError(ours, theirs)
                if error > worst.error { worst = (entry.name, error) }
            }
            // TRL's own float32 run sits ≤ 2e-6 from its float64 run; 1e-4 is the fp32 bound.
            #expect(worst.error < 1e-4, "\(c.name): worst parameter gradient \(worst.name) relative error \(worst.error)")
        }
    }
}
