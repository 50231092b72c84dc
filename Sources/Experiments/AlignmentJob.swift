// `refalign train` as a library job: the resolved configuration of an alignment run (method defaults,
// then a preset file, then command-line options), the policy it starts from, its reward and
// objective, and the trainer that runs it. The resolved configuration is stored in the run file and
// must match on --resume.
import Alignment
import Foundation
import ModelFiles
import Rewards
import RunRecords
import Tensor
import Tokenizers
import Training
import Transformer

public struct AlignmentJobConfig: Codable, Sendable, Equatable {
    public var method: String
    /// smollm2, tiny, a GGUF path or a run folder of `refalign train` (its newest checkpoint).
    public var model: String
    /// The GGUF the policy (or, for tiny, the tokenizer and chat template; for a run folder, the run's own start) comes from.
    public var modelFile: String
    public var data: String
    public var reward: String
    public var rewardOptions: RewardOptions
    public var steps: Int
    public var promptsPerStep: Int
    public var samples: Int
    public var maxNewTokens: Int
    public var maxPromptTokens: Int
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var learningRate: Double
    public var warmupRatio: Double
    public var maxGradNorm: Double
    public var weightDecay: Double
    public var microBatch: Int
    /// KL coefficient (GRPO).
    public var beta: Double
    /// ε of RefAlign's advantage clip.
    public var clip: Double
    /// C of RefAlign's length factor.
    public var lengthConstant: Double
    /// RefAlign: token mean instead of the sequence sum of log-probs.
    public var tokenMean: Bool
    public var aggregation: GRPOObjective.Aggregation
    public var scaleRewards: GRPOObjective.RewardScaling
    public var epsilon: Double
    public var epsilonHigh: Double
    /// GRPO: TRL ≥ 1's use_bias_correction_kl (ρ·D instead of D).
    public var biasCorrectedKL: Bool
    /// μ: optimizer steps per sampled batch.
    public var iterations: Int
    public var logReferenceKL: Bool
    /// DPO pairs: data (lines {"prompt", "chosen", "rejected"}), reference-vs-sample, best-vs-worst.
    public var pairs: String
    /// DPO loss: sigmoid or ipo.
    public var dpoLoss: DPOObjective.Loss
    public var labelSmoothing: Double
    /// SimPO's target margin γ.
    public var gamma: Double
    /// Held-out data (SFT's NLL every `evalEvery` steps); empty: none.
    public var evalData: String
    public var evalEvery: Int
    /// Where DPO's reference log-probs are cached.
    public var cacheDirectory: String
    /// RefAlign's safety extension: the harmless advantage's weight w (0: off). Data lines need "unsafe".
    public var safetyWeight: Double
    /// RefAlign's confidence extension: α of the CONQORD reward (0: off); prompts get the format instruction.
    public var confidenceAlpha: Double
    public var checkpointEvery: Int
    public var sampleEvery: Int
    public var seed: UInt64
    // Optional fields: absent from a run's stored configuration (and its hash) unless set.
    /// The matrices the sampler multiplies by (refalign, grpo, rloo): f32 (nil) or q8_0, re-quantized each batch.
    public var rolloutWeights: WeightMode?
    /// C of the truncated importance-sampling correction of the sampler's weights (nil: off).
    public var importanceSamplingCap: Double?
    static let optionalFields: Set<String> = ["rolloutWeights", "importanceSamplingCap"]

    /// Each method's defaults. GRPO's are BLEUBERI's (TRL 0.17): G = 8, β = 0.04, bnpo, group scaling,
    /// T = 0.9, top-k 50, LR 1e-6 with 5 % warm-up, grad-norm clip 0.2. RefAlign's: K = 2, T = 1,
    /// BERTScore-F1 on MiniLM, C and ε from the README's sweep. RLOO: TRL's K = 2, T = 1, no KL.
    public static func defaults(method: String) throws -> AlignmentJobConfig {
        var c = AlignmentJobConfig(
            method: method, model: "smollm2", modelFile: "", data: "", reward: "bertscore", rewardOptions: RewardOptions(),
            steps: 100, promptsPerStep: 4, samples: 2, maxNewTokens: 128, maxPromptTokens: 512, temperature: 1, topK: 0, topP: 1,
            learningRate: 1e-6, warmupRatio: 0.05, maxGradNorm: 1, weightDecay: 0, microBatch: 4, beta: 0, clip: 0.5,
            lengthConstant: 0, tokenMean: false, aggregation: .bnpo, scaleRewards: .group, epsilon: 0.2, epsilonHigh: 0.2,
            biasCorrectedKL: false, iterations: 1, logReferenceKL: false, pairs: "reference-vs-sample", dpoLoss: .sigmoid,
            labelSmoothing: 0, gamma: 0.25, evalData: "", evalEvery: 10, cacheDirectory: ".cache", safetyWeight: 0,
            confidenceAlpha: 0, checkpointEvery: 10,
            sampleEvery: 10, seed: 0)
        switch method {
        case "refalign": break
        case "grpo":
            c.reward = "bleu"; c.samples = 8; c.temperature = 0.9; c.topK = 50; c.beta = 0.04; c.maxGradNorm = 0.2
        case "rloo": c.reward = "bleu"
        case "dpo": c.beta = 0.1
        case "simpo": c.beta = 2.5
        case "sft": c.learningRate = 5e-6
        default: throw TrainingError("no method \(method) (known: \(AlignmentJob.methods.joined(separator: ", ")))")
        }
        return c
    }

