// A GGUF file's byte-level BPE tokenizer as Hugging Face files: tokenizer.json (the `tokenizers`
// pipeline) and tokenizer_config.json (special tokens, chat template), so that AutoTokenizer loads the
// tokenizer this project trains with. The pre-tokenizer is ours (PreTokenizer.swift): every digit split
// off first, then GPT-2's byte-level pattern: tokenizers' Digits(individual_digits) then ByteLevel, as in
// SmolLM2's own tokenizer.json. (transformers' own GGUF conversion omits the digit split, see assets.md.)
// Control tokens (token type 3) become special added tokens, matched whole before BPE as here.
import Foundation
import ModelFiles

public enum HuggingFaceTokenizerFiles {
    /// (tokenizer.json, tokenizer_config.json) of `gguf`'s tokenizer; `maxLength` is the model's context.
    public static func make(gguf: GGUFFile, maxLength: Int) throws -> (tokenizer: Data, config: Data) {
        func fail(_ what: String) -> TokenizerError { TokenizerError("\(gguf.path): \(what)") }
        guard gguf["tokenizer.ggml.model"]?.string == "gpt2" else {
            throw fail("tokenizer.ggml.model is \(gguf["tokenizer.ggml.model"]?.string ?? "absent"), not gpt2 (byte-level BPE)")
        }
        func strings(_ key: String) throws -> [String] {
            guard let items = gguf[key]?.array else { throw fail("missing array \(key)") }
            return try items.enumerated().map { i, item in
                guard let s = item.string else { throw fail("\(key)[\(i)] is \(item), not a string") }
                return s
            }
        }
        let tokens = try strings("tokenizer.ggml.tokens")
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() {
            guard vocabulary.updateValue(id, forKey: token) == nil else { throw fail("tokenizer.ggml.tokens[\(id)] repeats the token \(token.debugDescription)") }
        }
        let merges = try strings("tokenizer.ggml.merges").enumerated().map { i, merge in
            let pair = merge.split(separator: " ", omittingEmptySubsequences: false)
            guard pair.count == 2 else { throw fail("tokenizer.ggml.merges[\(i)] is \(merge.debugDescription), not \"left right\"") }
            return pair.map(String.init)
        }
        let types = try gguf["tokenizer.ggml.token_type"].map { value -> [Int] in
            guard let items = value.array, items.count == tokens.count else { throw fail("tokenizer.ggml.token_type does not hold one type per token") }
            return items.map { $0.int ?? 0 }
        } ?? []
        let special = types.indices.filter { types[$0] == 3 }
        func token(_ key: String) throws -> String? {
            guard let value = gguf[key] else { return nil }
            guard let id = value.int, tokens.indices.contains(id) else { throw fail("\(key) is \(value), not a token id below \(tokens.count)") }
            return tokens[id]
        }

        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let tokenizer: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "normalizer": NSNull(),
            "added_tokens": special.map { ["id": $0, "content": tokens[$0], "single_word": false, "lstrip": false, "rstrip": false,
                                           "normalized": false, "special": true] },
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]],
            "post_processor": byteLevel, "decoder": byteLevel,
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocabulary, "merges": merges],
        ]
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": maxLength, "clean_up_tokenization_spaces": false,
            "add_bos_token": gguf["tokenizer.ggml.add_bos_token"]?.bool ?? false,
        ]
        for (field, key) in [("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"), ("pad_token", "padding")] {
            if let text = try token("tokenizer.ggml.\(key)_token_id") { config[field] = text }
        }
        if let template = gguf["tokenizer.chat_template"] {
            guard let text = template.string else { throw fail("tokenizer.chat_template is \(template), not a string") }
            config["chat_template"] = text
        }
        // Sorted keys: the same GGUF always gives the same bytes.
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        return (try JSONSerialization.data(withJSONObject: tokenizer, options: options),
                try JSONSerialization.data(withJSONObject: config, options: options.union(.prettyPrinted)))
    }
}
