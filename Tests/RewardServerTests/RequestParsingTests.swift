import Foundation
import Rewards
import Testing
@testable import RewardServer

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func failure(_ body: () throws -> Any) -> RequestFailure? {
    do { _ = try body(); return nil } catch let f as RequestFailure { return f } catch { return RequestFailure(0, "\(error)") }
}

@Suite struct RequestParsingTests {
    @Test func responseIsQueryMinusPromptWithEndOfTurnStripped() {
        #expect(responseText(query: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello there<|im_end|>",
                             prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") == "Hello there")
        #expect(responseText(query: "P: answer</s>", prompt: "P: ") == "answer")
        #expect(responseText(query: "Pa<|im_end|><|endoftext|><|endoftext|>", prompt: "P") == "a")
        #expect(responseText(query: "P a <|im_end|> b", prompt: "P") == " a <|im_end|> b")  // only a trailing token
        #expect(responseText(query: "other", prompt: "P") == nil)
        // Code points, as Python slices: "e" + combining acute is not the prompt "é" (U+00E9).
        #expect(responseText(query: "e\u{301}x", prompt: "\u{e9}") == nil)
    }

    @Test func openRLHFBodyWithStringAndListLabels() throws {
        let inputs = try parseOpenRLHFRequest(bytes(#"{"query": ["Q1 a", "Q2 b<|im_end|>"], "prompts": ["Q1 ", "Q2 "], "labels": ["ra", ["rb1", "rb2"]]}"#))
        #expect(inputs.map(\.completion) == ["a", "b"])
        #expect(inputs.map(\.references) == [["ra"], ["rb1", "rb2"]])
        #expect(inputs.map(\.prompt) == ["Q1 ", "Q2 "])
    }

    @Test func emptyBatchParses() throws {
        #expect(try parseOpenRLHFRequest(bytes(#"{"query": [], "prompts": [], "labels": []}"#)).isEmpty)
        #expect(try parseScoreRequest(bytes(#"{"completions": [], "references": []}"#)).isEmpty)
    }

    @Test("bad bodies are 400s naming the field", arguments: [
        (#"{"query": ["a"], "prompts": ["a"], "labels": ["#, "body: malformed JSON"),
        (#"["query"]"#, "body: expected a JSON object"),
        (#"{"prompts": [], "labels": []}"#, "query: missing"),
        (#"{"query": "a", "prompts": ["a"], "labels": ["r"]}"#, "query: expected a list of strings, got a string"),
        (#"{"query": ["a", 3], "prompts": ["a", "b"], "labels": ["r", "r"]}"#, "query[1]: expected a string, got a number or boolean"),
        (#"{"query": ["a"], "prompts": ["a", "b"], "labels": ["r"]}"#, "prompts: 2 items, but query has 1"),
        (#"{"query": ["a"], "prompts": ["a"], "labels": []}"#, "labels: 0 items, but query has 1"),
        (#"{"query": ["a"], "prompts": ["a"], "labels": [[]]}"#, "labels[0]: no reference"),
        (#"{"query": ["a"], "prompts": ["a"], "labels": [["r", null]]}"#, "labels[0][1]: expected a string, got null"),
        (#"{"query": ["a"], "prompts": ["a"], "labels": [{"r": 1}]}"#, "labels[0]: expected a string or a list of strings, got an object"),
        (#"{"query": ["xa"], "prompts": ["a"], "labels": ["r"]}"#, "query[0]: does not start with prompts[0]"),
        (#"{"query": ["a"], "prompts": ["a"], "labels": [""]}"#, #"labels[0]: empty reference (OpenRLHF sends "" without --data.label_key)"#),
        (#"{"query": ["a"], "prompts": ["a"], "labels": [["r", ""]]}"#, #"labels[0][1]: empty reference (OpenRLHF sends "" without --data.label_key)"#),
    ])
    func openRLHFErrors(body: String, message: String) {
        #expect(failure { try parseOpenRLHFRequest(bytes(body)) } == RequestFailure(400, message))
    }

    @Test func invalidUTF8IsA400() {
        let body = bytes(#"{"query": [""#) + [0xff, 0xfe] + bytes(#""], "prompts": [""], "labels": ["r"]}"#)
        #expect(failure { try parseOpenRLHFRequest(body) } == RequestFailure(400, "body: not valid UTF-8"))
    }

    @Test func scoreBody() throws {
        let inputs = try parseScoreRequest(bytes(#"{"completions": ["a", "b"], "references": [["x"], "y"], "prompts": ["p", "q"]}"#))
        #expect(inputs.map(\.completion) == ["a", "b"])
        #expect(inputs.map(\.references) == [["x"], ["y"]])
        #expect(inputs.map(\.prompt) == ["p", "q"])
        #expect(failure { try parseScoreRequest(bytes(#"{"completions": ["a"], "references": [["x"], ["y"]]}"#)) }
                == RequestFailure(400, "references: 2 items, but completions has 1"))
        #expect(failure { try parseScoreRequest(bytes(#"{"completions": ["a"], "references": [["x"]], "prompts": []}"#)) }
                == RequestFailure(400, "prompts: 0 items, but completions has 1"))
    }

    @Test func metricSpecs() throws {
        #expect(try MetricSpec(parsing: "bleu").parts.map(\.name) == ["bleu"])
        let sum = try MetricSpec(parsing: "bleu:0.5, rouge-l:0.25")
        #expect(sum.parts.map(\.name) == ["bleu", "rouge-l"])
        #expect(sum.parts.map(\.weight) == [0.5, 0.25])
        for bad in ["nope", "bleu:x", "bleu:0.5,bleu:0.5", "bleu,rouge-l:1", "bleu:inf", ""] {
            #expect(throws: RewardError.self) { try MetricSpec(parsing: bad) }
        }
    }

    @Test func weightedSumAddsWeightedScoresAndLogsParts() throws {
        let reward = try MetricSpec(parsing: "bleu:0.5,rouge-l:2").make(options: RewardOptions())
        let batch = [RewardInput(prompt: "", completion: "the cat sat on the mat", references: ["the cat sat on a mat"])]
        let out = try reward.score(batch)
        let bleu = try RewardRegistry.make("bleu", options: RewardOptions()).score(batch).scores[0]
        let rouge = try RewardRegistry.make("rouge-l", options: RewardOptions()).score(batch).scores[0]
        #expect(out.scores == [0.5 * bleu + 2 * rouge])
        #expect(out.components.map(\.name) == ["bleu", "rouge_l", "weighted_sum"])
    }
}
