// Llama (the architecture of SmolLM2-135M-Instruct) in one file: configuration, parameters, training
// forward and backward side by side, per-token log-probs, and KV-cached batched generation.
//
//   h = E[token]                                              E [V, D]
//   per layer:  a = RMSNorm(h)·w1;  q,k,v = a·Wqᵀ, a·Wkᵀ, a·Wvᵀ;  q,k = RoPE(q,k)
//               h = h + Attention(q,k,v)·Woᵀ
//               b = RMSNorm(h)·w2;  h = h + (silu(b·Wgᵀ) ⊙ b·Wuᵀ)·Wdᵀ
//   logits = RMSNorm(h)·wf · Eᵀ                               tied embeddings
//
// Simplifications: fp32 everywhere (GGUF weights are dequantised on load; generation may multiply by
// quantized copies instead, see InferenceWeights.swift); no dropout, no biases (Llama
// has none); attention over the full T×T block (see Attention.swift). Parameter names are GGUF's.
// A batch is B sequences of T slots, left-padded: pads have keyMask false and real tokens get
// positions 0, 1, …, so a padded sequence computes what it would alone. Training, prefill and decode
// run the same attention kernel.
import Foundation
import Tensor

public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    public var contextLength: Int
    /// GGUF files store Q/K rows permuted for adjacent-pair RoPE; HF checkpoints use rotate-half.
    public var ropeConvention: RoPEConvention

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case layers = "num_hidden_layers", heads = "num_attention_heads", kvHeads = "num_key_value_heads"
        case ropeTheta = "rope_theta", rmsNormEps = "rms_norm_eps", contextLength = "max_position_embeddings"
        case ropeConvention = "rope_convention"
    }

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int,
                ropeTheta: Float = 10_000, rmsNormEps: Float = 1e-5, contextLength: Int = 2048,
                ropeConvention: RoPEConvention = .rotateHalf) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.contextLength = contextLength
        self.ropeConvention = ropeConvention
    }

    public var headDim: Int { hiddenSize / heads }
    public var qDim: Int { heads * headDim }
    public var kvDim: Int { kvHeads * headDim }

    /// Checks what the model's arithmetic assumes: positive sizes, heads dividing the hidden size into
    /// even head dimensions, key-value heads dividing the heads, a positive finite RoPE base and epsilon.
    public func validate() throws {
        let sizes = [("vocabulary size", vocabSize), ("hidden size", hiddenSize), ("intermediate size", intermediateSize),
                     ("layers", layers), ("heads", heads), ("key-value heads", kvHeads), ("context length", contextLength)]
        for (name, value) in sizes where value <= 0 { throw ModelError("\(name) is \(value), not positive") }
        guard hiddenSize % heads == 0 else { throw ModelError("\(heads) heads do not divide the hidden size \(hiddenSize)") }
        guard headDim % 2 == 0 else { throw ModelError("head dimension \(headDim) is odd; RoPE rotates pairs") }
        guard heads % kvHeads == 0 else { throw ModelError("\(kvHeads) key-value heads do not divide the \(heads) heads") }
        guard ropeTheta.isFinite && ropeTheta > 0 else { throw ModelError("RoPE base \(ropeTheta) is not a positive finite number") }
        guard rmsNormEps.isFinite && rmsNormEps > 0 else { throw ModelError("RMSNorm epsilon \(rmsNormEps) is not a positive finite number") }
    }
}

/// B sequences of T slots, flattened to B·T rows.
public struct TokenBatch: Sendable {
    public let batch: Int
    public let seq: Int
    public var tokens: [Int32]
    public var positions: [Int32]
    public var keyMask: [Bool]

    /// Left-pads `sequences` to the longest (pad id 0, masked out) and numbers real tokens from 0.
    public init(leftPadding sequences: [[Int32]]) {
        batch = sequences.count
        seq = sequences.map(\.count).max() ?? 0
        tokens = []; positions = []; keyMask = []
        for s in sequences {
            let pad = seq - s.count
            tokens += [Int32](repeating: 0, count: pad) + s
            positions += [Int32](repeating: 0, count: pad) + (0..<Int32(s.count)).map { $0 }
            keyMask += [Bool](repeating: false, count: pad) + [Bool](repeating: true, count: s.count)
        }
    }
}

