// Rollouts: K completions per prompt from the current policy in one batched, KV-cached pass.
//
// Randomness never depends on batch shape: sample s of example e at step t draws only from its own
// stream, derived from the run seed and (purpose, t, e, s), so a seed gives the same completions
// whatever the micro-batch size, the logging cadence or which other prompts share the batch; training
// rollouts, evaluation and display samples use different purposes. A completion ends at and includes
// the first stop token (the end-of-turn token); one that reaches the length limit is truncated.
import Rewards
import Tensor
import Tokenizers
import Transformer

/// One prompt with its reference answers; `source` names the data line (for messages).
public struct AlignmentExample: Sendable, Equatable {
    public var messages: [ChatMessage]
    public var references: [String]
    /// Known-unsafe responses (safety data lines' "unsafe").
    public var unsafe: [String]
    public var source: String

    public init(messages: [ChatMessage], references: [String], unsafe: [String] = [], source: String = "") {
        self.messages = messages
        self.references = references
        self.unsafe = unsafe
        self.source = source
    }

    /// The last user turn, the prompt a reward sees.
    public var promptText: String { messages.last { $0.role == "user" }?.content ?? messages.last?.content ?? "" }

    /// What a reward sees of one completion of this example.
    public func rewardInput(_ completion: Completion) -> RewardInput {
        RewardInput(prompt: promptText, completion: completion.text, references: references,
                    completionTokens: completion.answerLength, unsafeReferences: unsafe)
    }
}

/// How prompts become policy tokens and completions become text: the tokenizer, the chat template and
/// the stop tokens of the policy's file.
public struct ChatFormat: Sendable {
    public let tokenizer: ByteLevelBPE
    public let template: ChatTemplate
    public let stopTokens: [Int32]

    public init(tokenizer: ByteLevelBPE, template: ChatTemplate, stopTokens: [Int32]) {
        self.tokenizer = tokenizer
        self.template = template
        self.stopTokens = stopTokens
    }

    /// The templated prompt with the assistant's generation prompt, its first tokens dropped when longer
    /// than `maxTokens` (BLEUBERI truncates prompts on the left).
    public func promptTokens(_ messages: [ChatMessage], maxTokens: Int) -> [Int32] {
        Array(tokenizer.encode(template.render(messages)).suffix(maxTokens))
    }
}

public struct Completion: Sendable, Equatable {
    /// Sampled tokens, the stop token included when one ended it: the tokens the loss covers.
    public var tokens: [Int32]
    /// log softmax(logits / T) of each sampled token under the sampling policy.
    public var samplingLogProbs: [Float]
    /// True when the length limit, not a stop token, ended it.
    public var truncated: Bool
    /// The decoded answer, without the stop token.
    public var text: String

    /// Answer tokens, the stop token excluded (|y| of length-aware rewards).
    public var answerLength: Int { truncated ? tokens.count : tokens.count - 1 }
}

public struct RolloutGroup: Sendable, Equatable {
    /// Index of the example in the data file.
    public var example: Int
    public var prompt: [Int32]
    public var completions: [Completion]
}

public enum RandomStreams {
    /// The stream of sample `sample` of example `example` at `step`, for `purpose` (rollout, eval, display).
    public static func sample(seed: UInt64, purpose: String, step: Int, example: Int, sample: Int) -> Xoshiro256 {
        Xoshiro256(seed: seed, stream: "\(purpose)/\(step)/\(example)/\(sample)")
    }
}

public struct RolloutSampler: Sendable {
    public var format: ChatFormat
    public var maxNewTokens: Int
    public var sampling: SamplingConfig
    /// Sequences decoded together; larger batches are split in example order.
    public var batchRows: Int

    public init(format: ChatFormat, maxNewTokens: Int, sampling: SamplingConfig, batchRows: Int = 64) {
        self.format = format
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.batchRows = batchRows
    }

    /// `samples` completions of each (example, prompt), drawn from the streams of (seed, purpose, step).
    /// `onToken(done, total)` reports decoding progress in sequences × tokens.
    public func sample(
        policy: Llama, prompts: [(example: Int, tokens: [Int32])], samples: Int, seed: UInt64, purpose: String, step: Int,
        onToken: ((_ done: Int, _ total: Int) -> Void)? = nil
    ) throws -> [RolloutGroup] {
        var rows: [(group: Int, sample: Int)] = []
        for g in prompts.indices { for s in 0..<samples { rows.append((g, s)) } }
        var groups = prompts.map { RolloutGroup(example: $0.example, prompt: $0.tokens, completions: []) }
        let total = rows.count * maxNewTokens
        var done = 0
        for start in stride(from: 0, to: rows.count, by: max(batchRows, 1)) {
            let part = rows[start..<min(start + batchRows, rows.count)]
            var rngs = part.map { RandomStreams.sample(seed: seed, purpose: purpose, step: step, example: prompts[$0.group].example, sample: $0.sample) }
            let generations = try policy.generate(
                prompts: part.map { prompts[$0.group].tokens }, maxNewTokens: maxNewTokens, sampling: sampling,
                stopTokens: format.stopTokens, rngs: &rngs, onStep: { onToken?(done + $0 * part.count, total) })
            done += part.count * maxNewTokens
            for (row, g) in zip(part, generations) {
                let answer = g.stopped ? Array(g.tokens.dropLast()) : g.tokens
                groups[row.group].completions.append(Completion(
                    tokens: g.tokens, samplingLogProbs: g.logProbs, truncated: !g.stopped, text: format.tokenizer.decode(answer)))
            }
        }
        return groups
    }
}
