import Foundation
import Testing
@testable import Tensor
@testable import Tokenizers

@Suite("Byte-level BPE and chat template (SmolLM2)")
struct TokenizerTests {
    @Test func idsMatchHuggingFaceTokenizers() throws {
        let tokenizer = try SmolLM2.tokenizer.get(), fixture = try SmolLM2Fixture.shared.get()
        #expect(fixture.tokenizer.count >= 47)
        for c in fixture.tokenizer {
            #expect(tokenizer.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids).unicodeScalars.elementsEqual(c.decoded.unicodeScalars), "\(c.text.debugDescription)")
        }
    }

    @Test func everyMergedTokenIsItsMergeConcatenated() throws {
        let tokenizer = try SmolLM2.tokenizer.get(), file = try SmolLM2.file.get()
        let mergeValues = file["tokenizer.ggml.merges"]?.array ?? []
        let merges = mergeValues.compactMap(\.string)
        #expect(merges.count == 48_900)
        for (i, merge) in merges.enumerated() where tokenizer.tokens[252 + i] != merge.replacingOccurrences(of: " ", with: "") {
            Issue.record("token \(252 + i) is not merge \(i) \(merge)")
            break
        }
    }

    /// The heap must merge exactly as the plain definition: repeatedly the lowest-ranked adjacent pair,
    /// leftmost first.
    @Test func heapMergingEqualsTheQuadraticDefinition() throws {
        let tokenizer = try SmolLM2.tokenizer.get()
        func naive(_ piece: [UInt8]) -> [Int32] {
            var symbols = piece.compactMap { tokenizer.byteToken[Int($0)] >= 0 ? tokenizer.byteToken[Int($0)] : nil }
            while symbols.count > 1 {
                var best: (rank: Int32, at: Int, merged: Int32)?
                for k in 0..<symbols.count - 1 {
                    if let m = tokenizer.merges[UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))],
                       best == nil || m.rank < best!.rank { best = (m.rank, k, m.merged) }
                }
                guard let b = best else { break }
                symbols.replaceSubrange(b.at...b.at + 1, with: [b.merged])
            }
            return symbols
        }
        var rng = Xoshiro256(seed: 2)
        let alphabet = Array(" eeetaoinshrdlu,.'-ÃéçñüéðŁĻĤ".utf8)
        for _ in 0..<3000 {
            let piece = (0..<(1 + rng.nextInt(below: 14))).map { _ in alphabet[rng.nextInt(below: alphabet.count)] }
            #expect(tokenizer.merge(piece[...]) == naive(piece), "\(piece)")
        }
    }

    @Test func decodeRoundTripsValidText() throws {
        let tokenizer = try SmolLM2.tokenizer.get()
        // Scalars from many scripts; excludes the six control characters that have no token.
        let pool: [Unicode.Scalar] = Array("aZ09 \n\t.,'!?-_()éñüßøåÆ€£¥東京日本語한국어Привет مرحبا עברית हिन्दी ไทย".unicodeScalars)
            + ["\u{0301}", "\u{00A0}", "\u{2003}", "\u{1F642}", "\u{1F469}", "\u{200D}", "\u{1F3FD}", "\u{10FFFF}", "\u{7F}", "\u{01}"]
        var rng = Xoshiro256(seed: 3)
        for _ in 0..<500 {
            var s = String.UnicodeScalarView()
            for _ in 0..<rng.nextInt(below: 40) { s.append(pool[rng.nextInt(below: pool.count)]) }
            let text = String(s)
            #expect(tokenizer.decode(tokenizer.encode(text)).unicodeScalars.elementsEqual(text.unicodeScalars), "\(text.debugDescription)")
        }
    }

    @Test func chatTemplateMatchesTransformers() throws {
        let tokenizer = try SmolLM2.tokenizer.get(), fixture = try SmolLM2Fixture.shared.get(), file = try SmolLM2.file.get()
        let jinja = file["tokenizer.chat_template"]?.string ?? ""
        #expect(jinja == fixture.chatTemplate)
        let template = try ChatTemplate(jinja: jinja)
        #expect(template.defaultSystemPrompt == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        for c in fixture.chat {
            #expect(template.render(c.messages) == c.text)
            #expect(tokenizer.encode(template.render(c.messages)) == c.ids)
        }
        #expect(throws: TokenizerError.self) { try ChatTemplate(jinja: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}") }
    }
}
