import Foundation
import Testing
@testable import Tensor
@testable import Transformer

@Suite("Llama on a tiny configuration")
struct TinyLlamaTests {
    static let config = LlamaConfig(vocabSize: 23, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 4, kvHeads: 2,
                                    ropeTheta: 10_000, contextLength: 64)

    func model(seed: UInt64 = 1, convention: RoPEConvention = .rotateHalf) -> Llama {
        var c = Self.config
        c.ropeConvention = convention
        let m = Llama(config: c)
        m.initializeRandom(seed: seed)
        // Larger weights than the usual 0.02 so every path carries signal into the check.
        for i in 0..<m.parameters.count where m.parameters.values[i] != 1 { m.parameters.values[i] *= 10 }
        return m
    }

    /// A padded batch and next-token targets (−1 where nothing is predicted).
    let sequences: [[Int32]] = [[3, 7, 1, 9, 4, 2], [5, 11, 8]]
    func targets(_ batch: TokenBatch) -> [Int32] {
        (0..<batch.tokens.count).map { r in
            let next = r + 1
            return next % batch.seq != 0 && batch.keyMask[r] && batch.keyMask[next] ? batch.tokens[next] : -1
        }
    }

    func meanNLL(_ m: Llama, _ batch: TokenBatch, _ targets: [Int32]) throws -> Double {
        let lp = try m.tokenLogProbs(m.forward(batch), targets: targets)
        let counted = targets.filter { $0 >= 0 }.count
        return -zip(lp, targets).filter { $0.1 >= 0 }.reduce(0.0) { $0 + Double($1.0) } / Double(counted)
    }

    @Test(arguments: [RoPEConvention.rotateHalf, .adjacentPairs])
    func backwardMatchesFiniteDifferencesOfTheWholeModel(convention: RoPEConvention) throws {
        let m = model(convention: convention), batch = TokenBatch(leftPadding: sequences), t = targets(batch)
        let counted = Float(t.filter { $0 >= 0 }.count)
        m.parameters.zeroGradients()
        try m.backward(m.forward(batch), targets: t, dLogProb: t.map { $0 >= 0 ? -1 / counted : 0 })
        var rng = Xoshiro256(seed: 9)
        var diff = 0.0, norm = 0.0
        for entry in m.parameters.entries {  // three scalars of every parameter tensor
            for _ in 0..<3 {
                let i = entry.offset + rng.nextInt(below: entry.count)
                let saved = m.parameters.values[i], h: Float = 1e-2
                m.parameters.values[i] = saved + h
                let plus = try meanNLL(m, batch, t)
                m.parameters.values[i] = saved - h
                let minus = try meanNLL(m, batch, t)
                m.parameters.values[i] = saved
                let numeric = (plus - minus) / (2 * Double(h)), analytic = Double(m.parameters.gradients[i])
                diff += (numeric - analytic) * (numeric - analytic)
                norm += analytic * analytic
            }
        }
        #expect(norm > 0)
        #expect((diff / norm).squareRoot() < 2e-2, "relative gradient error \((diff / norm).squareRoot())")
    }

