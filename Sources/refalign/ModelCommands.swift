import Alignment
import ArgumentParser
import Experiments
import Foundation
import ModelFiles
import Tensor
import Tokenizers
import Transformer

/// Where `Scripts/bootstrap` puts the models, relative to the project root.
let knownAssets = [("smollm2", ".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), ("minilm", ".assets/minilm")]

/// A model path for --model/--tokenizer/--bert: an existing path, or a known name (smollm2, minilm) looked
/// up under .assets/ in the working directory and above the executable (so `.build/release/refalign`
/// finds the project's copy).
func resolveModelPath(_ name: String) throws -> String {
    if FileManager.default.fileExists(atPath: name) { return name }
    guard let asset = knownAssets.first(where: { $0.0 == name })?.1 else {
        throw ValidationError("no such model '\(name)' (give a path, or one of: \(knownAssets.map(\.0).joined(separator: ", ")))")
    }
    var roots = [FileManager.default.currentDirectoryPath]
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
        roots.append(dir.path)
        dir = dir.deletingLastPathComponent()
    }
    for root in roots where FileManager.default.fileExists(atPath: root + "/" + asset) {
        return root + "/" + asset
    }
    throw ValidationError("\(name) is not fetched (\(asset) not found from \(roots[0])): run Scripts/bootstrap")
}

struct ModelOptions: ParsableArguments {
    @Option(help: "Model: 'smollm2' (fetched by Scripts/bootstrap) or a path to a Llama-architecture GGUF.")
    var model = "smollm2"
}

extension WeightMode: ExpressibleByArgument {}

/// --weights of the commands that generate: what the decoder multiplies by.
struct WeightOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Decoding weights: native (the GGUF's Q8_0/Q4_1 blocks, F32 as fp32), q8_0 (re-quantized) or f32 (dequantised, exact).",
        discussion: "Only generation uses them; log-prob scoring always runs fp32."))
    var weights: WeightMode = .f32
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Answer one prompt with a chat model (the GGUF's ChatML template; stops at <|im_end|>).",
        discussion: """
            Sampling is greedy with --greedy (the default when no temperature is given), otherwise softmax \
            at --temperature with optional --top-k and --top-p, drawn from --seed's sampling stream.
            """)

    @OptionGroup var options: RunOptions
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var weightOptions: WeightOptions
    @Option(help: "The user message.") var prompt: String?
    @Option(help: "JSONL prompts ({\"prompt\": text or [{\"role\",\"content\"}...]}, as for train): answer each, in batches; prints JSONL.")
    var input: String?
    @Option(help: "Answers per prompt with --input.") var samples = 1
    @Option(help: "Sequences decoded together with --input.") var batchSize = 32
    @Option(help: "A system message (default: the template's own).") var system: String?
    @Option(help: "Most tokens to generate.") var maxNewTokens = 256
    @Flag(help: "Greedy decoding (argmax).") var greedy = false
    @Option(help: "Sampling temperature.") var temperature: Float?
    @Option(help: "Keep the K most likely tokens (0: all).") var topK = 0
    @Option(help: "Keep the smallest set of tokens with this much probability (1: all).") var topP: Float = 1
    @Option(help: "Seed of the sampling stream.") var seed: UInt64 = 0
    @Flag(help: "Print {\"prompt_ids\": [...], \"ids\": [...], \"text\": \"...\"} instead of the text.") var json = false

    func validate() throws {
        if greedy && temperature != nil { throw ValidationError("--greedy and --temperature exclude each other") }
        if let t = temperature, !(t > 0) { throw ValidationError("--temperature must be positive (use --greedy for argmax)") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if topK < 0 || maxNewTokens < 1 { throw ValidationError("--top-k must be ≥ 0 and --max-new-tokens ≥ 1") }
        if (prompt == nil) == (input == nil) { throw ValidationError("give --prompt or --input (one of them)") }
        if samples < 1 || batchSize < 1 { throw ValidationError("--samples and --batch-size must be at least 1") }
        if samples > 1 && input == nil { throw ValidationError("--samples needs --input") }
    }

    func run() throws {
        options.apply()
        let file = try GGUFFile(contentsOf: try resolveModelPath(modelOptions.model))
        let tokenizer = try ByteLevelBPE(gguf: file)
        let template = try ChatTemplate(jinja: file["tokenizer.chat_template"]?.string ?? "")
        let model = try Llama.load(gguf: file, weights: weightOptions.weights)
        let eos = file["tokenizer.ggml.eos_token_id"] ?? .uint(2)
        guard let stopID = eos.int.flatMap(Int32.init(exactly:)), stopID >= 0, Int(stopID) < model.config.vocabSize else {
            throw ModelError("\(file.path): tokenizer.ggml.eos_token_id is \(eos), not a token id below \(model.config.vocabSize)")
        }
        let stop = [stopID]
        let sampling = temperature.map { SamplingConfig(temperature: $0, topK: topK, topP: topP) } ?? .greedy
        if let input {
            try answerFile(input, model: model, format: ChatFormat(tokenizer: tokenizer, template: template, stopTokens: stop), sampling: sampling)
            return
        }
        guard let prompt else { return }
        var messages = [ChatMessage(role: "user", content: prompt)]
        if let system { messages.insert(ChatMessage(role: "system", content: system), at: 0) }
        let promptIDs = tokenizer.encode(template.render(messages))
        var rngs = [Xoshiro256(seed: seed, stream: "generate/0/0")]
        let generation = try model.generate(prompts: [promptIDs], maxNewTokens: maxNewTokens, sampling: sampling,
                                        stopTokens: stop, rngs: &rngs)[0]
        let answer = generation.stopped ? Array(generation.tokens.dropLast()) : generation.tokens
        let text = tokenizer.decode(answer)
        if json {
            let object: [String: Any] = ["prompt_ids": promptIDs.map(Int.init), "ids": answer.map(Int.init), "text": text]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(text)
        }
    }
}

