import Testing
@testable import Tensor

@Suite("OpenBLAS path")
struct BLASTests {
    @Test func linksOpenBLASWithAThreadCount() {
        #expect(BLAS.configuration.hasPrefix("OpenBLAS"))
        #expect(BLAS.threads >= 1)
    }

    /// This process, the test runner itself, must not run a pre-AVX2 kernel on a CPU with AVX2 and FMA:
    /// when OpenBLAS falls back to one, CKernelSelect re-executes the process with a fast kernel.
    @Test(.enabled(if: BLAS.cpuHasAVX2FMA, "the CPU has no AVX2+FMA"))
    func cpuWithAVX2RunsAnAVX2Kernel() {
        #expect(!BLAS.isPreAVX2(core: BLAS.coreName), "OpenBLAS runs \(BLAS.coreName) (\(BLAS.coreSelection))")
    }

    @Test func kernelFamiliesOlderThanAVX2() {
        for core in ["Prescott", "Core2", "Nehalem", "Sandybridge", "Atom", "Katmai", "Unknown", "prescott"] {
            #expect(BLAS.isPreAVX2(core: core), "\(core)")
        }
        for core in ["Haswell", "SkylakeX", "Cooperlake", "SapphireRapids", "Zen", "Excavator"] {
            #expect(!BLAS.isPreAVX2(core: core), "\(core)")
        }
    }

    /// Large enough that OpenBLAS splits the work across threads; repeated calls must agree bitwise.
    @Test func repeatedProductsAreBitwiseIdentical() {
        let (m, n, k) = (300, 257, 311)
        var rng = Xoshiro256(seed: 1)
        let a = Tensor<Float>(shape: [m, k]), b = Tensor<Float>(shape: [n, k])
        for i in 0..<a.count { a[i] = rng.nextFloat() - 0.5 }
        for i in 0..<b.count { b[i] = rng.nextFloat() - 0.5 }
        let first = Tensor<Float>(shape: [m, n]), second = Tensor<Float>(shape: [m, n])
        matmulForward(first.pointer, a.pointer, b.pointer, m: m, n: n, k: k, transposeB: true)
        matmulForward(second.pointer, a.pointer, b.pointer, m: m, n: n, k: k, transposeB: true)
        #expect(first.array == second.array)
        // and the Float product agrees with a Double one to float precision
        let ad = Tensor<Double>(shape: [m, k], a.array.map(Double.init))
        let bd = Tensor<Double>(shape: [n, k], b.array.map(Double.init))
        let cd = Tensor<Double>(shape: [m, n])
        matmulForward(cd.pointer, ad.pointer, bd.pointer, m: m, n: n, k: k, transposeB: true)
        #expect(normalizedMeanSquaredError(first.array.map(Double.init), cd.array) < 1e-12)
    }

    /// Linear-layer products take sgemv for few rows and sgemm otherwise; both paths must agree with
    /// Double, overwriting and accumulating.
    @Test(arguments: [1, 5, 8, 64])
    func linearLayerPathsAgreeWithDouble(rows m: Int) {
        let (n, k) = (96, 80)
        var rng = Xoshiro256(seed: UInt64(m))
        let a = Tensor<Float>(shape: [m, k]), b = Tensor<Float>(shape: [n, k]), c = Tensor<Float>(shape: [m, n])
        for t in [a, b, c] { for i in 0..<t.count { t[i] = rng.nextFloat() - 0.5 } }
        let ad = Tensor<Double>(shape: [m, k], a.array.map(Double.init))
        let bd = Tensor<Double>(shape: [n, k], b.array.map(Double.init))
        let cd = Tensor<Double>(shape: [m, n], c.array.map(Double.init))
        for accumulate in [true, false] {
            matmulForward(c.pointer, a.pointer, b.pointer, m: m, n: n, k: k, transposeB: true, accumulate: accumulate)
            matmulForward(cd.pointer, ad.pointer, bd.pointer, m: m, n: n, k: k, transposeB: true, accumulate: accumulate)
            #expect(normalizedMeanSquaredError(c.array.map(Double.init), cd.array) < 1e-12, "accumulate \(accumulate)")
        }
    }
}