    /// `defaults(method)` overlaid with a preset's fields, then with `overrides` (both JSON objects with
    /// this type's field names); an unknown field is an error naming its source.
    public static func resolve(method: String, preset: String?, overrides: [String: Any]) throws -> AlignmentJobConfig {
        let encoder = JSONEncoder()
        var object = try JSONSerialization.jsonObject(with: encoder.encode(try defaults(method: method))) as! [String: Any]
        // `name` spells a field as its source does; the sampler's settings are checked here because the
        // decoder's error for a bad value would name neither the option nor the accepted values.
        func overlay(_ fields: [String: Any], from source: String, name: (String) -> String) throws {
            for (key, value) in fields {
                guard object[key] != nil || key == "rewardOptions" || optionalFields.contains(key) else {
                    throw TrainingError("\(source): unknown field \"\(key)\"")
                }
                switch key {
                case "rolloutWeights": _ = try PolicyGradientConfig.rolloutWeights("\(value)", name: name(key))
                case "importanceSamplingCap":
                    if let cap = value as? Double { try PolicyGradientConfig.checkImportanceSamplingCap(cap, name: name(key)) }
                default: break
                }
                object[key] = value
            }
        }
        if let preset {
            guard let data = FileManager.default.contents(atPath: preset),
                  let fields = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw TrainingError("\(preset): not a readable JSON object")
            }
            if let m = fields["method"] as? String, m != method { throw TrainingError("\(preset): preset is for method \(m), not \(method)") }
            try overlay(fields, from: preset) { "\(preset): \($0)" }
        }
        try overlay(overrides, from: "command line") { "--" + $0.map { $0.isUppercase ? "-" + $0.lowercased() : String($0) }.joined() }
        do {
            return try JSONDecoder().decode(AlignmentJobConfig.self, from: JSONSerialization.data(withJSONObject: object))
        } catch {
            throw TrainingError("configuration: \(error)")
        }
    }

    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw TrainingError(message) } }
        try check(steps >= 1 && promptsPerStep >= 1 && samples >= 1, "steps, prompts per step and samples must be at least 1")
        try check(maxNewTokens >= 1 && maxPromptTokens >= 1 && microBatch >= 1, "max new tokens, max prompt tokens and micro-batch must be at least 1")
        try check(temperature > 0 && topK >= 0 && topP > 0 && topP <= 1, "temperature must be positive, top-k ≥ 0, top-p in (0, 1]")
        try check(learningRate >= 0 && warmupRatio >= 0 && warmupRatio < 1 && maxGradNorm > 0, "learning rate ≥ 0, warm-up ratio in [0, 1), max grad norm > 0")
        try check(beta >= 0 && clip > 0 && epsilon > 0 && epsilonHigh > 0, "beta ≥ 0, clip, epsilon and epsilon-high > 0")
        try check(method != "rloo" || samples >= 2, "rloo needs at least 2 samples per prompt (a leave-one-out baseline)")
        try check(method != "simpo" || samples >= 2, "simpo needs at least 2 samples per prompt (a best and a worst)")
        try check(labelSmoothing >= 0 && labelSmoothing < 0.5, "label smoothing must be in [0, 0.5)")
        try check(safetyWeight >= 0 && confidenceAlpha >= 0, "safety weight and confidence α must be ≥ 0")
        try check((safetyWeight == 0 && confidenceAlpha == 0) || method == "refalign", "--safety and --confidence extend refalign only")
        let samplesPolicy = ["refalign", "grpo", "rloo"].contains(method)
        if let rolloutWeights { _ = try PolicyGradientConfig.rolloutWeights(rolloutWeights.rawValue, name: "rolloutWeights") }
        try PolicyGradientConfig.checkImportanceSamplingCap(importanceSamplingCap, name: "importanceSamplingCap")
        try check((rolloutWeights ?? .f32) == .f32 || samplesPolicy, "--rollout-weights applies to refalign, grpo and rloo")
        try check(importanceSamplingCap == nil || samplesPolicy, "--importance-sampling-cap applies to refalign, grpo and rloo")
        try check(iterations >= 1 && (checkpointEvery % iterations == 0), "iterations μ ≥ 1, and checkpoint-every a multiple of μ (a checkpoint inside a sampled batch could not resume it)")
    }
}