    @Test func trainsFromScratchAndMovesEveryParameter() throws {
        let m = model(seed: 2)
        let optimizer = AdamW(count: m.parameters.count, config: AdamWConfig(weightDecay: 0))
        let batch = TokenBatch(leftPadding: [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]]), t = targets(batch)
        let counted = Float(t.filter { $0 >= 0 }.count)
        let before = m.parameters.values.array
        var losses: [Double] = []
        for step in 0..<40 {
            losses.append(try meanNLL(m, batch, t))
            m.parameters.zeroGradients()
            try m.backward(m.forward(batch), targets: t, dLogProb: t.map { $0 >= 0 ? -1 / counted : 0 })
            optimizer.update(m.parameters, learningRate: 3e-3)
            if step == 0 {
                for entry in m.parameters.entries {
                    let changed = (entry.offset..<entry.offset + entry.count).contains { m.parameters.values[$0] != before[$0] }
                    #expect(changed, "\(entry.name) did not change after one step")
                }
            }
        }
        #expect(losses.last! < 0.2 * losses.first!, "loss \(losses.first!) → \(losses.last!)")
    }

    @Test func aPaddedSequenceComputesWhatItWouldAlone() throws {
        let m = model()
        let alone = m.logits(try m.forward(TokenBatch(leftPadding: [sequences[1]]))).array
        let padded = m.logits(try m.forward(TokenBatch(leftPadding: sequences)))
        let V = Self.config.vocabSize, offset = (2 * 6 - 3) * V  // the last 3 slots of row 1
        let inBatch = Array(padded.buffer[offset..<offset + 3 * V])
        #expect(normalizedMeanSquaredError(inBatch.map(Double.init), alone.map(Double.init)) < 1e-10)
    }

    /// The sampler's tokens and log-probs must be what a training forward over the whole sequences gives.
    @Test(arguments: [SamplingConfig.greedy, SamplingConfig(temperature: 1), SamplingConfig(temperature: 0.7, topK: 5, topP: 0.9)])
    func cachedGenerationAgreesWithTheTrainingForward(sampling: SamplingConfig) throws {
        let m = model(seed: 4)
        func streams() -> [Xoshiro256] { sequences.indices.map { Xoshiro256(seed: 5, stream: "sampling/\($0)") } }
        var rngs = streams()
        let generations = try m.generate(prompts: sequences, maxNewTokens: 7, sampling: sampling, stopTokens: [], rngs: &rngs)
        let full = zip(sequences, generations).map { $0 + $1.tokens }
        let batch = TokenBatch(leftPadding: full)
        let acts = try m.forward(batch), logits = m.logits(acts)
        var t = [Int32](repeating: -1, count: batch.tokens.count)
        for (b, g) in generations.enumerated() {
            let end = (b + 1) * batch.seq
            for k in 0..<g.tokens.count { t[end - g.tokens.count - 1 + k] = g.tokens[k] }
        }
        let recomputed = try m.tokenLogProbs(acts, targets: t, temperature: sampling.isGreedy ? 1 : sampling.temperature)
        for (b, g) in generations.enumerated() {
            #expect(g.tokens.count == 7)
            let end = (b + 1) * batch.seq
            let mine = (0..<g.tokens.count).map { recomputed[end - g.tokens.count - 1 + $0] }
            for (x, y) in zip(g.logProbs, mine) { #expect(abs(x - y) < 1e-4, "sampler \(x) vs recomputed \(y)") }
            if sampling.isGreedy {
                for k in 0..<g.tokens.count {
                    let row = logits.pointer + (end - g.tokens.count - 1 + k) * Self.config.vocabSize
                    #expect(Int32(argmax(row, count: Self.config.vocabSize)) == g.tokens[k])
                }
            }
        }
        var again = streams()
        #expect(try m.generate(prompts: sequences, maxNewTokens: 7, sampling: sampling, stopTokens: [], rngs: &again) == generations)
        // A sequence's samples depend on its own stream only, not on the batch it shares (log-probs agree
        // to rounding: a batch of one multiplies through a different BLAS path).
        var alone = [streams()[1]]
        let single = try m.generate(prompts: [sequences[1]], maxNewTokens: 7, sampling: sampling, stopTokens: [], rngs: &alone)[0]
        #expect(single.tokens == generations[1].tokens)
        #expect(zip(single.logProbs, generations[1].logProbs).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// Scoring runs the training forward's block function with a KV cache: the same arithmetic, so the
    /// same bits.
    @Test func inferenceScoringEqualsTheTrainingForward() throws {
        let m = model(seed: 6), batch = TokenBatch(leftPadding: sequences), t = targets(batch)
        for temperature: Float in [1, 0.7] {
            let training = try m.tokenLogProbs(m.forward(batch), targets: t, temperature: temperature)
            let scored = try m.scoreLogProbs(batch, targets: t, temperature: temperature)
            #expect(training == scored)
            #expect(zip(training, t).allSatisfy { $1 < 0 ? $0 == 0 : $0 < 0 })
        }
    }

    @Test func stopTokensEndASequenceAndMaskItAfterwards() throws {
        let m = model(seed: 4)
        var rngs = sequences.map { _ in Xoshiro256(seed: 1) }
        let free = try m.generate(prompts: sequences, maxNewTokens: 6, sampling: .greedy, stopTokens: [], rngs: &rngs)
        let stop = free[0].tokens[2]
        let stopped = try m.generate(prompts: sequences, maxNewTokens: 6, sampling: .greedy, stopTokens: [stop], rngs: &rngs)
        let firstStop = free[0].tokens.firstIndex(of: stop)!
        #expect(stopped[0].tokens == Array(free[0].tokens[...firstStop]) && stopped[0].stopped)
        // the other sequence is unaffected by its neighbour finishing early (up to its own stop)
        let otherStop = free[1].tokens.firstIndex(of: stop).map { $0 + 1 } ?? free[1].tokens.count
        #expect(stopped[1].tokens == Array(free[1].tokens.prefix(otherStop)))
    }

    /// Identical prompts share one prefill and stopped sequences leave the batch: neither may change what
    /// any sequence samples. Each row of a batch with repeated prompts and early stops must equal that row
    /// generated alone from its own stream (log-probs to rounding: other batch shapes).
    @Test func sharedPrefillAndDroppingFinishedRowsChangeNoSequence() throws {
        let m = model(seed: 4), prompts = [sequences[0], sequences[1], sequences[0], sequences[0], sequences[1]]
        let sampling = SamplingConfig(temperature: 1), stop: [Int32] = [3, 17]
        func stream(_ b: Int) -> Xoshiro256 { Xoshiro256(seed: 8, stream: "sampling/\(b)") }
        var rngs = prompts.indices.map(stream)
        let together = try m.generate(prompts: prompts, maxNewTokens: 12, sampling: sampling, stopTokens: stop, rngs: &rngs)
        #expect(together.contains { $0.stopped && $0.tokens.count < 12 } && together.contains { !$0.stopped },
                "the case needs rows that stop early and rows that run to the limit: \(together.map(\.tokens.count))")
        for (b, prompt) in prompts.enumerated() {
            var alone = [stream(b)]
            let single = try m.generate(prompts: [prompt], maxNewTokens: 12, sampling: sampling, stopTokens: stop, rngs: &alone)[0]
            #expect(single.tokens == together[b].tokens && single.stopped == together[b].stopped, "row \(b)")
            #expect(zip(single.logProbs, together[b].logProbs).allSatisfy { abs($0 - $1) < 1e-5 }, "row \(b)")
        }
    }

    /// A decoding step's attention is split by sequence with the kernels' helper thread: what is sampled,
    /// and its log-probs, must be bit for bit the same on one thread and on two.
    @Test func decodingIsTheSameOnOneAndTwoThreads() throws {
        let m = model(seed: 4), prompts = [sequences[0], sequences[1], sequences[0], sequences[1]]
        let saved = BLAS.threads
        defer { BLAS.threads = saved }
        var runs: [[Generation]] = []
        for threads in [1, 2] {
            BLAS.threads = threads
            var rngs = prompts.indices.map { Xoshiro256(seed: 9, stream: "sampling/\($0)") }
            runs.append(try m.generate(prompts: prompts, maxNewTokens: 10, sampling: SamplingConfig(temperature: 1), stopTokens: [], rngs: &rngs))
        }
        #expect(runs[0].map(\.tokens) == runs[1].map(\.tokens))
        #expect(runs[0].map(\.logProbs) == runs[1].map(\.logProbs))
    }
}
