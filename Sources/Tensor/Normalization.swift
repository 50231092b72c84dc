import RealModule

// Row-wise normalisations over the last dimension of x [rows, dim].

/// RMSNorm (Llama): out = x / sqrt(mean(x²) + eps) ⊙ weight. Saves rstd [rows] for backward.
/// Rows are split across threads; each row is computed alone, so results do not depend on the thread count.
@inlinable
public func rmsNormForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, rstd: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>,
    weight: UnsafePointer<S>, rows: Int, dim: Int, eps: S, threads: Int = BLAS.threads
) {
    parallelFor(rows, grain: parallelGrain / max(1, dim), threads: threads) { range in
        for r in range {
            let x = x + r * dim, out = out + r * dim
            var sumSquares: S = 0
            for j in 0..<dim { sumSquares += x[j] * x[j] }
            let s = 1 / S.sqrt(sumSquares / S(dim) + eps)
            rstd[r] = s
            for j in 0..<dim { out[j] = x[j] * s * weight[j] }
        }
    }
}

/// With g = dout ⊙ weight and x̂ = x·rstd: dx += rstd · (g − x̂ · mean(g ⊙ x̂)), dweight += Σ dout ⊙ x̂.
/// dx is split across threads by rows, dweight (a sum over rows) by columns, each column summed over
/// the rows in order: the bits are those of one thread on every thread count.
@inlinable
public func rmsNormBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dWeight: UnsafeMutablePointer<S>?, dOut: UnsafePointer<S>,
    _ x: UnsafePointer<S>, weight: UnsafePointer<S>, rstd: UnsafePointer<S>, rows: Int, dim: Int,
    threads: Int = BLAS.threads
) {
    parallelFor(rows, grain: parallelGrain / max(1, dim), threads: threads) { range in
        for r in range {
            let x = x + r * dim, dOut = dOut + r * dim, dX = dX + r * dim, s = rstd[r]
            var dot: S = 0
            for j in 0..<dim { dot += dOut[j] * weight[j] * x[j] * s }
            let meanDot = dot / S(dim)
            for j in 0..<dim {
                let xHat = x[j] * s
                dX[j] += s * (dOut[j] * weight[j] - xHat * meanDot)
            }
        }
    }
    guard let dWeight else { return }
    parallelFor(dim, grain: max(1, parallelGrain / max(1, rows)), threads: threads) { columns in
        for r in 0..<rows {
            let x = x + r * dim, dOut = dOut + r * dim, s = rstd[r]
            for j in columns { dWeight[j] += dOut[j] * x[j] * s }
        }
    }
}

/// LayerNorm (BERT): out = (x − mean) / sqrt(var + eps) ⊙ weight + bias, biased variance.
/// Saves mean and rstd [rows] for backward.
@inlinable
public func layerNormForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, mean: UnsafeMutablePointer<S>, rstd: UnsafeMutablePointer<S>,
    _ x: UnsafePointer<S>, weight: UnsafePointer<S>, bias: UnsafePointer<S>,
    rows: Int, dim: Int, eps: S
) {
    for r in 0..<rows {
        let x = x + r * dim, out = out + r * dim
        var sum: S = 0
        for j in 0..<dim { sum += x[j] }
        let m = sum / S(dim)
        var sumSquares: S = 0
        for j in 0..<dim { let d = x[j] - m; sumSquares += d * d }
        let s = 1 / S.sqrt(sumSquares / S(dim) + eps)
        mean[r] = m
        rstd[r] = s
        for j in 0..<dim { out[j] = (x[j] - m) * s * weight[j] + bias[j] }
    }
}

/// With g = dout ⊙ weight and x̂ the normalised input:
/// dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), dweight += Σ dout ⊙ x̂, dbias += Σ dout.
@inlinable
public func layerNormBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dWeight: UnsafeMutablePointer<S>?, dBias: UnsafeMutablePointer<S>?,
    dOut: UnsafePointer<S>, _ x: UnsafePointer<S>, weight: UnsafePointer<S>,
    mean: UnsafePointer<S>, rstd: UnsafePointer<S>, rows: Int, dim: Int
) {
    for r in 0..<rows {
        let x = x + r * dim, dOut = dOut + r * dim, dX = dX + r * dim
        let m = mean[r], s = rstd[r]
        var meanG: S = 0, meanGXHat: S = 0
        for j in 0..<dim {
            let g = dOut[j] * weight[j]
            meanG += g
            meanGXHat += g * (x[j] - m) * s
        }
        meanG /= S(dim)
        meanGXHat /= S(dim)
        for j in 0..<dim {
            let xHat = (x[j] - m) * s
            dX[j] += s * (dOut[j] * weight[j] - meanG - xHat * meanGXHat)
        }
        if let dWeight { for j in 0..<dim { dWeight[j] += dOut[j] * (x[j] - m) * s } }
        if let dBias { for j in 0..<dim { dBias[j] += dOut[j] } }
    }
}
