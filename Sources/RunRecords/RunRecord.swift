// The run file: one HDF5 file per run, its layout documented in Results/README.md.
//
//   attributes  method, model, seed, threads, config (JSON), git_sha, swift_version, openblas_config,
//               openblas_core, openblas_core_reason, start_time, refalign_version
//   /train/step (int64) and /train/<metric> (float64), one row per optimizer step
//   /eval/step and /eval/<metric>, one row per evaluation
//   /samples/step, /samples/prompt, /samples/completion (UTF-8 strings), /samples/reward
//   /rollouts/step, example, sample (int64), reward, advantage (float64), length (int64), truncated
//               (int64 0/1), completion (string) and one float64 dataset per reward component, one row
//               per sampled completion of every alignment step
//
// Every append is flushed, so a killed run keeps each row it wrote. A metric that first appears at a
// later step is back-filled with NaN, and one missing from a step gets NaN, so every dataset of a
// group has one row per step.
import Foundation
import Tensor

public struct RunMetadata: Sendable, Equatable {
    public var method: String
    public var model: String
    public var seed: UInt64
    public var threads: Int
    public var configJSON: String
    public var gitSHA: String
    public var swiftVersion: String
    public var openBLASConfig: String
    public var openBLASCore: String
    /// Why OpenBLAS runs that kernel (detected, set by the user, or selected by refalign).
    public var openBLASCoreReason: String
    public var startTime: String

    /// Metadata of a run starting now in this process (git SHA of the working directory, toolchain).
    public static func current(method: String, model: String, seed: UInt64, configJSON: String) -> RunMetadata {
        RunMetadata(
            method: method, model: model, seed: seed, threads: BLAS.threads, configJSON: configJSON,
            gitSHA: firstLine(of: ["git", "rev-parse", "HEAD"]) ?? "unknown",
            swiftVersion: firstLine(of: ["swift", "--version"]) ?? "unknown",
            openBLASConfig: BLAS.configuration, openBLASCore: BLAS.coreName,
            openBLASCoreReason: BLAS.coreSelection, startTime: ISO8601DateFormatter().string(from: Date()))
    }
}

/// First line a command prints, or nil when it cannot run.
func firstLine(of command: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = command
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: output, as: UTF8.self).split(separator: "\n").first.map(String.init)
}

public final class RunRecord {
    public let file: HDF5File

    /// The root attributes every run file carries, in writing order (seed and threads are int64).
    public static let attributeNames = ["method", "model", "seed", "threads", "config", "git_sha", "swift_version",
                                        "openblas_config", "openblas_core", "openblas_core_reason", "start_time",
                                        "refalign_version"]

    init(file: HDF5File) { self.file = file }

    public static func create(_ path: String, metadata m: RunMetadata) throws -> RunRecord {
        let file = try HDF5File.create(path)
        for (name, value) in [("method", m.method), ("model", m.model), ("config", m.configJSON), ("git_sha", m.gitSHA),
                              ("swift_version", m.swiftVersion), ("openblas_config", m.openBLASConfig),
                              ("openblas_core", m.openBLASCore), ("openblas_core_reason", m.openBLASCoreReason),
                              ("start_time", m.startTime),
                              ("refalign_version", refalignVersion)] {
            try file.setAttribute(name, value)
        }
        try file.setAttribute("seed", Int64(bitPattern: m.seed))
        try file.setAttribute("threads", Int64(m.threads))
        try file.createAppendable("train/step", scalar: .int64)
        try file.createAppendable("eval/step", scalar: .int64)
        try file.createAppendable("samples/step", scalar: .int64)
        try file.createAppendableStrings("samples/prompt")
        try file.createAppendableStrings("samples/completion")
        try file.createAppendable("samples/reward", scalar: .float64)
        for name in ["step", "example", "sample", "length", "truncated"] { try file.createAppendable("rollouts/\(name)", scalar: .int64) }
        try file.createAppendable("rollouts/reward", scalar: .float64)
        try file.createAppendable("rollouts/advantage", scalar: .float64)
        try file.createAppendableStrings("rollouts/completion")
        try file.flush()
        return RunRecord(file: file)
    }

    /// Opens a run for resuming after the checkpoint at `step`: rows of later steps are dropped.
    public static func resume(_ path: String, afterCheckpoint step: Int) throws -> RunRecord {
        let record = RunRecord(file: try HDF5File.open(path, writable: true))
        for group in ["train", "eval", "samples", "rollouts"] where record.file.exists("\(group)/step") {
            let keep = try record.file.readInt64s("\(group)/step").prefix { $0 <= step }.count
            for name in try record.file.members(of: group) {
                try record.file.truncate("\(group)/\(name)", rows: keep)
            }
        }
        try record.file.flush()
        return record
    }

    public func appendStep(_ step: Int, _ metrics: [Metric]) throws { try appendRow("train", step, metrics) }
    public func appendEvaluation(_ step: Int, _ metrics: [Metric]) throws { try appendRow("eval", step, metrics) }

