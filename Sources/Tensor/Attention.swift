import CSmallGemm
import RealModule

// Causal multi-head self-attention with grouped-query heads and a key padding mask.
//
// Layout (batch B, Tq queries, Tk keys held in a cache of capacity C ≥ Tk rows per sequence, head dim D):
//   q [B, Tq, Hq, D]   k, v [B, C, Hkv, D] (first Tk rows used)   keyMask [B, C]   out [B, Tq, Hq, D]
//   probs [B, Hq, Tq, Tk]
// The queries are the last Tq of the Tk positions: query i sits at slot Tk − Tq + i and sees the slots
// j ≤ that whose mask entry is true. Training is Tq = Tk = C; prefill fills a KV cache the same way;
// a decoding step is Tq = 1 over the cache. Training, scoring and prefill run this kernel; generation's
// decoding steps run decodeAttentionForward below, the same function summed in another order. Query head h
// reads key/value head h / (Hq/Hkv); scores are q·k/√D. A query that sees no key (a left-padding position)
// gets zero output. Each head is two strided GEMMs; the full score block is computed and the upper
// triangle masked, which wastes half the FLOPs of the score GEMMs but keeps them in BLAS. With `causal: false` (BERT) every query sees every unmasked key.

@inlinable
public func attentionForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, probs: UnsafeMutablePointer<S>,
    q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>, keyMask: UnsafePointer<Bool>?,
    batch: Int, queries Tq: Int, keys Tk: Int, capacity C: Int, queryHeads: Int, kvHeads: Int, headDim D: Int,
    causal: Bool = true
) {
    precondition(Tq <= Tk && Tk <= C, "attention: \(Tq) queries, \(Tk) keys, capacity \(C)")
    let group = queryHeads / kvHeads, first = Tk - Tq
    let ldq = queryHeads * D, ldkv = kvHeads * D
    let scale = 1 / S.sqrt(S(D))
    // A decoding step (one query) takes the heads of a key-value group together: their queries are
    // adjacent rows, so scores and outputs are one [group, Tk] and one [group, D] product per group
    // instead of one matrix-vector product per head. Otherwise one head at a time, [Tq, Tk].
    let headsPerProduct = Tq == 1 ? group : 1, rows = Tq == 1 ? group : Tq, ld = Tq == 1 ? D : ldq
    for b in 0..<batch {
        let mask = keyMask.map { $0 + b * C }
        for h in stride(from: 0, to: queryHeads, by: headsPerProduct) {
            let g = h / group
            let qh = q + b * Tq * ldq + h * D
            let kg = k + b * C * ldkv + g * D, vg = v + b * C * ldkv + g * D
            let p = probs + (b * queryHeads + h) * Tq * Tk
            // scores [rows, Tk] = scale · q [rows, D] · k_gᵀ
            S.gemm(
                transA: false, transB: true, m: rows, n: Tk, k: D, alpha: scale,
                a: qh, lda: ld, b: kg, ldb: ldkv, beta: 0, c: p, ldc: Tk)
            for r in 0..<rows {
                let row = p + r * Tk, i = Tq == 1 ? 0 : r, last = causal ? first + i : Tk - 1
                var m = -S.infinity
                for j in 0...last where mask?[j] ?? true { m = max(m, row[j]) }
                guard m > -S.infinity else {
                    row.update(repeating: 0, count: Tk)
                    continue
                }
                var sum: S = 0
                for j in 0...last {
                    let e = (mask?[j] ?? true) ? S.exp(row[j] - m) : 0
                    row[j] = e
                    sum += e
                }
                let inv = 1 / sum
                for j in 0...last { row[j] *= inv }
                (row + last + 1).update(repeating: 0, count: Tk - last - 1)
            }
            // out [rows, D] = probs [rows, Tk] · v_g [Tk, D]
            S.gemm(
                transA: false, transB: false, m: rows, n: D, k: Tk, alpha: 1,
                a: p, lda: Tk, b: vg, ldb: ldkv, beta: 0, c: out + b * Tq * ldq + h * D, ldc: ld)
        }
    }
}

