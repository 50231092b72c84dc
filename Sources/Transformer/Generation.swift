// Batched sampling with a KV cache. Prompts are left-padded into one batch; every step appends one slot
// per sequence and runs the same attention kernel as training over the cache (queries = the new slots).
// Log-probs of sampled tokens are those of the sampling distribution before top-k/top-p filtering:
// log softmax(logits / T) (T = 1 for greedy), the quantity objectives recompute in training. Generation
// multiplies by the model's inference weights (fp32 unless `useInferenceWeights` chose quantized ones);
// scoring always runs fp32.
import Tensor

public struct Generation: Sendable, Equatable {
    public var tokens: [Int32] = []
    public var logProbs: [Float] = []
    /// True when a stop token ended it (the stop token is included in `tokens`), false at the length limit.
    public var stopped = false
}

/// Per-layer keys and values of B sequences, `capacity` slots each.
final class KVCache {
    let batch: Int, capacity: Int
    let keys: [Tensor<Float>], values: [Tensor<Float>]  // [B, capacity, kvDim] per layer
    var keyMask: [Bool]                                  // [B, capacity]
    var length = 0

    init(_ c: LlamaConfig, batch: Int, capacity: Int) {
        self.batch = batch
        self.capacity = capacity
        keys = (0..<c.layers).map { _ in Tensor(shape: [batch, capacity, c.kvDim]) }
        values = (0..<c.layers).map { _ in Tensor(shape: [batch, capacity, c.kvDim]) }
        keyMask = [Bool](repeating: false, count: batch * capacity)
    }
}

extension Llama {
    /// Appends `slots` new slots per sequence (tokens, positions, mask: [B·slots]) to the cache and
    /// returns the final hidden states after the output norm: each sequence's last new slot, [B, D], or
    /// every new slot, [B·slots, D]. `quantized` (generation) multiplies by the inference weights.
    func forwardCached(tokens: [Int32], positions: [Int32], mask: [Bool], slots: Int, cache: KVCache, allSlots: Bool = false,
                       quantized: InferenceWeights? = nil) -> Tensor<Float> {
        let c = config, B = cache.batch, n = B * slots, D = c.hiddenSize
        let start = cache.length
        precondition(start + slots <= cache.capacity, "KV cache full: \(start + slots) slots of \(cache.capacity)")
        for b in 0..<B { for s in 0..<slots { cache.keyMask[b * cache.capacity + start + s] = mask[b * slots + s] } }
        let h = Tensor<Float>(shape: [n, D]), ffnOut = Tensor<Float>(shape: [n, c.intermediateSize])
        let scratch = LayerActivations(c, n: n, batch: B, queries: slots, keys: start + slots)  // reused by every block
        tokens.withUnsafeBufferPointer {
            embeddingForward(h.pointer, table: w(embedding), ids: $0.baseAddress!, count: n, dim: D)
        }
        positions.withUnsafeBufferPointer { positions in
            cache.keyMask.withUnsafeBufferPointer { keyMask in
                for (l, layer) in layers.enumerated() {
                    layerForward(layer, h: h.pointer, a: scratch, batch: B, slots: slots, positions: positions.baseAddress!,
                                 cacheMask: keyMask.baseAddress!, cacheK: cache.keys[l].pointer, cacheV: cache.values[l].pointer,
                                 capacity: cache.capacity, start: start, ffnOut: ffnOut.pointer, quantized: quantized?.layers[l])
                }
            }
        }
        cache.length = start + slots
        let rows = allSlots ? n : B
        let last: Tensor<Float>
        if allSlots {
            last = h
        } else {  // only each sequence's last slot goes on to the head
            last = Tensor<Float>(shape: [B, D])
            for b in 0..<B { (last.pointer + b * D).update(from: h.pointer + (b * slots + slots - 1) * D, count: D) }
        }
        let normed = Tensor<Float>(shape: [rows, D])
        rmsNormForward(normed.pointer, rstd: scratch.attnRstd.pointer, last.pointer, weight: w(outputNorm), rows: rows, dim: D, eps: c.rmsNormEps)
        return normed
    }

