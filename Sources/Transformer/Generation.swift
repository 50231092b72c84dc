// Batched sampling with a KV cache. Prompts are left-padded into one batch; every step appends one slot
// per sequence and runs the same attention kernel as training over the cache (queries = the new slots).
// Log-probs of sampled tokens are those of the sampling distribution before top-k/top-p filtering:
// log softmax(logits / T) (T = 1 for greedy), the quantity objectives recompute in training.
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
    /// returns the logits of each sequence's last new slot, [B, V], or of every new slot, [B·slots, V].
    func forwardCached(tokens: [Int32], positions: [Int32], mask: [Bool], slots: Int, cache: KVCache, allSlots: Bool = false) -> Tensor<Float> {
        let c = config, B = cache.batch, n = B * slots, D = c.hiddenSize, F = c.intermediateSize
        let start = cache.length, keys = start + slots
        precondition(keys <= cache.capacity, "KV cache full: \(keys) slots of \(cache.capacity)")
        for b in 0..<B { for s in 0..<slots { cache.keyMask[b * cache.capacity + start + s] = mask[b * slots + s] } }
        let h = Tensor<Float>(shape: [n, D]), normed = Tensor<Float>(shape: [n, D])
        let q = Tensor<Float>(shape: [n, c.qDim]), k = Tensor<Float>(shape: [n, c.kvDim]), v = Tensor<Float>(shape: [n, c.kvDim])
        let attention = Tensor<Float>(shape: [n, c.qDim]), probs = Tensor<Float>(shape: [B, c.heads, slots, keys])
        let gate = Tensor<Float>(shape: [n, F]), up = Tensor<Float>(shape: [n, F]), rstd = Tensor<Float>(shape: [n])
        tokens.withUnsafeBufferPointer {
            embeddingForward(h.pointer, table: w(embedding), ids: $0.baseAddress!, count: n, dim: D)
        }
        for (l, layer) in layers.enumerated() {
            rmsNormForward(normed.pointer, rstd: rstd.pointer, h.pointer, weight: w(layer.attnNorm), rows: n, dim: D, eps: c.rmsNormEps)
            matmulForward(q.pointer, normed.pointer, w(layer.q), m: n, n: c.qDim, k: D, transposeB: true)
            matmulForward(k.pointer, normed.pointer, w(layer.k), m: n, n: c.kvDim, k: D, transposeB: true)
            matmulForward(v.pointer, normed.pointer, w(layer.v), m: n, n: c.kvDim, k: D, transposeB: true)
            positions.withUnsafeBufferPointer { pos in
                ropeForward(q.pointer, q.pointer, positions: pos.baseAddress!, tokens: n, heads: c.heads,
                            headDim: c.headDim, base: c.ropeTheta, convention: c.ropeConvention)
                ropeForward(k.pointer, k.pointer, positions: pos.baseAddress!, tokens: n, heads: c.kvHeads,
                            headDim: c.headDim, base: c.ropeTheta, convention: c.ropeConvention)
            }
            for b in 0..<B {  // new keys and values into their cache slots
                let dst = (b * cache.capacity + start) * c.kvDim
                (cache.keys[l].pointer + dst).update(from: k.pointer + b * slots * c.kvDim, count: slots * c.kvDim)
                (cache.values[l].pointer + dst).update(from: v.pointer + b * slots * c.kvDim, count: slots * c.kvDim)
            }
            cache.keyMask.withUnsafeBufferPointer { keyMask in
                attentionForward(attention.pointer, probs: probs.pointer, q: q.pointer, k: cache.keys[l].pointer,
                                 v: cache.values[l].pointer, keyMask: keyMask.baseAddress!, batch: B, queries: slots,
                                 keys: keys, capacity: cache.capacity, queryHeads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
            }
            matmulForward(h.pointer, attention.pointer, w(layer.output), m: n, n: D, k: c.qDim, transposeB: true, accumulate: true)
            rmsNormForward(normed.pointer, rstd: rstd.pointer, h.pointer, weight: w(layer.ffnNorm), rows: n, dim: D, eps: c.rmsNormEps)
            matmulForward(gate.pointer, normed.pointer, w(layer.gate), m: n, n: F, k: D, transposeB: true)
            matmulForward(up.pointer, normed.pointer, w(layer.up), m: n, n: F, k: D, transposeB: true)
            swigluForward(gate.pointer, gate: gate.pointer, up: up.pointer, count: n * F)
            matmulForward(h.pointer, gate.pointer, w(layer.down), m: n, n: D, k: F, transposeB: true, accumulate: true)
        }
        cache.length = keys
        if allSlots {
            let logits = Tensor<Float>(shape: [n, c.vocabSize])
            rmsNormForward(normed.pointer, rstd: rstd.pointer, h.pointer, weight: w(outputNorm), rows: n, dim: D, eps: c.rmsNormEps)
            matmulForward(logits.pointer, normed.pointer, w(embedding), m: n, n: c.vocabSize, k: D, transposeB: true)
            return logits
        }
        let last = Tensor<Float>(shape: [B, D]), lastNormed = Tensor<Float>(shape: [B, D]), logits = Tensor<Float>(shape: [B, c.vocabSize])
        for b in 0..<B { (last.pointer + b * D).update(from: h.pointer + (b * slots + slots - 1) * D, count: D) }
        rmsNormForward(lastNormed.pointer, rstd: rstd.pointer, last.pointer, weight: w(outputNorm), rows: B, dim: D, eps: c.rmsNormEps)
        matmulForward(logits.pointer, lastNormed.pointer, w(embedding), m: B, n: c.vocabSize, k: D, transposeB: true)
        return logits
    }

    /// Per-token log-probs without gradient (reference and old-policy scores): the inference path,
    /// which keeps one layer's activations at a time instead of all of them.
    public func scoreLogProbs(_ batch: TokenBatch, targets: [Int32], temperature: Float = 1) -> [Float] {
        let cache = KVCache(config, batch: batch.batch, capacity: batch.seq)
        let logits = forwardCached(tokens: batch.tokens, positions: batch.positions, mask: batch.keyMask, slots: batch.seq,
                                   cache: cache, allSlots: true)
        return logProbs(logits: logits.pointer, targets: targets, temperature: temperature)
    }

    /// Samples up to `maxNewTokens` tokens after each prompt. Sequences are drawn in order at every step
    /// from the one `rng` stream, so a seed fixes the whole batch.
    public func generate(
        prompts: [[Int32]], maxNewTokens: Int, sampling: SamplingConfig, stopTokens: [Int32], rng: inout Xoshiro256,
        onStep: ((Int) -> Void)? = nil
    ) -> [Generation] {
        let batch = TokenBatch(leftPadding: prompts)
        let B = batch.batch, V = config.vocabSize
        guard B > 0, maxNewTokens > 0 else { return [Generation](repeating: Generation(), count: B) }
        let cache = KVCache(config, batch: B, capacity: batch.seq + maxNewTokens)
        var logits = forwardCached(tokens: batch.tokens, positions: batch.positions, mask: batch.keyMask, slots: batch.seq, cache: cache)
        var results = [Generation](repeating: Generation(), count: B)
        var nextPosition = prompts.map { Int32($0.count) }
        var scratch = [Float](repeating: 0, count: V), scaled = [Float](repeating: 0, count: V)
        let invT = sampling.isGreedy ? 1 : 1 / sampling.temperature
        for step in 0..<maxNewTokens {
            var tokens = [Int32](repeating: 0, count: B), mask = [Bool](repeating: false, count: B)
            for b in 0..<B where !results[b].stopped {
                let row = logits.pointer + b * V
                let token = scratch.withUnsafeMutableBufferPointer {
                    sampleToken(logits: row, count: V, config: sampling, scratch: $0.baseAddress!, rng: &rng)
                }
                for j in 0..<V { scaled[j] = row[j] * invT }
                let logProb = scaled[token] - scaled.withUnsafeBufferPointer { logSumExp($0.baseAddress!, count: V) }
                results[b].tokens.append(Int32(token))
                results[b].logProbs.append(logProb)
                if stopTokens.contains(Int32(token)) { results[b].stopped = true }
                tokens[b] = Int32(token)
                mask[b] = true
            }
            onStep?(step + 1)
            if step == maxNewTokens - 1 || results.allSatisfy(\.stopped) { break }
            // A finished sequence gets a masked slot: it neither attends nor is attended to.
            logits = forwardCached(tokens: tokens, positions: nextPosition, mask: mask, slots: 1, cache: cache)
            for b in 0..<B { nextPosition[b] += 1 }
        }
        return results
    }
}
