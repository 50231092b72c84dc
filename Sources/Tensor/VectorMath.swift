import RealModule

// exp on SIMD lanes, the transcendental behind log-sum-exp, softmax and the sigmoid of SiLU/SwiGLU.
// Float gets a polynomial on eight lanes (glibc's scalar expf was 9 % of a training step, and is about 3×
// slower per element); Double keeps libm's exp, so the finite-difference and torch float64 checks see
// the reference function.
// Swift never contracts a·b + c into an FMA, so the Float bits are the same on every x86 and ARM CPU.

/// exp of eight Floats, within 1 ulp of the exact value (measured by the tests against Double's exp on
/// every 7th Float in [−87.3, 88.7]). Cody–Waite reduction x = n·ln 2 + r, |r| ≤ ln 2 / 2, then Cephes'
/// expf polynomial for e^r and 2^n as two power-of-two factors (both normal for n in [−126, 128]).
/// Results below the smallest normal Float (x < −87.33654) are 0 rather than subnormal (an absolute error
/// under 1.2e−38, and no microcode assists); x > 88.72284 gives +∞, NaN gives NaN.
@inlinable @inline(__always)
public func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let low: Float = -87.33654
    let flushed = x .< low
    var y = x
    y.replace(with: 89, where: y .> 89)
    y.replace(with: low, where: flushed)
    let magic = SIMD8<Float>(repeating: 12_582_912)  // 1.5·2²³: adding it rounds to an integer
    let t = y * 1.442_695_04 + magic
    let n = t - magic
    let r = y - n * 0.693_359_375 - n * -2.121_944_4e-4  // ln 2 split so n·0.693359375 is exact
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    let k = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000  // n as an integer: t's low mantissa bits
    let k1 = k &>> 1, k2 = k &- k1
    let e = p * unsafeBitCast((k1 &+ 127) &<< 23, to: SIMD8<Float>.self) * unsafeBitCast((k2 &+ 127) &<< 23, to: SIMD8<Float>.self)
    return e.replacing(with: 0, where: flushed)
}

/// Lanes x[i..<i+width], the lanes past `count` set to `padding`.
@inlinable @inline(__always)
public func loadLanes<V: SIMD>(_ x: UnsafePointer<V.Scalar>, _ i: Int, count: Int, padding: V.Scalar) -> V {
    if i + V.scalarCount <= count { return UnsafeRawPointer(x + i).loadUnaligned(as: V.self) }
    var v = V(repeating: padding)
    for j in 0..<(count - i) { v[j] = x[i + j] }
    return v
}

/// Stores the lanes of `v` that fall before `count` at out[i...].
@inlinable @inline(__always)
public func storeLanes<V: SIMD>(_ v: V, _ out: UnsafeMutablePointer<V.Scalar>, _ i: Int, count: Int) {
    if i + V.scalarCount <= count { UnsafeMutableRawPointer(out + i).storeBytes(of: v, as: V.self); return }
    for j in 0..<(count - i) { out[i + j] = v[j] }
}

/// out[i] = exp(scale·x[i] − shift); `out` may be `x`. Every element goes through the same lanes
/// (the tail too), so its value does not depend on where it sits or how a caller splits the buffer.
@inlinable
public func vectorExp<S: TensorScalar>(_ out: UnsafeMutablePointer<S>, _ x: UnsafePointer<S>, count: Int, scale: S = 1, shift: S = 0) {
    if S.self == Float.self {
        let x = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
        let out = UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self)
        let scale = SIMD8(repeating: Float(scale)), shift = SIMD8(repeating: Float(shift))
        for i in stride(from: 0, to: count, by: 8) {
            let v: SIMD8<Float> = loadLanes(x, i, count: count, padding: 0)
            storeLanes(vectorExp(v * scale - shift), out, i, count: count)
        }
    } else {
        for i in 0..<count { out[i] = S.exp(scale * x[i] - shift) }
    }
}

/// erf of eight Floats: the rational minimax approximation Eigen and XLA use for float, x·P(x²)/Q(x²) on
/// x clamped to [−4, 4] (erf(±4) rounds to ±1 in Float); glibc's scalar erff was 14 % of a BERT forward.
/// Absolute error under 5e−7 (4.3e−7 at worst on every 97th Float in [−5, 5] against Double's erf, in the tests).
@inlinable @inline(__always)
public func vectorErf(_ x: SIMD8<Float>) -> SIMD8<Float> {
    var x = x
    x.replace(with: 4, where: x .> 4)
    x.replace(with: -4, where: x .< -4)
    let x2 = x * x
    var p = x2 * -2.726_142_258_013_06e-10 + 2.770_681_424_959_02e-08
    p = p * x2 - 2.101_024_020_825_08e-06
    p = p * x2 - 5.692_506_394_623_46e-05
    p = p * x2 - 7.349_906_303_268_55e-04
    p = p * x2 - 2.954_599_808_540_25e-03
    p = p * x2 - 1.609_603_332_624_15e-02
    var q = x2 * -1.456_607_184_649_96e-05 - 2.133_740_552_789_05e-04
    q = q * x2 - 1.682_826_974_382_03e-03
    q = q * x2 - 7.373_329_167_204_68e-03
    q = q * x2 - 1.426_473_905_141_89e-02
    return x * p / q
}
