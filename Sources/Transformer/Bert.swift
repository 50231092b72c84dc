// BERT encoder (all-MiniLM-L6-v2 for BERTScore), inference only, from a Hugging Face folder
// (config.json + model.safetensors, tensor names as stored):
//   x = LN(word[t] + position[p] + type[0])
//   per layer:  x = LN(x + (Attention(x·Wqᵀ+bq, x·Wkᵀ+bk, x·Wvᵀ+bv)·Woᵀ + bo))   bidirectional, padding masked
//               x = LN(x + gelu_erf(x·W1ᵀ + b1)·W2ᵀ + b2)
// Sequences are packed (no padding); the pooler is not used.
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
    struct Layer { let qkv, output, intermediate, ffnOutput: Linear; let attentionNorm, outputNorm: Norm }  // qkv: [3H, H]
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
            // query, key and value stacked into one [3H, H] product: one pass over x instead of three
            let parts = try ["query", "key", "value"].map { try linear(p + "attention.self." + $0, H, H) }
            let qkv = Linear(weight: Tensor(shape: [3 * H, H], parts.flatMap(\.weight.array)), bias: Tensor(shape: [3 * H], parts.flatMap(\.bias.array)))
            return Layer(
                qkv: qkv, output: try linear(p + "attention.output.dense", H, H),
                intermediate: try linear(p + "intermediate.dense", c.intermediateSize, H),
                ffnOutput: try linear(p + "output.dense", H, c.intermediateSize),
                attentionNorm: try norm(p + "attention.output.LayerNorm"), outputNorm: try norm(p + "output.LayerNorm"))
        }
    }

    /// Hidden states after `upTo` layers (all by default), the sequences packed one after another:
    /// [Σ lengths, H], sequence b's rows starting at the sum of the lengths before it. Nothing is padded:
    /// the linear layers, norms and GELU run on the real tokens only and attention on one sequence at a
    /// time, so a sequence's rows come from its own tokens alone, bitwise the same in any batch and on any
    /// number of `threads`.
    public func encodePacked(_ sequences: [[Int32]], upTo: Int? = nil, threads: Int = BLAS.threads) -> Tensor<Float> {
        let c = config, H = c.hiddenSize, I = c.intermediateSize
        var starts = [0]
        for s in sequences {
            precondition(s.count <= c.maxPositions, "sequence of \(s.count) tokens exceeds \(c.maxPositions) positions")
            starts.append(starts.last! + s.count)
        }
        let n = starts.last!, x = Tensor<Float>(shape: [n, H])
        guard n > 0 else { return x }
        // Scratch left uninitialised (every element is written before it is read): zero-filling it took 5 % of a call.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n * (5 * H + I + 2))
        defer { scratch.deallocate() }
        let sum = scratch, qkv = sum + n * H, context = qkv + 3 * n * H, inner = context + n * H, mean = inner + n * I, rstd = mean + n
        for (b, s) in sequences.enumerated() {
            for (t, id) in s.enumerated() {
                let row = sum + (starts[b] + t) * H
                let word = wordEmbeddings.pointer + Int(id) * H, position = positionEmbeddings.pointer + t * H
                for j in 0..<H { row[j] = word[j] + position[j] + typeEmbeddings.pointer[j] }
            }
        }
        // Rows and elements are computed alone below, so splitting them across threads keeps the bits.
        func layerNorm(_ norm: Norm) {  // x = LN(sum)
            parallelFor(n, grain: parallelGrain / H, threads: threads) { rows in
                let r = rows.lowerBound
                layerNormForward(x.pointer + r * H, mean: mean + r, rstd: rstd + r, sum + r * H,
                                 weight: norm.weight.pointer, bias: norm.bias.pointer, rows: rows.count, dim: H, eps: c.layerNormEps)
            }
        }
        // out = input·Wᵀ + bias (+ residual), in blocks of `blockRows` rows split across threads: each block's
        // bias (plus residual) is written, then the small-batch kernel on one thread accumulates the product
        // onto it while the block's inputs sit in L2. That kernel sums every output in one fixed order,
        // so a row's bits depend neither on the other rows in the batch nor on the thread count.
        func apply(_ linear: Linear, _ input: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, inputs: Int, outputs: Int,
                   residual: UnsafePointer<Float>? = nil) {
            let bias = linear.bias.pointer, weight = UnsafePointer(linear.weight.pointer)
            let blocks = (n + Self.blockRows - 1) / Self.blockRows
            parallelFor(blocks, grain: 1, threads: threads) { range in
                for block in range {
                    let first = block * Self.blockRows, rows = min(Self.blockRows, n - first)
                    for r in first..<first + rows {
                        let row = out + r * outputs
                        if let residual {
                            let from = residual + r * outputs
                            for j in 0..<outputs { row[j] = from[j] + bias[j] }
                        } else {
                            row.update(from: bias, count: outputs)
                        }
                    }
                    BLAS.linear(.smallGemm, rows, outputs, inputs, 1, input + first * inputs, inputs, weight, inputs, 1,
                                out + first * outputs, outputs, threads: 1)
                }
            }
        }
        layerNorm(embeddingNorm)
        for layer in layers.prefix(upTo ?? c.layers) {
            apply(layer.qkv, x.pointer, qkv, inputs: H, outputs: 3 * H)
            selfAttention(qkv, context, starts: starts, threads: threads)
            apply(layer.output, context, sum, inputs: H, outputs: H, residual: x.pointer)
            layerNorm(layer.attentionNorm)
            apply(layer.intermediate, x.pointer, inner, inputs: H, outputs: I)
            geluErfForward(inner, inner, count: n * I, threads: threads)
            apply(layer.ffnOutput, inner, sum, inputs: I, outputs: H, residual: x.pointer)
            layerNorm(layer.outputNorm)
        }
        return x
    }

    /// Rows per linear-layer block: 64 rows of the widest input (1536 floats) are 384 KB, inside a core's L2.
    static let blockRows = 64

    /// context = softmax(q·kᵀ/√D)·v per sequence and head, from packed qkv [n, 3H] (q, k, v side by side
    /// in each row) into context [n, H]. The (sequence, head) pairs are split across threads, each product
    /// on its worker's thread (the small-batch kernel with threads: 1); every pair is computed alone, so the
    /// bits do not depend on the thread count.
    func selfAttention(_ qkv: UnsafePointer<Float>, _ context: UnsafeMutablePointer<Float>, starts: [Int], threads: Int) {
        let H = config.hiddenSize, heads = config.heads, D = H / heads, ld = 3 * H
        let scale = 1 / Float(D).squareRoot()
        let longest = zip(starts.dropFirst(), starts).map { $0 - $1 }.max() ?? 0
        // head-major, so each thread's contiguous share holds whole heads of every sequence: equal work
        let sequences = starts.count - 1
        parallelFor(sequences * heads, grain: 1, threads: threads) { pairs in
            // scores [L, L], 1/row sums [L], v transposed [D, L] (so both products are C = A·Bᵀ)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: longest * longest + longest + D * longest)
            defer { scores.deallocate() }
            let inverses = scores + longest * longest, vT = inverses + longest
            for pair in pairs {
                let b = pair % sequences, h = pair / sequences, start = starts[b], L = starts[b + 1] - start
                guard L > 0 else { continue }
                let q = qkv + start * ld + h * D, k = q + H, v = q + 2 * H, out = context + start * H + h * D
                BLAS.linear(.smallGemm, L, L, D, 1, q, ld, k, ld, 0, scores, L, threads: 1)
                for i in 0..<L {  // exp(scale·(row − max)) in place; the 1/sum is applied to the output row
                    let row = scores + i * L
                    var m = SIMD8<Float>(repeating: -.infinity)
                    for j in stride(from: 0, to: L, by: 8) {
                        let r: SIMD8<Float> = loadLanes(row, j, count: L, padding: -.infinity)
                        m.replace(with: r, where: r .> m)
                    }
                    let shift = SIMD8(repeating: scale * m.max()), scales = SIMD8<Float>(repeating: scale)
                    var total = SIMD8<Float>()
                    for j in stride(from: 0, to: L, by: 8) {
                        let e = vectorExp(loadLanes(row, j, count: L, padding: -.infinity) * scales - shift)  // padding lanes: 0
                        storeLanes(e, row, j, count: L)
                        total += e
                    }
                    inverses[i] = 1 / total.sum()
                }
                for t in 0..<L { for d in 0..<D { vT[d * L + t] = v[t * ld + d] } }
                BLAS.linear(.smallGemm, L, D, L, 1, scores, L, vT, L, 0, out, H, threads: 1)
                for t in 0..<L { let row = out + t * H, inv = inverses[t]; for d in 0..<D { row[d] *= inv } }
            }
        }
    }
}
