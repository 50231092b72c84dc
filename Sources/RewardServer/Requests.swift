// Parsing and validation of the two request bodies. Every failure names the field (and index) at fault,
// so a client sees which sample of its batch is wrong.
import Foundation
import Rewards

/// A request that cannot be answered with rewards: 400 (bad input), 422 (the reward is not finite or the
/// metric rejects the input), 503 (queue full).
public struct RequestFailure: Error, Equatable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
    public var description: String { "\(status): \(message)" }
    static func badRequest(_ message: String) -> RequestFailure { RequestFailure(400, message) }
}

/// End-of-turn tokens removed from the end of an OpenRLHF response, repeatedly (a response may end in
/// several, e.g. an eos after an end-of-turn): ChatML/Qwen, Llama 3, GPT-2/Qwen base, Llama 2/Mistral, Gemma.
public let endOfTurnTokens = ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>", "<end_of_turn>", "<eos>"]

/// The response inside an OpenRLHF query: `query` minus its `prompt` prefix (compared by code points, as
/// OpenRLHF's Python reward functions slice), then trailing end-of-turn tokens removed. nil when `query`
/// does not start with `prompt`.
public func responseText(query: String, prompt: String) -> String? {
    let q = Array(query.unicodeScalars), p = Array(prompt.unicodeScalars)
    guard q.starts(with: p) else { return nil }
    var response = q[p.count...]
    var stripped = true
    while stripped {
        stripped = false
        for token in endOfTurnTokens {
            let t = Array(token.unicodeScalars)
            if response.count >= t.count, response.suffix(t.count).elementsEqual(t) {
                response.removeLast(t.count)
                stripped = true
            }
        }
    }
    var out = String.UnicodeScalarView()
    out.append(contentsOf: response)
    return String(out)
}

/// A JSON object body: valid UTF-8, well-formed JSON, an object at the top.
func jsonObject(_ body: [UInt8]) throws -> [String: Any] {
    guard String(bytes: body, encoding: .utf8) != nil else { throw RequestFailure.badRequest("body: not valid UTF-8") }
    let value: Any
    do { value = try JSONSerialization.jsonObject(with: Data(body)) } catch {
        throw RequestFailure.badRequest("body: malformed JSON")
    }
    guard let object = value as? [String: Any] else { throw RequestFailure.badRequest("body: expected a JSON object") }
    return object
}

func typeName(_ value: Any) -> String {
    switch value {
    case is String: "a string"
    case is [Any]: "a list"
    case is [String: Any]: "an object"
    case is NSNull: "null"
    case is NSNumber: "a number or boolean"
    default: "\(type(of: value))"
    }
}

func strings(_ object: [String: Any], _ field: String) throws -> [String] {
    guard let value = object[field] else { throw RequestFailure.badRequest("\(field): missing") }
    guard let list = value as? [Any] else { throw RequestFailure.badRequest("\(field): expected a list of strings, got \(typeName(value))") }
    return try list.enumerated().map { i, item in
        guard let s = item as? String else { throw RequestFailure.badRequest("\(field)[\(i)]: expected a string, got \(typeName(item))") }
        return s
    }
}

/// A list whose items are each one reference (a string) or several (a non-empty list of strings).
func referenceLists(_ object: [String: Any], _ field: String) throws -> [[String]] {
    guard let value = object[field] else { throw RequestFailure.badRequest("\(field): missing") }
    guard let list = value as? [Any] else { throw RequestFailure.badRequest("\(field): expected a list, got \(typeName(value))") }
    // An empty reference is refused rather than scored 0: OpenRLHF sends "" when --data.label_key is missing.
    func reference(_ value: Any, _ name: String) throws -> String {
        guard let s = value as? String else { throw RequestFailure.badRequest("\(name): expected a string, got \(typeName(value))") }
        guard !s.isEmpty else { throw RequestFailure.badRequest("\(name): empty reference (OpenRLHF sends \"\" without --data.label_key)") }
        return s
    }
    return try list.enumerated().map { i, item in
        if item is String { return [try reference(item, "\(field)[\(i)]")] }
        guard let refs = item as? [Any] else {
            throw RequestFailure.badRequest("\(field)[\(i)]: expected a string or a list of strings, got \(typeName(item))")
        }
        guard !refs.isEmpty else { throw RequestFailure.badRequest("\(field)[\(i)]: no reference") }
        return try refs.enumerated().map { j, r in try reference(r, "\(field)[\(i)][\(j)]") }
    }
}

func requireSameLength(_ field: String, _ count: Int, as other: String, _ otherCount: Int) throws {
    guard count == otherCount else {
        throw RequestFailure.badRequest("\(field): \(count) items, but \(other) has \(otherCount)")
    }
}

/// OpenRLHF's body, `{"query": [...], "prompts": [...], "labels": [...]}`, as reward inputs.
public func parseOpenRLHFRequest(_ body: [UInt8]) throws -> [RewardInput] {
    let object = try jsonObject(body)
    let queries = try strings(object, "query")
    let prompts = try strings(object, "prompts")
    let labels = try referenceLists(object, "labels")
    try requireSameLength("prompts", prompts.count, as: "query", queries.count)
    try requireSameLength("labels", labels.count, as: "query", queries.count)
    return try queries.indices.map { i in
        guard let response = responseText(query: queries[i], prompt: prompts[i]) else {
            throw RequestFailure.badRequest("query[\(i)]: does not start with prompts[\(i)]")
        }
        return RewardInput(prompt: prompts[i], completion: response, references: labels[i])
    }
}

/// The batch body for TRL and verl, `{"completions": [...], "references": [[...]], "prompts": [...]}`
/// (prompts optional), as reward inputs.
public func parseScoreRequest(_ body: [UInt8]) throws -> [RewardInput] {
    let object = try jsonObject(body)
    let completions = try strings(object, "completions")
    let references = try referenceLists(object, "references")
    try requireSameLength("references", references.count, as: "completions", completions.count)
    var prompts = [String](repeating: "", count: completions.count)
    if let value = object["prompts"], !(value is NSNull) {
        prompts = try strings(object, "prompts")
        try requireSameLength("prompts", prompts.count, as: "completions", completions.count)
    }
    return completions.indices.map { RewardInput(prompt: prompts[$0], completion: completions[$0], references: references[$0]) }
}

/// A reward output with every value finite, or a 422 naming the first value that is not.
func requireFinite(_ output: RewardOutput) throws {
    if let i = output.scores.firstIndex(where: { !$0.isFinite }) {
        throw RequestFailure(422, "rewards[\(i)]: the reward is \(output.scores[i]) for this input")
    }
    for (name, values) in output.components {
        if let i = values.firstIndex(where: { !$0.isFinite }) { throw RequestFailure(422, "\(name)[\(i)]: \(values[i]) for this input") }
    }
}
