import Foundation
import Testing
import TestSupport
@testable import Experiments
@testable import RunRecords
@testable import ModelFiles
@testable import Tensor
@testable import Training

@Suite("Training loop, checkpoints, resume")
struct TrainingTests {
    @Test func safetensorsRoundTripAndDecodeHalfFormats() throws {
        let path = temporaryDirectory() + "/t.safetensors"
        let a: [Float] = [1, -2.5, 3e-8, .infinity], b: [Float] = [0.5, 6]
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try Safetensors.write([("a", [2, 2], pa), ("b", [2], pb)], metadata: ["format": "pt"], to: path)
            }
        }
        let file = try Safetensors(contentsOf: path)
        #expect(file.entries.map(\.name) == ["a", "b"])
        #expect(try file.floats("a") == a)
        #expect(try file.floats("b") == b)
        #expect(file.metadata == ["format": "pt"])

        // Hand-built F16 and BF16: 1.0, -2.0, 0.5 (F16 0x3C00 0xC000 0x3800; BF16 0x3F80 0xC000 0x3F00).
        let halves = temporaryDirectory() + "/h.safetensors"
        try bytes(#"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"g":{"dtype":"BF16","shape":[3],"data_offsets":[6,12]}}"#,
                 [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x38, 0x80, 0x3F, 0x00, 0xC0, 0x00, 0x3F]).write(to: URL(fileURLWithPath: halves))
        let h = try Safetensors(contentsOf: halves)
        #expect(try h.floats("h") == [1, -2, 0.5])
        #expect(try h.floats("g") == [1, -2, 0.5])
    }

    /// A safetensors file from a header string and raw payload bytes.
    func bytes(_ header: String, _ payload: [UInt8] = []) -> Data {
        var d = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        return d + Data(header.utf8) + Data(payload)
    }

    @Test func malformedSafetensorsNameTheProblem() throws {
        let dir = temporaryDirectory()
        let cases: [(String, Data, String)] = [
            ("short", Data([1, 2, 3]), "truncated"),
            ("length", Data([255, 0, 0, 0, 0, 0, 0, 0]) + Data("{}".utf8), "does not fit"),
            ("json", bytes("[]"), "not a JSON object"),
            ("dtype", bytes(#"{"x":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "unsupported dtype Q9"),
            ("offsets", bytes(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [0, 0, 0, 0]), "hold 4 bytes, but [2] F32 needs 8"),
            ("data", bytes(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [0, 0, 0, 0]), "truncated: tensor x"),
        ]
        for (name, bytes, message) in cases {
            let path = "\(dir)/\(name).safetensors"
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect { try Safetensors(contentsOf: path) } throws: { "\($0)".contains(message) && "\($0)".contains(path) }
        }
    }

    @Test func dataOrderIsAPermutationPerEpochAndResumesFromItsCursor() {
        var order = DataOrder(count: 10, seed: 4)
        let first = order.next(10), second = order.next(10)
        #expect(first.sorted() == Array(0..<10) && second.sorted() == Array(0..<10) && first != second)
        var a = DataOrder(count: 10, seed: 4)
        _ = a.next(13)
        var b = DataOrder(count: 10, seed: 4, epoch: a.epoch, position: a.position)
        #expect(a.next(15) == b.next(15))
    }

    @Test func malformedJSONLinesNameTheLine() throws {
        let path = temporaryDirectory() + "/d.jsonl"
        try Data("{\"a\": 1}\n\n{\"a\": \n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try readJSONLines(path) } throws: { "\($0)" == "\(path):3: JSON syntax error at column 7: unexpected end of text, expected a value" }
    }

    /// A task whose gradients become NaN at step 3: the loop must stop with a clear error before the
    /// update, keeping the rows and checkpoint written so far.
    final class DivergingTask: TrainingTask {
        let parameters = ParameterStore([("w", [4], true)])
        let exampleCount = 8
        func computeGradients(step: Int, examples: [Int], rng: inout Xoshiro256, progress: (PhaseProgress) -> Void) throws -> TaskStep {
            for i in 0..<4 { parameters.gradients[i] = step == 3 ? .nan : 1 }
            return TaskStep(metrics: [Metric("loss", Double(step))], tokens: 1)
        }
        func evaluate(step: Int) throws -> [Metric] { [] }
        func samples(step: Int, rng: inout Xoshiro256) throws -> [SampleRow] { [] }
    }

    @Test func nanGradientsStopTheRunWithAClearError() throws {
        let dir = temporaryDirectory()
        let config = TrainerConfig(steps: 5, batchSize: 2, learningRate: 0.1, checkpointEvery: 2, evaluateEvery: 0,
                                   sampleEvery: 0, seed: 1)
        let metadata = RunMetadata(method: "t", model: "m", seed: 1, threads: 1, configJSON: "{}", gitSHA: "", swiftVersion: "",
                                   openBLASConfig: "", openBLASCore: "", openBLASCoreReason: "", startTime: "")
        let trainer = Trainer(task: DivergingTask(), config: config, directory: dir, configJSON: "{}", metadata: metadata)
        #expect { try trainer.run(.new) { _ in .proceed } } throws: { "\($0)".contains("step 3: gradient norm is nan") }
        #expect(try RunSummary(path: dir + "/run.h5").train["step"] == [1, 2])
        #expect(Checkpoint.list(in: dir + "/checkpoints").map(\.step) == [2])
    }

    /// Runs `char-lm` to completion in one folder, and in another kills it with SIGKILL mid-way and
    /// resumes it: each step must be recorded exactly once and the final weights must be bitwise equal.
    @Test(.timeLimit(.minutes(3))) func killedRunResumesBitwiseEqual() throws {
        let binary = try refalignExecutable()
        let data = projectRoot + "/../shared/bleuberi_data/mt_bench/reference_answer/gpt-4.1-mini.jsonl"
        try #require(FileManager.default.fileExists(atPath: data), "missing \(data): the shared data folder must sit beside the project")
        let steps = 24
        func arguments(_ dir: String) -> [String] {
            [binary, "char-lm", "--out", dir, "--steps", "\(steps)", "--checkpoint-every", "6", "--evaluate-every", "6",
             "--log-every", "1", "--threads", "1", "--seed", "5", "--hidden", "256", "--batch-size", "256", "--data", data]
        }
        let whole = temporaryDirectory() + "/whole", killed = temporaryDirectory() + "/killed"
        let (status, output) = try runCommand(arguments(whole))
        try #require(status == 0, "uninterrupted run failed: \(output)")

        // Start, wait for step 9 (after the checkpoint at 6), then SIGKILL.
        let (seen, wasKilled) = try runUntilKilled(arguments(killed), after: "step 9/")
        try #require(wasKilled, "the run ended before it could be killed: \(seen)")
        #expect(!seen.contains("finished"))

        let (resumedStatus, resumedOutput) = try runCommand(arguments(killed) + ["--resume"])
        try #require(resumedStatus == 0, "resumed run failed: \(resumedOutput)")
        #expect(resumedOutput.contains("resuming at step"))

        let a = try RunSummary(path: whole + "/run.h5"), b = try RunSummary(path: killed + "/run.h5")
        #expect(b.train["step"] == (1...steps).map(Double.init))
        for metric in ["loss", "grad_norm", "lr"] { #expect(a.train[metric] == b.train[metric], "\(metric) differs") }
        #expect(a.eval["loss"] == b.eval["loss"])
        let last = "/checkpoints/step-000000\(steps)/"
        for file in ["weights.safetensors", "optimizer.safetensors"] {
            let x = FileManager.default.contents(atPath: whole + last + file), y = FileManager.default.contents(atPath: killed + last + file)
            #expect(x != nil && x == y, "\(file) differs between the uninterrupted and the resumed run")
        }
    }

    /// A second job in a folder that holds a run must not touch it unless told: it fails naming both
    /// flags and leaves run.h5 byte-identical; --overwrite replaces the run; both flags at once are a
    /// usage error.
    @Test(.timeLimit(.minutes(2))) func existingRunIsNeverReplacedWithoutOverwrite() throws {
        let binary = try refalignExecutable()
        let data = projectRoot + "/../shared/bleuberi_data/mt_bench/reference_answer/gpt-4.1-mini.jsonl"
        try #require(FileManager.default.fileExists(atPath: data), "missing \(data): the shared data folder must sit beside the project")
        let dir = temporaryDirectory()
        func charLM(_ extra: [String], steps: Int = 4) throws -> (status: Int32, output: String) {
            try runCommand([binary, "char-lm", "--out", dir, "--steps", "\(steps)", "--checkpoint-every", "2", "--evaluate-every", "2",
                            "--threads", "1", "--hidden", "32", "--batch-size", "16", "--data", data] + extra)
        }
        let (status, output) = try charLM([])
        try #require(status == 0, "first run failed: \(output)")
        let before = try #require(FileManager.default.contents(atPath: dir + "/run.h5"))

        let (again, message) = try charLM([])
        #expect(again != 0)
        #expect(message.contains("already holds a run") && message.contains("--resume") && message.contains("--overwrite"), "\(message)")
        #expect(FileManager.default.contents(atPath: dir + "/run.h5") == before)
        #expect(Checkpoint.list(in: dir + "/checkpoints").map(\.step) == [2, 4])

        let (both, usage) = try charLM(["--resume", "--overwrite"])
        #expect(both == 64, "want exit status 64 (usage error): \(usage)")  // EX_USAGE, as swift-argument-parser exits on ValidationError
        #expect(usage.contains("--resume, --overwrite and --reuse exclude each other"))
        #expect(FileManager.default.contents(atPath: dir + "/run.h5") == before)

        let (overwritten, log) = try charLM(["--overwrite"], steps: 2)
        try #require(overwritten == 0, "--overwrite failed: \(log)")
        #expect(try RunSummary(path: dir + "/run.h5").train["step"] == [1, 2])
        #expect(Checkpoint.list(in: dir + "/checkpoints").map(\.step) == [2])
    }

    /// --reuse, what Scripts/reproduce runs with: a finished run of the same configuration is left byte-identical,
    /// a killed one continues from its checkpoint, and a run of another configuration is replaced.
    @Test(.timeLimit(.minutes(2))) func reuseSkipsResumesOrReplacesByConfiguration() throws {
        let binary = try refalignExecutable()
        let data = projectRoot + "/../shared/bleuberi_data/mt_bench/reference_answer/gpt-4.1-mini.jsonl"
        try #require(FileManager.default.fileExists(atPath: data), "missing \(data): the shared data folder must sit beside the project")
        let dir = temporaryDirectory()
        func charLM(steps: Int) -> [String] {
            [binary, "char-lm", "--out", dir, "--steps", "\(steps)", "--checkpoint-every", "3", "--evaluate-every", "3", "--log-every", "1",
             "--threads", "1", "--hidden", "64", "--batch-size", "64", "--data", data, "--reuse"]
        }
        let (seen, killed) = try runUntilKilled(charLM(steps: 12), after: "step 4/")
        try #require(killed, "the run ended before it could be killed: \(seen)")
        let (status, output) = try runCommand(charLM(steps: 12))
        try #require(status == 0, "--reuse of a killed run failed: \(output)")
        #expect(output.contains("resuming at step 4 of 12"), "\(output)")
        #expect(try RunSummary(path: dir + "/run.h5").train["step"] == (1...12).map(Double.init))

        let finished = try #require(FileManager.default.contents(atPath: dir + "/run.h5"))
        let (again, log) = try runCommand(charLM(steps: 12))
        #expect(again == 0 && !log.contains("step 1/"), "\(log)")
        #expect(FileManager.default.contents(atPath: dir + "/run.h5") == finished)

        let (other, replaced) = try runCommand(charLM(steps: 6))
        try #require(other == 0, "\(replaced)")
        #expect(try RunSummary(path: dir + "/run.h5").train["step"] == (1...6).map(Double.init))
    }
}
