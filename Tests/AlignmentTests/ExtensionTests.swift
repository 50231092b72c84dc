import Foundation
import Testing
@testable import Alignment
@testable import Experiments
import Rewards
import RunRecords
import Tensor
import TestSupport
import Training

@Suite("RefAlign's safety and confidence extensions")
struct ExtensionTests {
    /// A similarity with signal at random initialisation: the share of the completion's characters that are
    /// ASCII letters when the reference's length is even, of all other characters when it is odd.
    struct ParityShare: Reward {
        let name = "parity_share"
        func score(_ batch: [RewardInput]) throws -> RewardOutput {
            let scores = batch.map { input -> Double in
                let scalars = Array(input.completion.unicodeScalars)
                guard !scalars.isEmpty else { return 0 }
                let letters = Double(scalars.filter { $0.isASCII && $0.properties.isAlphabetic }.count) / Double(scalars.count)
                return input.references.allSatisfy { $0.count % 2 == 0 } ? letters : 1 - letters
            }
            return RewardOutput(scores: scores, components: [(name, scores)])
        }
    }

    @Test func conqordAnswersParse() {
        #expect(ConfidenceFormat.parse("### Answer: Paris\n### Confidence: 0.9.") == ("Paris", 0.9))
        #expect(ConfidenceFormat.parse("Paris, surely.\n\n### Confidence: 1.0") == ("Paris, surely.", 1.0))
        #expect(ConfidenceFormat.parse("### Answer: Rome ### Confidence: .9") == ("Rome", nil))
        #expect(ConfidenceFormat.parse("no format at all") == ("no format at all", nil))
        #expect(ConfidenceFormat.target(answer: "4", confidence: 0.75) == "### Answer: 4\n### Confidence: 0.8")
    }

    /// R_i = s_i + α Σ_j (s_i − s_j)(c_i − c_j) within each group; a failed parse is confidence 0.
    @Test func confidenceRewardCouplesQualityAndConfidence() throws {
        struct Fixed: Reward {
            let name = "fixed"
            func score(_ batch: [RewardInput]) throws -> RewardOutput {
                let s = batch.map { Double($0.completion.count) / 10 }  // the answer part's length / 10
                return RewardOutput(scores: s, components: [(name, s)])
            }
        }
        let texts = ["### Answer: abcde\n### Confidence: 0.9", "### Answer: ab\n### Confidence: 0.2", "### Answer: abcd", "abc\n### Confidence: 0.5"]
        let out = try ConfidenceReward(base: Fixed(), alpha: 0.1, groupSize: 2).score(texts.map { RewardInput(prompt: "", completion: $0, references: ["r"]) })
        let s = [0.5, 0.2, 0.4, 0.3], c = [0.9, 0.2, 0, 0.5]
        let expected = [s[0] + 0.1 * (s[0] - s[1]) * (c[0] - c[1]), s[1] + 0.1 * (s[1] - s[0]) * (c[1] - c[0]),
                        s[2] + 0.1 * (s[2] - s[3]) * (c[2] - c[3]), s[3] + 0.1 * (s[3] - s[2]) * (c[3] - c[2])]
        for (a, b) in zip(out.scores, expected) { #expect(abs(a - b) < 1e-12) }
        #expect(out.components.first { $0.name == "confidence_parse_failed" }?.values == [0, 0, 1, 0])
    }

    /// harm = sim(y, safe) − max_u sim(y, unsafe_u); A = clip(R − mean R) + w·(harm − mean harm).
    @Test func safetyRewardAndAdvantage() throws {
        let inputs = ["aaaa", "a1!?"].map { RewardInput(prompt: "", completion: $0, references: ["ev"], unsafeReferences: ["odd", "also odd!"]) }
        let out = try SafetyReward(base: ParityShare()).score(inputs)
        let harm = try #require(out.components.first { $0.name == "harmlessness" }?.values)
        #expect(harm == [1 - 0, 0.25 - 0.75])
        let objective = RefAlignObjective(lengthConstant: 0, clip: 0.1, safetyWeight: 4)
        let a = try objective.advantages([out.scores], components: ["harmlessness": [harm]])[0]
        let meanHarm = (harm[0] + harm[1]) / 2
        #expect(abs(a[0] - (0.1 + 4 * (harm[0] - meanHarm))) < 1e-12 && abs(a[1] - (-0.1 + 4 * (harm[1] - meanHarm))) < 1e-12)
        #expect(throws: RewardError.self) { try SafetyReward(base: ParityShare()).score([RewardInput(prompt: "", completion: "x", references: ["r"])]) }
    }

    /// On the tiny model, `--safety` raises its own harmlessness signal and `--confidence` runs end to end.
    @Test func extensionsRunOnTheTinyModel() throws {
        let dir = temporaryDirectory(), data = dir + "/safety.jsonl"
        // Odd-length safe references and even-length unsafe ones: harmlessness = 1 − 2·(letter share), ≈ −0.8 at random.
        let lines = (0..<4).map { i in "{\"prompt\": \"question \(i)\", \"reference\": \"safe answer\", \"unsafe\": [\"harm\"]}" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)
        var c = try AlignmentRunTests.config("refalign", data: data)
        c.safetyWeight = 4
        c.samples = 4
        c.maxNewTokens = 8
        c.learningRate = 1e-2
        let (policy, format) = try AlignmentJob.policy(c)
        let task = try PolicyGradientTask(
            policy: policy, format: format, examples: try AlignmentData.read(data), objective: try AlignmentJob.objective(c),
            similarity: ParityShare(), config: PolicyGradientConfig(samples: 4, maxNewTokens: 8, sampling: SamplingConfig(temperature: 1)), seed: 2)
        let run = temporaryDirectory()
        try Trainer(task: task, config: TrainerConfig(steps: 16, batchSize: 2, learningRate: 1e-2, checkpointEvery: 0, evaluateEvery: 0,
                                                      sampleEvery: 0, seed: 2),
                    directory: run, configJSON: "{}", metadata: .current(method: "refalign", model: "tiny", seed: 2, configJSON: "{}"))
            .run(.new) { _ in .proceed }
        let harm = try #require(try RunSummary(path: run + "/run.h5").train["reward_harmlessness"])
        #expect(harm.suffix(4).reduce(0, +) / 4 > harm[0] + 0.03, "harmlessness \(harm)")

        var confidence = try AlignmentRunTests.config("refalign", data: try AlignmentRunTests.dataFile())
        confidence.confidenceAlpha = 0.1
        let t = try AlignmentRunTests.run(confidence)
        #expect(t.train["reward_confidence_parse_failed"]?.count == 3 && t.train["reward_confidence"] != nil)
    }
}
