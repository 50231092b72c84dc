import Foundation
import Testing
@testable import Tensor
@testable import Transformer

/// The gradient path every objective uses (forward → tokenLogProbs → backward(dLogProb:)), checked against
/// transformers' LlamaForCausalLM on the tiny configuration: a left-padded batch of four sequences of unequal
/// lengths, a completion mask, temperature 0.7 and random signed weights w on the completion tokens, so the
/// gradient is that of Σ w·log p. Fixture: Scripts/fixtures/llama_gradients.py (its header documents the format).
@Suite("Llama gradients against transformers")
struct LlamaGradientParityTests {
    struct Fixture: Decodable {
        struct Parameter: Decodable { let name: String; let shape: [Int]; let values: [Float] }
        let config: LlamaConfig
        let temperature: Float
        let sequences: [[Int32]]
        let promptLengths: [Int]
        let seq: Int
        let targets: [Int32]
        let weights: [Float]
        let logProbs: [Float]
        let logProbs64: [Double]
        let objective64: Double
        let parameters: [Parameter]
        let gradients: [String: [Float]]
        let gradients64: [String: [Double]]
        let torchFp32RelativeError: [String: Double]
    }

    static let fixture: Result<Fixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/llama_gradients", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey:
                "missing fixture llama_gradients.json: run Scripts/fixtures/make llama_gradients"])
        }
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// Our model with the fixture's weights, after forward + backward with dLogProb = w.
    static let ours: Result<(model: Llama, logProbs: [Float]), Error> = Result {
        let f = try fixture.get()
        let m = Llama(config: f.config)
        for p in f.parameters {
            guard let entry = m.parameters.entry(p.name) else { throw CocoaError(.coderValueNotFound) }
            precondition(entry.shape == p.shape && entry.count == p.values.count, "\(p.name): shape \(entry.shape) vs \(p.shape)")
            p.values.withUnsafeBufferPointer { m.parameters.value(entry).update(from: $0.baseAddress!, count: entry.count) }
        }
        let batch = TokenBatch(leftPadding: f.sequences)
        precondition(batch.seq == f.seq && batch.tokens.count == f.targets.count)
        m.parameters.zeroGradients()
        let acts = try m.forward(batch)
        let logProbs = try m.tokenLogProbs(acts, targets: f.targets, temperature: f.temperature)
        try m.backward(acts, targets: f.targets, dLogProb: f.weights, temperature: f.temperature)
        return (m, logProbs)
    }

    static func relativeError(_ ours: UnsafePointer<Float>, _ theirs: [Double]) -> Double {
        var diff = 0.0, norm = 0.0
        for (i, t) in theirs.enumerated() {
            let d = Double(ours[i]) - t
            diff += d * d
            norm += t * t
        }
        return (diff / norm).squareRoot()
    }

    @Test func theFixtureMasksPromptsAndPadsAndWeighsOnlyCompletionTokens() throws {
        let f = try Self.fixture.get()
        let batch = TokenBatch(leftPadding: f.sequences)
        var expected = [Int32](repeating: -1, count: batch.tokens.count)
        for (b, s) in f.sequences.enumerated() {
            let pad = f.seq - s.count
            for k in f.promptLengths[b]..<s.count { expected[b * f.seq + pad + k - 1] = s[k] }
        }
        #expect(f.targets == expected)
        #expect(zip(f.targets, f.weights).allSatisfy { $0 >= 0 ? $1 != 0 : $1 == 0 })
        #expect(f.weights.contains { $0 > 0 } && f.weights.contains { $0 < 0 })
        #expect(Set(f.sequences.map(\.count)).count == f.sequences.count, "sequences of unequal lengths")
        #expect(f.temperature != 1)
    }

    @Test func tokenLogProbsMatchTransformers() throws {
        let f = try Self.fixture.get(), (_, logProbs) = try Self.ours.get()
        var worst = 0.0, objective = 0.0
        for r in f.targets.indices where f.targets[r] >= 0 {
            worst = max(worst, abs(Double(logProbs[r]) - f.logProbs64[r]))
            #expect(abs(logProbs[r] - f.logProbs[r]) < 1e-5, "row \(r): ours \(logProbs[r]), torch fp32 \(f.logProbs[r])")
            objective += Double(f.weights[r]) * Double(logProbs[r])
        }
        #expect(worst < 1e-5, "worst |Δ log p| against float64: \(worst)")
        #expect(abs(objective - f.objective64) < 1e-4 * abs(f.objective64), "Σ w·log p: ours \(objective), float64 \(f.objective64)")
        #expect(zip(logProbs, f.targets).allSatisfy { $1 < 0 ? $0 == 0 : true })
    }

    /// Per tensor ‖ours − theirs‖ / ‖theirs‖ against float64 and against torch's own fp32, ≤ 1e-4 each.
    @Test func everyParameterGradientMatchesTransformers() throws {
        let f = try Self.fixture.get(), (m, _) = try Self.ours.get()
        var report: [String] = []
        for entry in m.parameters.entries {
            let theirs64 = try #require(f.gradients64[entry.name], "no gradient for \(entry.name) in the fixture")
            let theirs32 = try #require(f.gradients[entry.name]).map(Double.init)
            let g = m.parameters.gradient(entry)
            let vs64 = Self.relativeError(g, theirs64), vs32 = Self.relativeError(g, theirs32)
            let torchOwn = f.torchFp32RelativeError[entry.name] ?? .nan
            let line = "\(entry.name): vs float64 \(String(format: "%.2e", vs64)), vs torch fp32 \(String(format: "%.2e", vs32)) (torch fp32 vs float64 \(String(format: "%.2e", torchOwn)))"
            report.append(line)
            #expect(theirs64.contains { $0 != 0 }, "\(entry.name) has no gradient signal")
            #expect(vs64 <= 1e-4, "\(line)")
            #expect(vs32 <= 1e-4, "\(line)")
        }
        #expect(report.count == f.parameters.count)
        print("Llama gradient parity, worst relative error per tensor:\n  " + report.joined(separator: "\n  "))
    }
}
