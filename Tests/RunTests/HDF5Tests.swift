import Foundation
import Testing
import TestSupport
@testable import RunRecords

@Suite("HDF5 wrapper and run records")
struct HDF5Tests {
    @Test func roundTripsDatasetsStringsAndAttributes() throws {
        let path = temporaryDirectory() + "/a.h5"
        do {
            let f = try HDF5File.create(path)
            try f.setAttribute("name", "déjà vu 🙂")
            try f.setAttribute("seed", Int64(-3))
            try f.setAttribute("rate", 0.25)
            try f.createAppendable("g/ints", scalar: .int64)
            try f.createAppendable("g/h/table", scalar: .float64, columns: 3)
            try f.createAppendableStrings("g/text")
            try f.append("g/ints", [Int64(1), 2])
            try f.append("g/ints", [Int64(3)])
            try f.append("g/h/table", [Double]([1, 2, 3, 4, 5, 6]))
            try f.append("g/text", strings: ["", "naïve\nline", "東京"])
            #expect(throws: HDF5Error.self) { try f.append("g/h/table", [Double]([1, 2])) }
            try f.flush()
        }
        let f = try HDF5File.open(path)
        #expect(try f.attribute("name") == "déjà vu 🙂")
        #expect(try f.attribute("seed") == "-3")
        #expect(try f.attribute("rate") == "0.25")
        #expect(try f.attribute("missing") == nil)
        #expect(try f.readInt64s("g/ints") == [1, 2, 3])
        #expect(try f.extent("g/h/table") == (2, 2, 3))
        #expect(try f.readDoubles("g/h/table") == [1, 2, 3, 4, 5, 6])
        #expect(try f.readStrings("g/text") == ["", "naïve\nline", "東京"])
        #expect(try f.members(of: "g") == ["h", "ints", "text"])
    }

    @Test func corruptOrMissingFilesAreClearErrors() throws {
        let dir = temporaryDirectory()
        try Data("not an hdf5 file".utf8).write(to: URL(fileURLWithPath: dir + "/bad.h5"))
        // The library's own reason comes with the message.
        #expect { try HDF5File.open(dir + "/bad.h5") } throws: {
            "\($0)".contains("bad.h5") && "\($0)".contains("not a readable HDF5") && "\($0)".contains("signature not found")
        }
        #expect { try HDF5File.open(dir + "/none.h5") } throws: { "\($0)".contains("no such file") }
        let f = try HDF5File.create(dir + "/ok.h5")
        #expect { try f.readDoubles("nope") } throws: { "\($0)".contains("has no dataset nope") }
    }

    /// A process spawned while a run file was open holds a copy of the writer's descriptor, and with it
    /// the writer's exclusive lock, until it closes its copies: reading the finished run must not fail then.
    @Test func readersDoNotWaitForAWritersLock() throws {
        let path = temporaryDirectory() + "/run.h5"
        do {
            let writer = try RunRecord.create(path, metadata: metadata())
            try writer.appendStep(1, [Metric("loss", 3)])
            try writer.file.flush()
            #expect(try RunSummary(path: path).train["loss"] == [3], "a run in progress reads up to its last flush")
        }
        let other = open(path, O_RDWR)
        defer { close(other) }
        try #require(other >= 0 && flock(other, LOCK_EX | LOCK_NB) == 0)
        #expect(try RunSummary(path: path).attributes["seed"] == "9")
    }

    func metadata() -> RunMetadata {
        RunMetadata(method: "test", model: "none", seed: 9, threads: 1, configJSON: #"{"a":1}"#, gitSHA: "abc",
                    swiftVersion: "6", openBLASConfig: "OpenBLAS", openBLASCore: "core", openBLASCoreReason: "detected by OpenBLAS", startTime: "now")
    }

    @Test func stepsAlignWhenMetricsComeAndGoAndResumeDropsLaterRows() throws {
        let path = temporaryDirectory() + "/run.h5"
        do {
            let run = try RunRecord.create(path, metadata: metadata())
            try run.appendStep(1, [Metric("loss", 3)])
            try run.appendStep(2, [Metric("loss", 2), Metric("reward_mean", 0.5)])
            try run.appendStep(3, [Metric("reward_mean", 0.7)])
            try run.appendStep(4, [Metric("loss", 1), Metric("reward_mean", 0.9)])
            try run.appendEvaluation(2, [Metric("bleu", 0.1)])
            try run.appendEvaluation(4, [Metric("bleu", 0.2)])
            try run.appendSamples(2, [SampleRow(prompt: "p", completion: "c", reward: 1)])
            try run.appendSamples(4, [SampleRow(prompt: "p2", completion: "c2", reward: 2)])
            #expect(throws: HDF5Error.self) { try run.appendStep(5, [Metric("a/b", 1)]) }
        }
        let before = try RunSummary(path: path)
        #expect(before.train["step"] == [1, 2, 3, 4])
        #expect(before.train["loss"]!.map { $0.isNaN ? -1 : $0 } == [3, 2, -1, 1])
        #expect(before.train["reward_mean"]!.map { $0.isNaN ? -1 : $0 } == [-1, 0.5, 0.7, 0.9])
        #expect(before.attributes["seed"] == "9" && before.attributes["config"] == #"{"a":1}"#)

        _ = try RunRecord.resume(path, afterCheckpoint: 2)
        let after = try RunSummary(path: path)
        #expect(after.train["step"] == [1, 2])
        #expect(after.train["reward_mean"]!.count == 2)
        #expect(after.eval["bleu"] == [0.1])
        let file = try HDF5File.open(path)
        #expect(try file.readStrings("samples/prompt") == ["p"])
    }

    @Test func h5dumpShowsTheDocumentedSchema() throws {
        let path = temporaryDirectory() + "/run.h5"
        do {
            let run = try RunRecord.create(path, metadata: metadata())
            try run.appendStep(1, [Metric("loss", 1), Metric("grad_norm", 2)])
            try run.appendSamples(1, [SampleRow(prompt: "x", completion: "y", reward: 0)])
        }
        let (status, header) = try runCommand(["h5dump", "-H", path])
        try #require(status == 0, "h5dump failed (Scripts/bootstrap installs hdf5-tools): \(header)")
        for needle in ["GROUP \"train\"", "DATASET \"loss\"", "DATASET \"grad_norm\"", "GROUP \"eval\"", "GROUP \"samples\"",
                       "DATASET \"completion\"", "H5T_STRING", "ATTRIBUTE \"git_sha\"", "ATTRIBUTE \"openblas_config\"",
                       "ATTRIBUTE \"seed\"", "ATTRIBUTE \"config\"", "H5S_UNLIMITED"] {
            #expect(header.contains(needle), "h5dump -H lacks \(needle)")
        }
        let (_, values) = try runCommand(["h5dump", "-d", "/train/loss", path])
        #expect(values.contains("(0): 1"))
    }

    @Test func progressLineShowsRateAndETA() {
        let meter = ProgressMeter(firstStep: 11, totalSteps: 30, start: 100)
        let line = meter.line(step: 20, metrics: [Metric("loss", 2.5), Metric("tokens_per_second", 1234.4)], now: 120)
        // 10 steps in 20 s, 10 to go: ETA 20 s
        #expect(line == "step 20/30 | loss 2.5000 | 1234 tok/s | elapsed 0:20 | ETA 0:20")
        #expect(ProgressMeter.clock(3725) == "1:02:05")
    }
}
