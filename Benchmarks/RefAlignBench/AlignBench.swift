import Alignment
import ArgumentParser
import Foundation
import ModelFiles
import Rewards
import RunRecords
import Tensor
import Tokenizers
import Transformer

/// Alignment steps on SmolLM2 with every completion forced to full length (no stop token), as TRL's
/// side forces it. Rows {"bench": "CASE_step" | "CASE_sampling" | "CASE_reward" | "CASE_update", "unit": "s",
/// "value": median seconds} and {"bench": "CASE_peak_rss", "unit": "GB"}; update = reference scoring +
/// forward/backward + clipping and AdamW. Reward: BLEU (the same definition on both sides).
///   refalign  4 prompts × K = 2, 128 new tokens, no reference model
///   grpo      4 prompts × G = 8, 128 new tokens, β = 0.04 (frozen reference scored), bnpo
///   memory    4 prompts × 8 × (256 prompt + 256 new) tokens, GRPO, one step: the peak RSS of the
///             GRPO-sized batch
struct AlignBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align", abstract: "RefAlign and GRPO steps on SmolLM2, split into sampling, reward and update.")

    @Option(help: "OpenBLAS threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "The GGUF file.") var model = ".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "MT-Bench questions (prompts).") var questions = "../shared/bleuberi_data/mt_bench/question.jsonl"
    @Option(help: "Comma-separated cases.") var cases = "refalign,grpo"
    @Option(help: "Timed steps per case after one warm-up (median reported).") var repeats = 3
    @Option(help: "Completions per forward/backward pass.") var microBatch = 4

    func run() throws {
        BLAS.threads = threads
        let file = try GGUFFile(contentsOf: model)
        let format = ChatFormat(tokenizer: try ByteLevelBPE(gguf: file), template: try ChatTemplate(jinja: file["tokenizer.chat_template"]?.string ?? ""),
                                stopTokens: [])
        let lines = try String(contentsOfFile: questions, encoding: .utf8).split(separator: "\n").prefix(4)
        let prompts = try lines.map { line -> String in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let turns = object["turns"] as? [String] else { throw ValidationError("\(questions): no turns") }
            return turns[0]
        }
        for name in cases.split(separator: ",") {
            // A process per case in Scripts/benchmark, so each peak RSS is its own.
            let policy = try Llama.load(gguf: file)
            var examples = prompts.map { AlignmentExample(messages: [ChatMessage(role: "user", content: $0)], references: [$0]) }
            var samples = 2, newTokens = 128, maxPromptTokens = 512, steps = repeats
            let objective: any PolicyObjective
            switch name {
            case "refalign": objective = RefAlignObjective(lengthConstant: 0, clip: 0.5)
            case "grpo": objective = GRPOObjective(beta: 0.04); samples = 8
            case "memory":
                objective = GRPOObjective(beta: 0.04); samples = 8; newTokens = 256; maxPromptTokens = 256; steps = 0
                let long = String(repeating: "Explain the history of the printing press and its effects on science. ", count: 30)
                examples = examples.map { AlignmentExample(messages: [ChatMessage(role: "user", content: long + $0.promptText)], references: $0.references) }
            default: throw ValidationError("unknown case \(name)")
            }
            let task = try PolicyGradientTask(
                policy: policy, format: format, examples: examples, objective: objective, similarity: SimilarityReward.bleuberi,
                config: PolicyGradientConfig(samples: samples, maxNewTokens: newTokens, maxPromptTokens: maxPromptTokens,
                                             sampling: SamplingConfig(temperature: name == "refalign" ? 1 : 0.9, topK: name == "refalign" ? 0 : 50),
                                             microBatch: microBatch),
                seed: 0)
            let optimizer = AdamW(count: policy.parameters.count)
            var rng = Xoshiro256(seed: 0)
            var rows: [(total: Double, sample: Double, reward: Double, update: Double)] = []
            for step in 0...steps {  // step 0 is the warm-up (the only step of "memory")
                let start = now()
                policy.parameters.zeroGradients()
                let result = try task.computeGradients(step: step, examples: Array(0..<examples.count), rng: &rng, progress: { _ in })
                clipGradientNorm(policy.parameters.gradients.pointer, count: policy.parameters.count, maxNorm: 1)
                optimizer.update(policy.parameters, learningRate: 1e-6)
                let total = now() - start
                func metric(_ n: String) -> Double { result.metrics.first { $0.name == n }?.value ?? .nan }
                // update = reference scoring + forward/backward + clipping and AdamW: the rest of the step
                rows.append((total, metric("sample_seconds"), metric("reward_seconds"), total - metric("sample_seconds") - metric("reward_seconds")))
            }
            let timed = steps == 0 ? rows : Array(rows.dropFirst())
            let median = timed.sorted { $0.total < $1.total }[timed.count / 2]
            let peak = peakRSSGigabytes()
            for (part, unit, value) in [("step", "s", median.total), ("sampling", "s", median.sample), ("reward", "s", median.reward),
                                        ("update", "s", median.update), ("peak_rss", "GB", peak)] {
                print(#"{"bench":"\#(name)_\#(part)","unit":"\#(unit)","value":\#(value),"peak_rss_gb":\#(peak)}"#)
            }
        }
    }
}
