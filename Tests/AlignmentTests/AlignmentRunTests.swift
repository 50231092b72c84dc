import Foundation
import Testing
@testable import Alignment
@testable import Experiments
import RunRecords
import Tensor
import TestSupport
import Training
import Transformer
import Rewards

/// End-to-end alignment runs on the tiny model (SmolLM2's tokenizer, random 2-layer Llama), BLEU reward.
@Suite("Alignment runs on the tiny model", .serialized)
struct AlignmentRunTests {
    static let timings: Set<String> = ["requantize_seconds", "sample_seconds", "reward_seconds", "reference_seconds", "update_seconds", "step_seconds",
                                       "tokens_per_second", "wall_time"]

    /// Four MT-Bench prompts with short references, written to a temporary file.
    static func dataFile() throws -> String {
        let path = temporaryDirectory() + "/data.jsonl"
        let lines = try AlignmentData.prepare(.mtBench, dataRoot: projectRoot + "/../shared/bleuberi_data", first: 4, referenceWords: 12)
        try writeJSONLines(lines, to: path)
        return path
    }

    static func config(_ method: String, data: String, seed: UInt64 = 3, microBatch: Int = 4, sampleEvery: Int = 0) throws -> AlignmentJobConfig {
        var c = try AlignmentJobConfig.resolve(method: method, preset: nil, overrides: [
            "data": data, "reward": "bleu", "steps": 3, "promptsPerStep": 2, "samples": 3, "maxNewTokens": 6,
            "learningRate": 1e-3, "warmupRatio": 0, "microBatch": microBatch, "seed": seed, "checkpointEvery": 0,
            "sampleEvery": sampleEvery,
        ])
        c.model = "tiny"
        c.modelFile = smolLM2Path
        return c
    }

    struct Tables: Equatable {
        var train: [String: [Double]] = [:]
        var rollouts: [String: [String]] = [:]
    }

    /// /train without the timing columns, and /rollouts, of a finished run.
    static func run(_ c: AlignmentJobConfig) throws -> Tables {
        let dir = temporaryDirectory()
        try AlignmentJob.trainer(c, directory: dir, threads: 1).run(.new) { _ in .proceed }
        let file = try HDF5File.open(dir + "/run.h5")
        var t = Tables()
        for name in try file.members(of: "train") where !timings.contains(name) {
            t.train[name] = name == "step" ? try file.readInt64s("train/step").map(Double.init) : try file.readDoubles("train/\(name)")
        }
        let integers: Set<String> = ["step", "example", "sample", "length", "truncated"]
        for name in try file.members(of: "rollouts") {
            let path = "rollouts/\(name)"
            if name == "completion" {
                t.rollouts[name] = try file.readStrings(path)
            } else if integers.contains(name) {
                t.rollouts[name] = try file.readInt64s(path).map { "\($0)" }
            } else {
                t.rollouts[name] = try file.readDoubles(path).map { "\($0.bitPattern)" }
            }
        }
        return t
    }

    @Test func aRunWritesTheSchemaAndIsReproducible() throws {
        let data = try Self.dataFile()
        let first = try Self.run(Self.config("grpo", data: data))
        for column in ["reward_mean", "reward_std", "loss", "advantage_abs_mean", "kl", "entropy", "length_mean", "length_min",
                       "length_max", "truncated_fraction", "zero_spread_fraction", "clip_fraction", "grad_norm", "lr"] {
            #expect(first.train[column]?.count == 3, "/train/\(column)")
        }
        #expect(first.rollouts["completion"]?.count == 3 * 2 * 3)
        #expect(Set(first.rollouts.keys).isSuperset(of: ["step", "example", "sample", "reward", "advantage", "length", "truncated"]))
        #expect(first.train["kl"]!.allSatisfy { $0.isFinite && $0 >= 0 })

        let again = try Self.run(Self.config("grpo", data: data))
        let bits: (Tables) -> [String: [UInt64]] = { $0.train.mapValues { $0.map(\.bitPattern) } }
        #expect(bits(again) == bits(first))
        #expect(again.rollouts == first.rollouts)
        let otherSeed = try Self.run(Self.config("grpo", data: data, seed: 4))
        #expect(otherSeed.rollouts["completion"] != first.rollouts["completion"])
    }

