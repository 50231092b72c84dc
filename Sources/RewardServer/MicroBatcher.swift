// Micro-batching: requests that arrive within `window` of the first waiting one are scored in one call
// of the reward (one BERT forward pass over all their sentences instead of one per request). Scoring is
// synchronous CPU work, so it runs on a dedicated thread, never on the event loops or the cooperative
// pool; while it runs, new requests queue and form the next batch without further waiting.
import Dispatch
import Foundation
import Rewards

public struct BatchingConfiguration: Sendable {
    /// How long the first request of a batch waits for others.
    public var window: Duration
    /// A batch takes whole requests up to this many items (one larger request is a batch of its own).
    public var maxBatchItems: Int
    /// Items waiting beyond this are refused with 503 (a request arriving at an empty queue is always taken).
    public var maxQueuedItems: Int

    public init(window: Duration = .milliseconds(5), maxBatchItems: Int = 256, maxQueuedItems: Int = 8192) {
        self.window = window
        self.maxBatchItems = maxBatchItems
        self.maxQueuedItems = maxQueuedItems
    }
}

public actor MicroBatcher {
    public typealias Score = @Sendable ([RewardInput]) throws -> RewardOutput

    struct Job {
        let items: [RewardInput]
        let continuation: CheckedContinuation<RewardOutput, any Error>
    }

    let configuration: BatchingConfiguration
    let scoreBatch: Score
    let metrics: ServerMetrics?
    private let worker = DispatchQueue(label: "refalign.reward-scorer")
    private var queue: [Job] = []
    private var queuedItems = 0
    private var busy = false
    private var flushScheduled = false

    public init(configuration: BatchingConfiguration, metrics: ServerMetrics? = nil, score: @escaping Score) {
        self.configuration = configuration
        self.metrics = metrics
        self.scoreBatch = score
    }

    /// The reward of `items`, scored together with whatever else arrives in the window. An empty request
    /// (OpenRLHF sends one to every server but the first) is answered at once, without the reward.
    public func submit(_ items: [RewardInput]) async throws -> RewardOutput {
        if items.isEmpty { return RewardOutput(scores: [], components: []) }
        if queuedItems > 0, queuedItems + items.count > configuration.maxQueuedItems {
            throw RequestFailure(503, "queue: \(queuedItems) items waiting (limit \(configuration.maxQueuedItems)); retry later")
        }
        return try await withCheckedThrowingContinuation { continuation in
            queue.append(Job(items: items, continuation: continuation))
            queuedItems += items.count
            metrics?.setQueueDepth(queuedItems)
            if busy { return }  // the running drain takes it next
            if queuedItems >= configuration.maxBatchItems {
                Task { await self.drain() }
            } else if !flushScheduled {
                flushScheduled = true
                let window = configuration.window
                Task {
                    try? await Task.sleep(for: window)
                    await self.drain()
                }
            }
        }
    }

    /// Scores queued jobs batch by batch until the queue is empty.
    private func drain() async {
        flushScheduled = false
        guard !busy else { return }
        busy = true
        while !queue.isEmpty {
            var count = 0, take = 0
            while take < queue.count, take == 0 || count + queue[take].items.count <= configuration.maxBatchItems {
                count += queue[take].items.count
                take += 1
            }
            let jobs = Array(queue.prefix(take))
            queue.removeFirst(take)
            queuedItems -= count
            metrics?.setQueueDepth(queuedItems)
            let results = await run(jobs.map(\.items))
            metrics?.recordBatch(items: count)
            for (job, result) in zip(jobs, results) { job.continuation.resume(with: result) }
        }
        busy = false
    }

    /// One reward call over all jobs' items, sliced back per job. If the batch fails, each job is scored
    /// alone, so one bad request does not fail the others.
    private func run(_ jobs: [[RewardInput]]) async -> [Result<RewardOutput, any Error>] {
        let score = scoreBatch
        return await withCheckedContinuation { continuation in
            worker.async {
                if jobs.count == 1 { return continuation.resume(returning: [Result { try score(jobs[0]) }]) }
                let all = jobs.flatMap { $0 }
                if let output = try? score(all), output.scores.count == all.count {
                    var start = 0
                    continuation.resume(returning: jobs.map { job in
                        defer { start += job.count }
                        return .success(slice(output, start..<start + job.count))
                    })
                } else {
                    continuation.resume(returning: jobs.map { job in Result { try score(job) } })
                }
            }
        }
    }
}

func slice(_ output: RewardOutput, _ range: Range<Int>) -> RewardOutput {
    RewardOutput(scores: Array(output.scores[range]), components: output.components.map { ($0.name, Array($0.values[range])) })
}
