import RealModule

// Row-wise softmax, log-softmax and cross-entropy over x [rows, dim] (max-subtracted, so stable).

/// log Σ exp(x) of one row of length n (−∞ for an all −∞ row). Float runs `softmaxStatistics`' online
/// pass; Double (the gradient checks' type) the max-subtracted two-pass definition with libm's exp.
@inlinable
public func logSumExp<S: TensorScalar>(_ x: UnsafePointer<S>, count n: Int) -> S {
    if S.self == Float.self {
        return S(softmaxStatistics(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), count: n).logSumExp)
    }
    var m = -S.infinity
    for j in 0..<n where x[j] > m { m = x[j] }
    if m == -S.infinity { return m }
    var sum: S = 0
    for j in 0..<n { sum += S.exp(x[j] - m) }
    return m + S.log(sum)
}

/// log Σ exp(scale·x) and the entropy −Σ p log p of p = softmax(scale·x) over one row, scale > 0, in one
/// pass over x: an online log-sum-exp keeping a running max m and lane sums of e = exp(scale·x − m) and
/// e·(scale·x − m) (`vectorExp`), rescaled when a block of 256 raises m, so each block is read twice from
/// L1 and the row once from memory. The result depends on the row alone (fixed blocks, lanes summed in
/// order): the same on every thread and at every call site. Within 2e−6 of the Double definition on
/// vocabulary-sized rows (tested). −∞ entries have probability 0, an all −∞ row gives (−∞, 0), NaN gives NaN.
@inlinable
public func softmaxStatistics(_ x: UnsafePointer<Float>, count n: Int, scale: Float = 1) -> (logSumExp: Float, entropy: Float) {
    typealias V = SIMD8<Float>
    let block = 256
    var m = -Float.infinity          // max of scale·x so far
    var sum = V(), weighted = V()    // lane sums of e and e·t, t = scale·x − m
    for start in stride(from: 0, to: n, by: block) {
        let end = min(start + block, n)
        var laneMax = V(repeating: -.infinity)
        for i in stride(from: start, to: end, by: 8) {
            let v: V = loadLanes(x, i, count: end, padding: -.infinity)
            laneMax.replace(with: v, where: v .> laneMax)
        }
        var blockMax = -Float.infinity
        for j in 0..<8 where laneMax[j] > blockMax { blockMax = laneMax[j] }
        blockMax *= scale  // rounding is monotone: max(scale·x) = scale·max(x)
        if blockMax > m {
            if m > -.infinity {  // to the new max m': e' = c·e and t' = t + (m − m'), c = exp(m − m')
                let c = Float.exp(m - blockMax)
                weighted = (weighted + (m - blockMax) * sum) * c
                sum *= c
            }
            m = blockMax
        }
        let shift = V(repeating: m > -.infinity ? m : 0), scale = V(repeating: scale)
        for i in stride(from: start, to: end, by: 8) {
            var t = loadLanes(x, i, count: end, padding: -.infinity) * scale - shift
            t.replace(with: -.greatestFiniteMagnitude, where: t .< -.greatestFiniteMagnitude)  // −∞: e = 0, e·t = 0
            let e = vectorExp(t)
            sum += e
            weighted += e * t
        }
    }
    var total: Float = 0, totalWeighted: Float = 0
    for j in 0..<8 { total += sum[j]; totalWeighted += weighted[j] }
    let logTotal = Float.log(total)
    if m == -.infinity { return (logTotal.isNaN ? logTotal : m, 0) }
    return (m + logTotal, logTotal - totalWeighted / total)
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
