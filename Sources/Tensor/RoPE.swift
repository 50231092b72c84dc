import RealModule

// Rotary position embedding over x [tokens, heads, headDim] with one position per token (a padded
// batch gives each row its own positions). Frequencies θ_i = base^(−2i/headDim), i < headDim/2, and the
// angles' cos/sin (`RoPETable`) are computed in the kernel's scalar type as Hugging Face does, so Float
// runs match its fp32 angles.

public enum RoPEConvention: String, Sendable, Codable, CaseIterable {
    /// Pairs (x[i], x[i + headDim/2]) — GPT-NeoX and Hugging Face Llama.
    case rotateHalf
    /// Pairs (x[2i], x[2i+1]) — GPT-J, and llama.cpp on GGUF weights whose Q/K rows are permuted.
    case adjacentPairs
}

/// cos and sin of the angles p·θ_i of positions 0..<positions, [positions, headDim/2] each: computed once
/// for a range of positions instead of per token in every call (a model makes 2 calls per layer forward and
/// 2 backward). The same Float bits as computing them in place.
public final class RoPETable<S: TensorScalar>: @unchecked Sendable {
    public let positions: Int
    public let headDim: Int
    @usableFromInline let cos: Tensor<S>
    @usableFromInline let sin: Tensor<S>

    public init(headDim: Int, base: S, positions: Int) {
        precondition(headDim % 2 == 0, "RoPE needs an even head dimension, got \(headDim)")
        self.positions = positions
        self.headDim = headDim
        let half = headDim / 2
        let invFreq = (0..<half).map { 1 / S.pow(base, S(2 * $0) / S(headDim)) }
        cos = Tensor(shape: [positions, half])
        sin = Tensor(shape: [positions, half])
        for p in 0..<positions {
            for i in 0..<half {
                let angle = S(p) * invFreq[i]
                cos[p * half + i] = S.cos(angle)
                sin[p * half + i] = S.sin(angle)
            }
        }
    }
}

/// Rotates every pair by +angle (forward) or −angle (the transpose, for backward); with
/// `accumulate` the result is added to `out`. `out` may alias `x` when not accumulating. Tokens are
/// split across threads; each is rotated alone, so results do not depend on the thread count.
@inlinable
func ropeRotate<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, positions: UnsafePointer<Int32>,
    tokens: Int, heads: Int, headDim: Int, table: RoPETable<S>, convention: RoPEConvention,
    inverse: Bool, accumulate: Bool, threads: Int
) {
    precondition(table.headDim == headDim, "RoPE table for head dimension \(table.headDim), not \(headDim)")
    let half = headDim / 2
    let stride = convention == .rotateHalf ? half : 1
    let step = convention == .rotateHalf ? 1 : 2
    let sign: S = inverse ? -1 : 1
    let cosTable = table.cos.pointer, sinTable = table.sin.pointer
    parallelFor(tokens, grain: parallelGrain / max(1, heads * headDim), threads: threads) { range in
        for t in range {
            let p = Int(positions[t])
            precondition(p >= 0 && p < table.positions, "position \(p) outside the RoPE table's 0..<\(table.positions)")
            let cosRow = cosTable + p * half, sinRow = sinTable + p * half
            for h in 0..<heads {
                let offset = (t * heads + h) * headDim
                let xr = x + offset, o = out + offset
                for i in 0..<half {
                    let ia = i * step, ib = ia + stride
                    let a = xr[ia], b = xr[ib], c = cosRow[i], s = sign * sinRow[i]
                    let ra = a * c - b * s, rb = a * s + b * c
                    if accumulate { o[ia] += ra; o[ib] += rb } else { o[ia] = ra; o[ib] = rb }
                }
            }
        }
    }
}

/// out [tokens, heads, headDim] = RoPE(x); may run in place (out == x). Every position must be in the table.
@inlinable
public func ropeForward<S: TensorScalar>(
    _ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, positions: UnsafePointer<Int32>,
    tokens: Int, heads: Int, headDim: Int, table: RoPETable<S>, convention: RoPEConvention, threads: Int = BLAS.threads
) {
    ropeRotate(
        out, x, positions: positions, tokens: tokens, heads: heads, headDim: headDim, table: table,
        convention: convention, inverse: false, accumulate: false, threads: threads)
}

/// dx += RoPEᵀ(dout): the rotation is orthogonal, so its transpose rotates by −angle.
@inlinable
public func ropeBackward<S: TensorScalar>(
    dX: UnsafeMutablePointer<S>, dOut: UnsafePointer<S>, positions: UnsafePointer<Int32>,
    tokens: Int, heads: Int, headDim: Int, table: RoPETable<S>, convention: RoPEConvention, threads: Int = BLAS.threads
) {
    ropeRotate(
        dX, dOut, positions: positions, tokens: tokens, heads: heads, headDim: headDim, table: table,
        convention: convention, inverse: true, accumulate: true, threads: threads)
}