/// A decoding step, attentionForward's Tq = 1 case in Float with the same layouts, on CSmallGemm's
/// decode-attention kernel: each cached key and value row is read once for all the query heads of its
/// group, straight from the cache. (attentionForward makes two OpenBLAS calls per group here, which at 3
/// query rows spend more time packing than multiplying: 24 % of an RL rollout step's samples.) Results
/// agree with attentionForward's to rounding, not bit for bit; each sequence is computed whole in one
/// fixed order, so a split of the sequences across threads changes nothing.
public func decodeAttentionForward(
    _ out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, keyMask: UnsafePointer<Bool>,
    batch: Int, keys Tk: Int, capacity C: Int, queryHeads: Int, kvHeads: Int, headDim D: Int, path: SmallGemmPath = .auto
) {
    precondition(Tk <= C && queryHeads % kvHeads == 0, "decode attention: \(Tk) keys, capacity \(C), heads \(queryHeads)/\(kvHeads)")
    let ldq = queryHeads * D, ldkv = kvHeads * D, scale: Float = 1 / Float(D).squareRoot()
    let (kvHeads32, group32, D32, Tk32) = (Int32(kvHeads), Int32(queryHeads / kvHeads), Int32(D), Int32(Tk))
    for b in 0..<batch {
        let (qb, kb, vb): (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>) = (q + b * ldq, k + b * C * ldkv, v + b * C * ldkv)
        let (maskb, probsb, outb): (UnsafePointer<Bool>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) =
            (keyMask + b * C, probs + b * queryHeads * Tk, out + b * ldq)
        let done = ras_decode_attention(kvHeads32, group32, D32, Tk32, qb, kb, vb, ldkv, maskb, scale, probsb, outb, path.rawValue)
        precondition(done, "decode attention: path \(path) does not run on this CPU")
    }
}

/// Backward of the training case (Tq = Tk = C = seq):
/// dP = dO·vᵀ;  dv += Pᵀ·dO;  dS = P ⊙ (dP − rowsum(dP ⊙ P));  dq += scale·dS·k;  dk += scale·dSᵀ·q.
@inlinable
public func attentionBackward<S: TensorScalar>(
    dQ: UnsafeMutablePointer<S>, dK: UnsafeMutablePointer<S>, dV: UnsafeMutablePointer<S>,
    dOut: UnsafePointer<S>, probs: UnsafePointer<S>,
    q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>,
    batch: Int, seq: Int, queryHeads: Int, kvHeads: Int, headDim: Int
) {
    // Causal or not, masked probabilities are 0, so the same rule serves both.
    let T = seq, D = headDim, group = queryHeads / kvHeads
    let ldq = queryHeads * D, ldkv = kvHeads * D
    let scale = 1 / S.sqrt(S(D))
    let dP = UnsafeMutablePointer<S>.allocate(capacity: T * T)
    defer { dP.deallocate() }
    for b in 0..<batch {
        for h in 0..<queryHeads {
            let g = h / group
            let qOffset = b * T * ldq + h * D, kvOffset = b * T * ldkv + g * D
            let p = probs + (b * queryHeads + h) * T * T
            let dOh = dOut + qOffset
            // dP [T, T] = dO_h [T, D] · v_gᵀ
            S.gemm(
                transA: false, transB: true, m: T, n: T, k: D, alpha: 1,
                a: dOh, lda: ldq, b: v + kvOffset, ldb: ldkv, beta: 0, c: dP, ldc: T)
            // dv_g [T, D] += Pᵀ · dO_h
            S.gemm(
                transA: true, transB: false, m: T, n: D, k: T, alpha: 1,
                a: p, lda: T, b: dOh, ldb: ldq, beta: 1, c: dV + kvOffset, ldc: ldkv)
            // dS = P ⊙ (dP − Σ_j P·dP), in place in dP (masked entries have P = 0, so dS = 0)
            for i in 0..<T {
                let pr = p + i * T, dr = dP + i * T
                var dot: S = 0
                for j in 0..<T { dot += pr[j] * dr[j] }
                for j in 0..<T { dr[j] = pr[j] * (dr[j] - dot) }
            }
            // dq_h [T, D] += scale · dS · k_g ;  dk_g [T, D] += scale · dSᵀ · q_h
            S.gemm(
                transA: false, transB: false, m: T, n: D, k: T, alpha: scale,
                a: dP, lda: T, b: k + kvOffset, ldb: ldkv, beta: 1, c: dQ + qOffset, ldc: ldq)
            S.gemm(
                transA: true, transB: false, m: T, n: D, k: T, alpha: scale,
                a: dP, lda: T, b: q + qOffset, ldb: ldq, beta: 1, c: dK + kvOffset, ldc: ldkv)
        }
    }
}