/// The CONQORD answer-format instruction as a system message (the confidence extension's prompts).
public func withConfidenceInstruction(_ e: AlignmentExample) -> AlignmentExample {
    var e = e
    e.messages.removeAll { $0.role == "system" }
    e.messages.insert(ChatMessage(role: "system", content: ConfidenceFormat.instruction), at: 0)
    return e
}

public enum AlignmentJob {
    public static let methods = ["refalign", "grpo", "rloo", "dpo", "simpo", "sft"]

    /// The tiny Llama of `--model tiny`: SmolLM2's tokenizer and template, 2 layers of width 64, random weights.
    public static let tinyConfig = LlamaConfig(vocabSize: 49152, hiddenSize: 64, intermediateSize: 128, layers: 2, heads: 4,
                                               kvHeads: 2, ropeTheta: 10_000, rmsNormEps: 1e-5, contextLength: 2048)

    public static func objective(_ c: AlignmentJobConfig) throws -> any PolicyObjective {
        switch c.method {
        case "refalign":
            return RefAlignObjective(lengthConstant: c.lengthConstant, clip: c.clip, tokenMean: c.tokenMean, safetyWeight: c.safetyWeight,
                                     confidenceAlpha: c.confidenceAlpha > 0 ? c.confidenceAlpha : nil, samples: c.samples)
        case "grpo": return GRPOObjective(beta: c.beta, epsilon: c.epsilon, epsilonHigh: c.epsilonHigh, aggregation: c.aggregation,
                                          scaleRewards: c.scaleRewards, biasCorrectedKL: c.biasCorrectedKL)
        case "rloo": return RLOOObjective()
        default: throw TrainingError("no method \(c.method)")
        }
    }

    /// DPO's pairs and their reference sums (from the cache when it holds this key).
    static func dpoPairs(_ c: AlignmentJobConfig, examples: inout [AlignmentExample], policy: Llama, format: ChatFormat,
                         similarity: (any Reward)?) throws -> (pairs: [PreferencePair], reference: [(chosen: Double, rejected: Double)]) {
        var pairs: [PreferencePair] = []
        switch c.pairs {
        case "data":
            let lines = try AlignmentData.readPairs(c.data)
            examples = lines.map(\.example)
            pairs = lines.enumerated().map { i, line in
                PreferencePair(example: i, chosen: format.answerTokens(line.chosen, maxTokens: c.maxNewTokens),
                               rejected: format.answerTokens(line.rejected, maxTokens: c.maxNewTokens))
            }
        case "reference-vs-sample", "best-vs-worst":
            let best = c.pairs == "best-vs-worst"
            let sampler = RolloutSampler(format: format, maxNewTokens: c.maxNewTokens,
                                         sampling: SamplingConfig(temperature: c.temperature, topK: c.topK, topP: c.topP))
            let prompts = examples.enumerated().map { ($0.offset, format.promptTokens($0.element.messages, maxTokens: c.maxPromptTokens)) }
            let groups = try sampler.sample(policy: policy, prompts: prompts, samples: best ? c.samples : 1, seed: c.seed, purpose: "pairs", step: 0)
            for g in groups {
                if !best {
                    pairs.append(PreferencePair(example: g.example, chosen: format.answerTokens(examples[g.example].references[0], maxTokens: c.maxNewTokens),
                                                rejected: g.completions[0].tokens))
                    continue
                }
                guard let similarity else { throw TrainingError("best-vs-worst pairs need a --reward") }
                let scores = try similarity.score(g.completions.map { examples[g.example].rewardInput($0) }).scores
                if let (hi, lo) = bestAndWorst(scores) {
                    pairs.append(PreferencePair(example: g.example, chosen: g.completions[hi].tokens, rejected: g.completions[lo].tokens))
                }
            }
        default: throw TrainingError("pairs is data, reference-vs-sample or best-vs-worst, not \(c.pairs)")
        }
        let settings = "pairs=\(c.pairs) prompt=\(c.maxPromptTokens) new=\(c.maxNewTokens) T=\(c.temperature) k=\(c.topK) p=\(c.topP) "
            + "samples=\(c.samples) seed=\(c.seed) reward=\(c.reward) model=\(c.model) system=\(format.template.defaultSystemPrompt ?? "")"
            + (isDirectory(c.model) ? " run=\(try RunSummary(path: c.model + "/run.h5").configHash)" : "")
        let key = try ReferenceCache.key(files: [c.data, c.modelFile], settings: settings)
        if let cached = ReferenceCache.load(directory: c.cacheDirectory, key: key, pairs: pairs.count) { return (pairs, cached) }
        let prompts = examples.map { format.promptTokens($0.messages, maxTokens: c.maxPromptTokens) }
        let chosen = try sequenceLogProbs(model: policy, sequences: pairs.map { prompts[$0.example] + $0.chosen }, completions: pairs.map(\.chosen), microBatch: c.microBatch)
        let rejected = try sequenceLogProbs(model: policy, sequences: pairs.map { prompts[$0.example] + $0.rejected }, completions: pairs.map(\.rejected), microBatch: c.microBatch)
        return (pairs, try ReferenceCache.save(directory: c.cacheDirectory, key: key, Array(zip(chosen, rejected))))
    }

