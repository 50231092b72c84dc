// The interface every training objective scores completions through: a batch of (prompt, completion,
// references) → one score per completion plus named components for logging. Objectives must log the
// same `scores` they turn into advantages (TRL once logged unweighted rewards while training on
// weighted ones).
import Foundation
import Tokenizers

public struct RewardInput: Sendable {
    public var prompt: String
    public var completion: String
    public var references: [String]
    /// The completion's length in policy tokens, for length-aware rewards.
    public var completionTokens: Int?
    /// Known-unsafe responses to the prompt (RefAlign's safety extension).
    public var unsafeReferences: [String]
    public init(prompt: String, completion: String, references: [String], completionTokens: Int? = nil, unsafeReferences: [String] = []) {
        self.prompt = prompt
        self.completion = completion
        self.references = references
        self.completionTokens = completionTokens
        self.unsafeReferences = unsafeReferences
    }
}

public struct RewardOutput: Sendable {
    public var scores: [Double]
    /// Named per-completion values (each as long as `scores`), in a fixed order.
    public var components: [(name: String, values: [Double])]

    public init(scores: [Double], components: [(name: String, values: [Double])]) {
        self.scores = scores
        self.components = components
    }
}

public struct RewardError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public protocol Reward: Sendable {
    var name: String { get }
    func score(_ batch: [RewardInput]) throws -> RewardOutput
}

extension Reward {
    /// Every similarity reward needs at least one reference per completion.
    func requireReferences(_ batch: [RewardInput]) throws {
        if let i = batch.firstIndex(where: { $0.references.isEmpty }) { throw RewardError("\(name): completion \(i) has no reference") }
    }
}

/// A reward computed one completion at a time from a similarity metric. Non-finite scores are errors
/// naming the completion, never silently passed into advantages.
public struct SimilarityReward: Reward {
    public let name: String
    let metric: @Sendable (_ completion: String, _ references: [String]) -> Double

    public init(name: String, metric: @escaping @Sendable (String, [String]) -> Double) {
        self.name = name
        self.metric = metric
    }

    public func score(_ batch: [RewardInput]) throws -> RewardOutput {
        try requireReferences(batch)
        let scores = try batch.enumerated().map { i, input -> Double in
            let s = metric(input.completion, input.references)
            guard s.isFinite else { throw RewardError("\(name): completion \(i) scored \(s)") }
            return s
        }
        return RewardOutput(scores: scores, components: [(name, scores)])
    }

    /// BLEUBERI's reward: smoothed BLEU of the text inside <answer>…</answer> (or after <answer>) when
    /// present, else of the stripped completion; an empty or whitespace-only completion scores 0.
    public static let bleuberi = SimilarityReward(name: "bleu") { completion, references in
        bleuSmoothed(hypothesis: answerText(completion), references: references)
    }
    public static let rougeL = SimilarityReward(name: "rouge_l") { rouge(.l, hypothesis: $0, references: $1).f }
    /// METEOR over wordpunct tokens (RefAlign's safety runs use METEOR; their tokenisation is unknown).
    public static func meteor(wordNet: WordNet) -> SimilarityReward {
        let metric = METEOR(wordNet: wordNet)
        return SimilarityReward(name: "meteor") { metric.score(hypothesis: meteorTokenize($0), references: $1.map { meteorTokenize($0) }) }
    }
    public static let brf1 = SimilarityReward(name: "brf1") { Rewards.brf1(hypothesis: $0, references: $1) }
    /// 1 when the completion equals a reference after trimming whitespace and a final period, comparing
    /// lower-cased Unicode scalars; else 0. A judge for checkable answers.
    public static let exactMatch = SimilarityReward(name: "exact_match") { completion, references in
        func normal(_ text: String) -> [Unicode.Scalar] {
            var scalars = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased().unicodeScalars)
            if scalars.last == "." { scalars.removeLast() }
            return scalars
        }
        let answer = normal(completion)
        return references.contains { normal($0) == answer } ? 1 : 0
    }
}

/// The text BLEUBERI scores: inside <answer>…</answer>, or after a lone <answer>, else all of it; stripped
/// of Python whitespace (str.strip). The tags are found in the UTF-8 bytes, as Python's str.find finds
/// them: a combining mark after "<answer>" does not hide it.
public func answerText(_ completion: String) -> String {
    var text = Array(completion.utf8)[...]
    if let open = firstOccurrence(of: "<answer>", in: text) {
        text = text[open.upperBound...]
        if let close = firstOccurrence(of: "</answer>", in: text) { text = text[..<close.lowerBound] }
    }
    return pythonStripped(String(decoding: text, as: UTF8.self))
}

/// The first range of `pattern`'s UTF-8 bytes in `bytes` (indices of `bytes`).
func firstOccurrence(of pattern: String, in bytes: ArraySlice<UInt8>) -> Range<Int>? {
    let p = Array(pattern.utf8)
    guard bytes.count >= p.count else { return nil }
    for i in bytes.startIndex...(bytes.endIndex - p.count) where bytes[i..<i + p.count].elementsEqual(p) { return i..<i + p.count }
    return nil
}

/// Python's str.strip(): leading and trailing code points that are whitespace to str.isspace.
func pythonStripped(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isPythonWhitespace($0) }),
          let last = scalars.lastIndex(where: { !isPythonWhitespace($0) }) else { return "" }
    return String(scalars[first...last])
}
