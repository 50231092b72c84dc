// One on-policy alignment step as a `TrainingTask`, shared by every sampling method (RefAlign, GRPO,
// RLOO): sample K completions per prompt, score them, turn rewards into advantages, then forward and
// backward the policy over the completions in micro-batches, each micro-batch's loss gradient taken in
// its per-token log-probs by the objective. Rollouts, rewards and advantages of the whole step are fixed
// before the first micro-batch, so `microBatch` changes memory and speed, never the samples.
//
// Sampling from quantized weights (`rolloutWeights` q8_0): the fp32 master weights are re-quantized
// before each sampled batch and the sampler multiplies by the copy; the loss always recomputes the
// log-probs with the fp32 training forward. The step logs how far the two disagree (mean |Δ log p| and
// a k3 estimate of KL(sampler ‖ trainer) per token) and can correct for it with truncated importance
// weights min(π_old/π_sampler, C) on the policy term (TRL's vllm_importance_sampling_correction, its
// token_truncate mode).
//
// Memory: a micro-batch holds its own activations and attention probabilities; the LM head runs in
// row chunks over completion rows only (`Llama.tokenLogProbs`); the reference policy holds weights only.
import Foundation
import Rewards
import RunRecords
import Tensor
import Tokenizers
import Training
import Transformer

public struct PolicyGradientConfig: Codable, Sendable, Equatable {
    /// Completions sampled per prompt (K, or G in GRPO).
    public var samples: Int
    public var maxNewTokens: Int
    /// Longer templated prompts lose their first tokens.
    public var maxPromptTokens: Int
    public var sampling: SamplingConfig
    /// Completions per forward/backward pass (gradient accumulation inside the step).
    public var microBatch: Int
    /// Score the frozen initial policy to log KL even when the objective does not use it.
    public var logReferenceKL: Bool
    /// μ: optimizer steps per sampled batch (each step after the first is off-policy: ratios and
    /// clipping become active). The data order advances every step; a batch uses its first step's prompts.
    public var iterations: Int
    /// The matrices the sampler multiplies by: f32 (the trainer's own) or q8_0, re-quantized each batch.
    public var rolloutWeights: WeightMode
    /// C of the truncated importance-sampling correction of the sampler's weights; nil: none.
    public var importanceSamplingCap: Double?

    public init(samples: Int, maxNewTokens: Int, maxPromptTokens: Int = 512, sampling: SamplingConfig, microBatch: Int = 4,
                logReferenceKL: Bool = false, iterations: Int = 1, rolloutWeights: WeightMode = .f32, importanceSamplingCap: Double? = nil) {
        self.rolloutWeights = rolloutWeights
        self.importanceSamplingCap = importanceSamplingCap
        self.samples = samples
        self.maxNewTokens = maxNewTokens
        self.maxPromptTokens = maxPromptTokens
        self.sampling = sampling
        self.microBatch = microBatch
        self.logReferenceKL = logReferenceKL
        self.iterations = iterations
    }

    /// The temperature log-probs are taken at: the sampling one (1 for greedy).
    public var temperature: Float { sampling.isGreedy ? 1 : sampling.temperature }

    // The sampler's two settings are checked here only, for the task and for a job's configuration before
    // any model loads; `name` is the setting as its user wrote it (an option, or a field of a file).

    /// What the sampler can multiply by: the policy's own fp32 weights or a q8_0 copy of them.
    public static let rolloutWeightModes: [WeightMode] = [.f32, .q8_0]

    /// `value` as rollout weights.
    public static func rolloutWeights(_ value: String, name: String) throws -> WeightMode {
        guard let mode = WeightMode(rawValue: value), rolloutWeightModes.contains(mode) else {
            let why = value == WeightMode.native.rawValue ? " (native would sample from the model file's blocks, not from the policy being trained)" : ""
            throw TrainingError("\(name) must be \(rolloutWeightModes.map(\.rawValue).joined(separator: " or ")), not \(value)\(why)")
        }
        return mode
    }

    public static func checkImportanceSamplingCap(_ cap: Double?, name: String) throws {
        if let cap, !(cap > 0 && cap.isFinite) { throw TrainingError("\(name) \(cap) is not a positive finite number") }
    }
}

public final class PolicyGradientTask: TrainingTask {
    public let policy: Llama
    /// The frozen initial policy (weights only), when the objective or KL logging needs it.
    public let reference: Llama?
    public let format: ChatFormat
    public let examples: [AlignmentExample]
    public let objective: any PolicyObjective
    /// The reward the objective optimises (similarity plus the method's shaping).
    public let reward: any Reward
    public let config: PolicyGradientConfig
    public let seed: UInt64
    let prompts: [[Int32]]
    let sampler: RolloutSampler