    /// Logits [rows, V] of final normed hidden states [rows, D] (the tied LM head, quantized in `quantized`).
    func headLogits(_ normed: Tensor<Float>, rows: Int, quantized: InferenceWeights? = nil) -> Tensor<Float> {
        let logits = Tensor<Float>(shape: [rows, config.vocabSize])
        linear(logits.pointer, normed.pointer, embedding, quantized?.head, m: rows, n: config.vocabSize, k: config.hiddenSize)
        return logits
    }

    /// Per-token log-probs without gradient (reference and old-policy scores): the inference path,
    /// which keeps one layer's activations at a time instead of all of them.
    public func scoreLogProbs(_ batch: TokenBatch, targets: [Int32], temperature: Float = 1) throws -> [Float] {
        try validate(batch)
        try validate(targets: targets, of: batch)
        let cache = KVCache(config, batch: batch.batch, capacity: batch.seq)
        let normed = forwardCached(tokens: batch.tokens, positions: batch.positions, mask: batch.keyMask, slots: batch.seq,
                                   cache: cache, allSlots: true)
        return logProbs(normed: normed.pointer, targets: targets, temperature: temperature)
    }

    /// Samples up to `maxNewTokens` tokens after each prompt. Sequence b draws only from `rngs[b]`, so
    /// what a sequence samples does not depend on which others share its batch. Every prompt needs a
    /// token, and the longest prompt plus `maxNewTokens` must fit the context length.
    public func generate(
        prompts: [[Int32]], maxNewTokens: Int, sampling: SamplingConfig, stopTokens: [Int32], rngs: inout [Xoshiro256],
        onStep: ((Int) -> Void)? = nil
    ) throws -> [Generation] {
        guard rngs.count == prompts.count else { throw ModelError("\(rngs.count) random streams for \(prompts.count) prompts") }
        guard maxNewTokens >= 0 else { throw ModelError("max new tokens is \(maxNewTokens), not ≥ 0") }
        if let b = prompts.firstIndex(where: \.isEmpty) { throw ModelError("prompt \(b) of \(prompts.count) is empty") }
        let batch = TokenBatch(leftPadding: prompts)
        try validate(batch, extraSlots: maxNewTokens)
        let B = batch.batch, V = config.vocabSize
        guard maxNewTokens > 0 else { return [Generation](repeating: Generation(), count: B) }
        let cache = KVCache(config, batch: B, capacity: batch.seq + maxNewTokens)
        let quantized = inference
        var logits = headLogits(forwardCached(tokens: batch.tokens, positions: batch.positions, mask: batch.keyMask,
                                              slots: batch.seq, cache: cache, quantized: quantized), rows: B, quantized: quantized)
        var results = [Generation](repeating: Generation(), count: B)
        var nextPosition = prompts.map { Int32($0.count) }
        var scratch = [Float](repeating: 0, count: V), scaled = [Float](repeating: 0, count: V)
        let temperature = sampling.isGreedy ? 1 : sampling.temperature
        for step in 0..<maxNewTokens {
            var tokens = [Int32](repeating: 0, count: B), mask = [Bool](repeating: false, count: B)
            for b in 0..<B where !results[b].stopped {
                let row = logits.pointer + b * V
                let token = scratch.withUnsafeMutableBufferPointer {
                    sampleToken(logits: row, count: V, config: sampling, scratch: $0.baseAddress!, rng: &rngs[b])
                }
                let logProb = logProb(of: token, row: row, temperature: temperature, scratch: &scaled)
                results[b].tokens.append(Int32(token))
                results[b].logProbs.append(logProb)
                if stopTokens.contains(Int32(token)) { results[b].stopped = true }
                tokens[b] = Int32(token)
                mask[b] = true
            }
            onStep?(step + 1)
            if step == maxNewTokens - 1 || results.allSatisfy(\.stopped) { break }
            // A finished sequence gets a masked slot: it neither attends nor is attended to.
            logits = headLogits(forwardCached(tokens: tokens, positions: nextPosition, mask: mask, slots: 1, cache: cache,
                                              quantized: quantized), rows: B, quantized: quantized)
            for b in 0..<B { nextPosition[b] += 1 }
        }
        return results
    }
}
