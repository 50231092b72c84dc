// Typed progress events. Training code produces them; the HDF5 run record and the terminal
// renderer consume them. Libraries never print.

public struct Metric: Sendable, Equatable {
    public let name: String
    public let value: Double
    public init(_ name: String, _ value: Double) {
        self.name = name
        self.value = value
    }
}

/// One sampled completion, logged every few steps.
public struct SampleRow: Sendable, Equatable {
    public let prompt: String
    public let completion: String
    public let reward: Double
    public init(prompt: String, completion: String, reward: Double) {
        self.prompt = prompt
        self.completion = completion
        self.reward = reward
    }
}

/// One sampled completion of a training step, in the /rollouts table: which example and sample, its
/// reward and named reward components, advantage, length in tokens, whether the length limit cut it.
public struct RolloutRow: Sendable, Equatable {
    public let example: Int
    public let sample: Int
    public let reward: Double
    public let components: [Metric]
    public let advantage: Double
    public let length: Int
    public let truncated: Bool
    public let completion: String
    public init(example: Int, sample: Int, reward: Double, components: [Metric], advantage: Double, length: Int,
                truncated: Bool, completion: String) {
        self.example = example
        self.sample = sample
        self.reward = reward
        self.components = components
        self.advantage = advantage
        self.length = length
        self.truncated = truncated
        self.completion = completion
    }
}

/// Progress inside one step, for the terminal only (not recorded): `phase` (e.g. "sampling") has done
/// `done` of `total` units.
public struct PhaseProgress: Sendable {
    public let step: Int
    public let phase: String
    public let done: Int
    public let total: Int
    public init(step: Int, phase: String, done: Int, total: Int) {
        self.step = step
        self.phase = phase
        self.done = done
        self.total = total
    }
}

public enum TrainingEvent: Sendable {
    /// The run starts at `firstStep` (1 for a new run, checkpoint + 1 on resume) of `totalSteps`.
    case started(firstStep: Int, totalSteps: Int)
    /// Metrics of optimizer step `step` (1-based), in a fixed order.
    case step(step: Int, metrics: [Metric])
    case evaluation(step: Int, metrics: [Metric])
    case samples(step: Int, rows: [SampleRow])
    case rollouts(step: Int, rows: [RolloutRow])
    case phase(PhaseProgress)
    case checkpoint(step: Int, path: String)
    case finished(step: Int)
}

public enum TrainingDecision: Sendable { case proceed, stop }
