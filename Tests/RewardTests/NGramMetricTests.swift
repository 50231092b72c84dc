import Foundation
import Testing
import TestSupport
@testable import Rewards

struct NGramFixture: Decodable {
    struct Case: Decodable {
        let hypothesis: String
        let references: [String]
        /// nil where evaluate raises ZeroDivisionError (no hypothesis tokens, or an empty shortest reference)
        let bleu: Double?
        let sacrebleu: Double
        let rouge1: [Double]
        let rouge2: [Double]
        let rougeL: [Double]
        let rouge1Stemmed: [Double]
        let rouge2Stemmed: [Double]
        let rougeLStemmed: [Double]
    }
    struct Corpus: Decodable { let start: Int; let size: Int; let sacrebleu: Double }
    let cases: [Case]
    let corpora: [Corpus]
    let stems: [[String]]

    static let shared: Result<NGramFixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/ngram_metrics", withExtension: "json") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "run Scripts/fixtures/make ngram_metrics"])
        }
        return try JSONDecoder().decode(NGramFixture.self, from: Data(contentsOf: url))
    }
}


@Suite("BLEU, sacreBLEU, ROUGE against the Python libraries")
struct NGramMetricTests {
    func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9) -> Bool { abs(a - b) <= tolerance * max(1, abs(b)) }

    @Test func everyFixtureCaseAgrees() throws {
        let fixture = try NGramFixture.shared.get()
        #expect(fixture.cases.count >= 370)
        for (i, c) in fixture.cases.enumerated() {
            let label = "case \(i): \(c.hypothesis.prefix(40).debugDescription)"
            if let expected = c.bleu {
                let bleu = bleuSmoothed(hypothesis: c.hypothesis, references: c.references)
                #expect(close(bleu, expected), "\(label): bleu \(bleu) vs \(expected)")
            }
            let sacre = SacreBLEU.sentence(hypothesis: c.hypothesis, references: c.references)
            #expect(close(sacre, c.sacrebleu), "\(label): sacrebleu \(sacre) vs \(c.sacrebleu)")
            for (kind, stem, expected) in [(ROUGEKind.n(1), false, c.rouge1), (.n(2), false, c.rouge2), (.l, false, c.rougeL),
                                           (.n(1), true, c.rouge1Stemmed), (.n(2), true, c.rouge2Stemmed), (.l, true, c.rougeLStemmed)] {
                let s = rouge(kind, hypothesis: c.hypothesis, references: c.references, stem: stem)
                #expect(close(s.precision, expected[0]) && close(s.recall, expected[1]) && close(s.f, expected[2]),
                        "\(label): \(kind) stem \(stem): \(s) vs \(expected)")
            }
            let b = c.bleu ?? 0, r = c.rougeL[2]
            #expect(close(brf1(hypothesis: c.hypothesis, references: c.references), b + r > 0 ? 2 * b * r / (b + r) : 0))
        }
    }

    /// Where evaluate raises (its brevity penalty divides by the hypothesis and shortest-reference lengths),
    /// the reward is 0: BLEUBERI's rule for an empty completion, and ours for an empty reference, which
    /// add-one smoothing alone would pay ≈ 0.30 (issue 9).
    @Test func bleuIsZeroWhereEvaluateRaises() throws {
        let undefined = try NGramFixture.shared.get().cases.filter { $0.bleu == nil }
        #expect(undefined.count >= 10)
        for c in undefined {
            #expect(bleuSmoothed(hypothesis: c.hypothesis, references: c.references) == 0, "\(c.hypothesis.debugDescription) vs \(c.references)")
        }
        #expect(bleuSmoothed(hypothesis: "The quick brown fox", references: [""]) == 0)
        #expect(bleuSmoothed(hypothesis: "The quick brown fox", references: ["The quick brown fox", ""]) == 0)
        #expect(bleuSmoothed(hypothesis: "The quick brown fox", references: ["The quick brown fox"]) == 1)
    }

    @Test func porterStemsMatchNLTK() throws {
        let fixture = try NGramFixture.shared.get(), stemmer = PorterStemmer()
        #expect(fixture.stems.count > 10_000)
        let wrong = fixture.stems.filter { !stemmer.stem($0[0]).unicodeScalars.elementsEqual($0[1].unicodeScalars) }
        #expect(wrong.isEmpty, "\(wrong.count) differ, e.g. \(wrong.prefix(5).map { "\($0[0]) → \(stemmer.stem($0[0])) (nltk \($0[1]))" })")
    }

    @Test func corpusBLEUSumsStatistics() throws {
        let fixture = try NGramFixture.shared.get()
        for corpus in fixture.corpora {
            let group = Array(fixture.cases[corpus.start..<corpus.start + corpus.size])
            let score = SacreBLEU.corpus(hypotheses: group.map(\.hypothesis), references: group.map(\.references))
            #expect(close(score, corpus.sacrebleu), "corpus at \(corpus.start): \(score) vs \(corpus.sacrebleu)")
        }
    }

    /// The worked values of the shared notes (metrics.md §1–4), rounded there to 5 decimals.
    @Test func referenceValuesOfTheNotes() {
        let pair1 = ("The cat sat on the mat.", ["A cat was sitting on the mat."])
        let pair2 = ("Paris is the capital of France.", ["The capital of France is Paris."])
        #expect(abs(bleuSmoothed(hypothesis: pair1.0, references: pair1.1) - 0.46905) < 1e-5)
        #expect(abs(bleuSmoothed(hypothesis: pair2.0, references: pair2.1) - 0.39764) < 1e-5)
        #expect(abs(bleuSmoothed(hypothesis: "The cat", references: ["The cat sat on the mat."]) - 0.082085) < 1e-6)
        #expect(abs(SacreBLEU.sentence(hypothesis: pair1.0, references: pair1.1) - 37.685) < 1e-3)
        #expect(abs(SacreBLEU.sentence(hypothesis: "The cat", references: ["The cat sat on the mat."]) - 8.2085) < 1e-4)
        #expect(SacreBLEU.corpus(hypotheses: ["The cat"], references: [["The cat sat on the mat."]]) == 0)
        #expect(abs(rouge(.l, hypothesis: pair1.0, references: pair1.1).f - 0.61538) < 1e-5)
        #expect(abs(brf1(hypothesis: pair1.0, references: pair1.1) - 0.53235) < 1e-5)
        #expect(rougeTokenize("Café au lait, 東京 naïve-test 2024!") == ["caf", "au", "lait", "na", "ve", "test", "2024"])
    }

    /// MT-Bench turn-1 BLEU × 100 of whole systems against GPT-4.1-mini (shared notes, data.md §4.3).
    @Test(arguments: [("Qwen2.5-7B", 12.97), ("Qwen2.5-7B-Instruct", 27.67), ("Llama-3.1-8B-Instruct", 7.66),
                      ("qwen7b_BLEU_1ref-gold_5k_random_checkpoint-1250", 22.98)])
    func systemLevelMTBenchBLEU(system: String, expected: Double) throws {
        func turns(_ path: String) throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return ((object["choices"] as! [[String: Any]])[0]["turns"] as! [String])[0]
            }
        }
        let data = projectRoot + "/../shared/bleuberi_data/mt_bench"
        let references = try turns(data + "/reference_answer/gpt-4.1-mini.jsonl")
        let answers = try turns(data + "/model_answer/\(system).jsonl")
        #expect(answers.count == 80)
        let mean = zip(answers, references).map { bleuSmoothed(hypothesis: $0, references: [$1]) }.reduce(0, +) / 80
        #expect(abs(100 * mean - expected) < 0.005, "\(system): \(100 * mean)")
    }
}

