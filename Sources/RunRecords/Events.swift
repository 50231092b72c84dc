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

public enum TrainingEvent: Sendable {
    /// The run starts at `firstStep` (1 for a new run, checkpoint + 1 on resume) of `totalSteps`.
    case started(firstStep: Int, totalSteps: Int)
    /// Metrics of optimizer step `step` (1-based), in a fixed order.
    case step(step: Int, metrics: [Metric])
    case evaluation(step: Int, metrics: [Metric])
    case samples(step: Int, rows: [SampleRow])
    case checkpoint(step: Int, path: String)
    case finished(step: Int)
}

public enum TrainingDecision: Sendable { case proceed, stop }
