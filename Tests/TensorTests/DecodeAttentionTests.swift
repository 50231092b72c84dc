import Testing
@testable import Tensor

@Suite("Decode-attention kernel against attentionForward in Double")
struct DecodeAttentionTests {
    static let paths = SmallGemmPath.allCases.filter(\.isSupported)

    /// Three sequences in a cache of capacity keys + 3: all slots visible; left padding and a hole; nothing
    /// visible (zero output). Groups of 3 (SmolLM2's), 5 (two passes of the kernel's 4 heads) and 1; head
    /// dimensions of whole vectors (64, 16) and with a tail (20).
    @Test(arguments: [(3, 3, 64, 37), (2, 5, 20, 9), (1, 1, 16, 1)])
    func everyPathAgreesWithDouble(kvHeads: Int, group: Int, headDim D: Int, keys: Int) {
        let B = 3, heads = kvHeads * group, C = keys + 3, ldkv = kvHeads * D
        var rng = Xoshiro256(seed: UInt64(keys), stream: "decode-attention")
        let q = (0..<B * heads * D).map { _ in 2 * rng.nextFloat() - 1 }
        let k = (0..<B * C * ldkv).map { _ in 2 * rng.nextFloat() - 1 }
        let v = (0..<B * C * ldkv).map { _ in 2 * rng.nextFloat() - 1 }
        var mask = [Bool](repeating: true, count: B * C)
        for j in 0..<min(3, keys - 1) { mask[C + j] = false }
        if keys > 5 { mask[C + keys - 2] = false }
        for j in 0..<C { mask[2 * C + j] = false }

        var exactOut = [Double](repeating: 0, count: B * heads * D), exactProbs = [Double](repeating: 0, count: B * heads * keys)
        let (qd, kd, vd) = (q.map(Double.init), k.map(Double.init), v.map(Double.init))
        attentionForward(&exactOut, probs: &exactProbs, q: qd, k: kd, v: vd, keyMask: mask, batch: B, queries: 1, keys: keys,
                         capacity: C, queryHeads: heads, kvHeads: kvHeads, headDim: D)

        for path in Self.paths {
            var out = [Float](repeating: .nan, count: B * heads * D), probs = [Float](repeating: .nan, count: B * heads * keys)
            decodeAttentionForward(&out, probs: &probs, q: q, k: k, v: v, keyMask: mask, batch: B, keys: keys, capacity: C,
                                   queryHeads: heads, kvHeads: kvHeads, headDim: D, path: path)
            #expect(!out.contains(where: \.isNaN) && !probs.contains(where: \.isNaN), "\(path): every output written")
            var worst = 0.0
            for b in 0..<B {
                for h in 0..<heads {
                    // Each score sums D products in some order: |δs| ≤ (D + 2)·u·Σ|q·k|/√D. A score error moves
                    // its probability and, through the normaliser, all of them, relatively by ≤ 2·max δs; exp,
                    // the sum over ≤ keys slots and the division add ≤ (keys + 8)·u; the value sum the same again.
                    let qh = b * heads * D + h * D, g = h / group
                    var maxScoreError = 0.0
                    for j in 0..<keys where mask[b * C + j] {
                        let kj = (b * C + j) * ldkv + g * D
                        let size = (0..<D).reduce(0.0) { $0 + abs(qd[qh + $1] * kd[kj + $1]) } / Double(D).squareRoot()
                        maxScoreError = max(maxScoreError, Double(D + 2) * 0x1p-24 * size)
                    }
                    let relative = 2 * maxScoreError + Double(2 * keys + 16) * 0x1p-24
                    for j in 0..<keys {
                        let i = (b * heads + h) * keys + j
                        worst = max(worst, abs(Double(probs[i]) - exactProbs[i]) / (relative * exactProbs[i] + 0x1p-60))
                    }
                    for d in 0..<D {
                        let magnitude = (0..<keys).reduce(0.0) { $0 + exactProbs[(b * heads + h) * keys + $1] * abs(vd[(b * C + $1) * ldkv + g * D + d]) }
                        worst = max(worst, abs(Double(out[qh + d]) - exactOut[qh + d]) / (relative * magnitude + 0x1p-60))
                    }
                }
            }
            #expect(worst <= 1, "\(path): error \(worst) × the bound")
            #expect(out[(2 * heads) * D..<(3 * heads) * D].allSatisfy { $0 == 0 }, "\(path): a sequence that sees nothing gets zeros")
        }
    }
}