    public init(policy: Llama, format: ChatFormat, examples: [AlignmentExample], objective: any PolicyObjective,
                similarity: any Reward, config: PolicyGradientConfig, seed: UInt64) throws {
        guard config.samples >= 1, config.maxNewTokens >= 1, config.microBatch >= 1, config.iterations >= 1 else {
            throw TrainingError("samples, max new tokens, micro-batch and iterations must be at least 1")
        }
        _ = try PolicyGradientConfig.rolloutWeights(config.rolloutWeights.rawValue, name: "rolloutWeights")
        try PolicyGradientConfig.checkImportanceSamplingCap(config.importanceSamplingCap, name: "importanceSamplingCap")
        self.policy = policy
        self.format = format
        self.examples = examples
        self.objective = objective
        self.reward = objective.reward(from: similarity)
        self.config = config
        self.seed = seed
        prompts = examples.map { format.promptTokens($0.messages, maxTokens: config.maxPromptTokens) }
        if let i = prompts.firstIndex(where: { $0.count + config.maxNewTokens > policy.config.contextLength }) {
            throw TrainingError("\(examples[i].source): prompt of \(prompts[i].count) tokens + \(config.maxNewTokens) new tokens exceeds the model's context of \(policy.config.contextLength)")
        }
        reference = objective.usesReference || config.logReferenceKL ? policy.frozenCopy() : nil
        sampler = RolloutSampler(format: format, maxNewTokens: config.maxNewTokens, sampling: config.sampling)
    }

    public var parameters: ParameterStore { policy.parameters }
    public var exampleCount: Int { examples.count }

    /// Everything fixed when a batch is sampled: its completions, rewards, advantages, weights and the
    /// reference and old log-probs, reused by each of the μ updates of the batch.
    struct SampledBatch {
        let firstStep: Int
        let groups: [RolloutGroup]
        let scored: RewardOutput
        let rewards: [[Double]]
        let advantages: [[Double]]
        let weights: [[Double]]
        /// Completions in group-major order, the unit of micro-batching.
        let items: [(group: Int, sample: Int)]
        let referenceLogProbs: [[Float]]?
        /// π_old's log-probs from the inference path (bitwise the training forward's), when μ > 1.
        let oldLogProbs: [[Float]]?
        let seconds: (requantize: Double, sample: Double, reward: Double, reference: Double)
    }
    private var current: SampledBatch?

