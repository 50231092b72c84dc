// The training loop shared by every job: zero gradients, let the task compute them, clip, step AdamW
// on the schedule, emit events, and checkpoint every N steps. It knows nothing of the model; a task
// supplies the gradients and its metrics. Resuming restores weights, moments, the sampling RNG and
// the data order from the newest complete checkpoint and drops run-file rows written after it, so a
// killed run resumed ends bitwise equal to an uninterrupted one at the same thread count. A new job
// never starts in a folder that holds a run unless told to replace it.
import Foundation
import RunRecords
import Tensor

public protocol TrainingTask: AnyObject {
    var parameters: ParameterStore { get }
    /// Number of examples the data order ranges over.
    var exampleCount: Int { get }
    /// Forward and backward of one optimizer step on the given examples; gradients arrive zeroed.
    /// `rng` is the run's training stream (checkpointed); `progress` shows phases inside the step.
    func computeGradients(step: Int, examples: [Int], rng: inout Xoshiro256, progress: (PhaseProgress) -> Void) throws -> TaskStep
    /// Held-out metrics, run before the first step and every `evaluateEvery` steps.
    func evaluate(step: Int) throws -> [Metric]
    /// Sampled rows to log, run every `sampleEvery` steps, from their own "display" stream, so that
    /// how often they are logged never changes training.
    func samples(step: Int, rng: inout Xoshiro256) throws -> [SampleRow]
}

/// What one step of a task produced.
public struct TaskStep {
    /// The step's metrics (the loop adds grad_norm, lr, tokens_per_second, step_seconds, wall_time).
    public var metrics: [Metric]
    /// Tokens processed, for tokens_per_second.
    public var tokens: Int
    /// Sampled completions to record in /rollouts (alignment tasks).
    public var rollouts: [RolloutRow]
    public init(metrics: [Metric], tokens: Int, rollouts: [RolloutRow] = []) {
        self.metrics = metrics
        self.tokens = tokens
        self.rollouts = rollouts
    }
}

public struct TrainerConfig: Codable, Sendable, Equatable {
    public var steps: Int
    public var batchSize: Int
    public var learningRate: Double
    public var schedule: LearningRateSchedule
    public var adamW: AdamWConfig
    public var maxGradNorm: Double
    public var checkpointEvery: Int
    public var evaluateEvery: Int
    public var sampleEvery: Int
    public var seed: UInt64

    public init(
        steps: Int, batchSize: Int, learningRate: Double, schedule: LearningRateSchedule = .constant,
        adamW: AdamWConfig = AdamWConfig(), maxGradNorm: Double = 1, checkpointEvery: Int = 50,
        evaluateEvery: Int = 50, sampleEvery: Int = 50, seed: UInt64
    ) {
        self.steps = steps
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.schedule = schedule
        self.adamW = adamW
        self.maxGradNorm = maxGradNorm
        self.checkpointEvery = checkpointEvery
        self.evaluateEvery = evaluateEvery
        self.sampleEvery = sampleEvery
        self.seed = seed
    }
}

/// What a job does with its folder. The policy lives here so every training command shares it.
public enum StartMode: Sendable, Equatable {
    /// Start a run; fail if the folder already holds one (a run.h5 or checkpoints/).
    case new
    /// Continue from the newest checkpoint (a run with no checkpoint yet starts over).
    case resume
    /// Delete the folder's run and start a new one.
    case overwrite
    /// What a pipeline wants (Scripts/reproduce): skip a finished run of the same configuration, continue an
    /// unfinished one from its newest checkpoint, replace a run of another configuration.
    case reuse
}

public final class Trainer {
    public let task: TrainingTask
    public let config: TrainerConfig
    /// Holds run.h5 and checkpoints/.
    public let directory: String
    /// The resolved configuration of the whole job (task and loop), stored in the run file and
    /// compared on resume.
    public let configJSON: String
    let metadata: RunMetadata

    public var runFile: String { directory + "/run.h5" }
    public var checkpointDirectory: String { directory + "/checkpoints" }

    public init(task: TrainingTask, config: TrainerConfig, directory: String, configJSON: String, metadata: RunMetadata) {
        self.task = task
        self.config = config
        self.directory = directory
        self.configJSON = configJSON
        self.metadata = metadata
    }

    /// The steps a folder's newest checkpoint reached when it was written with `configJSON`; nil when the
    /// folder holds no checkpoint of that configuration.
    public static func reachedStep(directory: String, configJSON: String) -> Int? {
        guard let latest = Checkpoint.list(in: directory + "/checkpoints").last,
              let state = try? Checkpoint.state(latest.path), state.configJSON == configJSON else { return nil }
        return state.step
    }

