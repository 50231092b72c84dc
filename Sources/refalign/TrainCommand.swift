import Alignment
import ArgumentParser
import Experiments
import Foundation
import Rewards
import Tensor
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Align a policy with reference answers: RefAlign, BLEUBERI-style GRPO, RLOO, DPO, online SimPO or SFT.",
        discussion: """
            Each step samples --samples completions for each of --prompts-per-step prompts (KV-cached, one \
            random stream per completion), scores them against the references with --reward, turns rewards \
            into advantages and takes one AdamW step, forward/backward in micro-batches of --micro-batch \
            completions. Options not given come from --config (a JSON object with the run file's config \
            field names), then from the method's defaults:
              refalign  K=2, T=1, reward bertscore (MiniLM layer 6), C=0, clip ε=0.5, LR 1e-6, no KL
              grpo      G=8, T=0.9, top-k 50, reward bleu, β=0.04 (k3 KL to the initial policy), bnpo, LR 1e-6, grad clip 0.2
              rloo      K=2, T=1, reward bleu, leave-one-out baseline, LR 1e-6
              dpo       TRL's sigmoid loss, β=0.1 (--dpo-loss ipo; --label-smoothing for cDPO); --pairs
                        reference-vs-sample (the reference ≻ a base-policy sample), best-vs-worst (of K
                        base samples under --reward, ties skipped) or data ({"prompt", "chosen", "rejected"});
                        reference log-probs computed once and cached in .cache/
              simpo     online: K=2 current-policy samples, best ≻ worst under --reward (bertscore), β=2.5, γ=0.25
              sft       token-mean NLL on the references, LR 5e-6; --eval-data logs held-out NLL; data lines
                        with "confidence": c train CONQORD's "### Answer: … ### Confidence: c" format
            RefAlign's extensions: --safety (w=4; harm = sim(y, reference) − max sim(y, "unsafe" responses), \
            group-centred) and --confidence (CONQORD's format and reward R = s + α Σ_j (s_i − s_j)(c_i − c_j), α=0.1).
            Faster sampling (refalign, grpo, rloo): --rollout-weights q8_0 samples from q8_0 copies of the weights, \
            re-quantized before each batch; the loss still recomputes fp32 log-probs, /train logs the disagreement \
            (sampler_logprob_mismatch, sampler_kl) and --importance-sampling-cap C corrects for it (TRL's \
            token_truncate; its default C is 3).
            Data: JSONL lines {"prompt": text or [{"role","content"}...], "reference": text} or "references": [...] \
            (make one with `refalign prepare-data`). The run file (run.h5) records /train metrics per step and \
            every sampled completion in /rollouts; kill the run and add --resume to continue.
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "refalign, grpo, rloo, dpo, simpo or sft.") var method: String
    @Option(help: "Policy: smollm2, tiny (a 2-layer random Llama with SmolLM2's tokenizer), a GGUF path, or a run folder (its newest checkpoint, e.g. an SFT run before --confidence).") var model: String?
    @Option(help: "JSONL training data.") var data: String?
    @Option(help: "Reward: \(RewardRegistry.names.joined(separator: ", ")).") var reward: String?
    @Option(help: "BERT folder for bertscore/embedding rewards: minilm or a path.") var bert = "minilm"
    @Option(help: "Optimizer steps.") var steps: Int?
    @Option(help: "Prompts per step.") var promptsPerStep: Int?
    @Option(help: "Completions per prompt (K, or G for GRPO).") var samples: Int?
    @Option(help: "Most tokens per completion.") var maxNewTokens: Int?
    @Option(help: "Longer prompts lose their first tokens.") var maxPromptTokens: Int?
    @Option(help: "Sampling temperature (log-probs are taken at it too).") var temperature: Float?
    @Option(help: "Top-k sampling (0: off).") var topK: Int?
    @Option(help: "Top-p sampling (1: off).") var topP: Float?
    @Option(help: "Peak learning rate (constant after warm-up).") var learningRate: Double?
    @Option(help: "β: KL coefficient (grpo), DPO's β, SimPO's β.") var beta: Double?
    @Option(help: "RefAlign's advantage clip ε.") var clip: Double?
    @Option(help: "RefAlign's length constant C in (1 + 1/(C + |y|)).") var lengthConstant: Double?
    @Option(help: "GRPO loss aggregation: bnpo, grpo, dr_grpo, dapo.") var aggregation: String?
    @Option(help: "GRPO reward scaling: group, batch, none.") var scaleRewards: String?
    @Option(help: "Completions per forward/backward pass.") var microBatch: Int?
    @Option(help: "μ: optimizer steps per sampled batch (GRPO's num_iterations; ε-clipping acts when > 1).") var iterations: Int?
    @Option(help: "GRPO's ε (lower clip).") var epsilon: Double?
    @Option(help: "GRPO's ε_high (upper clip; DAPO's clip-higher).") var epsilonHigh: Double?
    @Flag(help: "Log KL to the initial policy for methods without a KL term (scores a frozen copy each step).") var logKL = false
    @Option(help: "Weights the sampler multiplies by (refalign, grpo, rloo): f32, or q8_0 re-quantized from the fp32 weights before each batch (the loss always recomputes log-probs in fp32; /train logs the mismatch).") var rolloutWeights: String?
    @Option(help: "C of the truncated importance-sampling correction for a sampler with other weights: each token's policy term × min(π/π_sampler, C) (off by default).") var importanceSamplingCap: Double?
    @Option(help: "DPO pairs: reference-vs-sample, best-vs-worst or data.") var pairs: String?
    @Option(help: "DPO loss: sigmoid or ipo.") var dpoLoss: String?
    @Option(help: "Label smoothing ε (cDPO; SimPO).") var labelSmoothing: Double?
    @Option(help: "SimPO's target margin γ.") var gamma: Double?
    @Option(help: "Held-out JSONL (SFT logs its NLL).") var evalData: String?
    @Option(help: "Steps between held-out evaluations.") var evalEvery: Int?
    @Flag(help: "RefAlign's safety extension: A = A_sim + w·A_harm (data lines need \"unsafe\": [...]).") var safety = false
    @Option(help: "w of the harmless advantage.") var safetyWeight = 4.0
    @Flag(help: "RefAlign's confidence extension (CONQORD format and reward).") var confidence = false
    @Option(help: "α of the confidence reward.") var confidenceAlpha = 0.1
    @Option(help: "Seed of initialisation (tiny), data order and every sampling stream.") var seed: UInt64?
    @Option(help: "Steps between checkpoints.") var checkpointEvery: Int?
    @Option(help: "Steps between logged greedy samples.") var sampleEvery: Int?
    @Option(help: "Preset: a JSON object of config fields.") var config: String?
    @Option(help: "Run folder (run.h5 and checkpoints/).") var out: String
    @Option(help: "Steps between progress lines when stdout is not a terminal.") var logEvery = 1
    @OptionGroup var start: StartOptions

    func run() throws {
        options.apply()
        var overrides: [String: Any] = [:]
        let given: [(String, Any?)] = [
            ("data", data), ("reward", reward), ("steps", steps), ("promptsPerStep", promptsPerStep), ("samples", samples),
            ("maxNewTokens", maxNewTokens), ("maxPromptTokens", maxPromptTokens), ("temperature", temperature.map { Double($0) }),
            ("topK", topK), ("topP", topP.map { Double($0) }), ("learningRate", learningRate), ("beta", beta), ("clip", clip),
            ("lengthConstant", lengthConstant), ("aggregation", aggregation), ("scaleRewards", scaleRewards),
            ("microBatch", microBatch), ("iterations", iterations), ("epsilon", epsilon), ("epsilonHigh", epsilonHigh),
            ("logReferenceKL", logKL ? true : nil), ("pairs", pairs), ("dpoLoss", dpoLoss), ("labelSmoothing", labelSmoothing),
            ("gamma", gamma), ("rolloutWeights", rolloutWeights), ("importanceSamplingCap", importanceSamplingCap), ("evalData", evalData), ("evalEvery", evalEvery), ("seed", seed), ("checkpointEvery", checkpointEvery), ("sampleEvery", sampleEvery),
        ]
        for case let (key, value?) in given { overrides[key] = value }
        if safety { overrides["safetyWeight"] = safetyWeight }
        if confidence { overrides["confidenceAlpha"] = confidenceAlpha }
        var job = try AlignmentJobConfig.resolve(method: method, preset: config, overrides: overrides)
        if let model { job.model = model }
        job.modelFile = try AlignmentJob.baseModel(job.model, resolveGGUF: resolveModelPath)
        if RewardRegistry.entries.first(where: { $0.name == job.reward })?.usesBERT == true, job.rewardOptions.bert.isEmpty {
            job.rewardOptions.bert = try resolveModelPath(bert)
        }
        guard !job.data.isEmpty else { throw ValidationError("--data is required (or a preset with \"data\")") }
        if start.reuse, let reached = Trainer.reachedStep(directory: out, configJSON: try AlignmentJob.configJSON(job, threads: options.threads)),
           reached >= job.steps {
            print("\(out): finished run of the same configuration (\(reached) steps), skipped")
            return
        }
        let trainer = try AlignmentJob.trainer(job, directory: out, threads: options.threads)
        try trainer.run(start.mode, progress: TerminalProgress(every: logEvery).handle)
    }
}

struct PrepareDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare-data",
        abstract: "Write a training/evaluation JSONL file {\"id\", \"prompt\", \"reference\"} from ../shared/bleuberi_data.",
        discussion: """
            mt-bench: turn-1 questions with gpt-4.1-mini's turn-1 references (80). vicuna: the 10 questions with \
            GPT-4 references. arena-hard-v2: 750 prompts with o3-mini's answers. --reference-words keeps the \
            first N words of each reference, for runs that generate far fewer tokens than the references hold. \
            Synthetic sets (generated, each line says so in "origin"): arithmetic, "What is a + b?" questions with \
            exact answers from --seed (--confidence-targets adds a random "confidence" for CONQORD-format SFT); \
            tasks, Experiment 1's verifiable tasks from --seed (reverse or sort a word list, spell a number, add, \
            name a capital; --first of them, 200 by default); safety, 64 templated harmful requests with a safe refusal as reference and two unsafe openings in \
            "unsafe".
            """)

    @Option(help: "mt-bench, vicuna, arena-hard-v2, arithmetic, tasks or safety.") var source: String
    @Option(help: "Folder of the shared benchmark data.") var dataRoot = "../shared/bleuberi_data"
    @Option(help: "Keep the first N prompts that have a reference.") var first: Int?
    @Option(help: "Keep the first N words of each reference.") var referenceWords: Int?
    @Option(help: "Seed of the arithmetic questions and tasks.") var seed: UInt64 = 0
    @Flag(help: "arithmetic: add a random \"confidence\" in {0.1, …, 0.9} (CONQORD-format SFT targets).") var confidenceTargets = false
    @Option(help: "A JSONL file whose prompts are left out (a held-out set disjoint from a training set); repeatable.") var exclude: [String] = []
    @Option(help: "Output JSONL.") var out: String

    func run() throws {
        guard let source = AlignmentData.Source(rawValue: source) else {
            throw ValidationError("--source is one of \(AlignmentData.Source.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // Prompts compare as UTF-8 bytes, as Python compares strings (Swift's == is canonical equivalence).
        let excluded = Set(try exclude.flatMap { try AlignmentData.read($0).map { Array($0.messages.last!.content.utf8) } })
        var lines = try AlignmentData.prepare(source, dataRoot: dataRoot, first: first.map { $0 + excluded.count },
                                              referenceWords: referenceWords, seed: seed, confidenceTargets: confidenceTargets)
        lines.removeAll { excluded.contains(Array(($0["prompt"] as? String ?? "").utf8)) }
        if let first { lines = Array(lines.prefix(first)) }
        try writeJSONLines(lines, to: out)
        print("\(lines.count) examples → \(out)")
    }
}

struct SelectHardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "select-hard",
        abstract: "BLEUBERI's hard-example selection: keep the N prompts whose base-policy answer scores lowest.",
        discussion: """
            The policy answers each prompt of --data once (temperature 0.7, top-p 0.9, as BLEUBERI; stream \
            "select" of --seed), each answer is scored by --reward against the references, and the --keep \
            lowest-scoring lines are written to --out, sorted by score descending, each with its "score" and the \
            base policy's "base_answer" added.
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "Policy: smollm2, a GGUF path or a run folder.") var model = "smollm2"
    @Option(help: "JSONL prompts with references.") var data: String
    @Option(help: "Reward: \(RewardRegistry.names.joined(separator: ", ")).") var reward = "bleu"
    @Option(help: "BERT folder for bertscore/embedding: minilm or a path.") var bert = "minilm"
    @Option(help: "Prompts to keep.") var keep: Int
    @Option(help: "Most tokens per answer.") var maxNewTokens = 512
    @Option(help: "Seed of the sampling streams.") var seed: UInt64 = 42
    @Option(help: "Output JSONL.") var out: String

    func run() throws {
        options.apply()
        guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
        let examples = try AlignmentData.read(data)
        var rewardOptions = RewardOptions()
        if try RewardRegistry.entry(reward).usesBERT { rewardOptions.bert = try resolveModelPath(bert) }
        let metric = try RewardRegistry.make(reward, options: rewardOptions, references: examples.flatMap(\.references))
        let (policy, format, _) = try AlignmentJob.trainedPolicy(model, resolveGGUF: resolveModelPath)
        let sampler = RolloutSampler(format: format, maxNewTokens: maxNewTokens, sampling: SamplingConfig(temperature: 0.7, topP: 0.9))
        let meter = PhaseMeter(label: "select-hard")
        let kept = try selectHardExamples(policy: policy, sampler: sampler, examples: examples, reward: metric, keep: keep,
                                          maxPromptTokens: policy.config.contextLength - maxNewTokens, seed: seed, onToken: meter.update)
        meter.finish()
        let lines = try readJSONLines(data)
        try writeJSONLines(kept.map { k in
            var object = lines[k.index].object
            object["score"] = k.score
            object["base_answer"] = k.completion
            return object
        }, to: out)
        print("kept \(kept.count) of \(examples.count) prompts (\(reward) \(String(format: "%.4f", kept.last?.score ?? .nan))…\(String(format: "%.4f", kept.first?.score ?? .nan))) → \(out)")
    }
}