    /// Micro-batching and display sampling change memory and logging, never the samples.
    @Test func microBatchAndSampleCadenceDoNotChangeRollouts() throws {
        let data = try Self.dataFile()
        let base = try Self.run(Self.config("refalign", data: data, microBatch: 4))
        let split = try Self.run(Self.config("refalign", data: data, microBatch: 1, sampleEvery: 1))
        #expect(split.rollouts == base.rollouts)
        for (a, b) in zip(base.train["loss"]!, split.train["loss"]!) { #expect(abs(a - b) <= 1e-5 * max(1, abs(a))) }
    }

    @Test(arguments: ["refalign", "rloo"]) func everyMethodRuns(method: String) throws {
        let t = try Self.run(Self.config(method, data: try Self.dataFile()))
        #expect(t.train["step"] == [1, 2, 3])
        #expect(t.train["grad_norm"]!.allSatisfy { $0.isFinite })
    }

    /// μ = 2: each sampled batch takes two updates; the second is off-policy (ratios ≠ 1, clipping on).
    @Test func twoUpdatesPerSampledBatch() throws {
        var c = try Self.config("grpo", data: try Self.dataFile())
        c.iterations = 2
        c.steps = 4
        c.learningRate = 1e-2
        let t = try Self.run(c)
        #expect(t.train["step"] == [1, 2, 3, 4])
        #expect(Set(t.rollouts["step"]!) == ["1", "3"])
        let clip = t.train["clip_fraction"]!
        #expect(clip[0] == 0 && clip[2] == 0, "the first update of a batch is on-policy")
        #expect(clip[1] > 0 || clip[3] > 0, "the second update of a batch clips some ratios")
    }

    /// Rollouts from q8_0 weights: the loss still takes the fp32 log-probs, and /train shows how far the
    /// sampler's disagree (with f32 rollouts only the sampler/trainer rounding), the truncated importance
    /// weights when the correction is on, and the copy is dropped after sampling (display samples are f32).
    @Test func quantizedRolloutsLogTheirMismatch() throws {
        let data = try Self.dataFile()
        let f32 = try Self.run(Self.config("grpo", data: data))
        var c = try Self.config("grpo", data: data)
        c.rolloutWeights = .q8_0
        c.importanceSamplingCap = 2
        let q8 = try Self.run(c)
        let exact = f32.train["sampler_logprob_mismatch"]!, quantized = q8.train["sampler_logprob_mismatch"]!
        #expect(exact.allSatisfy { $0 < 1e-4 } && f32.train["sampler_kl"]!.allSatisfy { $0 < 1e-7 }, "f32: \(exact)")
        #expect(zip(quantized, exact).allSatisfy { $0 > 10 * $1 && $0 > 1e-4 }, "q8_0 \(quantized) vs f32 \(exact)")
        #expect(q8.train["sampler_kl"]!.allSatisfy { $0 > 0 && $0.isFinite })
        #expect(q8.train["importance_weight_mean"]!.allSatisfy { $0 > 0.5 && $0 <= 2 })
        #expect(q8.train["importance_truncated_fraction"]!.allSatisfy { $0 >= 0 && $0 < 0.5 })
        #expect(f32.train["importance_weight_mean"]!.allSatisfy { $0.isNaN }, "no correction: no weights")
        #expect(q8.rollouts["completion"] != f32.rollouts["completion"], "q8_0 samples differ somewhere from f32 ones")

        let (policy, format) = try AlignmentJob.policy(c)
        let task = try PolicyGradientTask(
            policy: policy, format: format, examples: try AlignmentData.read(c.data), objective: try AlignmentJob.objective(c),
            similarity: try RewardRegistry.make("bleu", options: RewardOptions()),
            config: PolicyGradientConfig(samples: 2, maxNewTokens: 4, sampling: .greedy, rolloutWeights: .q8_0),
            seed: 1)
        var rng = Xoshiro256(seed: 1)
        _ = try task.computeGradients(step: 1, examples: [0], rng: &rng) { _ in }
        #expect(policy.inferenceWeightFormats.isEmpty, "the sampler's quantized copy outlives the batch")
    }

    /// The sampler's settings, refused by a job before any model loads (its model and data do not exist)
    /// and by the task on its own, with the same messages.
    @Test func samplerSettingsAreRefusedByTheJobAndTheTask() throws {
        let native = "rolloutWeights must be f32 or q8_0, not native (native would sample from the model file's blocks, not from the policy being trained)"
        let cases: [(WeightMode, Double?, String)] = [
            (.native, nil, native), (.q8_0, 0, "importanceSamplingCap 0.0 is not a positive finite number"),
            (.f32, .infinity, "importanceSamplingCap inf is not a positive finite number"),
        ]
        var c = try Self.config("grpo", data: try Self.dataFile())
        let (policy, format) = try AlignmentJob.policy(c)
        c.data = "/nonexistent/data.jsonl"
        c.modelFile = "/nonexistent/model.gguf"
        for (weights, cap, message) in cases {
            c.rolloutWeights = weights
            c.importanceSamplingCap = cap
            #expect { try AlignmentJob.trainer(c, directory: temporaryDirectory(), threads: 1) } throws: { "\($0)" == message }
            let config = PolicyGradientConfig(samples: 2, maxNewTokens: 4, sampling: .greedy, rolloutWeights: weights, importanceSamplingCap: cap)
            #expect {
                try PolicyGradientTask(policy: policy, format: format, examples: [], objective: RLOOObjective(),
                                       similarity: try RewardRegistry.make("bleu", options: RewardOptions()), config: config, seed: 1)
            } throws: { "\($0)" == message }
        }
    }

