// Checkpoints: <run>/checkpoints/step-NNNNNNNN/ holding the weights and AdamW moments
// (safetensors), the loop state (JSON: step, RNG, data order) and a copy of the run file as it was at
// that step. A checkpoint is written into a temporary folder and renamed into place, so a folder with
// the final name is always complete.
import Foundation
import RunRecords
import ModelFiles
import Tensor

public struct LoopState: Codable, Sendable, Equatable {
    public var step: Int
    public var optimizerStep: Int
    public var sampling: Xoshiro256
    public var display: Xoshiro256
    public var dataEpoch: Int
    public var dataPosition: Int
    public var elapsedSeconds: Double
    public var configJSON: String
}

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Checkpoint {
    static let weightsFile = "weights.safetensors", optimizerFile = "optimizer.safetensors"
    static let stateFile = "state.json", runFile = "run.h5"

    static func folderName(step: Int) -> String { "step-" + String(format: "%08d", step) }

    /// Complete checkpoints under `directory`, oldest first.
    public static func list(in directory: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)) else { return nil }
            return (step, directory + "/" + name)
        }.sorted { $0.0 < $1.0 }
    }

    public static func save(
        directory: String, state: LoopState, parameters: ParameterStore, optimizer: AdamW, runFile: String, keep: Int = 2
    ) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = directory + "/" + folderName(step: state.step)
        let temporary = directory + "/." + folderName(step: state.step) + ".tmp"
        try? fm.removeItem(atPath: temporary)
        try fm.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        try Safetensors.write(
            parameters.entries.map { ($0.name, $0.shape, UnsafeBufferPointer(start: parameters.value($0), count: $0.count)) },
            to: temporary + "/" + weightsFile)
        try Safetensors.write(
            [("adamw.m", [optimizer.count], UnsafeBufferPointer(optimizer.m.buffer)),
             ("adamw.v", [optimizer.count], UnsafeBufferPointer(optimizer.v.buffer))],
            to: temporary + "/" + optimizerFile)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(state), to: temporary + "/" + stateFile)
        try fm.copyItem(atPath: runFile, toPath: temporary + "/" + runFile.split(separator: "/").last!)
        try? fm.removeItem(atPath: final)
        guard rename(temporary, final) == 0 else { throw TrainingError("cannot rename \(temporary) to \(final)") }
        for old in list(in: directory).dropLast(keep) { try? fm.removeItem(atPath: old.path) }
        return final
    }

    /// Restores weights and optimizer moments in place and returns the loop state.
    public static func load(_ path: String, parameters: ParameterStore, optimizer: AdamW) throws -> LoopState {
        try loadWeights(path, parameters: parameters)
        let moments = try Safetensors(contentsOf: path + "/" + optimizerFile)
        for (name, tensor) in [("adamw.m", optimizer.m), ("adamw.v", optimizer.v)] {
            let values = try moments.floats(name)
            guard values.count == tensor.count else { throw TrainingError("\(path): \(name) has \(values.count) values, want \(tensor.count)") }
            tensor.pointer.update(from: values, count: values.count)
        }
        let state = try state(path)
        optimizer.restore(step: state.optimizerStep)
        return state
    }

    /// The loop state a checkpoint was saved with, without its tensors.
    public static func state(_ path: String) throws -> LoopState {
        guard let data = FileManager.default.contents(atPath: path + "/" + stateFile) else {
            throw TrainingError("\(path): missing \(stateFile)")
        }
        return try JSONDecoder().decode(LoopState.self, from: data)
    }

    /// Restores the weights only (evaluating or exporting a trained policy).
    public static func loadWeights(_ path: String, parameters: ParameterStore) throws {
        let weights = try Safetensors(contentsOf: path + "/" + weightsFile)
        for entry in parameters.entries {
            guard let stored = weights.entry(entry.name), stored.shape == entry.shape else {
                throw TrainingError("\(path): checkpoint has no parameter \(entry.name) of shape \(entry.shape)")
            }
            let values = try weights.floats(entry.name)
            parameters.value(entry).update(from: values, count: entry.count)
        }
    }

    /// The newest complete checkpoint of a run folder.
    public static func latest(run directory: String) throws -> (step: Int, path: String) {
        guard let latest = list(in: directory + "/checkpoints").last else { throw TrainingError("\(directory): no checkpoint in checkpoints/") }
        return latest
    }
}
