// Batched sampling with a KV cache. Prompts are left-padded into one batch and prefilled with training's
// attention kernel; every step then appends one slot per sequence and attends over the cache with the
// decode-attention kernel (the same function, to rounding).
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

/// Per-layer keys and values of up to B sequences, `capacity` slots each. Rows 0..<batch are in use:
/// generation drops finished sequences by moving the rows still running to the front (`keep`).
final class KVCache {
    private(set) var batch: Int
    let capacity: Int, kvDim: Int
    let keys: [Tensor<Float>], values: [Tensor<Float>]  // [B, capacity, kvDim] per layer
    var keyMask: [Bool]                                  // [B, capacity]
    var length = 0

    init(_ c: LlamaConfig, batch: Int, capacity: Int) {
        self.batch = batch
        self.capacity = capacity
        kvDim = c.kvDim
        keys = (0..<c.layers).map { _ in Tensor(shape: [batch, capacity, c.kvDim]) }
        values = (0..<c.layers).map { _ in Tensor(shape: [batch, capacity, c.kvDim]) }
        keyMask = [Bool](repeating: false, count: batch * capacity)
    }

    /// A cache of `rows.count` sequences whose row r is a copy of `source`'s row rows[r]: the K samples
    /// of one prompt start from its single prefill.
    convenience init(_ c: LlamaConfig, copying source: KVCache, rows: [Int], capacity: Int) {
        self.init(c, batch: rows.count, capacity: capacity)
        length = source.length
        for (to, from) in rows.enumerated() { copyRow(to, from: from, of: source) }
    }

    /// Keeps the rows `rows` (ascending), moved to 0..<rows.count; the batch shrinks to them.
    func keep(_ rows: [Int]) {
        for (to, from) in rows.enumerated() where to != from { copyRow(to, from: from, of: self) }
        batch = rows.count
    }

    /// Row `to` ← row `from` of `source`, the slots written so far (rows never overlap: to < from within a cache).
    private func copyRow(_ to: Int, from: Int, of source: KVCache) {
        for (mine, theirs) in zip(keys + values, source.keys + source.values) {
            (mine.pointer + to * capacity * kvDim).update(from: theirs.pointer + from * source.capacity * kvDim, count: length * kvDim)
        }
        for s in 0..<length { keyMask[to * capacity + s] = source.keyMask[from * source.capacity + s] }
    }
}

/// The buffers of one forward over the cache, sized for its largest call and reused by every decoding
/// step (and every layer) instead of fresh zero-filled allocations.
final class InferenceBuffers {
    let rows: Int
    let h, ffnOut, last, normed, logits: Tensor<Float>
    let layer: Llama.LayerActivations

    /// For `rows` new slots (B · slots) attending to at most `keys` slots, with `logitRows` head rows.
    init(_ c: LlamaConfig, rows: Int, batch: Int, queries: Int, keys: Int, logitRows: Int) {
        self.rows = rows
        h = Tensor(shape: [rows, c.hiddenSize])
        ffnOut = Tensor(shape: [rows, c.intermediateSize])
        last = Tensor(shape: [batch, c.hiddenSize])
        normed = Tensor(shape: [rows, c.hiddenSize])
        logits = Tensor(shape: [logitRows, c.vocabSize])
        layer = Llama.LayerActivations(c, n: rows, batch: batch, queries: queries, keys: keys)
    }
}

