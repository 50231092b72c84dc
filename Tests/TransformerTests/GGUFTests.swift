import Foundation
import Testing
@testable import ModelFiles
@testable import Tensor

@Suite("GGUF reader and dequantisation")
struct GGUFTests {
    @Test func readsSmolLM2Metadata() throws {
        let file = try SmolLM2.file.get()
        #expect(file.version == 3)
        #expect(file["general.architecture"]?.string == "llama")
        #expect(file["llama.block_count"]?.int == 30)
        #expect(file["llama.attention.head_count_kv"]?.int == 3)
        #expect(file["llama.rope.freq_base"]?.double == 100_000)
        #expect(file.metadata.count == 33 && file.tensors.count == 272)
        let embedding = try file.tensor("token_embd.weight")
        #expect(embedding.dims == [576, 49152] && embedding.type == .q8_0)
        #expect(embedding.offset == 1_785_664)  // the data section starts at the 32-byte boundary
        #expect(throws: ModelFileError.self) { try file.tensor("output.weight") }  // tied embeddings
    }

    @Test func dequantisationMatchesTheGGUFPackage() throws {
        let file = try SmolLM2.file.get(), fixture = try SmolLM2Fixture.shared.get()
        #expect(Set(fixture.dequantized.map(\.type)) == [0, 3, 8])  // F32, Q4_1, Q8_0
        for c in fixture.dequantized {
            let values = try file.dequantize(c.name)
            #expect(values.count == c.count)
            #expect(Array(values.prefix(c.first.count)) == c.first, "\(c.name): first values differ")
            let sum = values.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - c.sum) <= 1e-9 * max(1, abs(c.sum)), "\(c.name): sum \(sum) vs \(c.sum)")
        }
    }

    /// Blocks built by hand, with the values their layouts define written out.
    @Test func dequantisesHandBuiltBlocks() {
        func half(_ x: Float) -> [UInt8] { withUnsafeBytes(of: Float16(x).bitPattern.littleEndian) { Array($0) } }
        let nibbles: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }  // low j, high 15 − j
        func run(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
            var out = [Float](repeating: .nan, count: count)
            bytes.withUnsafeBytes { dequantizeRows($0.baseAddress!, type: type, count: count, into: &out) }
            return out
        }
        let lows = (0..<16).map(Float.init), highs = (0..<16).map { Float(15 - $0) }
        #expect(run(.q4_0, half(0.5) + nibbles, count: 32) == (lows + highs).map { 0.5 * ($0 - 8) })
        #expect(run(.q4_1, half(0.5) + half(-1) + nibbles, count: 32) == (lows + highs).map { 0.5 * $0 - 1 })
        let q8: [Int8] = (0..<32).map { Int8($0 * 8 - 128) }
        #expect(run(.q8_0, half(0.25) + q8.map { UInt8(bitPattern: $0) }, count: 32) == q8.map { 0.25 * Float($0) })
        // Q5: high bits 0xAAAA_AAAA set bit 4 of every odd element.
        let qh: [UInt8] = [0xAA, 0xAA, 0xAA, 0xAA]
        let five = (lows + highs).enumerated().map { $0.element + ($0.offset % 2 == 1 ? 16 : 0) }
        #expect(run(.q5_0, half(2) + qh + nibbles, count: 32) == five.map { 2 * ($0 - 16) })
        #expect(run(.q5_1, half(2) + half(0.5) + qh + nibbles, count: 32) == five.map { 2 * $0 + 0.5 })
        #expect(run(.f16, half(1.5) + half(-0.25), count: 2) == [1.5, -0.25])
        #expect(run(.bf16, [0x80, 0x3F, 0x40, 0xC0], count: 2) == [1, -3])
    }

    @Test func malformedFilesAreClearErrors() throws {
        let good = makeGGUF(kv: [("general.architecture", "llama")], tensors: [("w", [4, 2], 0, [UInt8](repeating: 0, count: 32))])
        #expect(throws: Never.self) { try GGUFFile(contentsOf: temporaryFile("good.gguf", good)) }
        var magic = good
        magic[0] = 0x58
        let cases: [(String, Data, String)] = [
            ("magic", magic, "wrong magic"),
            ("header", good.prefix(20), "truncated"),
            ("infos", good.prefix(60), "truncated"),
            ("data", good.prefix(good.count - 8), "truncated: tensor w"),
            ("type", makeGGUF(kv: [], tensors: [("w", [32], 99, [UInt8](repeating: 0, count: 32))]), "tensor w has ggml type 99"),
        ]
        for (name, data, message) in cases {
            let path = try temporaryFile("\(name).gguf", data)
            #expect { try GGUFFile(contentsOf: path) } throws: { "\($0)".contains(message) && "\($0)".contains(path) }
        }
        let file = try GGUFFile(contentsOf: temporaryFile("ok.gguf", good))
        #expect { try file.tensor("nope") } throws: { "\($0)".contains("missing tensor nope") }
    }
}