@Suite("Reward protocol")
struct RewardProtocolTests {
    @Test func bleuberiRewardScoresTheAnswerSpan() throws {
        let reference = "The capital of France is Paris."
        let batch = [
            RewardInput(prompt: "q", completion: "<think>hmm</think><answer>The capital of France is Paris.</answer>", references: [reference]),
            RewardInput(prompt: "q", completion: "  The capital of France is Paris.  ", references: [reference]),
            RewardInput(prompt: "q", completion: "   ", references: [reference]),
        ]
        let out = try SimilarityReward.bleuberi.score(batch)
        #expect(out.scores == [1, 1, 0])
        #expect(out.components.map(\.name) == ["bleu"] && out.components[0].values == out.scores)
        #expect(answerText("pre <answer> after") == "after")
    }

    @Test func nonFiniteScoresAndMissingReferencesAreErrors() {
        let nan = SimilarityReward(name: "broken") { _, _ in .nan }
        #expect { try nan.score([RewardInput(prompt: "", completion: "a", references: ["b"])]) } throws: {
            "\($0)" == "broken: completion 0 scored nan"
        }
        #expect { try SimilarityReward.rougeL.score([RewardInput(prompt: "", completion: "a", references: [])]) } throws: {
            "\($0)" == "rouge_l: completion 0 has no reference"
        }
    }
}