public final class Llama: @unchecked Sendable {
    public let config: LlamaConfig
    public let parameters: ParameterStore

    struct Layer {
        let attnNorm, q, k, v, output, ffnNorm, gate, up, down: ParameterStore.Entry
    }
    let embedding, outputNorm: ParameterStore.Entry
    let layers: [Layer]
    /// Quantized matrices generation multiplies by (`useInferenceWeights`); nil: the fp32 parameters.
    var inference: InferenceWeights?
    /// RoPE's cos/sin for positions 0..<n, grown when a batch reaches past n (see `rope(covering:count:)`).
    private var ropeTable: RoPETable<Float>
    private let ropeLock = NSLock()

    /// Every parameter's GGUF name, shape and whether it is a matrix, in storage order.
    static func parameterSpecs(_ c: LlamaConfig) -> [(name: String, shape: [Int], isMatrix: Bool)] {
        var specs: [(String, [Int], Bool)] = [("token_embd.weight", [c.vocabSize, c.hiddenSize], true)]
        for l in 0..<c.layers {
            specs += [
                ("blk.\(l).attn_norm.weight", [c.hiddenSize], false),
                ("blk.\(l).attn_q.weight", [c.qDim, c.hiddenSize], true),
                ("blk.\(l).attn_k.weight", [c.kvDim, c.hiddenSize], true),
                ("blk.\(l).attn_v.weight", [c.kvDim, c.hiddenSize], true),
                ("blk.\(l).attn_output.weight", [c.hiddenSize, c.qDim], true),
                ("blk.\(l).ffn_norm.weight", [c.hiddenSize], false),
                ("blk.\(l).ffn_gate.weight", [c.intermediateSize, c.hiddenSize], true),
                ("blk.\(l).ffn_up.weight", [c.intermediateSize, c.hiddenSize], true),
                ("blk.\(l).ffn_down.weight", [c.hiddenSize, c.intermediateSize], true),
            ]
        }
        specs.append(("output_norm.weight", [c.hiddenSize], false))
        return specs
    }

    /// `trainable: false` makes a frozen model (weights only, no gradient buffers): a reference policy.
    public init(config c: LlamaConfig, trainable: Bool = true) {
        config = c
        ropeTable = RoPETable(headDim: c.headDim, base: c.ropeTheta, positions: 0)
        parameters = ParameterStore(Self.parameterSpecs(c).map { ($0.name, $0.shape, $0.isMatrix) }, trainable: trainable)
        let e = parameters.entries
        embedding = e[0]
        outputNorm = e[e.count - 1]
        layers = (0..<c.layers).map { l in
            let o = 1 + 9 * l
            return Layer(attnNorm: e[o], q: e[o + 1], k: e[o + 2], v: e[o + 3], output: e[o + 4],
                         ffnNorm: e[o + 5], gate: e[o + 6], up: e[o + 7], down: e[o + 8])
        }
    }

    /// A frozen copy of the current weights (no gradient buffers), for a reference policy.
    public func frozenCopy() -> Llama {
        let copy = Llama(config: config, trainable: false)
        copy.parameters.values.pointer.update(from: parameters.values.pointer, count: parameters.count)
        return copy
    }

    /// Normal(0, 0.02) weights and unit norm gains, from the run's "init" stream.
    public func initializeRandom(seed: UInt64) {
        var rng = Xoshiro256(seed: seed, stream: "init")
        for entry in parameters.entries {
            let p = parameters.value(entry)
            let isNorm = entry.shape.count == 1
            for i in 0..<entry.count { p[i] = isNorm ? 1 : Float(rng.nextNormal() * 0.02) }
        }
    }

