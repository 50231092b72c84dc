// BERT encoder (all-MiniLM-L6-v2 for BERTScore), inference only, from a Hugging Face folder
// (config.json + model.safetensors, tensor names as stored):
//   x = LN(word[t] + position[p] + type[0])
//   per layer:  x = LN(x + (Attention(x·Wqᵀ+bq, x·Wkᵀ+bk, x·Wvᵀ+bv)·Woᵀ + bo))   bidirectional, padding masked
//               x = LN(x + gelu_erf(x·W1ᵀ + b1)·W2ᵀ + b2)
// Sequences are right-padded into one batch; the pooler is not used.
import Foundation
import ModelFiles
import Tensor

public struct BertConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var layerNormEps: Float
    public var hiddenAct: String

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositions = "max_position_embeddings", layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }
}

public final class Bert: @unchecked Sendable {
    public let config: BertConfig
    struct Linear { let weight: Tensor<Float>; let bias: Tensor<Float> }  // weight [out, in]
    struct Norm { let weight: Tensor<Float>; let bias: Tensor<Float> }
    struct Layer { let query, key, value, output, intermediate, ffnOutput: Linear; let attentionNorm, outputNorm: Norm }
    let wordEmbeddings, positionEmbeddings, typeEmbeddings: Tensor<Float>
    let embeddingNorm: Norm
    let layers: [Layer]

    public init(directory: String) throws {
        guard let json = FileManager.default.contents(atPath: directory + "/config.json") else {
            throw ModelError("\(directory): no config.json (Scripts/bootstrap fetches MiniLM into .assets/minilm)")
        }
        let c = try JSONDecoder().decode(BertConfig.self, from: json)
        guard c.hiddenAct == "gelu" else { throw ModelError("\(directory): hidden_act \(c.hiddenAct) is not supported (gelu only)") }
        config = c
        let file = try Safetensors(contentsOf: directory + "/model.safetensors")
        let prefix = file.entry("embeddings.word_embeddings.weight") == nil ? "bert." : ""
        func tensor(_ name: String, _ shape: [Int]) throws -> Tensor<Float> {
            guard let e = file.entry(prefix + name) else { throw ModelError("\(file.path): missing tensor \(prefix + name)") }
            guard e.shape == shape else { throw ModelError("\(file.path): \(prefix + name) has shape \(e.shape), expected \(shape)") }
            return Tensor(shape: shape, try file.floats(prefix + name))
        }
        func linear(_ name: String, _ out: Int, _ inputs: Int) throws -> Linear {
            Linear(weight: try tensor(name + ".weight", [out, inputs]), bias: try tensor(name + ".bias", [out]))
        }
        func norm(_ name: String) throws -> Norm {
            Norm(weight: try tensor(name + ".weight", [c.hiddenSize]), bias: try tensor(name + ".bias", [c.hiddenSize]))
        }
        let H = c.hiddenSize
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [c.vocabSize, H])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [c.maxPositions, H])
        typeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [2, H])
        embeddingNorm = try norm("embeddings.LayerNorm")
        layers = try (0..<c.layers).map { l in
            let p = "encoder.layer.\(l)."
            return Layer(
                query: try linear(p + "attention.self.query", H, H), key: try linear(p + "attention.self.key", H, H),
                value: try linear(p + "attention.self.value", H, H), output: try linear(p + "attention.output.dense", H, H),
                intermediate: try linear(p + "intermediate.dense", c.intermediateSize, H),
                ffnOutput: try linear(p + "output.dense", H, c.intermediateSize),
                attentionNorm: try norm(p + "attention.output.LayerNorm"), outputNorm: try norm(p + "output.LayerNorm"))
        }
    }

    /// Hidden states after `upTo` layers (all by default) for each sequence, right-padded to the longest:
    /// [B, T, H], T = the longest length.
    public func encode(_ sequences: [[Int32]], upTo: Int? = nil) -> Tensor<Float> {
        let c = config, B = sequences.count, T = sequences.map(\.count).max() ?? 0, n = B * T, H = c.hiddenSize
        precondition(T <= c.maxPositions, "sequence of \(T) tokens exceeds \(c.maxPositions) positions")
        let x = Tensor<Float>(shape: [B, T, H]), sum = Tensor<Float>(shape: [n, H]), mean = Tensor<Float>(shape: [n])
        let rstd = Tensor<Float>(shape: [n]), q = Tensor<Float>(shape: [n, H]), k = Tensor<Float>(shape: [n, H])
        let v = Tensor<Float>(shape: [n, H]), context = Tensor<Float>(shape: [n, H])
        // attention runs one sequence at a time, so its probabilities stay in cache
        let probs = Tensor<Float>(shape: [c.heads, T, T]), inner = Tensor<Float>(shape: [n, c.intermediateSize])
        var mask = [Bool](repeating: false, count: n)
        for (b, s) in sequences.enumerated() {
            for (t, id) in s.enumerated() {
                mask[b * T + t] = true
                let row = sum.pointer + (b * T + t) * H
                let word = wordEmbeddings.pointer + Int(id) * H, position = positionEmbeddings.pointer + t * H
                for j in 0..<H { row[j] = word[j] + position[j] + typeEmbeddings.pointer[j] }
            }
        }
        func layerNorm(_ norm: Norm) {  // x = LN(sum)
            layerNormForward(x.pointer, mean: mean.pointer, rstd: rstd.pointer, sum.pointer, weight: norm.weight.pointer,
                             bias: norm.bias.pointer, rows: n, dim: H, eps: c.layerNormEps)
        }
        func apply(_ linear: Linear, _ input: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, inputs: Int, outputs: Int, accumulate: Bool = false) {
            matmulForward(out, input, linear.weight.pointer, m: n, n: outputs, k: inputs, transposeB: true, accumulate: accumulate)
            for r in 0..<n { let row = out + r * outputs; for j in 0..<outputs { row[j] += linear.bias.pointer[j] } }
        }
        layerNorm(embeddingNorm)
        for layer in layers.prefix(upTo ?? c.layers) {
            apply(layer.query, x.pointer, q.pointer, inputs: H, outputs: H)
            apply(layer.key, x.pointer, k.pointer, inputs: H, outputs: H)
            apply(layer.value, x.pointer, v.pointer, inputs: H, outputs: H)
            mask.withUnsafeBufferPointer { mask in
                for b in 0..<B {
                    let offset = b * T * H
                    attentionForward(context.pointer + offset, probs: probs.pointer, q: q.pointer + offset, k: k.pointer + offset,
                                     v: v.pointer + offset, keyMask: mask.baseAddress! + b * T, batch: 1, queries: T, keys: T,
                                     capacity: T, queryHeads: c.heads, kvHeads: c.heads, headDim: H / c.heads, causal: false)
                }
            }
            sum.pointer.update(from: x.pointer, count: n * H)
            apply(layer.output, context.pointer, sum.pointer, inputs: H, outputs: H, accumulate: true)
            layerNorm(layer.attentionNorm)
            apply(layer.intermediate, x.pointer, inner.pointer, inputs: H, outputs: c.intermediateSize)
            geluForward(inner.pointer, inner.pointer, count: n * c.intermediateSize, approximation: .erf)
            sum.pointer.update(from: x.pointer, count: n * H)
            apply(layer.ffnOutput, inner.pointer, sum.pointer, inputs: c.intermediateSize, outputs: H, accumulate: true)
            layerNorm(layer.outputNorm)
        }
        return x
    }
}
