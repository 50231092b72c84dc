import Foundation

/// Formats the one-line progress of a training run: step, the headline metrics, throughput, elapsed
/// time and ETA (from the steps done in this process, so a resumed run estimates from its own pace).
public struct ProgressMeter: Sendable {
    public let firstStep: Int
    public let totalSteps: Int
    public let start: Double

    public init(firstStep: Int, totalSteps: Int, start: Double) {
        self.firstStep = firstStep
        self.totalSteps = totalSteps
        self.start = start
    }

    /// Metrics shown on the line when present, in this order.
    static let headline = ["reward_mean", "loss", "length_mean", "kl"]

    public func line(step: Int, metrics: [Metric], now: Double) -> String {
        let elapsed = max(0, now - start)
        let done = step - firstStep + 1
        var parts = ["step \(step)/\(totalSteps)"]
        for name in Self.headline {
            if let m = metrics.last(where: { $0.name == name }), m.value.isFinite { parts.append("\(name) \(String(format: "%.4f", m.value))") }
        }
        if let rate = metrics.last(where: { $0.name == "tokens_per_second" }) {
            parts.append("\(Int(rate.value.rounded())) tok/s")
        }
        parts.append("elapsed \(Self.clock(elapsed))")
        if done > 0 && step < totalSteps {
            parts.append("ETA \(Self.clock(elapsed / Double(done) * Double(totalSteps - step)))")
        }
        return parts.joined(separator: " | ")
    }

    /// h:mm:ss, or m:ss under an hour.
    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
