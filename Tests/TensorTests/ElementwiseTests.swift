import Foundation
import Testing
@testable import Tensor

/// The vectorised exp and log-sum-exp against Double, and every op split across threads: bitwise the
/// same at 1, 2 and 3 threads, and equal (or close, as stated) to the single-threaded scalar formulas
/// they replaced.
@Suite("Vectorised exp, online log-sum-exp, threaded elementwise ops")
struct ElementwiseTests {
    static func randomFloats(_ n: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        var rng = Xoshiro256(seed: seed, stream: "elementwise")
        return (0..<n).map { _ in Float(rng.nextNormal() * scale) }
    }

    @Test func vectorExpIsWithinOneUlpOfDouble() {
        // every 4099th Float from −87.33 to 88.72 (about 520 K values), through the buffer entry point
        var xs: [Float] = []
        var bits = (87.33 as Float).bitPattern
        while bits > 0 { xs.append(-Float(bitPattern: bits)); bits -= min(bits, 4099) }
        bits = 0
        while Float(bitPattern: bits) < 88.72 { xs.append(Float(bitPattern: bits)); bits += 4099 }
        var out = [Float](repeating: .nan, count: xs.count)
        vectorExp(&out, xs, count: xs.count)
        var worst = 0.0
        for (x, e) in zip(xs, out) {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(e) - exact) / Double(Float(exact).ulp))
        }
        #expect(worst <= 1, "max error \(worst) ulp")
    }

    @Test func vectorExpEdgeCases() {
        let xs: [Float] = [-.infinity, -200, -87.34, -87.33, 0, -0, 1, 88.72, 88.73, 200, .infinity, .nan, 3]
        var out = [Float](repeating: 7, count: xs.count)
        vectorExp(&out, xs, count: xs.count)
        #expect(out[0] == 0 && out[1] == 0 && out[2] == 0, "below the normal range flushes to 0")
        #expect(out[3].isNormal && abs(Double(out[3]) - Foundation.exp(Double(xs[3]))) <= Double(out[3].ulp))
        #expect(out[4] == 1 && out[5] == 1 && abs(out[6] - Float(M_E)) <= Float(M_E).ulp)
        #expect(out[7].isFinite && out[8] == .infinity && out[9] == .infinity && out[10] == .infinity)
        #expect(out[11].isNaN)
        #expect(abs(out[12] - Float(Foundation.exp(3.0))) <= Float(Foundation.exp(3.0)).ulp, "the 13th element, past the last full vector")
    }

    @Test func vectorErfIsWithinItsStatedErrorOfDouble() {
        // every 97th Float from −5 to 5 (about 4 M values)
        var xs: [Float] = []
        var bits = (5 as Float).bitPattern
        while bits > 0 { xs.append(-Float(bitPattern: bits)); bits -= min(bits, 97) }
        bits = 0
        while Float(bitPattern: bits) <= 5 { xs.append(Float(bitPattern: bits)); bits += 97 }
        var worst = 0.0
        for i in stride(from: 0, to: xs.count - 7, by: 8) {
            let got = vectorErf(SIMD8(xs[i..<i + 8]))
            for j in 0..<8 { worst = max(worst, abs(Double(got[j]) - Foundation.erf(Double(xs[i + j])))) }
        }
        #expect(worst < 5e-7, "max error \(worst)")
        #expect(vectorErf(SIMD8(repeating: 0)) == SIMD8(repeating: 0))
        #expect(vectorErf(SIMD8(repeating: 100)) == SIMD8(repeating: 1) && vectorErf(SIMD8(repeating: -.infinity)) == SIMD8(repeating: -1))
    }

    /// BERT's inner width times a ragged row count, so the split and the tail lanes both move.
    @Test func geluErfForwardMatchesTheScalarFormulaOnEveryThreadCount() {
        let n = 1536 * 37 + 5, x = Self.randomFloats(n, seed: 12, scale: 3)
        var scalar = [Float](repeating: 0, count: n)
        geluForward(&scalar, x, count: n, approximation: .erf)
        let runs = [1, 2, 3].map { threads in
            var out = [Float](repeating: .nan, count: n)
            geluErfForward(&out, x, count: n, threads: threads)
            return out
        }
        #expect(runs[0] == runs[1] && runs[0] == runs[2])
        let worst = zip(runs[0], scalar).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-6, "max difference from libm's erf \(worst)")
    }

    /// Rows shaped like the LM head's (49,152 logits) and a ragged one; T = 1 and 0.7.
    @Test(arguments: [(49_152, Float(1)), (49_152, Float(0.7)), (1_001, Float(1))])
    func softmaxStatisticsMatchesDouble(n: Int, temperature: Float) {
        let row = Self.randomFloats(n, seed: UInt64(n), scale: 3)
        let invT = 1 / temperature
        let scaled = row.map { Double($0 * invT) }
        let m = scaled.max()!
        let total = scaled.reduce(0) { $0 + Foundation.exp($1 - m) }
        let lse = m + Foundation.log(total)
        let entropy = -scaled.reduce(0) { $0 + Foundation.exp($1 - lse) * ($1 - lse) }
        let s = row.withUnsafeBufferPointer { softmaxStatistics($0.baseAddress!, count: n, scale: invT) }
        #expect(abs(Double(s.logSumExp) - lse) <= 2e-6 * max(1, abs(lse)), "log-sum-exp \(s.logSumExp) vs \(lse)")
        #expect(abs(Double(s.entropy) - entropy) <= 2e-6 * max(1, entropy), "entropy \(s.entropy) vs \(entropy)")
        // and the old Float formula (scale pass, max pass, scalar expf pass)
        let old = scaled.map { Float($0) }
        let oldMax = old.max()!
        var oldSum: Float = 0
        for v in old { oldSum += expf(v - oldMax) }
        #expect(abs(s.logSumExp - (oldMax + logf(oldSum))) <= 4e-6 * max(1, abs(s.logSumExp)))
    }

    @Test func softmaxStatisticsEdgeCases() {
        func stats(_ x: [Float]) -> (logSumExp: Float, entropy: Float) {
            x.withUnsafeBufferPointer { softmaxStatistics($0.baseAddress!, count: x.count) }
        }
        #expect(stats([]) == (-.infinity, 0))
        #expect(stats([-.infinity, -.infinity]) == (-.infinity, 0))
        let withMinusInfinity = stats([0, -.infinity, 0])
        #expect(abs(withMinusInfinity.logSumExp - logf(2)) <= 1e-7 && abs(withMinusInfinity.entropy - logf(2)) <= 1e-6)
        #expect(stats([1, .nan, 2]).logSumExp.isNaN)
        #expect(stats([Float](repeating: -.infinity, count: 300) + [.nan]).logSumExp.isNaN)
        // a later block raising the max rescales the earlier sums: 300 values of 2, then 300 of 5
        let rising = stats([Float](repeating: 2, count: 300) + [Float](repeating: 5, count: 300))
        let p2 = 1 / (1 + Foundation.exp(3.0)), p5 = 1 - p2
        #expect(abs(Double(rising.logSumExp) - (5 + Foundation.log(300 * (1 + Foundation.exp(-3.0))))) <= 2e-6)
        #expect(abs(Double(rising.entropy) - (-(p2 * Foundation.log(p2 / 300) + p5 * Foundation.log(p5 / 300)))) <= 2e-6)
        let late = stats([Float](repeating: -30, count: 300) + [40])
        #expect(abs(late.logSumExp - 40) <= 1e-6 && late.entropy >= 0 && late.entropy < 1e-20)
    }

    // MARK: - Threads: bitwise the same on every count, and the formulas they replaced

    static let threadCounts = [1, 2, 3]

    @Test func swigluAndSiLUAreTheSameOnEveryThreadCount() {
        let n = 100_003
        let gate = Self.randomFloats(n, seed: 1, scale: 4), up = Self.randomFloats(n, seed: 2), dOut = Self.randomFloats(n, seed: 3)
        func run(_ threads: Int) -> [[Float]] {
            var out = [Float](repeating: 0, count: n), silu = out, dSilu = out
            var dGate = [Float](repeating: 0.5, count: n), dUp = dGate
            swigluForward(&out, gate: gate, up: up, count: n, threads: threads)
            swigluBackward(dGate: &dGate, dUp: &dUp, dOut: dOut, gate: gate, up: up, count: n, threads: threads)
            siluForward(&silu, gate, count: n, threads: threads)
            siluBackward(dX: &dSilu, dOut: dOut, gate, count: n, threads: threads)
            return [out, dGate, dUp, silu, dSilu]
        }
        let one = run(1)
        for t in Self.threadCounts.dropFirst() { #expect(run(t) == one, "\(t) threads") }
        // the old scalar formulas with expf: within 1e−5 (relative above 1)
        for i in stride(from: 0, to: n, by: 7) {
            let g = gate[i], s = 1 / (1 + expf(-g))
            let expected = [g * s * up[i], 0.5 + dOut[i] * up[i] * s * (1 + g * (1 - s)), 0.5 + dOut[i] * g * s, g * s,
                            dOut[i] * s * (1 + g * (1 - s))]
            for (k, e) in expected.enumerated() {
                #expect(abs(one[k][i] - e) <= 1e-5 * max(1, abs(e)), "output \(k) at \(i): \(one[k][i]) vs \(e)")
            }
        }
    }

    @Test func rmsNormIsTheOldFormulaOnEveryThreadCount() {
        let rows = 300, dim = 576
        let x = Self.randomFloats(rows * dim, seed: 4), weight = Self.randomFloats(dim, seed: 5), dOut = Self.randomFloats(rows * dim, seed: 6)
        func run(_ threads: Int) -> [[Float]] {
            var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
            var dX = [Float](repeating: 0.25, count: rows * dim), dWeight = [Float](repeating: 0.5, count: dim)
            rmsNormForward(&out, rstd: &rstd, x, weight: weight, rows: rows, dim: dim, eps: 1e-5, threads: threads)
            rmsNormBackward(dX: &dX, dWeight: &dWeight, dOut: dOut, x, weight: weight, rstd: rstd, rows: rows, dim: dim, threads: threads)
            return [out, rstd, dX, dWeight]
        }
        // the single-threaded loops this replaced, row after row
        var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        var dX = [Float](repeating: 0.25, count: rows * dim), dWeight = [Float](repeating: 0.5, count: dim)
        for r in 0..<rows {
            var sumSquares: Float = 0
            for j in 0..<dim { sumSquares += x[r * dim + j] * x[r * dim + j] }
            let s = 1 / (sumSquares / Float(dim) + 1e-5).squareRoot()
            rstd[r] = s
            for j in 0..<dim { out[r * dim + j] = x[r * dim + j] * s * weight[j] }
        }
        for r in 0..<rows {
            let s = rstd[r]
            var dot: Float = 0
            for j in 0..<dim { dot += dOut[r * dim + j] * weight[j] * x[r * dim + j] * s }
            let meanDot = dot / Float(dim)
            for j in 0..<dim { dX[r * dim + j] += s * (dOut[r * dim + j] * weight[j] - x[r * dim + j] * s * meanDot) }
            for j in 0..<dim { dWeight[j] += dOut[r * dim + j] * x[r * dim + j] * s }
        }
        for t in Self.threadCounts { #expect(run(t) == [out, rstd, dX, dWeight], "\(t) threads") }
    }

    @Test(arguments: RoPEConvention.allCases)
    func ropeTablesGiveTheOldBitsOnEveryThreadCount(convention: RoPEConvention) {
        let tokens = 300, heads = 9, headDim = 64, base: Float = 100_000
        let positions = (0..<tokens).map { Int32(($0 * 37) % 250) }
        let x = Self.randomFloats(tokens * heads * headDim, seed: 7)
        let table = RoPETable(headDim: headDim, base: base, positions: 250)
        func run(_ threads: Int) -> [[Float]] {
            var out = [Float](repeating: 0, count: x.count), dX = [Float](repeating: 0.5, count: x.count)
            ropeForward(&out, x, positions: positions, tokens: tokens, heads: heads, headDim: headDim, table: table,
                        convention: convention, threads: threads)
            ropeBackward(dX: &dX, dOut: x, positions: positions, tokens: tokens, heads: heads, headDim: headDim, table: table,
                         convention: convention, threads: threads)
            return [out, dX]
        }
        // cos/sin computed per token, as before the tables
        let half = headDim / 2
        let invFreq = (0..<half).map { 1 / powf(base, Float(2 * $0) / Float(headDim)) }
        var out = [Float](repeating: 0, count: x.count), dX = [Float](repeating: 0.5, count: x.count)
        for t in 0..<tokens {
            for h in 0..<heads {
                for i in 0..<half {
                    let angle = Float(positions[t]) * invFreq[i], c = cosf(angle), s = sinf(angle)
                    let o = (t * heads + h) * headDim
                    let (ia, ib) = convention == .rotateHalf ? (o + i, o + i + half) : (o + 2 * i, o + 2 * i + 1)
                    out[ia] = x[ia] * c - x[ib] * s; out[ib] = x[ia] * s + x[ib] * c
                    dX[ia] += x[ia] * c - x[ib] * -s; dX[ib] += x[ia] * -s + x[ib] * c
                }
            }
        }
        for t in Self.threadCounts { #expect(run(t) == [out, dX], "\(t) threads") }
    }

    @Test func embeddingBackwardIsTheOldScatterOnEveryThreadCount() {
        let n = 300, dim = 576, vocab = 40
        let ids = (0..<n).map { Int32(($0 * 7) % vocab) }  // every id repeats
        let dOut = Self.randomFloats(n * dim, seed: 8)
        var expected = [Float](repeating: 0.5, count: vocab * dim)
        for i in 0..<n { for j in 0..<dim { expected[Int(ids[i]) * dim + j] += dOut[i * dim + j] } }
        for t in Self.threadCounts {
            var dTable = [Float](repeating: 0.5, count: vocab * dim)
            embeddingBackward(dTable: &dTable, dOut: dOut, ids: ids, count: n, dim: dim, threads: t)
            #expect(dTable == expected, "\(t) threads")
        }
    }

    @Test func gradientClippingIsTheSameOnEveryThreadCount() {
        let n = 1_000_003
        let gradients = Self.randomFloats(n, seed: 9)
        var sequential = 0.0
        for g in gradients { sequential += Double(g) * Double(g) }
        func run(_ threads: Int) -> (Double, [Float]) {
            var g = gradients
            let norm = clipGradientNorm(&g, count: n, maxNorm: 1, threads: threads)
            return (norm, g)
        }
        let one = run(1)
        #expect(abs(one.0 - sequential.squareRoot()) <= 1e-12 * one.0)
        let c = Float(1 / (one.0 + 1e-6))
        #expect(one.1 == gradients.map { $0 * c })
        for t in Self.threadCounts.dropFirst() {
            let other = run(t)
            #expect(other.0 == one.0 && other.1 == one.1, "\(t) threads")
        }
    }
}
