import RealModule

// Causal multi-head self-attention with grouped-query heads and a key padding mask.
//
// Layout (batch B, sequence T, head dim D):
//   q [B, T, Hq, D]   k, v [B, T, Hkv, D]   out [B, T, Hq, D]   probs [B, Hq, T, T]
// Query head h reads key/value head h / (Hq/Hkv). Scores are q·k/√D; query i sees keys j ≤ i whose
// mask entry is true. A query that sees no key (e.g. a left-padding position) gets zero output.
// Each head is two strided GEMMs; the full T×T score block is computed and the upper triangle
// masked, which wastes half the FLOPs of the score GEMMs but keeps them in BLAS.

@inlinable
public func attentionForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, probs: UnsafeMutablePointer<S>,
    q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>, keyMask: UnsafePointer<Bool>?,
    batch: Int, seq: Int, queryHeads: Int, kvHeads: Int, headDim: Int
) {
    let T = seq, D = headDim, group = queryHeads / kvHeads
    let ldq = queryHeads * D, ldkv = kvHeads * D
    let scale = 1 / S.sqrt(S(D))
    for b in 0..<batch {
        for h in 0..<queryHeads {
            let g = h / group
            let qh = q + b * T * ldq + h * D
            let kg = k + b * T * ldkv + g * D, vg = v + b * T * ldkv + g * D
            let p = probs + (b * queryHeads + h) * T * T
            // scores [T, T] = scale · q_h [T, D] · k_gᵀ
            S.gemm(
                transA: false, transB: true, m: T, n: T, k: D, alpha: scale,
                a: qh, lda: ldq, b: kg, ldb: ldkv, beta: 0, c: p, ldc: T)
            for i in 0..<T {
                let row = p + i * T
                var m = -S.infinity
                for j in 0...i where keyMask?[b * T + j] ?? true { m = max(m, row[j]) }
                guard m > -S.infinity else {
                    row.update(repeating: 0, count: T)
                    continue
                }
                var sum: S = 0
                for j in 0...i {
                    let e = (keyMask?[b * T + j] ?? true) ? S.exp(row[j] - m) : 0
                    row[j] = e
                    sum += e
                }
                let inv = 1 / sum
                for j in 0...i { row[j] *= inv }
                (row + i + 1).update(repeating: 0, count: T - i - 1)
            }
            // out_h [T, D] = probs [T, T] · v_g [T, D]
            S.gemm(
                transA: false, transB: false, m: T, n: D, k: T, alpha: 1,
                a: p, lda: T, b: vg, ldb: ldkv, beta: 0, c: out + b * T * ldq + h * D, ldc: ldq)
        }
    }
}

/// dP = dO·vᵀ;  dv += Pᵀ·dO;  dS = P ⊙ (dP − rowsum(dP ⊙ P));  dq += scale·dS·k;  dk += scale·dSᵀ·q.
@inlinable
public func attentionBackward<S: TensorScalar>(
    dQ: UnsafeMutablePointer<S>, dK: UnsafeMutablePointer<S>, dV: UnsafeMutablePointer<S>,
    dOut: UnsafePointer<S>, probs: UnsafePointer<S>,
    q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>,
    batch: Int, seq: Int, queryHeads: Int, kvHeads: Int, headDim: Int
) {
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
                for j in 0...i { dot += pr[j] * dr[j] }
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