    @Test func malformedDataIsAnErrorNamingFileLineAndField() throws {
        let path = temporaryDirectory() + "/bad.jsonl"
        try Data("{\"prompt\": \"a\", \"reference\": \"b\"}\n{\"prompt\": \"a\"}\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try AlignmentData.read(path) } throws: { "\($0)" == "\(path):2: missing field \"reference\" (or \"references\")" }
        try Data("{\"prompt\": [{\"role\": \"user\"}], \"references\": [\"b\"]}\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect { try AlignmentData.read(path) } throws: { "\($0)".hasPrefix("\(path):1: prompt[0] must be") }
        try Data("{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"references\": [\"b\", \"c\"]}\n".utf8).write(to: URL(fileURLWithPath: path))
        let examples = try AlignmentData.read(path)
        #expect(examples[0].messages == [.init(role: "user", content: "hi")] && examples[0].references == ["b", "c"])
    }

    @Test func presetsResolveUnderCommandLineOptions() throws {
        let preset = temporaryDirectory() + "/p.json"
        try Data("{\"samples\": 5, \"beta\": 0.1}".utf8).write(to: URL(fileURLWithPath: preset))
        let c = try AlignmentJobConfig.resolve(method: "grpo", preset: preset, overrides: ["beta": 0.2])
        #expect(c.samples == 5 && c.beta == 0.2 && c.temperature == 0.9 && c.aggregation == .bnpo)
        try Data("{\"smaples\": 5}".utf8).write(to: URL(fileURLWithPath: preset))
        #expect { try AlignmentJobConfig.resolve(method: "grpo", preset: preset, overrides: [:]) } throws: {
            "\($0)" == "\(preset): unknown field \"smaples\""
        }
    }

