// Building a Llama from a GGUF file: configuration from the `llama.*` metadata, every weight looked up
// by name and dequantised to fp32. GGUF stores Q/K rows permuted for adjacent-pair RoPE (llama.cpp's
// convention), so the model keeps them as stored and rotates adjacent pairs.
import ModelFiles
import Tensor

public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Llama {
    public static func load(gguf: GGUFFile) throws -> Llama {
        guard gguf["general.architecture"]?.string == "llama" else {
            throw ModelError("\(gguf.path): architecture \(gguf["general.architecture"]?.string ?? "absent") is not llama")
        }
        func int(_ key: String) throws -> Int {
            guard let v = gguf[key]?.int else { throw ModelError("\(gguf.path): missing metadata \(key)") }
            return v
        }
        let vocab = try gguf["tokenizer.ggml.tokens"]?.array?.count ?? int("llama.vocab_size")
        let config = LlamaConfig(
            vocabSize: vocab, hiddenSize: try int("llama.embedding_length"),
            intermediateSize: try int("llama.feed_forward_length"), layers: try int("llama.block_count"),
            heads: try int("llama.attention.head_count"), kvHeads: try int("llama.attention.head_count_kv"),
            ropeTheta: Float(gguf["llama.rope.freq_base"]?.double ?? 10_000),
            rmsNormEps: Float(gguf["llama.attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            contextLength: try int("llama.context_length"), ropeConvention: .adjacentPairs)
        if let ropeDims = gguf["llama.rope.dimension_count"]?.int, ropeDims != config.headDim {
            throw ModelError("\(gguf.path): partial RoPE (\(ropeDims) of \(config.headDim) dims) is not supported")
        }
        if gguf.tensors.contains(where: { $0.name == "output.weight" }) {
            throw ModelError("\(gguf.path): has an untied output.weight; only tied embeddings are supported")
        }
        let model = Llama(config: config)
        for entry in model.parameters.entries {
            let info = try gguf.tensor(entry.name)
            guard Array(info.dims.reversed()) == entry.shape else {
                throw ModelError("\(gguf.path): tensor \(entry.name) has dims \(info.dims), expected \(Array(entry.shape.reversed()))")
            }
            gguf.dequantize(info, into: model.parameters.value(entry))
        }
        return model
    }
}
