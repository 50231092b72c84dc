import Alignment
import ArgumentParser
import Experiments
import Foundation
import ModelFiles
import Rewards
import RunRecords
import Tensor
import Training
import Transformer

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a policy's answers to held-out prompts with several reference metrics.",
        discussion: """
            --model is smollm2, a GGUF path, or a run folder of `refalign train` (its newest checkpoint). \
            For every prompt of --data (the format of `refalign train`) it draws --samples answers, greedy by \
            default or at --temperature from the "eval" streams of --seed, scores each with every --metrics \
            reward against the references, and writes --out/run.h5: /eval (per metric <m>_mean, <m>_lo and \
            <m>_hi, a percentile-bootstrap 95 % interval over prompts; length_mean; truncated_fraction) and \
            /eval_samples (every completion with its scores). The table is printed too. With --confidence the \
            prompts carry CONQORD's answer-format instruction, every metric scores the answer part, and /eval \
            adds the calibration of the stated confidence against --correctness (exact-match by default; \
            /eval_samples/stated_confidence holds each parsed confidence, the reliability diagram's data): ece \
            (10 bins), pearson and spearman (NaN where undefined: a constant side), accuracy and \
            confidence_parse_failed (the fraction whose confidence did not parse; they count as confidence 0).
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "Policy: smollm2, a GGUF path or a run folder.") var model = "smollm2"
    @OptionGroup var weightOptions: WeightOptions
    @Option(help: "JSONL prompts with references.") var data: String
    @Option(help: "Comma-separated rewards: \(RewardRegistry.names.joined(separator: ", ")).") var metrics = "bleu,rouge-l,meteor,bertscore,embedding"
    @Option(help: "BERT folder for bertscore/embedding: minilm or a path.") var bert = "minilm"
    @Option(help: "Answers per prompt.") var samples = 1
    @Flag(help: "Greedy decoding (the default without --temperature).") var greedy = false
    @Option(help: "Sampling temperature.") var temperature: Float?
    @Option(help: "Most tokens per answer.") var maxNewTokens = 128
    @Option(help: "Longer prompts lose their first tokens.") var maxPromptTokens = 512
    @Option(help: "Seed of the eval and bootstrap streams.") var seed: UInt64 = 0
    @Flag(help: "Evaluate CONQORD-format answers and their stated confidence (see above).") var confidence = false
    @Option(help: "With --confidence: the metric whose score is correctness.") var correctness = "exact-match"
    @Option(help: "Output folder (run.h5).") var out: String
    @Flag(help: "Replace a run.h5 already in --out.") var overwrite = false
    @Flag(help: "Skip when --out holds an evaluation of the same configuration (and the same trained run); replace it otherwise.") var reuse = false

    func validate() throws {
        if greedy && temperature != nil { throw ValidationError("--greedy and --temperature exclude each other") }
        if let t = temperature, !(t > 0) { throw ValidationError("--temperature must be positive") }
        if samples < 1 || maxNewTokens < 1 { throw ValidationError("--samples and --max-new-tokens must be at least 1") }
        if overwrite && reuse { throw ValidationError("--overwrite and --reuse exclude each other") }
    }

    /// What the run file records as the evaluation's configuration; a run folder's policy is named by its
    /// configuration hash and newest checkpoint, so retraining it makes a different evaluation.
    func configJSON(metrics names: [String]) throws -> String {
        var config: [String: Any] = ["model": model, "data": data, "metrics": names, "samples": samples, "confidence": confidence,
                                     "temperature": temperature.map { Double($0) } ?? 0, "max_new_tokens": maxNewTokens,
                                     "max_prompt_tokens": maxPromptTokens, "seed": seed, "threads": options.threads, "weights": weightOptions.weights.rawValue]
        if confidence { config["correctness"] = correctness }
        if AlignmentJob.isRunFolder(model) {
            config["model_config_hash"] = try RunSummary(path: model + "/run.h5").configHash
            config["model_step"] = try Checkpoint.latest(run: model).step
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
    }

    func run() throws {
        options.apply()
        let path = out + "/run.h5"
        var names = metrics.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        if confidence && !names.contains(correctness) { names.append(correctness) }
        let configJSON = try configJSON(metrics: names)
        if FileManager.default.fileExists(atPath: path) {
            if reuse, (try? RunSummary(path: path))?.attributes["config"] == configJSON {
                print("\(path): evaluation of the same configuration, skipped")
                return
            }
            guard reuse || overwrite else { throw ValidationError("\(path) exists: choose another --out, --overwrite it or --reuse it") }
        }
        var examples = try AlignmentData.read(data)
        if confidence { examples = examples.map(withConfidenceInstruction) }
        var rewardOptions = RewardOptions()
        if try names.contains(where: { try RewardRegistry.entry($0).usesBERT }) { rewardOptions.bert = try resolveModelPath(bert) }
        let rewards = try names.map { name -> (String, any Reward) in
            let reward = try RewardRegistry.make(name, options: rewardOptions, references: examples.flatMap(\.references))
            return (name, confidence ? ConfidenceAnswerReward(base: reward) : reward)
        }
        let (policy, format, description) = try AlignmentJob.trainedPolicy(model, resolveGGUF: resolveModelPath)
        // native reads the blocks of the GGUF; a run folder's checkpoint stores fp32, so native is f32 there.
        let fromGGUF = weightOptions.weights == .native && !AlignmentJob.isRunFolder(model)
        try policy.useInferenceWeights(weightOptions.weights, gguf: fromGGUF ? GGUFFile(contentsOf: resolveModelPath(model)) : nil)
        let sampling = temperature.map { SamplingConfig(temperature: $0) } ?? .greedy
        let evaluator = Evaluator(sampler: RolloutSampler(format: format, maxNewTokens: maxNewTokens, sampling: sampling),
                                  samples: samples, maxPromptTokens: maxPromptTokens, seed: seed)
        let meter = PhaseMeter(label: "evaluate")
        let result = try evaluator.evaluate(policy: policy, examples: examples, metrics: rewards, onToken: meter.update)
        meter.finish()

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: path)
        let record = try RunRecord.create(path, metadata: .current(method: "evaluate", model: description, seed: seed, configJSON: configJSON))
        var row = result.row
        var scores = names.enumerated().map { m, name in (name: name, values: result.samples.map { $0.scores[m] }) }
        if confidence {
            let parsed = result.samples.map { ConfidenceFormat.parse($0.completion.text).confidence }
            let m = names.firstIndex(of: correctness)!
            scores.append(("stated_confidence", parsed.map { $0 ?? 0 }))  // what the calibration sees: the reliability diagram's x
            let report = Calibration.report(confidence: parsed.map { $0 ?? 0 }, correct: result.samples.map { $0.scores[m] })
            let failed = Double(parsed.filter { $0 == nil }.count) / Double(parsed.count)
            row += [Metric("ece", report.ece), Metric("pearson", report.pearson ?? .nan), Metric("spearman", report.spearman ?? .nan),
                    Metric("accuracy", report.accuracy), Metric("confidence_parse_failed", failed)]
        }
        try record.appendEvaluation(0, row)
        let s = result.samples
        try record.writeEvaluationSamples(
            example: s.map(\.example), sample: s.map(\.sample), length: s.map(\.completion.tokens.count),
            truncated: s.map(\.completion.truncated), completion: s.map(\.completion.text),
            scores: scores)
        print("metric       mean      95% interval")
        for m in result.metrics {
            print(m.name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %.4f   [%.4f, %.4f]", m.mean, m.lower, m.upper))
        }
        for metric in row.dropFirst(result.row.count) {
            print(metric.name.padding(toLength: 12, withPad: " ", startingAt: 0) + (metric.value.isNaN ? " undefined (a constant side)" : String(format: " %.4f", metric.value)))
        }
        print(String(format: "length_mean  %.1f tokens (%.0f%% truncated) → %@", result.lengthMean, 100 * result.truncatedFraction, path))
    }
}
