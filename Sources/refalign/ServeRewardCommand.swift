import ArgumentParser
import Dispatch
import Foundation
import RewardServer
import Rewards

struct ServeRewardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-reward",
        abstract: "Serve a reward over HTTP for OpenRLHF, verl and TRL (POST /get_reward, POST /, POST /score; GET /health, /metrics).",
        discussion: """
            OpenRLHF (--reward.remote_url / --remote_rm_url): POST /get_reward or / with {"query", "prompts", "labels"} \
            → {"rewards", "scores", "extra_logs"}; the response is query minus its prompt, trailing end-of-turn tokens \
            (\(endOfTurnTokens.joined(separator: " "))) removed. TRL/verl: POST /score with {"completions", \
            "references", "prompts"?} → {"rewards", "components"}. Requests arriving within --batch-window-ms are \
            scored in one reward call. Bad input → 400 {"error"} naming the field; a non-finite reward → 422; a full \
            queue → 503. SIGTERM/SIGINT finish in-flight requests and exit.
            """)

    @Option(help: "Reward: a registry name (\(RewardRegistry.names.joined(separator: ", "))) or a weighted sum such as bleu:0.5,bertscore:0.5.")
    var metric = "bertscore"
    @Option(help: "BERT folder for bertscore/embedding: 'minilm' (fetched by Scripts/bootstrap) or a path.") var bert = "minilm"
    @Option(help: "BERTScore layer (default: the model's last).") var layer: Int?
    @Flag(help: "ROUGE with rouge-score's Porter stemmer.") var stem = false
    @Option(help: "METEOR tokenisation: wordpunct or whitespace.") var tokenization = "wordpunct"
    @Option(help: "WordNet dictionary folder for meteor.") var wordnet = "/usr/share/wordnet"
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free port, printed).") var port = 8000
    @Option(help: "Largest request body accepted, in bytes.") var maxBodyBytes = 32 << 20
    @Option(help: "How long a request waits for others to share its reward call, in milliseconds.") var batchWindowMs = 5.0
    @Option(help: "Most samples per reward call (whole requests are never split).") var maxBatch = 256
    @Option(help: "Most samples waiting; beyond this requests get 503.") var maxQueue = 8192
    @OptionGroup var options: RunOptions

    func validate() throws {
        let spec: MetricSpec
        do { spec = try MetricSpec(parsing: metric) } catch { throw ValidationError("--metric: \(error)") }
        // The judge needs known-unsafe responses, which neither protocol carries.
        if spec.parts.contains(where: { $0.name == "harmful" }) { throw ValidationError("--metric: harmful is an evaluation judge, not servable") }
        if METEORTokenization(rawValue: tokenization) == nil { throw ValidationError("--tokenization is wordpunct or whitespace") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0…65535, got \(port)") }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        guard batchWindowMs >= 0, batchWindowMs.isFinite else { throw ValidationError("--batch-window-ms must be ≥ 0") }
        guard maxBatch >= 1, maxQueue >= 1 else { throw ValidationError("--max-batch and --max-queue must be at least 1") }
    }

    func run() throws {
        options.apply()
        let spec = try MetricSpec(parsing: metric)
        let reward = try spec.make(options: RewardOptions(bert: spec.usesBERT ? resolveModelPath(bert) : "", layer: layer, stem: stem,
                                                          meteorTokenization: tokenization, wordnet: wordnet))
        let batching = BatchingConfiguration(window: .microseconds(Int(batchWindowMs * 1000)), maxBatchItems: maxBatch, maxQueuedItems: maxQueue)
        let endpoints = RewardEndpoints(reward: reward, metricName: metric, batching: batching)
        let configuration = ServerConfiguration(host: host, port: port, maxBodyBytes: maxBodyBytes)
        let (host, metric, threads) = (host, metric, options.threads)
        let outcome = Outcome()
        Task {
            do {
                try await RewardHTTPServer.run(endpoints, configuration: configuration) { port in
                    print("serve-reward: \(metric) on http://\(host):\(port) (\(threads) threads)")
                }
            } catch { outcome.error = error }
            outcome.done.signal()
        }
        outcome.done.wait()  // the server runs on the cooperative pool; this thread only waits for it to stop
        if let error = outcome.error { throw error }
        print("serve-reward: stopped")
    }

    private final class Outcome: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var error: (any Error)?
    }
}
