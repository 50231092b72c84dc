// Alignment data files and the shared benchmark data they are made from.
//
// A training or evaluation file has one JSON object per line:
//   {"prompt": "…" | [{"role": "…", "content": "…"}, …], "reference": "…"}   or   "references": ["…", …]
// (TRL's conversational prompt format is accepted as is). Every line is checked, with the file, line
// and field named, before any model is loaded.
import Alignment
import Foundation
import Tokenizers

public enum AlignmentData {
    /// `requireReferences: false` accepts prompt-only lines (for `refalign generate --input`).
    public static func read(_ path: String, requireReferences: Bool = true) throws -> [AlignmentExample] {
        let examples = try readJSONLines(path).map { record -> AlignmentExample in
            let (line, object) = (record.line, record.object)
            let at = "\(path):\(line)"
            let messages = try promptMessages(object["prompt"], at: at)
            let references: [String]
            switch (object["reference"], object["references"]) {
            case (let r as String, nil): references = [r]
            case (nil, let rs as [Any]):
                references = try rs.enumerated().map { i, r in
                    guard let r = r as? String else { throw DataError("\(at): references[\(i)] must be a string") }
                    return r
                }
                guard !references.isEmpty else { throw DataError("\(at): field \"references\" is empty") }
            case (nil, nil):
                guard !requireReferences else { throw DataError("\(at): missing field \"reference\" (or \"references\")") }
                references = []
            case (.some, .some): throw DataError("\(at): give \"reference\" or \"references\", not both")
            default: throw DataError("\(at): field \"reference\" must be a string and \"references\" a list of strings")
            }
            var unsafe: [String] = []
            switch object["unsafe"] {
            case nil: break
            case let list as [Any]:
                unsafe = try list.enumerated().map { i, u in
                    guard let u = u as? String else { throw DataError("\(at): unsafe[\(i)] must be a string") }
                    return u
                }
            default: throw DataError("\(at): field \"unsafe\" must be a list of strings")
            }
            var example = AlignmentExample(messages: messages, references: references, unsafe: unsafe, source: at)
            if let c = object["confidence"] {  // CONQORD-format SFT targets: the reference with this confidence
                guard let c = c as? Double, (0...1).contains(c) else { throw DataError("\(at): field \"confidence\" must be a number in [0, 1]") }
                example.references = example.references.map { ConfidenceFormat.target(answer: $0, confidence: c) }
            }
            return example
        }
        guard !examples.isEmpty else { throw DataError("\(path): no examples") }
        return examples
    }

    /// Preference lines in TRL's field names: {"prompt", "chosen", "rejected"}, each a string or a
    /// conversation (the prompt's messages; for chosen/rejected the content of the last assistant turn).
    public static func readPairs(_ path: String) throws -> [(example: AlignmentExample, chosen: String, rejected: String)] {
        let pairs = try readJSONLines(path).map { record -> (example: AlignmentExample, chosen: String, rejected: String) in
            let (line, object) = (record.line, record.object)
            let at = "\(path):\(line)"
            let messages = try promptMessages(object["prompt"], at: at)
            func answer(_ field: String) throws -> String {
                switch object[field] {
                case let text as String: return text
                case let turns as [[String: Any]]:
                    guard let last = turns.last(where: { $0["role"] as? String == "assistant" }), let content = last["content"] as? String else {
                        throw DataError("\(at): field \"\(field)\" has no assistant message with string content")
                    }
                    return content
                case nil: throw DataError("\(at): missing field \"\(field)\"")
                default: throw DataError("\(at): field \"\(field)\" must be a string or a list of messages")
                }
            }
            return (AlignmentExample(messages: messages, references: [], source: at), try answer("chosen"), try answer("rejected"))
        }
        guard !pairs.isEmpty else { throw DataError("\(path): no pairs") }
        return pairs
    }

    static func promptMessages(_ value: Any?, at: String) throws -> [ChatMessage] {
        switch value {
        case let text as String:
            return [ChatMessage(role: "user", content: text)]
        case let turns as [Any]:
            let messages = try turns.enumerated().map { i, turn -> ChatMessage in
                guard let turn = turn as? [String: Any], let role = turn["role"] as? String, let content = turn["content"] as? String else {
                    throw DataError("\(at): prompt[\(i)] must be {\"role\": string, \"content\": string}")
                }
                return ChatMessage(role: role, content: content)
            }
            guard !messages.isEmpty else { throw DataError("\(at): field \"prompt\" is an empty conversation") }
            return messages
        case nil: throw DataError("\(at): missing field \"prompt\"")
        default: throw DataError("\(at): field \"prompt\" must be a string or a list of {\"role\", \"content\"} messages")
        }
    }

