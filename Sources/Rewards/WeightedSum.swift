// A reward named by a metric spec: one registry name ("bertscore"), or a weighted sum of several
// ("bleu:0.5,bertscore:0.5"). A lone name builds the registry's reward unchanged, so its scores are
// exactly `refalign score`'s.
import Foundation

/// Σ wᵢ·rᵢ over rewards scored on the same batch; logs every part's components and the sum.
public struct WeightedSumReward: Reward {
    public let parts: [(reward: any Reward, weight: Double)]
    public let name = "weighted_sum"

    public init(parts: [(reward: any Reward, weight: Double)]) { self.parts = parts }

    public func score(_ batch: [RewardInput]) throws -> RewardOutput {
        var scores = [Double](repeating: 0, count: batch.count)
        var components: [(name: String, values: [Double])] = []
        for (reward, weight) in parts {
            let out = try reward.score(batch)
            for i in scores.indices { scores[i] += weight * out.scores[i] }
            components += out.components
        }
        if let i = scores.firstIndex(where: { !$0.isFinite }) { throw RewardError("\(name): completion \(i) scored \(scores[i])") }
        return RewardOutput(scores: scores, components: components + [(name, scores)])
    }
}

/// A parsed `--metric` value.
public struct MetricSpec: Sendable {
    /// (registry name, weight); the weight is nil for a lone name without one.
    public let parts: [(name: String, weight: Double?)]

    /// "name" or "name:weight[,name:weight…]"; every part of a sum needs a finite weight, names are
    /// registry names, each at most once.
    public init(parsing text: String) throws {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var parts: [(name: String, weight: Double?)] = []
        for item in items {
            let fields = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count <= 2, !fields[0].isEmpty else { throw RewardError("metric: '\(item)' is not name or name:weight") }
            _ = try RewardRegistry.entry(fields[0])
            var weight: Double?
            if fields.count == 2 {
                guard let w = Double(fields[1]), w.isFinite else { throw RewardError("metric: weight '\(fields[1])' of \(fields[0]) is not a finite number") }
                weight = w
            }
            if parts.contains(where: { $0.name == fields[0] }) { throw RewardError("metric: \(fields[0]) appears twice") }
            parts.append((fields[0], weight))
        }
        if parts.count > 1, let missing = parts.first(where: { $0.weight == nil }) {
            throw RewardError("metric: \(missing.name) needs a weight in a sum (name:weight)")
        }
        self.parts = parts
    }

    public var usesBERT: Bool { parts.contains { (try? RewardRegistry.entry($0.name).usesBERT) == true } }

    /// A lone unweighted name is the registry's reward itself; anything else is a weighted sum.
    public func make(options: RewardOptions, references: [String] = []) throws -> any Reward {
        if parts.count == 1, parts[0].weight == nil { return try RewardRegistry.make(parts[0].name, options: options, references: references) }
        return WeightedSumReward(parts: try parts.map { (try RewardRegistry.make($0.name, options: options, references: references), $0.weight ?? 1) })
    }
}
