// Tensor ops: forward/backward pairs, not a tape.
//
// Why pairs: a transformer's graph is fixed and known, so llm.c's explicit style (each layer's
// forward and backward side by side over raw pointers, activations saved by the caller) is shorter,
// faster and easier to audit than a tape: no graph objects, no dynamic allocation per op, and every
// buffer is visible at the call site. The cost is that a model writes its backward pass by hand;
// the op harness (GradientCheck.swift) checks every rule against finite differences.
//
// Conventions for every op in this module:
// - row-major, contiguous; sizes are explicit arguments; shapes are in comments as [rows, cols];
// - forward writes (overwrites) its outputs;
// - backward ACCUMULATES (+=) into the input gradients, so shared inputs (tied weights, residuals)
//   need no extra adds; callers zero gradients once per step;
// - kernels are generic over `TensorScalar` and @inlinable, so they specialise to Float in the
//   calling module and to Double in the gradient check.

/// C[batch][m, n] = op(A)[m, k] · op(B)[k, n], where op(X) = Xᵀ when its flag is set.
/// A is [m, k] (or [k, m] when transposed), B is [k, n] (or [n, k]); each batch item is contiguous.
/// With `accumulate` the product is added to C.
@inlinable
public func matmulForward<S: TensorScalar>(
    _ c: UnsafeMutablePointer<S>, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>,
    m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
    batch: Int = 1, accumulate: Bool = false
) {
    let lda = transposeA ? m : k, ldb = transposeB ? k : n
    for i in 0..<batch {
        S.gemm(
            transA: transposeA, transB: transposeB, m: m, n: n, k: k,
            alpha: 1, a: a + i * m * k, lda: lda, b: b + i * k * n, ldb: ldb,
            beta: accumulate ? 1 : 0, c: c + i * m * n, ldc: n)
    }
}

/// Gradients of `matmulForward`: dA += dC · op(B)ᵀ (arranged to A's layout), dB likewise.
/// Either gradient may be nil when it is not needed (frozen weights, inputs).
@inlinable
public func matmulBackward<S: TensorScalar>(
    dA: UnsafeMutablePointer<S>?, dB: UnsafeMutablePointer<S>?, dC: UnsafePointer<S>,
    _ a: UnsafePointer<S>, _ b: UnsafePointer<S>,
    m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, batch: Int = 1
) {
    for i in 0..<batch {
        let a = a + i * m * k, b = b + i * k * n, dC = dC + i * m * n
        if let dA = dA.map({ $0 + i * m * k }) {
            if transposeA {  // A [k, m]: dA = op(B) · dCᵀ
                S.gemm(
                    transA: transposeB, transB: true, m: k, n: m, k: n, alpha: 1,
                    a: b, lda: transposeB ? k : n, b: dC, ldb: n, beta: 1, c: dA, ldc: m)
            } else {  // A [m, k]: dA = dC · op(B)ᵀ
                S.gemm(
                    transA: false, transB: !transposeB, m: m, n: k, k: n, alpha: 1,
                    a: dC, lda: n, b: b, ldb: transposeB ? k : n, beta: 1, c: dA, ldc: k)
            }
        }
        if let dB = dB.map({ $0 + i * k * n }) {
            if transposeB {  // B [n, k]: dB = dCᵀ · op(A)
                S.gemm(
                    transA: true, transB: transposeA, m: n, n: k, k: m, alpha: 1,
                    a: dC, lda: n, b: a, ldb: transposeA ? m : k, beta: 1, c: dB, ldc: k)
            } else {  // B [k, n]: dB = op(A)ᵀ · dC
                S.gemm(
                    transA: !transposeA, transB: false, m: k, n: n, k: m, alpha: 1,
                    a: a, lda: transposeA ? m : k, b: dC, ldb: n, beta: 1, c: dB, ldc: n)
            }
        }
    }
}
