// Elementwise ops over `count` scalars. Backward accumulates (see MatMul.swift).

/// out = a + b
@inlinable
public func addForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>, count: Int
) {
    for i in 0..<count { out[i] = a[i] + b[i] }
}

/// da += dout, db += dout
@inlinable
public func addBackward<S: TensorScalar>(
    dA: UnsafeMutablePointer<S>?, dB: UnsafeMutablePointer<S>?, dOut: UnsafePointer<S>, count: Int
) {
    if let dA { for i in 0..<count { dA[i] += dOut[i] } }
    if let dB { for i in 0..<count { dB[i] += dOut[i] } }
}

/// out = a ⊙ b
@inlinable
public func mulForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>, count: Int
) {
    for i in 0..<count { out[i] = a[i] * b[i] }
}

/// da += dout ⊙ b, db += dout ⊙ a
@inlinable
public func mulBackward<S: TensorScalar>(
    dA: UnsafeMutablePointer<S>?, dB: UnsafeMutablePointer<S>?, dOut: UnsafePointer<S>,
    _ a: UnsafePointer<S>, _ b: UnsafePointer<S>, count: Int
) {
    if let dA { for i in 0..<count { dA[i] += dOut[i] * b[i] } }
    if let dB { for i in 0..<count { dB[i] += dOut[i] * a[i] } }
}

/// out = s · a
@inlinable
public func scaleForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ a: UnsafePointer<S>, by s: S, count: Int
) {
    for i in 0..<count { out[i] = s * a[i] }
}

/// da += s · dout
@inlinable
public func scaleBackward<S: TensorScalar>(
    dA: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, by s: S, count: Int
) {
    for i in 0..<count { dA[i] += s * dOut[i] }
}
