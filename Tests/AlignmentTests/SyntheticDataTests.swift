import Foundation
import Testing
@testable import Alignment
@testable import Experiments
import Rewards
import RunRecords
import TestSupport
import Training

@Suite("Synthetic data sets and chained runs")
struct SyntheticDataTests {
    /// The arithmetic answers are right, the set depends on the seed only, and SFT targets carry the format.
    @Test func arithmeticQuestionsHaveExactAnswers() throws {
        let lines = SyntheticData.arithmetic(count: 50, seed: 7, confidenceTargets: true)
        #expect(lines.count == 50)
        for line in lines {
            let words = (line["prompt"] as! String).dropFirst("What is ".count).dropLast().split(separator: " ")
            let (a, b) = (Int(words[0])!, Int(words[2])!)
            let expected = switch words[1] { case "+": a + b; case "-": a - b; default: a * b }
            #expect(line["reference"] as? String == "\(expected)")
            let c = try #require(line["confidence"] as? Double)
            #expect((0.1...0.9).contains(c))
        }
        let again = SyntheticData.arithmetic(count: 50, seed: 7, confidenceTargets: true)
        #expect(again.map { $0["prompt"] as! String } == lines.map { $0["prompt"] as! String })
        #expect(SyntheticData.arithmetic(count: 50, seed: 8, confidenceTargets: false).map { $0["prompt"] as! String } != lines.map { $0["prompt"] as! String })
        #expect(SyntheticData.arithmetic(count: 5, seed: 7, confidenceTargets: false).allSatisfy { $0["confidence"] == nil })
    }

    /// Experiment 1's tasks: each answer is what the prompt asks for, the five kinds come in turn, the set depends on the seed.
    @Test func verifiableTasksHaveExactAnswers() throws {
        let lines = SyntheticData.tasks(count: 100, seed: 3)
        #expect(Set(lines.map { $0["task"] as! String }) == ["reverse", "sort", "spell", "add", "capital"])
        for line in lines {
            let (prompt, reference) = (line["prompt"] as! String, line["reference"] as! String)
            switch line["task"] as! String {
            case "reverse": #expect(prompt.dropFirst("Reverse the words: ".count).split(separator: " ").reversed().joined(separator: " ") == reference)
            case "sort": #expect(prompt.dropFirst("Sort the words: ".count).split(separator: " ").sorted().joined(separator: " ") == reference)
            case "add":
                let words = prompt.dropFirst("What is ".count).dropLast().split(separator: " ")
                #expect(Int(words[0])! + Int(words[2])! == Int(reference)!)
            case "capital": #expect(SyntheticData.capitals.contains { prompt == "What is the capital of \($0.country)?" && reference == $0.capital })
            default: #expect(prompt.hasPrefix("Spell the number "))
            }
        }
        #expect([0, 7, 13, 20, 47, 90, 99].map(SyntheticData.spelled) == ["zero", "seven", "thirteen", "twenty", "forty-seven", "ninety", "ninety-nine"])
        #expect(SyntheticData.tasks(count: 100, seed: 3).map { $0["prompt"] as! String } == lines.map { $0["prompt"] as! String })
        #expect(SyntheticData.tasks(count: 100, seed: 4).map { $0["prompt"] as! String } != lines.map { $0["prompt"] as! String })
    }

    /// The exact-match judge of checkable answers, alone and on the answer part of CONQORD-format text.
    @Test func exactMatchJudgesAnswers() throws {
        let judge = try RewardRegistry.make("exact-match", options: RewardOptions(), references: [])
        let inputs = ["42", " 42.\n", "42!", "The answer is 42", "-51", "PARIS"].map { RewardInput(prompt: "", completion: $0, references: ["42", "-51", "Paris"]) }
        #expect(try judge.score(inputs).scores == [1, 1, 0, 0, 1, 1])
        let formatted = RewardInput(prompt: "", completion: "### Answer: 42\n### Confidence: 0.7", references: ["42"])
        #expect(try ConfidenceAnswerReward(base: judge).score([formatted]).scores == [1])
        #expect(try judge.score([formatted]).scores == [0])
    }

    /// Every safety line reads back through the data reader with its unsafe responses.
    @Test func safetyLinesReadBack() throws {
        let lines = SyntheticData.safety(count: nil)
        #expect(lines.count == 64 && Set(lines.map { $0["prompt"] as! String }).count == 64)
        let path = temporaryDirectory() + "/safety.jsonl"
        try writeJSONLines(lines, to: path)
        let examples = try AlignmentData.read(path)
        #expect(examples.count == 64 && examples.allSatisfy { $0.unsafe.count == 2 && $0.references.count == 1 })
    }

    /// `--model RUN_DIR` starts from that run's newest checkpoint (CONQORD's SFT, then RefAlign).
    @Test func aRunStartsFromAnotherRunsCheckpoint() throws {
        let data = try AlignmentRunTests.dataFile()
        var sft = try AlignmentRunTests.config("sft", data: data)
        sft.checkpointEvery = 3
        let first = temporaryDirectory()
        try AlignmentJob.trainer(sft, directory: first, threads: 1).run(.new) { _ in .proceed }

        var next = try AlignmentRunTests.config("refalign", data: data)
        next.model = first
        next.modelFile = try AlignmentJob.baseModel(first) { _ in smolLM2Path }
        let (policy, _) = try AlignmentJob.policy(next)
        let (trained, _, description) = try AlignmentJob.trainedPolicy(first) { _ in smolLM2Path }
        let (initial, _) = try AlignmentJob.policy(sft)
        #expect(description.contains("sft, step 3"))
        #expect(policy.parameters.values.array == trained.parameters.values.array)
        #expect(policy.parameters.values.array != initial.parameters.values.array)
        _ = try AlignmentRunTests.run(next)
    }
}