    /// Runs to `config.steps` as `mode` says (see `StartMode`). `progress` sees every event and may
    /// stop the run.
    public func run(_ mode: StartMode, progress: (TrainingEvent) -> TrainingDecision) throws {
        let files = FileManager.default
        var mode = mode
        if mode == .reuse {
            let reached = Self.reachedStep(directory: directory, configJSON: configJSON)
            if let reached, reached >= config.steps { return }
            mode = reached == nil ? .overwrite : .resume
        }
        if mode == .new, let existing = [runFile, checkpointDirectory].first(where: files.fileExists(atPath:)) {
            throw TrainingError("\(directory) already holds a run (\(existing)); continue it with --resume or replace it with --overwrite")
        }
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let parameters = task.parameters
        let optimizer = AdamW(count: parameters.count, config: config.adamW)
        var sampling = Xoshiro256(seed: config.seed, stream: "sampling")
        var display = Xoshiro256(seed: config.seed, stream: "display")
        var order = DataOrder(count: task.exampleCount, seed: config.seed)
        var step = 0
        var elapsed = 0.0  // training seconds so far, carried across resumes
        let record: RunRecord

        if mode == .resume, let latest = Checkpoint.list(in: checkpointDirectory).last {
            let state = try Checkpoint.load(latest.path, parameters: parameters, optimizer: optimizer)
            guard state.configJSON == configJSON else {
                throw TrainingError("\(latest.path) was written with another configuration; resume with the same options:\n\(state.configJSON)")
            }
            step = state.step
            elapsed = state.elapsedSeconds
            sampling = state.sampling
            display = state.display
            order = DataOrder(count: task.exampleCount, seed: config.seed, epoch: state.dataEpoch, position: state.dataPosition)
            if let resumed = try? RunRecord.resume(runFile, afterCheckpoint: step) {
                record = resumed
            } else {  // the kill left the run file unreadable: restart it from the checkpoint's copy
                try? files.removeItem(atPath: runFile)
                try files.copyItem(atPath: latest.path + "/" + Checkpoint.runFile, toPath: runFile)
                record = try RunRecord.resume(runFile, afterCheckpoint: step)
            }
        } else {
            if files.fileExists(atPath: checkpointDirectory) { try files.removeItem(atPath: checkpointDirectory) }
            record = try RunRecord.create(runFile, metadata: metadata)
        }

        func emit(_ event: TrainingEvent) throws -> TrainingDecision {
            try record.record(event)
            return progress(event)
        }

        guard try emit(.started(firstStep: step + 1, totalSteps: config.steps)) == .proceed else { return }
        if step == 0 && config.evaluateEvery > 0 {  // the starting point of every held-out curve
            guard try emit(.evaluation(step: 0, metrics: task.evaluate(step: 0))) == .proceed else { return }
        }
        while step < config.steps {
            step += 1
            let start = DispatchTime.now().uptimeNanoseconds
            parameters.zeroGradients()
            let result = try task.computeGradients(step: step, examples: order.next(config.batchSize), rng: &sampling,
                                                   progress: { _ = progress(.phase($0)) })
            if !result.rollouts.isEmpty { try record.record(.rollouts(step: step, rows: result.rollouts)) }
            let (taskMetrics, tokens) = (result.metrics, result.tokens)
            let gradNorm = clipGradientNorm(parameters.gradients.pointer, count: parameters.count, maxNorm: config.maxGradNorm)
            guard gradNorm.isFinite else {
                throw TrainingError("step \(step): gradient norm is \(gradNorm); stopping before the weights are corrupted (resume from the last checkpoint with a lower learning rate)")
            }
            let lr = config.learningRate * config.schedule.multiplier(step: step - 1)
            optimizer.update(parameters, learningRate: Float(lr))
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            elapsed += seconds
            let metrics = taskMetrics + [
                Metric("grad_norm", gradNorm), Metric("lr", lr), Metric("tokens_per_second", Double(tokens) / seconds),
                Metric("step_seconds", seconds), Metric("wall_time", elapsed),
            ]
            var stop = try emit(.step(step: step, metrics: metrics)) == .stop
            func due(_ every: Int) -> Bool { every > 0 && (step % every == 0 || step == config.steps) }
            if due(config.evaluateEvery) {
                stop = try emit(.evaluation(step: step, metrics: task.evaluate(step: step))) == .stop || stop
            }
            if due(config.sampleEvery) {
                stop = try emit(.samples(step: step, rows: task.samples(step: step, rng: &display))) == .stop || stop
            }
            if due(config.checkpointEvery) {
                let state = LoopState(
                    step: step, optimizerStep: optimizer.step, sampling: sampling, display: display, dataEpoch: order.epoch,
                    dataPosition: order.position, elapsedSeconds: elapsed, configJSON: configJSON)
                let path = try Checkpoint.save(
                    directory: checkpointDirectory, state: state, parameters: parameters, optimizer: optimizer, runFile: runFile)
                stop = try emit(.checkpoint(step: step, path: path)) == .stop || stop
            }
            if stop { return }
        }
        _ = try emit(.finished(step: step))
    }
}
