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

@inlinable func sigmoid<S: TensorScalar>(_ z: S) -> S { 1 / (1 + S.exp(-z)) }

/// SiLU: out = x·σ(x)
@inlinable
public func siluForward<S: TensorScalar>(_ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, count: Int) {
    for i in 0..<count { out[i] = x[i] * sigmoid(x[i]) }
}

/// dx += dout · σ(x)·(1 + x·(1 − σ(x)))
@inlinable
public func siluBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, _ x: UnsafePointer<S>, count: Int
) {
    for i in 0..<count {
        let s = sigmoid(x[i])
        dX[i] += dOut[i] * s * (1 + x[i] * (1 - s))
    }
}

/// SwiGLU (Llama MLP): out = silu(gate) ⊙ up
@inlinable
public func swigluForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, gate: UnsafePointer<S>, up: UnsafePointer<S>, count: Int
) {
    for i in 0..<count { out[i] = gate[i] * sigmoid(gate[i]) * up[i] }
}

/// dgate += dout ⊙ up ⊙ silu'(gate), dup += dout ⊙ silu(gate)
@inlinable
public func swigluBackward<S: TensorScalar>(
    dGate: UnsafeMutablePointer<S>, dUp: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>,
    gate: UnsafePointer<S>, up: UnsafePointer<S>, count: Int
) {
    for i in 0..<count {
        let g = gate[i], s = sigmoid(g)
        dGate[i] += dOut[i] * up[i] * s * (1 + g * (1 - s))
        dUp[i] += dOut[i] * g * s
    }
}
