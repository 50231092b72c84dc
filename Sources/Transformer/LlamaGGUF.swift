// Building a Llama from a GGUF file: configuration from the `llama.*` metadata, every weight looked up
// by name and dequantised to fp32. GGUF stores Q/K rows permuted for adjacent-pair RoPE (llama.cpp's
// convention), so the model keeps them as stored and rotates adjacent pairs. The configuration and
// every tensor's shape are checked before anything is allocated, so a hostile file is an error, never
// a trap or a huge allocation.
import ModelFiles
import Tensor

public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Llama {
    /// `weights` chooses what generation multiplies by (see `WeightMode`); the fp32 parameters are
    /// always loaded.
    public static func load(gguf: GGUFFile, weights: WeightMode = .f32) throws -> Llama {
        func fail(_ what: String) -> ModelError { ModelError("\(gguf.path): \(what)") }
        guard gguf["general.architecture"]?.string == "llama" else {
            throw fail("architecture \(gguf["general.architecture"]?.string ?? "absent") is not llama")
        }
        func int(_ key: String) throws -> Int {
            guard let value = gguf[key] else { throw fail("missing metadata \(key)") }
            guard let v = value.int, v > 0 else { throw fail("metadata \(key) is \(value), not a positive integer") }
            return v
        }
        func float(_ key: String, default fallback: Float) throws -> Float {
            guard let value = gguf[key] else { return fallback }
            guard let v = value.double.map(Float.init), v.isFinite, v > 0 else { throw fail("metadata \(key) is \(value), not a positive finite number") }
            return v
        }
        let vocab: Int
        if let tokens = gguf["tokenizer.ggml.tokens"] {
            guard let count = tokens.array?.count, count > 0 else { throw fail("tokenizer.ggml.tokens is not a non-empty array") }
            if gguf["llama.vocab_size"] != nil, try int("llama.vocab_size") != count {
                throw fail("llama.vocab_size \(try int("llama.vocab_size")) differs from the \(count) tokenizer tokens")
            }
            vocab = count
        } else {
            vocab = try int("llama.vocab_size")
        }
        let config = LlamaConfig(
            vocabSize: vocab, hiddenSize: try int("llama.embedding_length"),
            intermediateSize: try int("llama.feed_forward_length"), layers: try int("llama.block_count"),
            heads: try int("llama.attention.head_count"), kvHeads: try int("llama.attention.head_count_kv"),
            ropeTheta: try float("llama.rope.freq_base", default: 10_000),
            rmsNormEps: try float("llama.attention.layer_norm_rms_epsilon", default: 1e-5),
            contextLength: try int("llama.context_length"), ropeConvention: .adjacentPairs)
        do { try config.validate() } catch { throw fail("inconsistent hyper-parameters: \(error)") }
        if gguf["llama.rope.dimension_count"] != nil, try int("llama.rope.dimension_count") != config.headDim {
            throw fail("partial RoPE (\(try int("llama.rope.dimension_count")) of \(config.headDim) dims) is not supported")
        }
        if gguf.tensors.contains(where: { $0.name == "output.weight" }) {
            throw fail("has an untied output.weight; only tied embeddings are supported")
        }
        // 9 tensors per block: a block count beyond the file's tensors fails before the list is built.
        guard config.layers <= gguf.tensors.count / 9 else {
            throw fail("llama.block_count is \(config.layers), but the file holds only \(gguf.tensors.count) tensors")
        }
        let specs = Llama.parameterSpecs(config)
        let infos = try specs.map { spec in
            let info = try gguf.tensor(spec.name)
            guard Array(info.dims.reversed()) == spec.shape else {
                throw fail("tensor \(spec.name) has dims \(info.dims), expected \(Array(spec.shape.reversed())) for \(config)")
            }
            return info
        }
        let model = Llama(config: config)  // every size is now that of a tensor in the file
        for (entry, info) in zip(model.parameters.entries, infos) { gguf.dequantize(info, into: model.parameters.value(entry)) }
        try model.useInferenceWeights(weights, gguf: gguf)
        return model
    }
}
