// Counters for GET /metrics, written in Prometheus' text exposition format (0.0.4) directly: a handful of
// series does not need a metrics backend. Latency quantiles are over the most recent requests.
import Foundation

public final class ServerMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]  // "path code" → count
    private var items = 0
    private var batches = 0
    private var batchedItems = 0
    private var queueDepth = 0
    private var latencyCount = 0
    private var latencySum = 0.0
    private var recent: [Double] = []
    private var next = 0
    /// How many recent request latencies the quantiles are computed over.
    public let window: Int

    public init(window: Int = 10_000) { self.window = window }

    func recordRequest(path: String, status: Int, items scored: Int, seconds: Double) {
        lock.withLock {
            requests["\(path) \(status)", default: 0] += 1
            items += scored
            latencyCount += 1
            latencySum += seconds
            if recent.count < window { recent.append(seconds) } else { recent[next] = seconds }
            next = (next + 1) % window
        }
    }

    func recordBatch(items count: Int) {
        lock.withLock {
            batches += 1
            batchedItems += count
        }
    }

    func setQueueDepth(_ depth: Int) { lock.withLock { queueDepth = depth } }

    public func prometheusText() -> String {
        lock.withLock {
            var out = """
                # HELP refalign_reward_requests_total HTTP requests answered, by path and status code.
                # TYPE refalign_reward_requests_total counter

                """
            for key in requests.keys.sorted() {
                let parts = key.split(separator: " ")
                out += "refalign_reward_requests_total{path=\"\(parts[0])\",code=\"\(parts[1])\"} \(requests[key]!)\n"
            }
            let sorted = recent.sorted()
            out += """
                # HELP refalign_reward_items_total Samples scored and answered with 200.
                # TYPE refalign_reward_items_total counter
                refalign_reward_items_total \(items)
                # HELP refalign_reward_batches_total Reward calls (micro-batches).
                # TYPE refalign_reward_batches_total counter
                refalign_reward_batches_total \(batches)
                # HELP refalign_reward_batch_items_total Samples over all micro-batches (divide by batches for the mean batch size).
                # TYPE refalign_reward_batch_items_total counter
                refalign_reward_batch_items_total \(batchedItems)
                # HELP refalign_reward_queue_items Samples waiting for a micro-batch.
                # TYPE refalign_reward_queue_items gauge
                refalign_reward_queue_items \(queueDepth)
                # HELP refalign_reward_request_duration_seconds Request latency (quantiles over the last \(window) requests).
                # TYPE refalign_reward_request_duration_seconds summary

                """
            for q in [0.5, 0.9, 0.99] {
                if let v = quantile(sorted, q) { out += "refalign_reward_request_duration_seconds{quantile=\"\(q)\"} \(v)\n" }
            }
            out += "refalign_reward_request_duration_seconds_sum \(latencySum)\n"
            out += "refalign_reward_request_duration_seconds_count \(latencyCount)\n"
            return out
        }
    }
}

/// The nearest-rank quantile q of sorted values, or nil with none.
func quantile(_ sorted: [Double], _ q: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}