    /// A bad sampler value is an error naming the option (command line) or the file and field (preset),
    /// the value and the accepted values, given before any model loads.
    @Test func badSamplerValuesNameTheirOptionOrField() throws {
        let accepted = "must be f32 or q8_0, not"
        let why = "(native would sample from the model file's blocks, not from the policy being trained)"
        let preset = temporaryDirectory() + "/p.json"
        let cases: [(String, Any, String)] = [
            ("rolloutWeights", "q4_0", "rolloutWeights \(accepted) q4_0"), ("rolloutWeights", "native", "rolloutWeights \(accepted) native \(why)"),
            ("importanceSamplingCap", -1.0, "importanceSamplingCap -1.0 is not a positive finite number"),
        ]
        for (field, value, message) in cases {
            let option = field == "rolloutWeights" ? "--rollout-weights" : "--importance-sampling-cap"
            #expect { try AlignmentJobConfig.resolve(method: "grpo", preset: nil, overrides: [field: value]) } throws: {
                "\($0)" == message.replacingOccurrences(of: field, with: option)
            }
            try JSONSerialization.data(withJSONObject: [field: value]).write(to: URL(fileURLWithPath: preset))
            #expect { try AlignmentJobConfig.resolve(method: "grpo", preset: preset, overrides: [:]) } throws: { "\($0)" == "\(preset): \(message)" }
        }
        let cli = try runCommand([try refalignExecutable(), "train", "--method", "grpo", "--model", "tiny", "--data", "/nonexistent/data.jsonl",
                                  "--rollout-weights", "q4_0", "--out", temporaryDirectory()])
        #expect(cli.status != 0 && cli.output.contains("--rollout-weights \(accepted) q4_0\n"), "\(cli.output)")
    }
}

/// The learning direction end to end: on the tiny model, a reward with signal from the first step (the
/// share of a completion's re-encoded tokens in the lower half of the vocabulary, ≈ 0.5 at random) must
/// rise under every policy-gradient method.
@Suite("Policy-gradient methods raise their reward")
struct LearningDirectionTests {
    struct LowerHalfShare: Reward {
        let name = "lower_half_share"
        let format: ChatFormat
        func score(_ batch: [RewardInput]) throws -> RewardOutput {
            let scores = batch.map { input -> Double in
                let ids = format.tokenizer.encode(input.completion)
                return ids.isEmpty ? 0 : Double(ids.filter { $0 < 49152 / 2 }.count) / Double(ids.count)
            }
            return RewardOutput(scores: scores, components: [(name, scores)])
        }
    }

    @Test(arguments: ["refalign", "grpo", "rloo"]) func rewardRises(method: String) throws {
        var c = try AlignmentRunTests.config(method, data: try AlignmentRunTests.dataFile())
        c.samples = 4
        c.maxNewTokens = 8
        c.temperature = 1
        c.topK = 0
        c.clip = 10
        c.learningRate = 1e-2
        let (policy, format) = try AlignmentJob.policy(c)
        let task = try PolicyGradientTask(
            policy: policy, format: format, examples: try AlignmentData.read(c.data), objective: try AlignmentJob.objective(c),
            similarity: LowerHalfShare(format: format),
            config: PolicyGradientConfig(samples: c.samples, maxNewTokens: c.maxNewTokens, sampling: SamplingConfig(temperature: 1), microBatch: 4),
            seed: 1)
        let dir = temporaryDirectory()
        let trainer = Trainer(task: task, config: TrainerConfig(steps: 20, batchSize: 2, learningRate: c.learningRate, maxGradNorm: 1,
                                                                checkpointEvery: 0, evaluateEvery: 0, sampleEvery: 0, seed: 1),
                              directory: dir, configJSON: "{}", metadata: .current(method: method, model: "tiny", seed: 1, configJSON: "{}"))
        try trainer.run(.new) { _ in .proceed }
        let reward = try RunSummary(path: dir + "/run.h5").train["reward_mean"]!
        // Step 1's samples come from the initial policy; the last five steps' from the trained one.
        let first = reward[0], last = reward.suffix(5).reduce(0, +) / 5
        #expect(last > first + 0.03, "\(method): reward \(first) → \(last)")
    }
}