    private func appendRow(_ group: String, _ step: Int, _ metrics: [Metric]) throws {
        let rows = try file.extent("\(group)/step").rows
        for metric in metrics where !file.exists("\(group)/\(metric.name)") {
            guard !metric.name.contains("/"), metric.name != "step" else {
                throw HDF5Error("metric name \(metric.name) may not contain '/' or be 'step'")
            }
            try file.createAppendable("\(group)/\(metric.name)", scalar: .float64)
            try file.append("\(group)/\(metric.name)", [Double](repeating: .nan, count: rows))
        }
        for name in try file.members(of: group) where name != "step" {
            try file.append("\(group)/\(name)", [metrics.last { $0.name == name }?.value ?? .nan])
        }
        try file.append("\(group)/step", [Int64(step)])
        try file.flush()
    }

    public func appendSamples(_ step: Int, _ rows: [SampleRow]) throws {
        try file.append("samples/step", [Int64](repeating: Int64(step), count: rows.count))
        try file.append("samples/prompt", strings: rows.map(\.prompt))
        try file.append("samples/completion", strings: rows.map(\.completion))
        try file.append("samples/reward", rows.map(\.reward))
        try file.flush()
    }

    /// Appends a step's rollouts; a reward component first seen later is back-filled with NaN.
    public func appendRollouts(_ step: Int, _ rows: [RolloutRow]) throws {
        let existing = try file.extent("rollouts/step").rows
        let fixed: Set<String> = ["step", "example", "sample", "length", "truncated", "reward", "advantage", "completion"]
        for name in Set(rows.flatMap { $0.components.map(\.name) }).sorted() where !file.exists("rollouts/\(name)") {
            guard !name.contains("/"), !fixed.contains(name) else { throw HDF5Error("reward component \(name) may not contain '/' or shadow a rollouts column") }
            try file.createAppendable("rollouts/\(name)", scalar: .float64)
            try file.append("rollouts/\(name)", [Double](repeating: .nan, count: existing))
        }
        try file.append("rollouts/step", [Int64](repeating: Int64(step), count: rows.count))
        try file.append("rollouts/example", rows.map { Int64($0.example) })
        try file.append("rollouts/sample", rows.map { Int64($0.sample) })
        try file.append("rollouts/length", rows.map { Int64($0.length) })
        try file.append("rollouts/truncated", rows.map { Int64($0.truncated ? 1 : 0) })
        try file.append("rollouts/reward", rows.map(\.reward))
        try file.append("rollouts/advantage", rows.map(\.advantage))
        try file.append("rollouts/completion", strings: rows.map(\.completion))
        for name in try file.members(of: "rollouts") where !fixed.contains(name) {
            try file.append("rollouts/\(name)", rows.map { row in row.components.last { $0.name == name }?.value ?? .nan })
        }
        try file.flush()
    }

    /// /eval_samples of `refalign evaluate`: one row per completion, with one float64 column per metric.
    public func writeEvaluationSamples(example: [Int], sample: [Int], length: [Int], truncated: [Bool], completion: [String],
                                       scores: [(name: String, values: [Double])]) throws {
        for name in ["example", "sample", "length", "truncated"] { try file.createAppendable("eval_samples/\(name)", scalar: .int64) }
        try file.createAppendableStrings("eval_samples/completion")
        try file.append("eval_samples/example", example.map(Int64.init))
        try file.append("eval_samples/sample", sample.map(Int64.init))
        try file.append("eval_samples/length", length.map(Int64.init))
        try file.append("eval_samples/truncated", truncated.map { Int64($0 ? 1 : 0) })
        try file.append("eval_samples/completion", strings: completion)
        for (name, values) in scores {
            try file.createAppendable("eval_samples/\(name)", scalar: .float64)
            try file.append("eval_samples/\(name)", values)
        }
        try file.flush()
    }

    /// Writes one event; the sink for `TrainingEvent`s.
    public func record(_ event: TrainingEvent) throws {
        switch event {
        case .step(let step, let metrics): try appendStep(step, metrics)
        case .evaluation(let step, let metrics): try appendEvaluation(step, metrics)
        case .samples(let step, let rows): try appendSamples(step, rows)
        case .rollouts(let step, let rows): try appendRollouts(step, rows)
        case .started, .checkpoint, .finished, .phase: break
        }
    }
}

public let refalignVersion = "0.1.0"

/// A run file read back: attributes and the per-step series.
public struct RunSummary: Sendable {
    public let path: String
    public let attributes: [String: String]
    /// Series of /train and /eval by metric name, the "step" series included.
    public let train: [String: [Double]]
    public let eval: [String: [Double]]

    public init(path: String) throws {
        let file = try HDF5File.open(path)
        var attributes: [String: String] = [:]
        for name in RunRecord.attributeNames {
            attributes[name] = try file.attribute(name)
        }
        func series(_ group: String) throws -> [String: [Double]] {
            var out: [String: [Double]] = [:]
            for name in try file.members(of: group) {
                out[name] = name == "step" ? try file.readInt64s("\(group)/step").map(Double.init) : try file.readDoubles("\(group)/\(name)")
            }
            return out
        }
        self.path = path
        self.attributes = attributes
        train = try series("train")
        eval = try series("eval")
    }

    public var method: String { attributes["method"] ?? "?" }
    public var seed: String { attributes["seed"] ?? "?" }
    public var steps: Int { train["step"]?.count ?? 0 }
    /// FNV-1a of the resolved configuration the run file stores: runs with equal hashes ran the same job.
    public var configHash: String {
        String(format: "%016llx", Array((attributes["config"] ?? "").utf8).withUnsafeBytes { fnv1a($0) })
    }
}
