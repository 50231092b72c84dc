import Testing
@testable import Tensor

@Suite("Small-batch sgemm kernel against a Double reference")
struct SmallGemmTests {
    static let paths = SmallGemmPath.allCases.filter { $0 != .auto && $0.isSupported }

    /// Odd n, k not a multiple of 8, every leading dimension longer than its row; m · n · k ≥ 2^17 at
    /// every m, so two threads split the columns.
    static let (n, k, ldx, ldw, ldy) = (301, 445, 450, 447, 310)

    /// Each output sums ⌈k/8⌉ products per lane and then 8 lanes, so it is rounded at most ⌈k/8⌉ + 3
    /// times (⌈k/16⌉ + 4 with 16 lanes), once more for a separate multiply (portable path) and once more
    /// when accumulating:
    /// |y − exact| ≤ (⌈k/8⌉ + 5) · u · (Σ|x·w| + |y₀|), u = 2⁻²⁴.
    /// OpenBLAS's kernels may sum over k in one chain: k + 1 roundings.
    static func bound(magnitude: Double, route: BLAS.LinearRoute = .smallGemm) -> Double {
        Double(route == .smallGemm ? (k + 7) / 8 + 5 : k + 1) * 0x1p-24 * magnitude
    }

    struct Operands {
        let x: [Float], w: [Float], y0: [Float]
        let exact: [Double], magnitude: [Double]  // Σ x·w (+ y₀) and Σ|x·w| (+ |y₀|), by [i * n + j]
    }

    static func operands(m: Int, accumulate: Bool) -> Operands {
        var rng = Xoshiro256(seed: UInt64(m), stream: "small-gemm")
        let x = (0..<m * ldx).map { _ in rng.nextFloat() - 0.5 }
        let w = (0..<n * ldw).map { _ in rng.nextFloat() - 0.5 }
        let y0 = (0..<m * ldy).map { _ in rng.nextFloat() - 0.5 }
        var exact = [Double](repeating: 0, count: m * n), magnitude = exact
        for i in 0..<m {
            for j in 0..<n {
                var sum = accumulate ? Double(y0[i * ldy + j]) : 0, size = abs(sum)
                for l in 0..<k {
                    let p = Double(x[i * ldx + l]) * Double(w[j * ldw + l])
                    sum += p
                    size += abs(p)
                }
                exact[i * n + j] = sum
                magnitude[i * n + j] = size
            }
        }
        return Operands(x: x, w: w, y0: y0, exact: exact, magnitude: magnitude)
    }

    static func run(_ o: Operands, m: Int, accumulate: Bool, path: SmallGemmPath, threads: Int) -> [Float] {
        var y = o.y0
        o.x.withUnsafeBufferPointer { x in
            o.w.withUnsafeBufferPointer { w in
                y.withUnsafeMutableBufferPointer { y in
                    BLAS.linear(.smallGemm, m, n, k, 1, x.baseAddress!, ldx, w.baseAddress!, ldw, accumulate ? 1 : 0,
                                y.baseAddress!, ldy, path: path, threads: threads)
                }
            }
        }
        return y
    }

    /// 1–16 rows, and 40: the dispatch also hands products past 32 rows (k in 512…1024) to the kernel where
    /// OpenBLAS's kernel lacks AVX-512.
    @Test(arguments: Array(1...16) + [40])
    func everyPathAndThreadCountAgreesWithDouble(rows m: Int) {
        for accumulate in [false, true] {
            let o = Self.operands(m: m, accumulate: accumulate)
            for path in Self.paths {
                let single = Self.run(o, m: m, accumulate: accumulate, path: path, threads: 1)
                let split = Self.run(o, m: m, accumulate: accumulate, path: path, threads: 2)
                #expect(single.map(\.bitPattern) == split.map(\.bitPattern), "\(path), accumulate \(accumulate): threads 1 and 2 differ")
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<Self.n {
                        let error = abs(Double(single[i * Self.ldy + j]) - o.exact[i * Self.n + j])
                        worst = max(worst, error / Self.bound(magnitude: o.magnitude[i * Self.n + j]))
                    }
                    for j in Self.n..<Self.ldy {  // past the row: untouched
                        #expect(single[i * Self.ldy + j].bitPattern == o.y0[i * Self.ldy + j].bitPattern, "\(path): wrote y[\(i), \(j)]")
                    }
                }
                #expect(worst <= 1, "\(path), accumulate \(accumulate): error \(worst) × the bound")
            }
        }
    }

    /// Through the dispatch of BLAS.sgemm: 16 rows run the kernel, 40 OpenBLAS.
    @Test(arguments: [(16, BLAS.LinearRoute.smallGemm), (40, .openBLAS)])
    func dispatchedProductsAgreeWithDouble(rows m: Int, route: BLAS.LinearRoute) {
        #expect(BLAS.linearRoute(m: m, n: Self.n, k: Self.k) == route)
        for accumulate in [false, true] {
            let o = Self.operands(m: m, accumulate: accumulate)
            var y = o.y0
            o.x.withUnsafeBufferPointer { x in
                o.w.withUnsafeBufferPointer { w in
                    y.withUnsafeMutableBufferPointer { y in
                        BLAS.sgemm(false, true, m, Self.n, Self.k, 1, x.baseAddress!, Self.ldx, w.baseAddress!, Self.ldw,
                                   accumulate ? 1 : 0, y.baseAddress!, Self.ldy)
                    }
                }
            }
            var worst = 0.0
            for i in 0..<m {
                for j in 0..<Self.n {
                    let error = abs(Double(y[i * Self.ldy + j]) - o.exact[i * Self.n + j])
                    worst = max(worst, error / Self.bound(magnitude: o.magnitude[i * Self.n + j], route: route))
                }
            }
            #expect(worst <= 1, "accumulate \(accumulate): error \(worst) × the bound")
        }
    }
}