    public func computeGradients(step: Int, examples batch: [Int], rng: inout Xoshiro256, progress: (PhaseProgress) -> Void) throws -> TaskStep {
        let firstStep = step - (step - 1) % config.iterations
        let fresh = current?.firstStep != firstStep
        if fresh {
            guard step == firstStep else {
                throw TrainingError("step \(step) is inside a batch sampled at step \(firstStep) (μ = \(config.iterations)): checkpoints must fall on multiples of μ")
            }
            current = try withoutActuallyEscaping(progress) { try sampleBatch(step: step, examples: batch, progress: $0) }
        }
        let b = current!
        let clock = Stopwatch()
        var loss = 0.0, klSum = 0.0, entropySum = 0.0, clipped = 0, tokens = 0
        var mismatch = 0.0, samplerKL = 0.0, importanceSum = 0.0, truncatedTokens = 0
        for start in stride(from: 0, to: b.items.count, by: config.microBatch) {
            let part = Array(b.items[start..<min(start + config.microBatch, b.items.count)])
            let (tokenBatch, targets, spans) = sequences(part, b.groups)
            let acts = try policy.forward(tokenBatch)
            let (lp, entropy) = try policy.tokenLogProbsAndEntropies(acts, targets: targets, temperature: config.temperature)
            var dLogProb = [Float](repeating: 0, count: targets.count)
            for (k, (item, span)) in zip(part, spans).enumerated() {
                let completion = b.groups[item.group].completions[item.sample]
                let logProbs = Array(lp[span]), reference = b.referenceLogProbs?[start + k]
                let old = b.oldLogProbs?[start + k] ?? logProbs
                // δ_t = log π_old − log π_sampler of each sampled token: 0 when the sampler has the trainer's weights
                let delta = zip(old, completion.samplingLogProbs).map { Double($0) - Double($1) }
                mismatch += delta.reduce(0.0) { $0 + abs($1) }
                samplerKL += delta.reduce(0.0) { $0 + k3($1) }
                let importance = config.importanceSamplingCap.map { truncatedImportanceWeights(delta: delta, cap: $0) }
                importanceSum += importance?.reduce(0, +) ?? 0
                truncatedTokens += importance?.filter { $0 == config.importanceSamplingCap }.count ?? 0
                let out = objective.loss(CompletionTerms(
                    logProbs: logProbs, oldLogProbs: old, referenceLogProbs: reference,
                    advantage: b.advantages[item.group][item.sample], weight: b.weights[item.group][item.sample],
                    importanceWeights: importance))
                for (t, d) in zip(span, out.dLogProbs) { dLogProb[t] = d }
                loss += out.loss
                clipped += out.clippedTokens
                klSum += reference.map { ref in zip(logProbs, ref).reduce(0.0) { $0 + k3(Double($1.1) - Double($1.0)) } } ?? 0
                entropySum += entropy[span].reduce(0.0) { $0 + Double($1) }
                tokens += span.count
            }
            try policy.backward(acts, targets: targets, dLogProb: dLogProb, temperature: config.temperature)
            progress(PhaseProgress(step: step, phase: "update", done: start + part.count, total: b.items.count))
        }
        let updateSeconds = clock.lap()

        let flatAdvantages = b.advantages.flatMap { $0 }
        let lengths = b.groups.flatMap { $0.completions.map(\.tokens.count) }
        let all = b.scored.scores, n = Double(all.count)
        let mean = all.reduce(0, +) / n
        var metrics = [
            Metric("reward_mean", mean),
            Metric("reward_std", (all.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()),
        ]
        for (name, values) in b.scored.components where name != reward.name {
            metrics.append(Metric("reward_" + name, values.reduce(0, +) / n))
        }
        let perToken = Double(max(tokens, 1))
        metrics += [
            Metric("loss", loss),
            Metric("advantage_abs_mean", flatAdvantages.reduce(0) { $0 + abs($1) } / n),
            Metric("kl", reference == nil ? .nan : klSum / perToken),
            Metric("entropy", entropySum / perToken),
            Metric("length_mean", Double(lengths.reduce(0, +)) / n),
            Metric("length_min", Double(lengths.min() ?? 0)),
            Metric("length_max", Double(lengths.max() ?? 0)),
            Metric("truncated_fraction", Double(b.groups.flatMap(\.completions).filter(\.truncated).count) / n),
            Metric("zero_spread_fraction", Double(b.rewards.filter { Set($0).count == 1 }.count) / Double(b.rewards.count)),
            Metric("clip_fraction", Double(clipped) / perToken),
            Metric("sampler_logprob_mismatch", mismatch / perToken),
            Metric("sampler_kl", samplerKL / perToken),
            Metric("importance_weight_mean", config.importanceSamplingCap == nil ? .nan : importanceSum / perToken),
            Metric("importance_truncated_fraction", config.importanceSamplingCap == nil ? .nan : Double(truncatedTokens) / perToken),
            // A batch's sampling, reward and reference time is charged to the step that sampled it.
            Metric("requantize_seconds", fresh ? b.seconds.requantize : 0),
            Metric("sample_seconds", fresh ? b.seconds.sample : 0), Metric("reward_seconds", fresh ? b.seconds.reward : 0),
            Metric("reference_seconds", fresh ? b.seconds.reference : 0), Metric("update_seconds", updateSeconds),
        ]
        guard fresh else { return TaskStep(metrics: metrics, tokens: 0) }
        var rows: [RolloutRow] = []
        for (i, item) in b.items.enumerated() {
            let completion = b.groups[item.group].completions[item.sample]
            rows.append(RolloutRow(
                example: b.groups[item.group].example, sample: item.sample, reward: all[i],
                components: b.scored.components.filter { $0.name != reward.name }.map { Metric($0.name, $0.values[i]) },
                advantage: flatAdvantages[i], length: completion.tokens.count, truncated: completion.truncated,
                completion: completion.text))
        }
        return TaskStep(metrics: metrics, tokens: lengths.reduce(0, +), rollouts: rows)
    }

    func sampleBatch(step: Int, examples batch: [Int], progress: @escaping (PhaseProgress) -> Void) throws -> SampledBatch {
        let clock = Stopwatch()
        var requantizeSeconds = 0.0
        if config.rolloutWeights != .f32 {
            try policy.useInferenceWeights(config.rolloutWeights)  // a fresh copy of the weights just updated
            requantizeSeconds = clock.lap()
        }
        let groups = try sampler.sample(
            policy: policy, prompts: batch.map { ($0, prompts[$0]) }, samples: config.samples, seed: seed, purpose: "rollout",
            step: step, onToken: { progress(PhaseProgress(step: step, phase: "sampling", done: $0, total: $1)) })
        if config.rolloutWeights != .f32 { try policy.useInferenceWeights(.f32) }  // stale after the update; display samples use fp32
        let sampleSeconds = clock.lap()

        let scored = try reward.score(groups.flatMap { g in
            g.completions.map { examples[g.example].rewardInput($0) }
        })
        let rewards = regroup(scored.scores, like: groups)
        let rewardSeconds = clock.lap()

        var items: [(group: Int, sample: Int)] = []
        for (g, group) in groups.enumerated() { for s in group.completions.indices { items.append((g, s)) } }
        func score(_ model: Llama?, _ phase: String) throws -> [[Float]]? {
            guard let model else { return nil }
            var out: [[Float]] = []
            for start in stride(from: 0, to: items.count, by: config.microBatch) {
                let part = Array(items[start..<min(start + config.microBatch, items.count)])
                let (tokenBatch, targets, spans) = sequences(part, groups)
                let lp = try model.scoreLogProbs(tokenBatch, targets: targets, temperature: config.temperature)
                out += spans.map { Array(lp[$0]) }
                progress(PhaseProgress(step: step, phase: phase, done: start + part.count, total: items.count))
            }
            return out
        }
        let referenceLogProbs = try score(reference, "reference")
        let oldLogProbs = try score(config.iterations > 1 ? policy : nil, "old policy")
        return SampledBatch(
            firstStep: step, groups: groups, scored: scored, rewards: rewards,
            advantages: try objective.advantages(rewards, components: Dictionary(scored.components.map { ($0.name, regroup($0.values, like: groups)) }, uniquingKeysWith: { first, _ in first })),
            weights: objective.weights(lengths: groups.map { $0.completions.map(\.tokens.count) }, maxNewTokens: config.maxNewTokens),
            items: items, referenceLogProbs: referenceLogProbs, oldLogProbs: oldLogProbs,
            seconds: (requantizeSeconds, sampleSeconds, rewardSeconds, clock.lap()))
    }

    /// Prompt + completion sequences of some completions with targets on their completion rows.
    func sequences(_ part: [(group: Int, sample: Int)], _ groups: [RolloutGroup]) -> (TokenBatch, [Int32], [Range<Int>]) {
        let completions = part.map { groups[$0.group].completions[$0.sample].tokens }
        return completionTargets(sequences: zip(part, completions).map { groups[$0.0.group].prompt + $0.1 }, completions: completions)
    }

    /// Held-out evaluation is `refalign evaluate`'s job; training logs only its own rollouts.
    public func evaluate(step: Int) throws -> [Metric] { [] }

    /// The current policy's greedy answer to the first training prompt, with its reward.
    public func samples(step: Int, rng: inout Xoshiro256) throws -> [SampleRow] {
        let greedy = RolloutSampler(format: format, maxNewTokens: config.maxNewTokens, sampling: .greedy)
        let group = try greedy.sample(policy: policy, prompts: [(0, prompts[0])], samples: 1, seed: seed, purpose: "display", step: step)[0]
        let completion = group.completions[0]
        let score = try reward.score([examples[0].rewardInput(completion)])
        return [SampleRow(prompt: examples[0].promptText, completion: completion.text, reward: score.scores[0])]
    }
}

/// τ_t = min(exp(δ_t), C) for δ_t = log π_old − log π_sampler of each sampled token: TRL's
/// token_truncate importance ratio (no lower bound).
public func truncatedImportanceWeights(delta: [Double], cap: Double) -> [Double] { delta.map { min(exp($0), cap) } }

/// k3 estimate of KL(π ‖ π_ref) from δ = ℓref − ℓ: e^δ − δ − 1.
@inline(__always) func k3(_ delta: Double) -> Double { exp(delta) - delta - 1 }

/// Flat per-completion values back into groups.
func regroup<T>(_ flat: [T], like groups: [RolloutGroup]) -> [[T]] {
    var out: [[T]] = [], next = 0
    for g in groups {
        out.append(Array(flat[next..<next + g.completions.count]))
        next += g.completions.count
    }
    return out
}

/// Seconds between laps.
final class Stopwatch {
    private var last = DispatchTime.now().uptimeNanoseconds
    func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) * 1e-9
    }
}