    /// The RoPE table covering every position in positions[0..<count]: the model's, regrown (at least
    /// doubling, up to the context length) when one is past its end; the lock lets concurrent forwards share it.
    func rope(covering positions: UnsafePointer<Int32>, count: Int) -> RoPETable<Float> {
        var needed = 0
        for i in 0..<count { needed = max(needed, Int(positions[i]) + 1) }
        ropeLock.lock()
        defer { ropeLock.unlock() }
        if ropeTable.positions < needed {
            ropeTable = RoPETable(headDim: config.headDim, base: config.ropeTheta,
                                  positions: max(needed, min(config.contextLength, 2 * ropeTable.positions)))
        }
        return ropeTable
    }

    @inline(__always) func w(_ e: ParameterStore.Entry) -> UnsafeMutablePointer<Float> { parameters.value(e) }
    @inline(__always) func g(_ e: ParameterStore.Entry) -> UnsafeMutablePointer<Float> { parameters.gradient(e) }

    // MARK: - Forward: one transformer block, shared by training, scoring and sampling

    /// Buffers of one block's forward over N = B·slots rows: kept per layer for training, one set
    /// reused by every layer for inference.
    final class LayerActivations {
        let input, normed, q, k, v, attention, probs, residual, ffnNormed, gate, up, attnRstd, ffnRstd: Tensor<Float>
        init(_ c: LlamaConfig, n: Int, batch: Int, queries: Int, keys: Int) {
            input = Tensor(shape: [n, c.hiddenSize])      // h entering the block
            normed = Tensor(shape: [n, c.hiddenSize])     // a = RMSNorm(h)·w1
            q = Tensor(shape: [n, c.qDim])                // after RoPE
            k = Tensor(shape: [n, c.kvDim])               // after RoPE
            v = Tensor(shape: [n, c.kvDim])
            attention = Tensor(shape: [n, c.qDim])        // attention output, before Wo
            probs = Tensor(shape: [batch, c.heads, queries, keys])
            residual = Tensor(shape: [n, c.hiddenSize])   // h after the attention half
            ffnNormed = Tensor(shape: [n, c.hiddenSize])  // b = RMSNorm(h)·w2
            gate = Tensor(shape: [n, c.intermediateSize])
            up = Tensor(shape: [n, c.intermediateSize])
            attnRstd = Tensor(shape: [n])
            ffnRstd = Tensor(shape: [n])
        }
    }

