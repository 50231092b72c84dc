import RealModule
import Testing
@testable import Tensor

@Suite("Token sampling")
struct SamplingTests {
    /// Draws `n` samples and returns the frequency of each index.
    func frequencies(_ logits: [Float], _ config: SamplingConfig, n: Int = 40_000, seed: UInt64 = 1) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        var scratch = [Float](repeating: 0, count: logits.count)
        var counts = [Double](repeating: 0, count: logits.count)
        logits.withUnsafeBufferPointer { l in
            scratch.withUnsafeMutableBufferPointer { s in
                for _ in 0..<n {
                    counts[sampleToken(logits: l.baseAddress!, count: l.count, config: config,
                                       scratch: s.baseAddress!, rng: &rng)] += 1
                }
            }
        }
        return counts.map { $0 / Double(n) }
    }

    func softmax(_ x: [Double]) -> [Double] {
        let e = x.map { Double.exp($0 - x.max()!) }
        return e.map { $0 / e.reduce(0, +) }
    }

    // probabilities 0.5, 0.3, 0.15, 0.05 in a shuffled order
    let logits: [Float] = [0.15, 0.5, 0.05, 0.3].map { Float(Double.log($0)) }

    @Test func greedyAndTopOneAreArgmax() {
        #expect(frequencies(logits, .greedy, n: 10) == [0, 1, 0, 0])
        #expect(frequencies(logits, SamplingConfig(temperature: 2, topK: 1), n: 100) == [0, 1, 0, 0])
        #expect(frequencies(logits, SamplingConfig(temperature: 1, topP: 0.01), n: 100) == [0, 1, 0, 0])
    }

    @Test func temperatureOneSamplesTheSoftmax() {
        let f = frequencies(logits, SamplingConfig())
        for (got, want) in zip(f, [0.15, 0.5, 0.05, 0.3]) { #expect(abs(got - want) < 0.01) }  // sd ≤ 0.0025
    }

    @Test func temperatureSharpensAndFlattens() {
        for t in [0.5, 2.0] {
            let f = frequencies(logits, SamplingConfig(temperature: Float(t)))
            let want = softmax(logits.map { Double($0) / t })
            for (got, w) in zip(f, want) { #expect(abs(got - w) < 0.01, "T=\(t)") }
        }
    }

    @Test func topKRenormalisesOverTheKMostLikely() {
        let f = frequencies(logits, SamplingConfig(topK: 2))
        for (got, want) in zip(f, [0, 0.5 / 0.8, 0, 0.3 / 0.8]) { #expect(abs(got - want) < 0.01) }
    }

    /// Hugging Face keeps a token when the mass strictly above it is below p: with p = 0.7 that is
    /// {0.5, 0.3}; with p = 0.8 still {0.5, 0.3}; with p = 0.81 also 0.15.
    @Test func topPKeepsTheSmallestNucleus() {
        let f07 = frequencies(logits, SamplingConfig(topP: 0.7))
        for (got, want) in zip(f07, [0, 0.5 / 0.8, 0, 0.3 / 0.8]) { #expect(abs(got - want) < 0.01) }
        let f081 = frequencies(logits, SamplingConfig(topP: 0.81))
        for (got, want) in zip(f081, [0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95]) { #expect(abs(got - want) < 0.01) }
    }

    @Test func sameSeedSameTokens() {
        #expect(frequencies(logits, SamplingConfig(), n: 500, seed: 9) == frequencies(logits, SamplingConfig(), n: 500, seed: 9))
    }
}
