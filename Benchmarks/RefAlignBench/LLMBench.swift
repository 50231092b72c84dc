import ArgumentParser
import Foundation
import ModelFiles
import Tensor
import Tokenizers
import Transformer

/// SmolLM2-135M-Instruct workloads, one JSON line per case:
/// {"bench": CASE, "unit": ..., "value": ..., "peak_rss_gb": ...}.
struct LLMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llm", abstract: "Decode, rollouts, RL rollouts, log-prob scoring, a training step and BPE encoding on SmolLM2.")

    @Option(help: "OpenBLAS threads, and the quantized products'.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "The GGUF file.") var model = ".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    @Option(help: "English text for BPE and for the scoring/training tokens.") var text: String
    @Option(help: "Comma-separated cases.") var cases = "decode,rollouts,rl-rollouts,score,train,bpe"
    @Option(help: "Timed repetitions per case (median reported).") var repeats = 3
    @Option(help: "Weights generation multiplies by: native, q8_0 or f32.") var weights = "f32"

    func run() throws {
        BLAS.threads = threads
        let file = try GGUFFile(contentsOf: model)
        let tokenizer = try ByteLevelBPE(gguf: file)
        let template = try ChatTemplate(jinja: file["tokenizer.chat_template"]?.string ?? "")
        guard let mode = WeightMode(rawValue: weights) else { throw ValidationError("unknown --weights \(weights) (native, q8_0 or f32)") }
        let llama = try Llama.load(gguf: file)
        try llama.useInferenceWeights(mode, gguf: file, threads: threads)
        let corpus = try String(contentsOfFile: text, encoding: .utf8)
        let corpusIDs = tokenizer.encode(String(corpus.prefix(200_000)))
        func chat(_ p: String) -> [Int32] { tokenizer.encode(template.render([ChatMessage(role: "user", content: p)])) }
        func report(_ name: String, _ unit: String, _ values: [Double]) {
            let median = values.sorted()[values.count / 2]
            print(#"{"bench":"\#(name)","unit":"\#(unit)","value":\#(median),"peak_rss_gb":\#(peakRSSGigabytes())}"#)
        }
        let suffix = mode == .f32 ? "" : "-\(weights)"  // sampled with other weights than the reference's fp32
        for name in cases.split(separator: ",") {
            switch name {
            case "decode":  // greedy, batch 1, 128 new tokens after a ~40-token prompt (prefill included)
                let prompt = chat("Write a short story about a cat who learns to fly.")
                report("decode", "tok/s", try timed { _ in
                    var rngs = [Xoshiro256(seed: 0)]
                    _ = try llama.generate(prompts: [prompt], maxNewTokens: 128, sampling: .greedy, stopTokens: [], rngs: &rngs)
                    return 128
                })
            case "decode-200":  // greedy, batch 1, 200 new tokens (prefill included): the llama.cpp comparison
                let prompt = chat("Write a short story about a cat who learns to fly.")
                report("decode-200-\(weights)", "tok/s", try timed { _ in
                    var rngs = [Xoshiro256(seed: 0)]
                    _ = try llama.generate(prompts: [prompt], maxNewTokens: 200, sampling: .greedy, stopTokens: [], rngs: &rngs)
                    return 200
                })
            case "rollouts":  // 8 sequences × 128 sampled tokens at T = 1, aggregate
                let prompts = ["Write a short story about a cat who learns to fly.", "List three primary colors.",
                               "Explain photosynthesis in one sentence.", "What is 12 times 12?",
                               "Translate 'good morning' into French.", "Give me a recipe for pancakes.",
                               "Why is the sky blue?", "Describe a sunset over the ocean."].map(chat)
                report("rollouts" + suffix, "tok/s", try timed { i in
                    var rngs = prompts.indices.map { Xoshiro256(seed: UInt64(i + 1), stream: "sampling/\($0)") }  // i = −1 is the warm-up
                    _ = try llama.generate(prompts: prompts, maxNewTokens: 128, sampling: SamplingConfig(temperature: 1),
                                       stopTokens: [], rngs: &rngs)
                    return 8 * 128
                })
            case "rl-rollouts":  // 4 prompts × 8 samples × 128 sampled tokens at T = 1: an RL step's sampling
                let prompts = ["Write a short story about a cat who learns to fly.", "List three primary colors.",
                               "Explain photosynthesis in one sentence.", "What is 12 times 12?"].map(chat)
                let rows = prompts.flatMap { [[Int32]](repeating: $0, count: 8) }
                report("rl-rollouts" + suffix, "tok/s", try timed { i in
                    var rngs = rows.indices.map { Xoshiro256(seed: UInt64(i + 1), stream: "sampling/\($0)") }
                    _ = try llama.generate(prompts: rows, maxNewTokens: 128, sampling: SamplingConfig(temperature: 1),
                                           stopTokens: [], rngs: &rngs)
                    return rows.count * 128
                })
            case "score":  // log-probs of 8 × 256 tokens, no gradient
                let batch = TokenBatch(leftPadding: (0..<8).map { Array(corpusIDs[$0 * 256..<($0 + 1) * 256]) })
                let targets = (0..<batch.tokens.count).map { $0 % 256 == 255 ? Int32(-1) : batch.tokens[$0 + 1] }
                report("score", "tok/s", try timed { _ in
                    _ = try llama.scoreLogProbs(batch, targets: targets)
                    return 8 * 256
                })
            case "train":  // forward + backward + AdamW, 4 × 256 tokens, every parameter trained
                let batch = TokenBatch(leftPadding: (0..<4).map { Array(corpusIDs[$0 * 256..<($0 + 1) * 256]) })
                let targets = (0..<batch.tokens.count).map { $0 % 256 == 255 ? Int32(-1) : batch.tokens[$0 + 1] }
                let dLogProb = targets.map { $0 >= 0 ? Float(-1) / Float(4 * 255) : 0 }
                let optimizer = AdamW(count: llama.parameters.count)
                report("train", "tok/s", try timed { _ in
                    llama.parameters.zeroGradients()
                    try llama.backward(llama.forward(batch), targets: targets, dLogProb: dLogProb)
                    optimizer.update(llama.parameters, learningRate: 1e-5)
                    return 4 * 256
                })
            case "bpe":  // one thread: the tokenizer is single-threaded
                let bytes = Double(corpus.utf8.count)
                report("bpe", "MB/s", timed { _ in
                    _ = tokenizer.encode(corpus)
                    return Int(bytes)
                }.map { $0 / 1e6 })
            default:
                throw ValidationError("unknown case \(name)")
            }
        }
    }

    /// Units per second of `body` (which returns its units), one warm-up run, then `repeats` runs.
    func timed(_ body: (Int) throws -> Int) rethrows -> [Double] {
        _ = try body(-1)
        return try (0..<repeats).map { i in
            let start = now()
            let units = try body(i)
            return Double(units) / (now() - start)
        }
    }
}

func peakRSSGigabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) * 1024 / 1e9  // ru_maxrss is in KiB on Linux
}