extension Llama {
    /// Appends `slots` new slots per sequence (tokens, positions, mask: [B·slots]) to the cache and
    /// leaves the final hidden states after the output norm in `buffers.normed`: each sequence's last
    /// new slot, [B, D], or every new slot, [B·slots, D]. `quantized` (generation) multiplies by the
    /// inference weights.
    func forwardCached(tokens: [Int32], positions: [Int32], mask: [Bool], slots: Int, cache: KVCache, buffers: InferenceBuffers,
                       allSlots: Bool = false, quantized: InferenceWeights? = nil) {
        let c = config, B = cache.batch, n = B * slots, D = c.hiddenSize
        let start = cache.length
        precondition(start + slots <= cache.capacity, "KV cache full: \(start + slots) slots of \(cache.capacity)")
        precondition(n <= buffers.rows, "\(n) rows for buffers of \(buffers.rows)")
        for b in 0..<B { for s in 0..<slots { cache.keyMask[b * cache.capacity + start + s] = mask[b * slots + s] } }
        let h = buffers.h.pointer
        tokens.withUnsafeBufferPointer {
            embeddingForward(h, table: w(embedding), ids: $0.baseAddress!, count: n, dim: D)
        }
        positions.withUnsafeBufferPointer { positions in
            cache.keyMask.withUnsafeBufferPointer { keyMask in
                for (l, layer) in layers.enumerated() {
                    layerForward(layer, h: h, a: buffers.layer, batch: B, slots: slots, positions: positions.baseAddress!,
                                 cacheMask: keyMask.baseAddress!, cacheK: cache.keys[l].pointer, cacheV: cache.values[l].pointer,
                                 capacity: cache.capacity, start: start, ffnOut: buffers.ffnOut.pointer, quantized: quantized?.layers[l])
                }
            }
        }
        cache.length = start + slots
        var last = UnsafePointer(h)
        if !allSlots && slots > 1 {  // only each sequence's last slot goes on to the head
            for b in 0..<B { (buffers.last.pointer + b * D).update(from: h + (b * slots + slots - 1) * D, count: D) }
            last = UnsafePointer(buffers.last.pointer)
        }
        rmsNormForward(buffers.normed.pointer, rstd: buffers.layer.attnRstd.pointer, last, weight: w(outputNorm),
                       rows: allSlots ? n : B, dim: D, eps: c.rmsNormEps)
    }

    /// Logits [rows, V] into `buffers.logits` of the final normed hidden states in `buffers.normed`
    /// (the tied LM head, quantized in `quantized`).
    func headLogits(_ buffers: InferenceBuffers, rows: Int, quantized: InferenceWeights? = nil) {
        linear(buffers.logits.pointer, buffers.normed.pointer, embedding, quantized?.head, m: rows, n: config.vocabSize, k: config.hiddenSize)
    }

    /// Per-token log-probs without gradient (reference and old-policy scores): the inference path,
    /// which keeps one layer's activations at a time instead of all of them.
    public func scoreLogProbs(_ batch: TokenBatch, targets: [Int32], temperature: Float = 1) throws -> [Float] {
        try validate(batch)
        try validate(targets: targets, of: batch)
        let n = batch.batch * batch.seq
        let cache = KVCache(config, batch: batch.batch, capacity: batch.seq)
        let buffers = InferenceBuffers(config, rows: n, batch: batch.batch, queries: batch.seq, keys: batch.seq, logitRows: 0)
        forwardCached(tokens: batch.tokens, positions: batch.positions, mask: batch.keyMask, slots: batch.seq,
                      cache: cache, buffers: buffers, allSlots: true)
        return logProbs(normed: buffers.normed.pointer, targets: targets, temperature: temperature)
    }