    /// One block over h [B·slots, D], replaced by the block's output. Its keys and values go to
    /// cacheK/cacheV [B, capacity, kvDim] at slots start..<start+slots, and its queries attend to every
    /// slot below start + slots. Training passes the block's own `a.k`/`a.v` as the cache (start 0,
    /// capacity = slots). `ffnOut` [B·slots, F] is scratch. With `quantized` (generation only) its
    /// matrices replace the fp32 ones.
    func layerForward(
        _ layer: Layer, h: UnsafeMutablePointer<Float>, a: LayerActivations, batch B: Int, slots: Int,
        positions: UnsafePointer<Int32>, cacheMask: UnsafePointer<Bool>, cacheK: UnsafeMutablePointer<Float>,
        cacheV: UnsafeMutablePointer<Float>, capacity: Int, start: Int, ffnOut: UnsafeMutablePointer<Float>,
        quantized ql: QuantizedLayer? = nil
    ) {
        let c = config, n = B * slots, D = c.hiddenSize, F = c.intermediateSize
        a.input.pointer.update(from: h, count: n * D)
        rmsNormForward(a.normed.pointer, rstd: a.attnRstd.pointer, h, weight: w(layer.attnNorm), rows: n, dim: D, eps: c.rmsNormEps)
        linear(a.q.pointer, a.normed.pointer, layer.q, ql?.q, m: n, n: c.qDim, k: D)
        linear(a.k.pointer, a.normed.pointer, layer.k, ql?.k, m: n, n: c.kvDim, k: D)
        linear(a.v.pointer, a.normed.pointer, layer.v, ql?.v, m: n, n: c.kvDim, k: D)
        let angles = rope(covering: positions, count: n)
        ropeForward(a.q.pointer, a.q.pointer, positions: positions, tokens: n, heads: c.heads, headDim: c.headDim,
                    table: angles, convention: c.ropeConvention)
        ropeForward(a.k.pointer, a.k.pointer, positions: positions, tokens: n, heads: c.kvHeads, headDim: c.headDim,
                    table: angles, convention: c.ropeConvention)
        if cacheK != a.k.pointer {  // new keys and values into their cache slots
            for b in 0..<B {
                let dst = (b * capacity + start) * c.kvDim, src = b * slots * c.kvDim
                (cacheK + dst).update(from: a.k.pointer + src, count: slots * c.kvDim)
                (cacheV + dst).update(from: a.v.pointer + src, count: slots * c.kvDim)
            }
        }
        // Sequences attend independently. A decoding step's are split with the kernels' helper thread,
        // one sequence a chunk, on the decode-attention kernel; prefill and scoring run attentionForward.
        let keys = start + slots, ldq = c.heads * c.headDim, ldkv = c.kvHeads * c.headDim
        nonisolated(unsafe) let (out, probs, q) = (a.attention.pointer, a.probs.pointer, UnsafePointer(a.q.pointer))
        nonisolated(unsafe) let (cachedK, cachedV) = (UnsafePointer(cacheK), UnsafePointer(cacheV))
        helperParallelFor(B, threads: slots == 1 ? BLAS.threads : 1) { sequences in
            let b = sequences.lowerBound
            let (out, probs, q) = (out + b * slots * ldq, probs + b * c.heads * slots * keys, q + b * slots * ldq)
            let (k, v, mask) = (cachedK + b * capacity * ldkv, cachedV + b * capacity * ldkv, cacheMask + b * capacity)
            if slots == 1 {
                decodeAttentionForward(out, probs: probs, q: q, k: k, v: v, keyMask: mask, batch: sequences.count, keys: keys,
                                       capacity: capacity, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            } else {
                attentionForward(out, probs: probs, q: q, k: k, v: v, keyMask: mask, batch: sequences.count, queries: slots,
                                 keys: keys, capacity: capacity, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            }
        }
        // residual = input + attention·Woᵀ
        a.residual.pointer.update(from: h, count: n * D)
        linear(a.residual.pointer, a.attention.pointer, layer.output, ql?.output, m: n, n: D, k: c.qDim, accumulate: true)
        rmsNormForward(a.ffnNormed.pointer, rstd: a.ffnRstd.pointer, a.residual.pointer, weight: w(layer.ffnNorm),
                       rows: n, dim: D, eps: c.rmsNormEps)
        linear(a.gate.pointer, a.ffnNormed.pointer, layer.gate, ql?.gate, m: n, n: F, k: D)
        linear(a.up.pointer, a.ffnNormed.pointer, layer.up, ql?.up, m: n, n: F, k: D)
        swigluForward(ffnOut, gate: a.gate.pointer, up: a.up.pointer, count: n * F)
        // output = residual + swiglu·Wdᵀ
        h.update(from: a.residual.pointer, count: n * D)
        linear(h, ffnOut, layer.down, ql?.down, m: n, n: D, k: F, accumulate: true)
    }

    // MARK: - Training forward and backward

    /// Everything the backward pass needs, for one batch. Shapes with N = B·T rows. Logits are not kept:
    /// the LM head runs in row chunks over the rows that predict a target (see `tokenLogProbs`), so a
    /// batch never holds [N, V].
    public final class Activations {
        public let batch: TokenBatch
        let layers: [LayerActivations]
        let final: Tensor<Float>         // h after the last block [N, D]
        let finalNormed: Tensor<Float>   // [N, D]
        let finalRstd: Tensor<Float>     // [N]

        init(_ c: LlamaConfig, batch: TokenBatch) {
            self.batch = batch
            let n = batch.batch * batch.seq
            layers = (0..<c.layers).map { _ in LayerActivations(c, n: n, batch: batch.batch, queries: batch.seq, keys: batch.seq) }
            final = Tensor(shape: [n, c.hiddenSize])
            finalNormed = Tensor(shape: [n, c.hiddenSize])
            finalRstd = Tensor(shape: [n])
        }
    }

    public func forward(_ batch: TokenBatch) throws -> Activations {
        try validate(batch)
        let c = config, n = batch.batch * batch.seq
        let acts = Activations(c, batch: batch)
        let ffnOut = Tensor<Float>(shape: [n, c.intermediateSize])
        batch.tokens.withUnsafeBufferPointer {
            embeddingForward(acts.final.pointer, table: w(embedding), ids: $0.baseAddress!, count: n, dim: c.hiddenSize)
        }
        batch.positions.withUnsafeBufferPointer { positions in
            batch.keyMask.withUnsafeBufferPointer { mask in
                for (layer, a) in zip(layers, acts.layers) {
                    layerForward(layer, h: acts.final.pointer, a: a, batch: batch.batch, slots: batch.seq,
                                 positions: positions.baseAddress!, cacheMask: mask.baseAddress!, cacheK: a.k.pointer,
                                 cacheV: a.v.pointer, capacity: batch.seq, start: 0, ffnOut: ffnOut.pointer)
                }
            }
        }
        rmsNormForward(acts.finalNormed.pointer, rstd: acts.finalRstd.pointer, acts.final.pointer, weight: w(outputNorm),
                       rows: n, dim: c.hiddenSize, eps: c.rmsNormEps)
        return acts
    }

    /// Logits of every row, [N, V]: for tests and small batches (training never materialises them).
    public func logits(_ acts: Activations) -> Tensor<Float> {
        let n = acts.batch.batch * acts.batch.seq
        let out = Tensor<Float>(shape: [n, config.vocabSize])
        matmulForward(out.pointer, acts.finalNormed.pointer, w(embedding), m: n, n: config.vocabSize, k: config.hiddenSize, transposeB: true)
        return out
    }

    /// Accumulates the gradients of every parameter below the LM head from dNormed [N, D], the gradient
    /// of the final RMSNorm's output (the head's own weight gradient is accumulated by the caller).
    func backward(_ acts: Activations, dFinalNormed dNormedIn: Tensor<Float>) {
        let c = config, batch = acts.batch, n = batch.batch * batch.seq, D = c.hiddenSize, F = c.intermediateSize
        var dH = Tensor<Float>(shape: [n, D])        // gradient of h flowing down the residual stream
        let dNormed = Tensor<Float>(shape: [n, D])
        rmsNormBackward(dX: dH.pointer, dWeight: g(outputNorm), dOut: dNormedIn.pointer, acts.final.pointer,
                        weight: w(outputNorm), rstd: acts.finalRstd.pointer, rows: n, dim: D)
        let dFfnOut = Tensor<Float>(shape: [n, F]), dGate = Tensor<Float>(shape: [n, F]), dUp = Tensor<Float>(shape: [n, F])
        let dAttention = Tensor<Float>(shape: [n, c.qDim])
        let dQ = Tensor<Float>(shape: [n, c.qDim]), dK = Tensor<Float>(shape: [n, c.kvDim]), dV = Tensor<Float>(shape: [n, c.kvDim])
        let dQPre = Tensor<Float>(shape: [n, c.qDim]), dKPre = Tensor<Float>(shape: [n, c.kvDim])
        let ffnOut = Tensor<Float>(shape: [n, F])
        let angles = batch.positions.withUnsafeBufferPointer { rope(covering: $0.baseAddress!, count: n) }
        for (l, layer) in layers.enumerated().reversed() {
            let a = acts.layers[l]
            // next = residual + swiglu(gate, up)·Wdᵀ: dResidual = dH (residual path) + the FFN's input gradient
            let dResidual = Tensor<Float>(shape: [n, D])
            dResidual.pointer.update(from: dH.pointer, count: n * D)
            swigluForward(ffnOut.pointer, gate: a.gate.pointer, up: a.up.pointer, count: n * F)  // recomputed
            dFfnOut.zero()
            matmulBackward(dA: dFfnOut.pointer, dB: g(layer.down), dC: dH.pointer, ffnOut.pointer, w(layer.down),
                           m: n, n: D, k: F, transposeB: true)
            dGate.zero(); dUp.zero()
            swigluBackward(dGate: dGate.pointer, dUp: dUp.pointer, dOut: dFfnOut.pointer, gate: a.gate.pointer,
                           up: a.up.pointer, count: n * F)
            dNormed.zero()
            matmulBackward(dA: dNormed.pointer, dB: g(layer.gate), dC: dGate.pointer, a.ffnNormed.pointer, w(layer.gate),
                           m: n, n: F, k: D, transposeB: true)
            matmulBackward(dA: dNormed.pointer, dB: g(layer.up), dC: dUp.pointer, a.ffnNormed.pointer, w(layer.up),
                           m: n, n: F, k: D, transposeB: true)
            rmsNormBackward(dX: dResidual.pointer, dWeight: g(layer.ffnNorm), dOut: dNormed.pointer, a.residual.pointer,
                            weight: w(layer.ffnNorm), rstd: a.ffnRstd.pointer, rows: n, dim: D)
            // residual = input + attention·Woᵀ
            let dInput = Tensor<Float>(shape: [n, D])
            dInput.pointer.update(from: dResidual.pointer, count: n * D)
            dAttention.zero()
            matmulBackward(dA: dAttention.pointer, dB: g(layer.output), dC: dResidual.pointer, a.attention.pointer,
                           w(layer.output), m: n, n: D, k: c.qDim, transposeB: true)
            dQ.zero(); dK.zero(); dV.zero()
            attentionBackward(dQ: dQ.pointer, dK: dK.pointer, dV: dV.pointer, dOut: dAttention.pointer, probs: a.probs.pointer,
                              q: a.q.pointer, k: a.k.pointer, v: a.v.pointer, batch: batch.batch, seq: batch.seq,
                              queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            dQPre.zero(); dKPre.zero()
            batch.positions.withUnsafeBufferPointer { pos in
                ropeBackward(dX: dQPre.pointer, dOut: dQ.pointer, positions: pos.baseAddress!, tokens: n, heads: c.heads,
                             headDim: c.headDim, table: angles, convention: c.ropeConvention)
                ropeBackward(dX: dKPre.pointer, dOut: dK.pointer, positions: pos.baseAddress!, tokens: n, heads: c.kvHeads,
                             headDim: c.headDim, table: angles, convention: c.ropeConvention)
            }
            dNormed.zero()
            matmulBackward(dA: dNormed.pointer, dB: g(layer.q), dC: dQPre.pointer, a.normed.pointer, w(layer.q),
                           m: n, n: c.qDim, k: D, transposeB: true)
            matmulBackward(dA: dNormed.pointer, dB: g(layer.k), dC: dKPre.pointer, a.normed.pointer, w(layer.k),
                           m: n, n: c.kvDim, k: D, transposeB: true)
            matmulBackward(dA: dNormed.pointer, dB: g(layer.v), dC: dV.pointer, a.normed.pointer, w(layer.v),
                           m: n, n: c.kvDim, k: D, transposeB: true)
            rmsNormBackward(dX: dInput.pointer, dWeight: g(layer.attnNorm), dOut: dNormed.pointer, a.input.pointer,
                            weight: w(layer.attnNorm), rstd: a.attnRstd.pointer, rows: n, dim: D)
            dH = dInput
        }
        batch.tokens.withUnsafeBufferPointer {
            embeddingBackward(dTable: g(embedding), dOut: dH.pointer, ids: $0.baseAddress!, count: n, dim: D)
        }
    }

    // MARK: - Input checks

    /// Checks a batch before the model reads it: at least one sequence, consistent buffers, every token
    /// id (pads included: the embedding reads them) inside the vocabulary, and `seq + extraSlots` slots
    /// within the context length.
    public func validate(_ batch: TokenBatch, extraSlots: Int = 0) throws {
        let V = config.vocabSize, n = batch.batch * batch.seq
        guard batch.batch > 0 else { throw ModelError("the batch has no sequences") }
        guard batch.seq > 0 else { throw ModelError("every sequence of the batch is empty") }
        guard batch.tokens.count == n, batch.positions.count == n, batch.keyMask.count == n else {
            throw ModelError("batch buffers hold \(batch.tokens.count) tokens, \(batch.positions.count) positions and " +
                             "\(batch.keyMask.count) mask entries for \(batch.batch) × \(batch.seq) slots")
        }
        if let r = batch.tokens.firstIndex(where: { $0 < 0 || Int($0) >= V }) {
            throw ModelError("sequence \(r / batch.seq), slot \(r % batch.seq): token id \(batch.tokens[r]) is outside the vocabulary 0..<\(V)")
        }
        guard batch.seq <= config.contextLength - extraSlots else {
            throw ModelError("\(batch.seq) slots" + (extraSlots > 0 ? " + \(extraSlots) new tokens" : "") +
                             " exceed the model's context length of \(config.contextLength)")
        }
        if let r = batch.positions.firstIndex(where: { $0 < 0 || Int($0) >= config.contextLength }) {
            throw ModelError("slot \(r): position \(batch.positions[r]) is outside the context 0..<\(config.contextLength)")
        }
    }

    /// Targets of a batch: one per slot, each a token id or negative (no target).
    func validate(targets: [Int32], of batch: TokenBatch) throws {
        guard targets.count == batch.batch * batch.seq else {
            throw ModelError("\(targets.count) targets for \(batch.batch) × \(batch.seq) slots")
        }
        if let r = targets.firstIndex(where: { Int($0) >= config.vocabSize }) {
            throw ModelError("slot \(r): target token id \(targets[r]) is outside the vocabulary 0..<\(config.vocabSize)")
        }
    }

    // MARK: - Per-token log-probs (the interface every objective uses)

    /// Rows of the LM head computed at once: [headChunk, V] logits (12.6 MB for SmolLM2) instead of [N, V].
    static let headChunk = 128

    /// The rows that predict a target, in order.
    static func targetRows(_ targets: [Int32]) -> [Int] { targets.indices.filter { targets[$0] >= 0 } }

    /// Logits [rows.count, V] of the given rows of `normed` [N, D]; `gathered` [chunk, D] is scratch.
    func headLogits(_ normed: UnsafePointer<Float>, rows: ArraySlice<Int>, gathered: Tensor<Float>, logits: Tensor<Float>) {
        let D = config.hiddenSize
        for (i, r) in rows.enumerated() { (gathered.pointer + i * D).update(from: normed + r * D, count: D) }
        matmulForward(logits.pointer, gathered.pointer, w(embedding), m: rows.count, n: config.vocabSize, k: D, transposeB: true)
    }

    /// log softmax(logits[r] / temperature)[targets[r]] for every row r with a target (≥ 0), 0 elsewhere.
    /// Row r predicts the token at slot r + 1, so targets are the batch's tokens shifted left by one.
    /// Only target rows go through the LM head, `headChunk` rows at a time.
    public func tokenLogProbs(_ acts: Activations, targets: [Int32], temperature: Float = 1) throws -> [Float] {
        try validate(targets: targets, of: acts.batch)
        return logProbs(normed: acts.finalNormed.pointer, targets: targets, temperature: temperature, entropies: nil)
    }

    /// Log-probs as `tokenLogProbs`, and the entropy of softmax(logits / temperature) at every target row
    /// (0 elsewhere), from the same logits.
    public func tokenLogProbsAndEntropies(_ acts: Activations, targets: [Int32], temperature: Float = 1) throws -> (logProbs: [Float], entropies: [Float]) {
        try validate(targets: targets, of: acts.batch)
        var entropies = [Float](repeating: 0, count: targets.count)
        let lp = entropies.withUnsafeMutableBufferPointer {
            logProbs(normed: acts.finalNormed.pointer, targets: targets, temperature: temperature, entropies: $0.baseAddress)
        }
        return (lp, entropies)
    }

    func logProbs(normed: UnsafePointer<Float>, targets: [Int32], temperature: Float) -> [Float] {
        logProbs(normed: normed, targets: targets, temperature: temperature, entropies: nil)
    }

    /// The rows of each head chunk are split across threads; each row is computed alone, so the results
    /// do not depend on the thread count.
    private func logProbs(normed: UnsafePointer<Float>, targets: [Int32], temperature: Float, entropies: UnsafeMutablePointer<Float>?) -> [Float] {
        let V = config.vocabSize, rows = Self.targetRows(targets), chunk = min(Self.headChunk, max(rows.count, 1))
        let gathered = Tensor<Float>(shape: [chunk, config.hiddenSize]), logits = Tensor<Float>(shape: [chunk, V])
        var out = [Float](repeating: 0, count: targets.count)
        out.withUnsafeMutableBufferPointer { out in
            for start in stride(from: 0, to: rows.count, by: chunk) {
                let part = rows[start..<min(start + chunk, rows.count)]
                headLogits(normed, rows: part, gathered: gathered, logits: logits)
                parallelFor(part.count, grain: max(1, parallelGrain / V)) { range in
                    for i in range {
                        let r = part[start + i]
                        let s = tokenStatistics(of: Int(targets[r]), row: logits.pointer + i * V, temperature: temperature)
                        out[r] = s.logProb
                        entropies?[r] = s.entropy
                    }
                }
            }
        }
        return out
    }

    /// log softmax(row / temperature)[token] and the entropy of softmax(row / temperature), from one
    /// online pass over the row (`softmaxStatistics`). The one place sampler and trainer turn logits into
    /// a token's log-prob.
    func tokenStatistics(of token: Int, row: UnsafePointer<Float>, temperature: Float) -> (logProb: Float, entropy: Float) {
        let invT = 1 / temperature
        let s = softmaxStatistics(row, count: config.vocabSize, scale: invT)
        return (row[token] * invT - s.logSumExp, s.entropy)
    }

    /// Backward from per-token gradients d(objective)/d(log p) to every parameter:
    /// dlogits[r] = dLogProb[r]/T · (onehot(target) − softmax(logits[r]/T)). The head's logits are
    /// recomputed chunk by chunk for the rows with a non-zero gradient (one extra head matmul per chunk
    /// instead of keeping [N, V]); the activations are spent afterwards.
    public func backward(_ acts: Activations, targets: [Int32], dLogProb: [Float], temperature: Float = 1) throws {
        try validate(targets: targets, of: acts.batch)
        guard dLogProb.count == targets.count else {
            throw ModelError("\(dLogProb.count) log-prob gradients for \(targets.count) targets")
        }
        let V = config.vocabSize, D = config.hiddenSize, invT = 1 / temperature
        let n = acts.batch.batch * acts.batch.seq
        let rows = targets.indices.filter { targets[$0] >= 0 && dLogProb[$0] != 0 }
        let chunk = min(Self.headChunk, max(rows.count, 1))
        let gathered = Tensor<Float>(shape: [chunk, D]), dLogits = Tensor<Float>(shape: [chunk, V])
        let dGathered = Tensor<Float>(shape: [chunk, D]), dNormed = Tensor<Float>(shape: [n, D])
        for start in stride(from: 0, to: rows.count, by: chunk) {
            let part = rows[start..<min(start + chunk, rows.count)]
            headLogits(acts.finalNormed.pointer, rows: part, gathered: gathered, logits: dLogits)
            parallelFor(part.count, grain: max(1, parallelGrain / V)) { range in  // rows alone: any thread count
                for i in range {  // softmax in place, then the log-prob gradient
                    let r = part[start + i], d = dLogits.pointer + i * V
                    vectorExp(d, d, count: V, scale: invT, shift: softmaxStatistics(d, count: V, scale: invT).logSumExp)
                    let scale = -dLogProb[r] * invT
                    for j in 0..<V { d[j] *= scale }
                    d[Int(targets[r])] += dLogProb[r] * invT
                }
            }
            // logits = gathered · Eᵀ (tied): dGathered = dLogits · E, dE += dLogitsᵀ · gathered
            dGathered.zero()
            matmulBackward(dA: dGathered.pointer, dB: g(embedding), dC: dLogits.pointer, gathered.pointer, w(embedding),
                           m: part.count, n: V, k: D, transposeB: true)
            for (i, r) in part.enumerated() { (dNormed.pointer + r * D).update(from: dGathered.pointer + i * D, count: D) }
        }
        backward(acts, dFinalNormed: dNormed)
    }
}
