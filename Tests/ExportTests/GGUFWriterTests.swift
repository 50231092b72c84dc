import Foundation
import Testing
@testable import ModelFiles
import Tensor
@testable import Transformer

@Suite("GGUF writer and the exported weight layouts")
struct GGUFWriterTests {
    /// A small random Llama with rotate-half Q/K (the layout of the tiny model and of HF checkpoints).
    static func smallModel(_ convention: RoPEConvention = .rotateHalf) -> Llama {
        let model = Llama(config: LlamaConfig(vocabSize: 96, hiddenSize: 64, intermediateSize: 96, layers: 2, heads: 4, kvHeads: 2,
                                              ropeTheta: 10_000, rmsNormEps: 1e-5, contextLength: 64, ropeConvention: convention))
        model.initializeRandom(seed: 5)
        return model
    }

    @Test func writtenFilesReadBackWithTheirTypesAlignmentAndValues() throws {
        var source = GGUFWriter()
        source.set("tokenizer.ggml.model", .string("gpt2"))
        source.set("some.flag", .bool(true))
        let sourceFile = try GGUFFile(data: source.encoded(), path: "source.gguf")

        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.set("llama.block_count", .u32(7))
        writer.set("llama.rope.freq_base", .f32(100_000))
        try writer.copy("tokenizer.ggml.model", from: sourceFile)
        try writer.copy("some.flag", from: sourceFile)
        writer.set("llama.block_count", .u32(3))  // replaced in place
        let vector: [Float] = [1, -2, 3]  // 12 bytes: the next tensor starts at the next multiple of 32
        let matrix = (0..<2 * 64).map { Float(sin(Double($0))) }
        try vector.withUnsafeBufferPointer { try writer.addTensor(name: "v", shape: [3], type: .f32, values: $0) }
        try matrix.withUnsafeBufferPointer { try writer.addTensor(name: "m", shape: [2, 64], type: .f32, values: $0) }
        try matrix.withUnsafeBufferPointer { try writer.addTensor(name: "q", shape: [2, 64], type: .q8_0, values: $0) }
        let data = writer.encoded()
        #expect(data == writer.encoded())
        let file = try GGUFFile(data: data, path: "written.gguf")

        #expect(file.metadata.map(\.key) == ["general.architecture", "llama.block_count", "llama.rope.freq_base", "tokenizer.ggml.model", "some.flag"])
        #expect(file["llama.block_count"] == .uint(3) && file["llama.rope.freq_base"] == .float(100_000) && file["some.flag"] == .bool(true))
        #expect(file.encodedMetadata("tokenizer.ggml.model") == sourceFile.encodedMetadata("tokenizer.ggml.model"))
        // value type ids as llama.cpp checks them: u32 = 4, f32 = 6
        #expect(file.encodedMetadata("llama.block_count")?.dropFirst(8 + 17).first == 4)
        #expect(file.encodedMetadata("llama.rope.freq_base")?.dropFirst(8 + 20).first == 6)
        #expect(file.tensors.map(\.dims) == [[3], [64, 2], [64, 2]] && file.tensors.map(\.type) == [.f32, .f32, .q8_0])
        #expect(file.tensors.allSatisfy { $0.offset % 32 == 0 })
        #expect(try file.dequantize("v") == vector && file.dequantize("m") == matrix)
        // Q8_0: each value within half a quantisation step d = max|x|/127 (per block of 32) of the original,
        // plus d's rounding to f16 (relative 2⁻¹¹, times |q| ≤ 127)
        let q = try file.dequantize("q")
        for block in 0..<4 {
            let range = 32 * block..<32 * block + 32
            let step = matrix[range].map(abs).max()! / 127
            #expect(zip(q[range], matrix[range]).allSatisfy { abs($0 - $1) <= (0.5 + 127 / 2048) * step + 1e-7 })
        }
        #expect(throws: ModelFileError.self) {
            try [Float](repeating: 1, count: 40).withUnsafeBufferPointer { try writer.addTensor(name: "odd", shape: [40], type: .q8_0, values: $0) }
        }
    }

    /// Export inverts loading exactly: a rotate-half model written as GGUF and loaded back (adjacent-pair
    /// RoPE on permuted rows) computes the same logits, and its transformers tensors are the original's bits.
    @Test func ggufExportInvertsLoadingAndTransformersLayoutIsTheOriginal() throws {
        let model = Self.smallModel()
        var writer = GGUFWriter()
        model.ggufHyperParameters(into: &writer)
        try model.ggufTensors(type: .f32, into: &writer)
        let loaded = try Llama.load(gguf: GGUFFile(data: writer.encoded(), path: "small.gguf"))
        #expect(loaded.config.ropeConvention == .adjacentPairs)
        var config = loaded.config
        config.ropeConvention = .rotateHalf
        #expect(config == model.config)

        for (a, b) in zip(model.huggingFaceTensors(), loaded.huggingFaceTensors()) {
            #expect(a.name == b.name && a.shape == b.shape && a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "\(a.name)")
        }
        let q = try #require(loaded.parameters.entry("blk.1.attn_q.weight"))
        let original = try #require(model.parameters.entry("blk.1.attn_q.weight"))
        // GGUF row 2j of a head is HF row j; row 2j+1 is HF row j + headDim/2 (head 1, j = 3; headDim 16, 64 columns)
        #expect(loaded.parameters.value(q)[(16 + 6) * 64] == model.parameters.value(original)[(16 + 3) * 64])
        #expect(loaded.parameters.value(q)[(16 + 7) * 64] == model.parameters.value(original)[(16 + 3 + 8) * 64])

        let batch = TokenBatch(leftPadding: [[3, 17, 42, 5, 88, 1, 60, 9]])
        let a = model.logits(try model.forward(batch)), b = loaded.logits(try loaded.forward(batch))
        let worst = zip(a.buffer, b.buffer).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "worst |Δlogit| \(worst)")
    }

    @Test func huggingFaceNamesAreLlamaForCausalLMs() {
        let names = Self.smallModel().huggingFaceTensors().map(\.name)
        #expect(names.first == "model.embed_tokens.weight" && names.last == "model.norm.weight" && names.count == 2 + 2 * 9)
        #expect(Array(names[1...9]) == ["input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"].map { "model.layers.0.\($0).weight" })
    }
}