extension GenerateCommand {
    /// Every line of `path` answered `samples` times, sample s of line i from stream (seed, generate, i, s);
    /// one JSONL line per answer: {"line", "sample", "text", "tokens", "truncated"}.
    func answerFile(_ path: String, model: Llama, format: ChatFormat, sampling: SamplingConfig) throws {
        var examples = try AlignmentData.read(path, requireReferences: false)
        if let system { for i in examples.indices where examples[i].messages.first?.role != "system" {
            examples[i].messages.insert(ChatMessage(role: "system", content: system), at: 0)
        } }
        let sampler = RolloutSampler(format: format, maxNewTokens: maxNewTokens, sampling: sampling, batchRows: batchSize)
        let prompts = examples.enumerated().map { ($0.offset, format.promptTokens($0.element.messages, maxTokens: model.config.contextLength - maxNewTokens)) }
        let meter = PhaseMeter(label: "generate")
        let groups = try sampler.sample(policy: model, prompts: prompts, samples: samples, seed: seed, purpose: "generate", step: 0,
                                        onToken: meter.update)
        meter.finish()
        for g in groups {
            for (s, c) in g.completions.enumerated() {
                let object: [String: Any] = ["line": examples[g.example].source.split(separator: ":").last.map(String.init) ?? "",
                                             "sample": s, "text": c.text, "tokens": c.tokens.count, "truncated": c.truncated]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
        }
    }
}

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode JSONL lines {\"text\": \"...\"} to lines {\"ids\": [...]} (no special tokens added).")

    @Option(help: "Tokenizer: 'smollm2' (byte-level BPE; or a GGUF path) or 'minilm' (WordPiece with [CLS]/[SEP]; or a BERT folder).")
    var tokenizer = "smollm2"
    @Option(help: "JSONL input, one {\"text\": ...} object per line.") var input: String

    func run() throws {
        let path = try resolveModelPath(tokenizer)
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let encode: (String) -> [Int32]
        if isDirectory.boolValue {
            let wordPiece = try WordPiece(vocabularyFile: path + "/vocab.txt")
            encode = { wordPiece.encode($0) }
        } else {
            let bpe = try ByteLevelBPE(gguf: try GGUFFile(contentsOf: path))
            encode = { bpe.encode($0) }
        }
        let texts = try readJSONLines(input).map { try $0.string("text") }  // every line checked before any output
        for text in texts { print("{\"ids\":[" + encode(text).map(String.init).joined(separator: ",") + "]}") }
    }
}
