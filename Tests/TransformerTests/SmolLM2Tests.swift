import Foundation
import Testing
@testable import Tensor
@testable import Tokenizers
@testable import Transformer

extension SmolLM2 {
    static let model: Result<Llama, Error> = Result { try Llama.load(gguf: file.get()) }
}

@Suite("SmolLM2-135M-Instruct against transformers (fp32)")
struct SmolLM2Tests {
    @Test func configurationFromTheGGUF() throws {
        let c = try SmolLM2.model.get().config
        #expect(c == LlamaConfig(vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, layers: 30, heads: 9, kvHeads: 3,
                                 ropeTheta: 100_000, rmsNormEps: Float(9.999_999_747_378_752e-06), contextLength: 8192,
                                 ropeConvention: .adjacentPairs))
        #expect(try SmolLM2.model.get().parameters.count == 134_515_008)
    }

    @Test func logitsMatchTransformers() throws {
        let model = try SmolLM2.model.get(), fixture = try SmolLM2Fixture.shared.get()
        let cases = try #require(fixture.logits)
        #expect(cases.count == 6)
        for c in cases {
            let logits = model.logits(try model.forward(TokenBatch(leftPadding: [c.ids])))
            let V = model.config.vocabSize, last = logits.pointer + (c.ids.count - 1) * V
            for (id, expected) in zip(c.topIds, c.topLogits) {
                #expect(abs(last[id] - expected) < 1e-3, "\(c.prompt): logit of \(id) is \(last[id]), transformers \(expected)")
            }
            for (row, expected) in zip(c.probeRows, c.probeLogits) {
                let got = c.probeIds.map { Double(logits[row * V + $0]) }
                #expect(normalizedMeanSquaredError(got, expected.map(Double.init)) < 1e-9, "\(c.prompt): row \(row)")
            }
        }
    }

    /// Greedy tokens equal transformers' up to the first step where its top-1/top-2 margin is under 0.01
    /// (logits agree to ~5e-5, so a smaller margin could legitimately flip).
    @Test func greedyContinuationsMatchTransformers() throws {
        let model = try SmolLM2.model.get(), fixture = try SmolLM2Fixture.shared.get()
        var compared = 0
        for c in try #require(fixture.logits) {
            let clear = c.margins.firstIndex { $0 < 0.01 } ?? c.greedy.count
            guard clear > 0 else { continue }
            var rngs = [Xoshiro256(seed: 0)]
            let g = try model.generate(prompts: [c.ids], maxNewTokens: clear, sampling: .greedy, stopTokens: [2], rngs: &rngs)[0]
            #expect(g.tokens == Array(c.greedy.prefix(g.tokens.count)), "\(c.prompt)")
            #expect(g.tokens.count == min(clear, c.greedy.count) || g.stopped)
            compared += g.tokens.count
        }
        #expect(compared >= 20)
    }

    @Test func answersTheCapitalOfFrance() throws {
        let model = try SmolLM2.model.get(), tokenizer = try SmolLM2.tokenizer.get(), file = try SmolLM2.file.get()
        let template = try ChatTemplate(jinja: file["tokenizer.chat_template"]?.string ?? "")
        let prompt = tokenizer.encode(template.render([ChatMessage(role: "user", content: "What is the capital of France?")]))
        var rngs = [Xoshiro256(seed: 0)]
        let g = try model.generate(prompts: [prompt], maxNewTokens: 16, sampling: .greedy, stopTokens: [2], rngs: &rngs)[0]
        #expect(g.stopped)
        #expect(tokenizer.decode(g.tokens.dropLast()) == "The capital of France is Paris.")
    }
}
