import RealModule

// Row-wise softmax, log-softmax and cross-entropy over x [rows, dim] (max-subtracted, so stable).

/// log Σ exp(x) of one row of length n (max-subtracted; −∞ for an all −∞ row).
@inlinable
public func logSumExp<S: TensorScalar>(_ x: UnsafePointer<S>, count n: Int) -> S {
    var m = -S.infinity
    for j in 0..<n where x[j] > m { m = x[j] }
    if m == -S.infinity { return m }
    var sum: S = 0
    for j in 0..<n { sum += S.exp(x[j] - m) }
    return m + S.log(sum)
}

/// out = softmax(x) per row
@inlinable
public func softmaxForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, rows: Int, dim: Int
) {
    for r in 0..<rows {
        let x = x + r * dim, out = out + r * dim
        var m = -S.infinity
        for j in 0..<dim where x[j] > m { m = x[j] }
        var sum: S = 0
        for j in 0..<dim { out[j] = S.exp(x[j] - m); sum += out[j] }
        let inv = 1 / sum
        for j in 0..<dim { out[j] *= inv }
    }
}

/// With y = softmax(x): dx += y ⊙ (dy − Σ dy ⊙ y)
@inlinable
public func softmaxBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, out y: UnsafePointer<S>, rows: Int, dim: Int
) {
    for r in 0..<rows {
        let y = y + r * dim, dOut = dOut + r * dim, dX = dX + r * dim
        var dot: S = 0
        for j in 0..<dim { dot += dOut[j] * y[j] }
        for j in 0..<dim { dX[j] += y[j] * (dOut[j] - dot) }
    }
}

/// out = x − logsumexp(x) per row
@inlinable
public func logSoftmaxForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, rows: Int, dim: Int
) {
    for r in 0..<rows {
        let x = x + r * dim, out = out + r * dim
        let lse = logSumExp(x, count: dim)
        for j in 0..<dim { out[j] = x[j] - lse }
    }
}

/// With y = log-softmax(x): dx += dy − exp(y) · Σ dy
@inlinable
public func logSoftmaxBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, out y: UnsafePointer<S>, rows: Int, dim: Int
) {
    for r in 0..<rows {
        let y = y + r * dim, dOut = dOut + r * dim, dX = dX + r * dim
        var sum: S = 0
        for j in 0..<dim { sum += dOut[j] }
        for j in 0..<dim { dX[j] += dOut[j] - S.exp(y[j]) * sum }
    }
}

/// Mean cross-entropy of logits [rows, vocab] against targets [rows]; a negative target is ignored
/// (prompt and padding positions). Saves logsumexp per row for backward and returns the mean over
/// the counted rows (0 when none is counted).
@inlinable
public func crossEntropyForward<S: TensorScalar>(
    logits: UnsafePointer<S>, targets: UnsafePointer<Int32>, logSumExp lse: UnsafeMutablePointer<S>,
    rows: Int, vocab: Int
) -> S {
    var total: S = 0
    var counted = 0
    for r in 0..<rows {
        let row = logits + r * vocab
        lse[r] = logSumExp(row, count: vocab)
        let t = Int(targets[r])
        guard t >= 0 else { continue }
        total += lse[r] - row[t]
        counted += 1
    }
    return counted == 0 ? 0 : total / S(counted)
}

/// dlogits += dloss / counted · (softmax(logits) − onehot(target)) on counted rows.
@inlinable
public func crossEntropyBackward<S: TensorScalar>(
    dLogits: UnsafeMutablePointer<S>, dLoss: S, logits: UnsafePointer<S>,
    targets: UnsafePointer<Int32>, logSumExp lse: UnsafePointer<S>, rows: Int, vocab: Int
) {
    var counted = 0
    for r in 0..<rows where targets[r] >= 0 { counted += 1 }
    guard counted > 0 else { return }
    let scale = dLoss / S(counted)
    for r in 0..<rows {
        let t = Int(targets[r])
        guard t >= 0 else { continue }
        let row = logits + r * vocab, d = dLogits + r * vocab, l = lse[r]
        for j in 0..<vocab { d[j] += scale * S.exp(row[j] - l) }
        d[t] -= scale
    }
}
