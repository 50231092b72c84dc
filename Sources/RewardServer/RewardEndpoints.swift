// What each route answers, independent of the HTTP library: a body in, a status and JSON text out. The
// Hummingbird adapter (RewardHTTPServer.swift) only moves bytes.
import Foundation
import Rewards

public struct HTTPReply: Sendable, Equatable {
    public let status: Int
    public let contentType: String
    public let body: String

    static func json(_ status: Int, _ body: String) -> HTTPReply { HTTPReply(status: status, contentType: "application/json", body: body) }
    static func failure(_ f: RequestFailure) -> HTTPReply { json(f.status, JSONText.error(f.message)) }
}

public enum Route: String, Sendable {
    /// OpenRLHF: `POST /get_reward` (its serve_rm's path) and `POST /`.
    case openRLHF = "/get_reward"
    /// TRL and verl: `POST /score`.
    case score = "/score"
}

public final class RewardEndpoints: Sendable {
    public let metricName: String
    let batcher: MicroBatcher
    public let metrics: ServerMetrics

    public init(reward: any Reward, metricName: String, batching: BatchingConfiguration, metrics: ServerMetrics = ServerMetrics()) {
        self.metricName = metricName
        self.metrics = metrics
        batcher = MicroBatcher(configuration: batching, metrics: metrics) { try reward.score($0) }
    }

    /// Answers a scoring route. `body` reads the request body; it throws a RequestFailure for an oversized one.
    public func respond(_ route: Route, path: String, body: () async throws -> [UInt8]) async -> HTTPReply {
        let start = ContinuousClock.now
        var items = 0
        let reply: HTTPReply
        do {
            let bytes = try await body()
            let inputs = try route == .openRLHF ? parseOpenRLHFRequest(bytes) : parseScoreRequest(bytes)
            let output: RewardOutput
            do { output = try await batcher.submit(inputs) } catch let error as RewardError { throw RequestFailure(422, error.description) }
            try requireFinite(output)
            items = inputs.count
            switch route {
            case .openRLHF:
                reply = .json(200, "{\"rewards\":\(JSONText.numbers(output.scores)),\"scores\":\(JSONText.numbers(output.scores)),"
                                 + "\"extra_logs\":\(JSONText.object(output.components))}")
            case .score:
                reply = .json(200, "{\"rewards\":\(JSONText.numbers(output.scores)),\"components\":\(JSONText.object(output.components))}")
            }
        } catch let failure as RequestFailure {
            reply = .failure(failure)
        } catch {
            reply = .failure(RequestFailure(500, "internal: \(error)"))
        }
        let elapsed = ContinuousClock.now - start
        metrics.recordRequest(path: path, status: reply.status, items: items,
                              seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        return reply
    }

    public func health() -> HTTPReply { .json(200, "{\"status\":\"ok\",\"metric\":\(JSONText.string(metricName))}") }

    public func metricsReply() -> HTTPReply {
        HTTPReply(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.prometheusText())
    }
}
