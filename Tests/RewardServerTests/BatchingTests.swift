import Foundation
import Rewards
import Testing
@testable import RewardServer

/// Scores a completion by its length in code points ("nan" scores NaN, "throw" fails); records each call's size.
final class LengthReward: Reward, @unchecked Sendable {
    let name = "length"
    private let lock = NSLock()
    private var sizes: [Int] = []
    var callSizes: [Int] { lock.withLock { sizes } }

    func score(_ batch: [RewardInput]) throws -> RewardOutput {
        lock.withLock { sizes.append(batch.count) }
        if batch.contains(where: { $0.completion == "throw" }) { throw RewardError("length: completion says throw") }
        let scores = batch.map { $0.completion == "nan" ? Double.nan : Double($0.completion.unicodeScalars.count) }
        return RewardOutput(scores: scores, components: [("length", scores), ("half", scores.map { $0 / 2 })])
    }
}

private func errorOf(_ operation: () async throws -> RewardOutput) async -> (any Error)? {
    do { _ = try await operation(); return nil } catch { return error }
}

private func input(_ completion: String) -> RewardInput { RewardInput(prompt: "", completion: completion, references: ["r"]) }

@Suite struct BatchingTests {
    @Test func concurrentRequestsShareOneRewardCall() async throws {
        let reward = LengthReward()
        let batcher = MicroBatcher(configuration: .init(window: .milliseconds(200)), score: reward.score)
        let outputs = try await withThrowingTaskGroup(of: (Int, RewardOutput).self) { group in
            for i in 0..<8 { group.addTask { (i, try await batcher.submit([input(String(repeating: "x", count: i + 1))])) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(reward.callSizes == [8])
        for i in 0..<8 {
            #expect(outputs[i]?.scores == [Double(i + 1)])
            #expect(outputs[i]?.components.map(\.name) == ["length", "half"])
            #expect(outputs[i]?.components[1].values == [Double(i + 1) / 2])
        }
    }

    @Test func batchesStopAtMaxItemsWithoutSplittingARequest() async throws {
        let reward = LengthReward()
        let batcher = MicroBatcher(configuration: .init(window: .milliseconds(100), maxBatchItems: 4), score: reward.score)
        let first = try await batcher.submit([input("a"), input("bb"), input("ccc"), input("dddd"), input("eeeee"), input("f")])
        #expect(first.scores == [1, 2, 3, 4, 5, 1])  // one request larger than a batch is scored whole
        async let a = batcher.submit([input("a"), input("b"), input("c")])
        async let b = batcher.submit([input("dd"), input("ee")])
        _ = try await (a, b)
        #expect(reward.callSizes.count == 3)
        #expect(reward.callSizes.prefix(1) == [6])
        #expect(reward.callSizes.dropFirst().sorted() == [2, 3])
    }

    @Test func oneFailingRequestDoesNotFailItsBatch() async throws {
        let reward = LengthReward()
        let batcher = MicroBatcher(configuration: .init(window: .milliseconds(200)), score: reward.score)
        async let good = batcher.submit([input("abc")])
        async let bad = errorOf { try await batcher.submit([input("throw")]) }
        #expect(try await good.scores == [3])
        #expect(await bad is RewardError)
    }

    @Test func fullQueueRefusesWith503() async throws {
        let batcher = MicroBatcher(configuration: .init(window: .milliseconds(300), maxQueuedItems: 2), score: LengthReward().score)
        async let first = batcher.submit([input("a"), input("b")])
        try await Task.sleep(for: .milliseconds(50))
        await #expect(throws: RequestFailure(503, "queue: 2 items waiting (limit 2); retry later")) { try await batcher.submit([input("c")]) }
        #expect(try await first.scores == [1, 1])
    }

    @Test func emptyRequestSkipsTheReward() async throws {
        let reward = LengthReward()
        let out = try await MicroBatcher(configuration: .init(), score: reward.score).submit([])
        #expect(out.scores.isEmpty)
        #expect(reward.callSizes.isEmpty)
    }
}

@Suite struct EndpointTests {
    let endpoints = RewardEndpoints(reward: LengthReward(), metricName: "length", batching: .init(window: .milliseconds(1)))

    func post(_ route: Route, _ body: String) async -> HTTPReply {
        await endpoints.respond(route, path: route.rawValue) { Array(body.utf8) }
    }

    @Test func openRLHFAndScoreReplies() async {
        let r = await post(.openRLHF, #"{"query": ["Pabc<|im_end|>"], "prompts": ["P"], "labels": ["x"]}"#)
        #expect(r == HTTPReply(status: 200, contentType: "application/json",
                               body: #"{"rewards":[3.0],"scores":[3.0],"extra_logs":{"length":[3.0],"half":[1.5]}}"#))
        let s = await post(.score, #"{"completions": ["ab", "c"], "references": [["x"], ["y"]]}"#)
        #expect(s.body == #"{"rewards":[2.0,1.0],"components":{"length":[2.0,1.0],"half":[1.0,0.5]}}"#)
        let empty = await post(.openRLHF, #"{"query": [], "prompts": [], "labels": []}"#)
        #expect(empty == HTTPReply(status: 200, contentType: "application/json", body: #"{"rewards":[],"scores":[],"extra_logs":{}}"#))
    }

    @Test func badInputAndNonFiniteRewardsThenServingGoesOn() async {
        let bad = await post(.score, #"{"completions": ["a"], "references": [1]}"#)
        #expect(bad.status == 400)
        #expect(bad.body == #"{"error":"references[0]: expected a string or a list of strings, got a number or boolean"}"#)
        let nan = await post(.score, #"{"completions": ["nan"], "references": ["x"]}"#)
        #expect(nan.status == 422)
        #expect(!nan.body.contains("NaN") && nan.body.contains("rewards[0]"))
        let thrown = await post(.score, #"{"completions": ["throw"], "references": ["x"]}"#)
        #expect(thrown.status == 422)
        let oversized = await endpoints.respond(.score, path: "/score") { throw RequestFailure(400, "body: larger than the limit") }
        #expect(oversized.status == 400)
        #expect(await post(.score, #"{"completions": ["ok"], "references": ["x"]}"#).status == 200)
        let text = endpoints.metricsReply().body
        #expect(text.contains(#"refalign_reward_requests_total{path="/score",code="400"} 2"#))
        #expect(text.contains(#"refalign_reward_requests_total{path="/score",code="422"} 2"#))
        #expect(text.contains(#"refalign_reward_requests_total{path="/score",code="200"} 1"#))
        #expect(text.contains("refalign_reward_items_total 1\n"))
        #expect(text.contains(#"refalign_reward_request_duration_seconds{quantile="0.99"}"#))
        #expect(text.contains("refalign_reward_request_duration_seconds_count 5\n"))
    }
}
