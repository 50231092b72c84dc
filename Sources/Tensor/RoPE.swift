import RealModule

// Rotary position embedding over x [tokens, heads, headDim] with one position per token (a padded
// batch gives each row its own positions). Frequencies θ_i = base^(−2i/headDim), i < headDim/2, are
// computed in the kernel's scalar type as Hugging Face does, so Float runs match its fp32 angles.

public enum RoPEConvention: String, Sendable, Codable, CaseIterable {
    /// Pairs (x[i], x[i + headDim/2]) — GPT-NeoX and Hugging Face Llama.
    case rotateHalf
    /// Pairs (x[2i], x[2i+1]) — GPT-J, and llama.cpp on GGUF weights whose Q/K rows are permuted.
    case adjacentPairs
}

/// Rotates every pair by +angle (forward) or −angle (the transpose, for backward); with
/// `accumulate` the result is added to `out`. `out` may alias `x` when not accumulating.
@inlinable
func ropeRotate<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, positions: UnsafePointer<Int32>,
    tokens: Int, heads: Int, headDim: Int, base: S, convention: RoPEConvention,
    inverse: Bool, accumulate: Bool
) {
    let half = headDim / 2
    let invFreq = (0..<half).map { 1 / S.pow(base, S(2 * $0) / S(headDim)) }
    var cosTable = [S](repeating: 0, count: half), sinTable = cosTable
    let stride = convention == .rotateHalf ? half : 1
    let step = convention == .rotateHalf ? 1 : 2
    for t in 0..<tokens {
        let p = S(positions[t])
        for i in 0..<half {
            let angle = p * invFreq[i]
            cosTable[i] = S.cos(angle)
            sinTable[i] = inverse ? -S.sin(angle) : S.sin(angle)
        }
        for h in 0..<heads {
            let offset = (t * heads + h) * headDim
            let xr = x + offset, o = out + offset
            for i in 0..<half {
                let ia = i * step, ib = ia + stride
                let a = xr[ia], b = xr[ib], c = cosTable[i], s = sinTable[i]
                let ra = a * c - b * s, rb = a * s + b * c
                if accumulate { o[ia] += ra; o[ib] += rb } else { o[ia] = ra; o[ib] = rb }
            }
        }
    }
}

/// out [tokens, heads, headDim] = RoPE(x); may run in place (out == x).
@inlinable
public func ropeForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, positions: UnsafePointer<Int32>,
    tokens: Int, heads: Int, headDim: Int, base: S, convention: RoPEConvention
) {
    ropeRotate(
        out, x, positions: positions, tokens: tokens, heads: heads, headDim: headDim, base: base,
        convention: convention, inverse: false, accumulate: false)
}

/// dx += RoPEᵀ(dout): the rotation is orthogonal, so its transpose rotates by −angle.
@inlinable
public func ropeBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, positions: UnsafePointer<Int32>,
    tokens: Int, heads: Int, headDim: Int, base: S, convention: RoPEConvention
) {
    ropeRotate(
        dX, dOut, positions: positions, tokens: tokens, heads: heads, headDim: headDim, base: base,
        convention: convention, inverse: true, accumulate: true)
}