    /// Samples up to `maxNewTokens` tokens after each prompt. Sequence b draws only from `rngs[b]`, so
    /// what a sequence samples does not depend on which others share its batch. Every prompt needs a
    /// token, and the longest prompt plus `maxNewTokens` must fit the context length.
    ///
    /// No wasted work: identical prompts (the K samples of one) are prefilled once and their keys and
    /// values copied to each sample's row; a sequence that stops leaves the batch (the rows still
    /// running move up in the cache), so later steps compute only the running ones.
    public func generate(
        prompts: [[Int32]], maxNewTokens: Int, sampling: SamplingConfig, stopTokens: [Int32], rngs: inout [Xoshiro256],
        onStep: ((Int) -> Void)? = nil
    ) throws -> [Generation] {
        guard rngs.count == prompts.count else { throw ModelError("\(rngs.count) random streams for \(prompts.count) prompts") }
        guard maxNewTokens >= 0 else { throw ModelError("max new tokens is \(maxNewTokens), not ≥ 0") }
        if let b = prompts.firstIndex(where: \.isEmpty) { throw ModelError("prompt \(b) of \(prompts.count) is empty") }
        // distinct prompts in order of first appearance; row b samples after distinct prompt source[b]
        var distinct: [[Int32]] = [], index: [[Int32]: Int] = [:]
        let source = prompts.map { p in
            if let i = index[p] { return i }
            distinct.append(p)
            index[p] = distinct.count - 1
            return distinct.count - 1
        }
        let prefill = TokenBatch(leftPadding: distinct)
        try validate(prefill, extraSlots: maxNewTokens)
        let B = prompts.count, V = config.vocabSize, capacity = prefill.seq + maxNewTokens
        guard maxNewTokens > 0 else { return [Generation](repeating: Generation(), count: B) }
        let quantized = inference
        let prefillCache = KVCache(config, batch: distinct.count, capacity: prefill.seq)
        let prefillBuffers = InferenceBuffers(config, rows: distinct.count * prefill.seq, batch: distinct.count,
                                              queries: prefill.seq, keys: prefill.seq, logitRows: distinct.count)
        forwardCached(tokens: prefill.tokens, positions: prefill.positions, mask: prefill.keyMask, slots: prefill.seq,
                      cache: prefillCache, buffers: prefillBuffers, quantized: quantized)
        headLogits(prefillBuffers, rows: distinct.count, quantized: quantized)
        let cache = KVCache(config, copying: prefillCache, rows: source, capacity: capacity)
        let buffers = InferenceBuffers(config, rows: B, batch: B, queries: 1, keys: capacity, logitRows: B)

        var results = [Generation](repeating: Generation(), count: B)
        var running = Array(0..<B)             // cache row i decodes sequence running[i]
        var logitRow = source                  // cache row i samples from this row of `logits`
        var logits = prefillBuffers.logits
        var nextPosition = prompts.map { Int32($0.count) }
        let scratch = Tensor<Float>(shape: [B, V])
        var sampled = [Int](repeating: 0, count: B), logProbs = [Float](repeating: 0, count: B)
        let temperature = sampling.isGreedy ? 1 : sampling.temperature
        for step in 0..<maxNewTokens {
            // Rows sample apart, each from its own stream into its own scratch row: split with the helper
            // thread, the draws do not depend on the thread count.
            rngs.withUnsafeMutableBufferPointer { streams in
                sampled.withUnsafeMutableBufferPointer { tokens in
                    logProbs.withUnsafeMutableBufferPointer { lps in
                        nonisolated(unsafe) let (streams, tokens, lps) = (streams.baseAddress!, tokens.baseAddress!, lps.baseAddress!)
                        nonisolated(unsafe) let (rows, work) = (UnsafePointer(logits.pointer), scratch.pointer)
                        helperParallelFor(running.count) { part in
                            for i in part {
                                let row = rows + logitRow[i] * V
                                tokens[i] = sampleToken(logits: row, count: V, config: sampling, scratch: work + i * V, rng: &streams[running[i]])
                                lps[i] = tokenStatistics(of: tokens[i], row: row, temperature: temperature).logProb
                            }
                        }
                    }
                }
            }
            var tokens: [Int32] = [], positions: [Int32] = [], keep: [Int] = []
            for (i, b) in running.enumerated() {
                let token = sampled[i]
                results[b].tokens.append(Int32(token))
                results[b].logProbs.append(logProbs[i])
                if stopTokens.contains(Int32(token)) {
                    results[b].stopped = true
                } else {
                    keep.append(i)
                    tokens.append(Int32(token))
                    positions.append(nextPosition[b])
                    nextPosition[b] += 1
                }
            }
            onStep?(step + 1)
            if step == maxNewTokens - 1 || keep.isEmpty { break }
            if keep.count < running.count {
                cache.keep(keep)
                running = keep.map { running[$0] }
            }
            forwardCached(tokens: tokens, positions: positions, mask: [Bool](repeating: true, count: running.count), slots: 1,
                          cache: cache, buffers: buffers, quantized: quantized)
            headLogits(buffers, rows: running.count, quantized: quantized)
            logits = buffers.logits
            logitRow = Array(running.indices)
        }
        return results
    }
}
