// BLEUBERI's hard-example selection (arXiv 2505.11080 §3): the base policy answers every prompt once
// (temperature 0.7, top-p 0.9 in BLEUBERI), each answer is scored against its references, and the N
// lowest-scoring prompts are kept: those where the reward has the most to teach. Ties keep data order.
import Rewards
import Transformer

public struct ScoredExample: Sendable {
    public let index: Int
    public let score: Double
    public let completion: String
}

public func selectHardExamples(
    policy: Llama, sampler: RolloutSampler, examples: [AlignmentExample], reward: any Reward, keep: Int, maxPromptTokens: Int,
    seed: UInt64, onToken: ((Int, Int) -> Void)? = nil
) throws -> [ScoredExample] {
    let prompts = examples.enumerated().map { ($0.offset, sampler.format.promptTokens($0.element.messages, maxTokens: maxPromptTokens)) }
    let groups = try sampler.sample(policy: policy, prompts: prompts, samples: 1, seed: seed, purpose: "select", step: 0, onToken: onToken)
    let scores = try reward.score(groups.map { g in
        examples[g.example].rewardInput(g.completions[0])
    }).scores
    let scored = groups.enumerated().map { ScoredExample(index: $0.element.example, score: scores[$0.offset], completion: $0.element.completions[0].text) }
    let hardest = scored.enumerated().sorted { ($0.element.score, $0.offset) < ($1.element.score, $1.offset) }.prefix(keep).map(\.element)
    return hardest.sorted { $0.score > $1.score }  // saved by score, descending, as BLEUBERI does
}