    /// The policy and its chat format: the tiny random Llama, a run folder's newest checkpoint (`c.modelFile`
    /// is then the GGUF that run started from), or the GGUF `c.modelFile`.
    public static func policy(_ c: AlignmentJobConfig) throws -> (Llama, ChatFormat) {
        if isDirectory(c.model) {
            let (policy, format, _) = try runPolicy(c.model, gguf: c.modelFile)
            return (policy, format)
        }
        let file = try GGUFFile(contentsOf: c.modelFile)
        let tokenizer = try ByteLevelBPE(gguf: file)
        let template = try ChatTemplate(jinja: file["tokenizer.chat_template"]?.string ?? "")
        let format = ChatFormat(tokenizer: tokenizer, template: template, stopTokens: [Int32(file["tokenizer.ggml.eos_token_id"]?.int ?? 2)])
        if c.model == "tiny" {
            let model = Llama(config: tinyConfig)
            model.initializeRandom(seed: c.seed)
            return (model, format)
        }
        return (try Llama.load(gguf: file), format)
    }

    /// True when `model` names a run folder of `refalign train` rather than a model name or file.
    public static func isRunFolder(_ model: String) -> Bool { isDirectory(model) }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The configuration a run folder of `refalign train` was made with.
    static func runConfig(_ folder: String) throws -> AlignmentJobConfig {
        let summary = try RunSummary(path: folder + "/run.h5")
        guard let json = summary.attributes["config"], let data = json.data(using: .utf8),
              let c = try? JSONDecoder().decode(AlignmentJobConfig.self, from: data) else {
            throw TrainingError("\(folder)/run.h5: not a run of refalign train (no alignment config)")
        }
        return c
    }

    /// The GGUF a policy name stands for: a run folder's own starting model, resolved through the chain of runs.
    public static func baseModel(_ model: String, resolveGGUF: (String) throws -> String) throws -> String {
        guard isDirectory(model) else { return try resolveGGUF(model == "tiny" ? "smollm2" : model) }
        return try baseModel(try runConfig(model).model, resolveGGUF: resolveGGUF)
    }

    /// A run folder's newest checkpoint loaded into the architecture its run file records.
    static func runPolicy(_ folder: String, gguf: String) throws -> (Llama, ChatFormat, String) {
        var c = try runConfig(folder)
        c.modelFile = gguf
        let (policy, format) = try policy(c)
        let checkpoint = try Checkpoint.latest(run: folder)
        try Checkpoint.loadWeights(checkpoint.path, parameters: policy.parameters)
        return (policy, format, "\(folder) (\(c.method), step \(checkpoint.step))")
    }

    /// A policy to evaluate or sample: `model` is smollm2, tiny, a GGUF path or a run folder of `refalign train`.
    /// Returns the policy, its format and a description for records.
    public static func trainedPolicy(_ model: String, resolveGGUF: (String) throws -> String) throws -> (Llama, ChatFormat, String) {
        let gguf = try baseModel(model, resolveGGUF: resolveGGUF)
        if isDirectory(model) { return try runPolicy(model, gguf: gguf) }
        var c = try AlignmentJobConfig.defaults(method: "refalign")
        c.model = model
        c.modelFile = gguf
        let (policy, format) = try policy(c)
        return (policy, format, model)
    }

