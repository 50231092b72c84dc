import Foundation
import Testing
@testable import Experiments
import RunRecords
import TestSupport

@Suite("refalign train: SIGKILL and resume")
struct TrainResumeTests {
    /// An uninterrupted GRPO run against one killed with SIGKILL inside a step (after step 5 printed,
    /// while step 6 samples) and resumed: every step once, /train (timings aside) and /rollouts
    /// identical, final weights and AdamW moments bitwise equal.
    @Test(.timeLimit(.minutes(3))) func killedTrainingResumesBitwiseEqual() throws {
        let binary = try refalignExecutable()
        let data = try AlignmentRunTests.dataFile()
        let steps = 8
        func arguments(_ dir: String) -> [String] {
            [binary, "train", "--method", "grpo", "--model", "tiny", "--data", data, "--reward", "bleu", "--steps", "\(steps)",
             "--prompts-per-step", "2", "--samples", "3", "--max-new-tokens", "8", "--learning-rate", "1e-3", "--micro-batch", "2",
             "--checkpoint-every", "3", "--sample-every", "2", "--seed", "9", "--threads", "1", "--out", dir]
        }
        let whole = temporaryDirectory() + "/whole", killed = temporaryDirectory() + "/killed"
        let (status, output) = try runCommand(arguments(whole))
        try #require(status == 0, "uninterrupted run failed: \(output)")

        let (seen, wasKilled) = try runUntilKilled(arguments(killed), after: "step 5/")
        try #require(wasKilled, "the run ended before it could be killed: \(seen)")

        let (resumedStatus, resumedOutput) = try runCommand(arguments(killed) + ["--resume"])
        try #require(resumedStatus == 0, "resumed run failed: \(resumedOutput)")
        #expect(resumedOutput.contains("resuming at step 4"))

        let a = try HDF5File.open(whole + "/run.h5"), b = try HDF5File.open(killed + "/run.h5")
        #expect(try b.readInt64s("train/step") == (1...Int64(steps)).map { $0 })
        for name in try a.members(of: "train") where name != "step" && !AlignmentRunTests.timings.contains(name) {
            #expect(try a.readDoubles("train/\(name)").map(\.bitPattern) == b.readDoubles("train/\(name)").map(\.bitPattern), "/train/\(name)")
        }
        #expect(try a.readStrings("rollouts/completion") == b.readStrings("rollouts/completion"))
        #expect(try a.readDoubles("rollouts/reward") == b.readDoubles("rollouts/reward"))
        #expect(try a.readInt64s("rollouts/step") == b.readInt64s("rollouts/step"))
        #expect(try a.readStrings("samples/completion") == b.readStrings("samples/completion"))
        let last = "/checkpoints/step-0000000\(steps)/"
        for file in ["weights.safetensors", "optimizer.safetensors"] {
            let x = FileManager.default.contents(atPath: whole + last + file), y = FileManager.default.contents(atPath: killed + last + file)
            #expect(x != nil && x == y, "\(file) differs between the uninterrupted and the resumed run")
        }
    }
}
