// The ChatML chat template of SmolLM2's GGUF (`tokenizer.chat_template`), rendered directly rather than
// by a Jinja interpreter: each turn is "<|im_start|>ROLE\nCONTENT<|im_end|>\n", the generation prompt is
// "<|im_start|>assistant\n", and when the first message is not a system message the template's default
// system prompt comes first. The initialiser checks that a template has exactly this shape and reads
// the default system prompt out of it; any other template is refused rather than rendered wrongly.
import Foundation

public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public struct ChatTemplate: Sendable {
    /// Inserted when the conversation does not start with a system message (nil: nothing inserted).
    public let defaultSystemPrompt: String?

    public init(defaultSystemPrompt: String?) { self.defaultSystemPrompt = defaultSystemPrompt }

    /// Recognises a ChatML Jinja template and extracts its default system prompt.
    public init(jinja: String) throws {
        let turn = "'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'"
        guard jinja.contains(turn), jinja.contains("{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}") else {
            throw TokenizerError("unsupported chat template (only ChatML is rendered): \(jinja.prefix(120))…")
        }
        let opener = "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
        if let start = jinja.range(of: opener), let end = jinja.range(of: "<|im_end|>", range: start.upperBound..<jinja.endIndex) {
            defaultSystemPrompt = String(jinja[start.upperBound..<end.lowerBound])
        } else {
            defaultSystemPrompt = nil
        }
    }

    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) -> String {
        var text = ""
        if let system = defaultSystemPrompt, messages.first?.role != "system" {
            text += "<|im_start|>system\n\(system)<|im_end|>\n"
        }
        for m in messages { text += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { text += "<|im_start|>assistant\n" }
        return text
    }
}