    /// The resolved configuration as the run file stores it and resume compares it: every field, the thread
    /// count, and, when the policy starts from a run folder, that run's configuration hash (a retrained
    /// starting run makes this a different run).
    public static func configJSON(_ c: AlignmentJobConfig, threads: Int) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var object = try JSONSerialization.jsonObject(with: encoder.encode(c)) as! [String: Any]
        object["threads"] = threads
        if isDirectory(c.model) { object["modelConfigHash"] = try RunSummary(path: c.model + "/run.h5").configHash }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Builds the trainer of a run: data first (a malformed line fails before any model loads).
    public static func trainer(_ c: AlignmentJobConfig, directory: String, threads: Int) throws -> Trainer {
        try c.validate()
        var examples = c.method == "dpo" && c.pairs == "data" ? [] : try AlignmentData.read(c.data)
        if c.confidenceAlpha > 0 || (c.method == "sft" && examples.contains { $0.references.contains { $0.hasPrefix("### Answer:") } }) {
            examples = examples.map(withConfidenceInstruction)
        }
        let heldOut = c.evalData.isEmpty ? [] : try AlignmentData.read(c.evalData)
        if c.method == "dpo" && c.pairs == "data" { _ = try AlignmentData.readPairs(c.data) }  // checked before any model loads
        let needsReward = ["refalign", "grpo", "rloo", "simpo"].contains(c.method) || (c.method == "dpo" && c.pairs == "best-vs-worst")
        let similarity = needsReward ? try RewardRegistry.make(c.reward, options: c.rewardOptions, references: examples.flatMap(\.references)) : nil
        let (policy, format) = try policy(c)
        let sampling = SamplingConfig(temperature: c.temperature, topK: c.topK, topP: c.topP)
        let task: TrainingTask
        switch c.method {
        case "sft":
            task = try SFTTask(policy: policy, format: format, examples: examples, heldOutExamples: heldOut,
                               maxPromptTokens: c.maxPromptTokens, maxAnswerTokens: c.maxNewTokens, microBatch: c.microBatch)
        case "dpo":
            let (pairs, reference) = try dpoPairs(c, examples: &examples, policy: policy, format: format, similarity: similarity)
            task = try PreferenceTask(
                policy: policy, format: format, examples: examples,
                objective: DPOObjective(beta: c.beta, labelSmoothing: c.labelSmoothing, lossType: c.dpoLoss),
                pairs: .fixed(pairs, reference: reference), microBatch: c.microBatch, maxPromptTokens: c.maxPromptTokens, seed: c.seed)
        case "simpo":
            task = try PreferenceTask(
                policy: policy, format: format, examples: examples,
                objective: SimPOObjective(beta: c.beta, gamma: c.gamma, labelSmoothing: c.labelSmoothing),
                pairs: .online(sampler: RolloutSampler(format: format, maxNewTokens: c.maxNewTokens, sampling: sampling),
                               samples: c.samples, reward: similarity!),
                microBatch: c.microBatch, maxPromptTokens: c.maxPromptTokens, seed: c.seed)
        default:
            task = try PolicyGradientTask(
                policy: policy, format: format, examples: examples, objective: try objective(c), similarity: similarity!,
                config: PolicyGradientConfig(
                    samples: c.samples, maxNewTokens: c.maxNewTokens, maxPromptTokens: c.maxPromptTokens, sampling: sampling,
                    microBatch: c.microBatch, logReferenceKL: c.logReferenceKL, iterations: c.iterations,
                    rolloutWeights: c.rolloutWeights ?? .f32, importanceSamplingCap: c.importanceSamplingCap),
                seed: c.seed)
        }
        let loop = TrainerConfig(
            steps: c.steps, batchSize: c.promptsPerStep, learningRate: c.learningRate,
            schedule: .constantWithWarmup(warmupSteps: Int((c.warmupRatio * Double(c.steps)).rounded(.up))),
            adamW: AdamWConfig(weightDecay: Float(c.weightDecay)), maxGradNorm: c.maxGradNorm, checkpointEvery: c.checkpointEvery,
            evaluateEvery: heldOut.isEmpty ? 0 : c.evalEvery, sampleEvery: c.sampleEvery, seed: c.seed)
        let configJSON = try configJSON(c, threads: threads)
        let metadata = RunMetadata.current(method: c.method, model: c.model, seed: c.seed, configJSON: configJSON)
        return Trainer(task: task, config: loop, directory: directory, configJSON: configJSON, metadata: metadata)
    }
}
