import RealModule

// Pointwise activations over `count` scalars.

public enum GELUApproximation: String, Sendable, Codable, CaseIterable {
    /// 0.5·x·(1 + erf(x/√2)) — BERT, PyTorch's default.
    case erf
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) — GPT-2.
    case tanh
}

@inlinable
public func geluForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, count: Int, approximation: GELUApproximation
) {
    switch approximation {
    case .erf:
        let invSqrt2 = 1 / S.sqrt(2)
        for i in 0..<count { out[i] = x[i] / 2 * (1 + S.erf(x[i] * invSqrt2)) }
    case .tanh:
        let c = S.sqrt(2 / S.pi), k = S(0.044715)
        for i in 0..<count {
            let v = x[i]
            out[i] = v / 2 * (1 + S.tanh(c * (v + k * v * v * v)))
        }
    }
}

/// GELU (erf) on Float through `vectorErf`, split across threads. Each element's value depends on it alone
/// (lanewise), so the bits are the same for every thread count and split.
public func geluErfForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, threads: Int = BLAS.threads) {
    parallelFor(count, grain: parallelGrain, threads: threads) { range in
        let end = range.upperBound
        for i in stride(from: range.lowerBound, to: end, by: 8) {
            let v: SIMD8<Float> = loadLanes(x, i, count: end, padding: 0)
            storeLanes(v * 0.5 * (1 + vectorErf(v * 0.707_106_77)), out, i, count: end)
        }
    }
}

@inlinable
public func geluBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, _ x: UnsafePointer<S>, count: Int,
    approximation: GELUApproximation
) {
    switch approximation {
    case .erf:  // Φ(x) + x·φ(x)
        let invSqrt2 = 1 / S.sqrt(2), invSqrt2Pi = 1 / S.sqrt(2 * S.pi)
        for i in 0..<count {
            let v = x[i]
            let cdf = (1 + S.erf(v * invSqrt2)) / 2
            let pdf = S.exp(-v * v / 2) * invSqrt2Pi
            dX[i] += dOut[i] * (cdf + v * pdf)
        }
    case .tanh:
        let c = S.sqrt(2 / S.pi), k = S(0.044715)
        for i in 0..<count {
            let v = x[i]
            let t = S.tanh(c * (v + k * v * v * v))
            let dInner = c * (1 + 3 * k * v * v)
            dX[i] += dOut[i] * ((1 + t) / 2 + v / 2 * (1 - t * t) * dInner)
        }
    }
}

/// Runs body(range, e) over 0..<count split across threads by `parallelFor` and cut into chunks of 256,
/// with e[i − range.lowerBound] = exp(−x[i]) from `vectorExp`: the exp behind σ(x) = 1 / (1 + e).
/// Each element's e is the same whatever the split, so SiLU and SwiGLU do not depend on the thread count.
@inlinable
func withNegatedExp<S: TensorScalar>(
    _ x: UnsafePointer<S>, count: Int, threads: Int, _ body: (Range<Int>, UnsafePointer<S>) -> Void
) {
    let chunk = 256
    parallelFor(count, grain: parallelGrain, threads: threads) { range in
        withUnsafeTemporaryAllocation(of: S.self, capacity: chunk) { e in
            for lo in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
                let hi = min(lo + chunk, range.upperBound)
                vectorExp(e.baseAddress!, x + lo, count: hi - lo, scale: -1)
                body(lo..<hi, e.baseAddress!)
            }
        }
    }
}

/// SiLU: out = x·σ(x)
@inlinable
public func siluForward<S: TensorScalar>(_ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, count: Int, threads: Int = BLAS.threads) {
    withNegatedExp(x, count: count, threads: threads) { range, e in
        for i in range { out[i] = x[i] * (1 / (1 + e[i - range.lowerBound])) }
    }
}

/// dx += dout · σ(x)·(1 + x·(1 − σ(x)))
@inlinable
public func siluBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, _ x: UnsafePointer<S>, count: Int, threads: Int = BLAS.threads
) {
    withNegatedExp(x, count: count, threads: threads) { range, e in
        for i in range {
            let s = 1 / (1 + e[i - range.lowerBound])
            dX[i] += dOut[i] * s * (1 + x[i] * (1 - s))
        }
    }
}

/// SwiGLU (Llama MLP): out = silu(gate) ⊙ up
@inlinable
public func swigluForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, gate: UnsafePointer<S>, up: UnsafePointer<S>, count: Int, threads: Int = BLAS.threads
) {
    withNegatedExp(gate, count: count, threads: threads) { range, e in
        for i in range { out[i] = gate[i] * (1 / (1 + e[i - range.lowerBound])) * up[i] }
    }
}

/// dgate += dout ⊙ up ⊙ silu'(gate), dup += dout ⊙ silu(gate)
@inlinable
public func swigluBackward<S: TensorScalar>(
    dGate: UnsafeMutablePointer<S>, dUp: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>,
    gate: UnsafePointer<S>, up: UnsafePointer<S>, count: Int, threads: Int = BLAS.threads
) {
    withNegatedExp(gate, count: count, threads: threads) { range, e in
        for i in range {
            let g = gate[i], s = 1 / (1 + e[i - range.lowerBound])
            dGate[i] += dOut[i] * up[i] * s * (1 + g * (1 - s))
            dUp[i] += dOut[i] * g * s
        }
    }
}