    /// Benchmarks in ../shared/bleuberi_data that `prepare` turns into training or evaluation files, and the
    /// generated sets of `SyntheticData`.
    public enum Source: String, CaseIterable, Sendable {
        case mtBench = "mt-bench", vicuna, arenaHardV2 = "arena-hard-v2", arithmetic, safety, tasks
    }

    /// Lines {"id", "prompt", "reference"} from a benchmark: MT-Bench turn 1 with gpt-4.1-mini's turn-1
    /// reference; Vicuna with GPT-4's references (the 10 questions that have one); Arena-Hard v2.0 with
    /// o3-mini's answers. `referenceWords` keeps the first N whitespace-separated words of each reference
    /// (CPU-scale runs generate far fewer tokens than the references hold).
    /// The synthetic sources ignore `dataRoot`; `arithmetic` writes `first` (default 64) questions from `seed`, `tasks` `first` (default 200).
    public static func prepare(_ source: Source, dataRoot: String, first: Int?, referenceWords: Int?, seed: UInt64 = 0,
                               confidenceTargets: Bool = false) throws -> [[String: Any]] {
        func load(_ relative: String) throws -> [(line: Int, object: [String: Any])] {
            try readJSONLines(dataRoot + "/" + relative).map { ($0.line, $0.object) }
        }
        var prompts: [(id: String, prompt: String)] = []
        var references: [String: String] = [:]
        switch source {
        case .arithmetic: return SyntheticData.arithmetic(count: first ?? 64, seed: seed, confidenceTargets: confidenceTargets)
        case .safety: return SyntheticData.safety(count: first)
        case .tasks: return SyntheticData.tasks(count: first ?? 200, seed: seed)
        case .mtBench, .vicuna:
            let folder = source == .mtBench ? "mt_bench" : "vicuna_bench"
            let answers = source == .mtBench ? "reference_answer/gpt-4.1-mini.jsonl" : "reference_answer/gpt-4.jsonl"
            for (line, q) in try load("\(folder)/question.jsonl") {
                guard let id = q["question_id"] as? Int, let turns = q["turns"] as? [String], let first = turns.first else {
                    throw DataError("\(dataRoot)/\(folder)/question.jsonl:\(line): no question_id and turns")
                }
                prompts.append(("\(id)", first))
            }
            for (line, a) in try load("\(folder)/\(answers)") {
                guard let id = a["question_id"] as? Int, let choices = a["choices"] as? [[String: Any]],
                      let turn = (choices.first?["turns"] as? [String])?.first else {
                    throw DataError("\(dataRoot)/\(folder)/\(answers):\(line): no question_id and choices[0].turns[0]")
                }
                references["\(id)"] = turn
            }
        case .arenaHardV2:
            for (line, q) in try load("arena_hard_v2.0/question.jsonl") {
                guard let id = q["uid"] as? String, let prompt = q["prompt"] as? String else {
                    throw DataError("\(dataRoot)/arena_hard_v2.0/question.jsonl:\(line): no uid and prompt")
                }
                prompts.append((id, prompt))
            }
            let answers = "arena_hard_v2.0/model_answer/o3-mini-2025-01-31.jsonl"
            for (line, a) in try load(answers) {
                guard let id = a["uid"] as? String, let messages = a["messages"] as? [[String: Any]], messages.count > 1,
                      let answer = (messages[1]["content"] as? [String: Any])?["answer"] as? String else {
                    throw DataError("\(dataRoot)/\(answers):\(line): no uid and messages[1].content.answer")
                }
                references[id] = answer
            }
        }
        var lines: [[String: Any]] = []
        for (id, prompt) in prompts {
            guard var reference = references[id] else { continue }
            if let n = referenceWords { reference = firstWords(reference, n) }
            lines.append(["id": id, "prompt": prompt, "reference": reference])
            if let first, lines.count == first { break }
        }
        return lines
    }

    /// The text up to the end of its n-th whitespace-separated word, formatting kept.
    static func firstWords(_ text: String, _ n: Int) -> String {
        var words = 0, inWord = false
        for i in text.indices {
            let space = text[i].isWhitespace
            if !space && !inWord { words += 1 }
            if space && inWord && words == n { return String(text[..<i]) }
            inWord = !space
        }
        return text
    }
}
