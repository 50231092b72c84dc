// Supervised fine-tuning on the references (the baseline of RefAlign and BLEUBERI): one example per
// (prompt, reference), the reference tokenised as the assistant turn's content plus the end-of-turn
// token, and the token-mean negative log-likelihood over the batch's completion tokens only:
//
//   L = −(1 / Σ|y|) Σ_(x,y) Σ_t log π(y_t | x, y_<t)
//
// Held-out NLL (the same token mean over every held-out example) is logged as /eval/nll.
import Foundation
import RunRecords
import Tensor
import Training
import Transformer

public final class SFTTask: TrainingTask {
    public let policy: Llama
    let prompts: [[Int32]]
    let answers: [[Int32]]
    let heldOut: [(prompt: [Int32], answer: [Int32])]
    public let microBatch: Int

    /// `examples` and `heldOutExamples` contribute one item per reference.
    public init(policy: Llama, format: ChatFormat, examples: [AlignmentExample], heldOutExamples: [AlignmentExample] = [],
                maxPromptTokens: Int, maxAnswerTokens: Int, microBatch: Int) throws {
        func items(_ list: [AlignmentExample]) -> [(prompt: [Int32], answer: [Int32])] {
            list.flatMap { e in
                let prompt = format.promptTokens(e.messages, maxTokens: maxPromptTokens)
                return e.references.map { (prompt, format.answerTokens($0, maxTokens: maxAnswerTokens)) }
            }
        }
        let train = items(examples)
        guard !train.isEmpty else { throw TrainingError("sft: no (prompt, reference) examples") }
        self.policy = policy
        prompts = train.map(\.prompt)
        answers = train.map(\.answer)
        heldOut = items(heldOutExamples)
        self.microBatch = max(microBatch, 1)
    }

    public var parameters: ParameterStore { policy.parameters }
    public var exampleCount: Int { prompts.count }

    public func computeGradients(step: Int, examples batch: [Int], rng: inout Xoshiro256, progress: (PhaseProgress) -> Void) throws -> TaskStep {
        let tokens = batch.reduce(0) { $0 + answers[$1].count }
        let weight = Float(-1 / Double(max(tokens, 1)))
        var loss = 0.0
        for start in stride(from: 0, to: batch.count, by: microBatch) {
            let part = batch[start..<min(start + microBatch, batch.count)]
            let (tokenBatch, targets, spans) = completionTargets(sequences: part.map { prompts[$0] + answers[$0] }, completions: part.map { answers[$0] })
            let acts = try policy.forward(tokenBatch)
            let lp = try policy.tokenLogProbs(acts, targets: targets)
            var dLogProb = [Float](repeating: 0, count: targets.count)
            for span in spans { for t in span { dLogProb[t] = weight; loss -= Double(lp[t]) } }
            try policy.backward(acts, targets: targets, dLogProb: dLogProb)
            progress(PhaseProgress(step: step, phase: "update", done: start + part.count, total: batch.count))
        }
        return TaskStep(metrics: [Metric("loss", loss / Double(max(tokens, 1))), Metric("tokens", Double(tokens))], tokens: tokens)
    }

    /// Token-mean NLL over every held-out (prompt, reference).
    public func evaluate(step: Int) throws -> [Metric] {
        guard !heldOut.isEmpty else { return [] }
        let sums = try sequenceLogProbs(model: policy, sequences: heldOut.map { $0.prompt + $0.answer }, completions: heldOut.map(\.answer), microBatch: microBatch)
        let tokens = heldOut.reduce(0) { $0 + $1.answer.count }
        return [Metric("nll", -sums.reduce(0, +) / Double(tokens))]
    }

    public func samples(step: Int, rng: inout Xoshiro256) throws -> [SampleRow] { [] }
}

extension ChatFormat {
    /// An answer as the policy would emit it: the content's tokens (at most `maxTokens`) and the stop token.
    public func answerTokens(_ text: String, maxTokens: Int) -> [Int32] {
        Array(tokenizer.encode(text).prefix(maxTokens)) + stopTokens.prefix(1)
    }
}
