// The only file that imports OpenBLAS. Every matrix product in the project goes through `gemm`;
// thread count is set here explicitly (Debian's pthread OpenBLAS ignores OMP_NUM_THREADS).
import CKernelSelect
import COpenBLAS
import CSmallGemm
import Foundation
import RealModule

/// A floating-point type the kernels run on. Float is the production type; Double runs the same
/// kernels for finite-difference gradient checks.
public protocol TensorScalar: Real, BinaryFloatingPoint, Sendable {
    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, row-major with leading dimensions.
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

@inline(__always) private func cblasTranspose(_ t: Bool) -> CBLAS_TRANSPOSE {
    t ? CblasTrans : CblasNoTrans
}

extension Float: TensorScalar {
    @inlinable public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLAS.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

extension Double: TensorScalar {
    @inlinable public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        BLAS.dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

/// The code path of the small-batch kernel; `auto` is the best one CPUID reports.
public enum SmallGemmPath: Int32, Sendable, CaseIterable {
    case auto = 0, portable = 1, avx2 = 2, avx512 = 3

    public var isSupported: Bool { ras_path_supported(rawValue) }
}

public enum BLAS {
    /// The ways a linear-layer product C = A · Bᵀ (B [n, k], a weight matrix) can run.
    public enum LinearRoute: String, Sendable, CaseIterable {
        /// CSmallGemm: one pass over B for all rows of A.
        case smallGemm = "small-gemm"
        /// One cblas_sgemv per row of A.
        case gemvPerRow = "sgemv"
        case openBLAS = "sgemm"
    }

    @usableFromInline static func sgemm(
        _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if !ta && tb {
            let route = linearRoute(m: m, n: n, k: k)
            if route != .smallGemm || (alpha == 1 && (beta == 0 || beta == 1)) {
                linear(route, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
                return
            }
        }
        cblas_sgemm(
            CblasRowMajor, cblasTranspose(ta), cblasTranspose(tb), Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C by `route`; `.smallGemm` takes only alpha = 1 and
    /// beta ∈ {0, 1}. The small-batch kernel runs on `min(2, threads)` threads (its caller and one helper),
    /// with the same result for any count.
    public static func linear(
        _ route: LinearRoute, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, path: SmallGemmPath = .auto,
        threads: Int = BLAS.threads
    ) {
        guard m > 0, n > 0 else { return }
        switch route {
        case .smallGemm:
            precondition(alpha == 1 && (beta == 0 || beta == 1), "the small-batch kernel computes C = A·Bᵀ or C += A·Bᵀ")
            precondition(path.isSupported, "the \(path) small-batch kernel needs CPU features this machine lacks")
            _ = ras_sgemm_nt(
                Int32(m), Int32(n), Int32(k), a, lda, b, ldb, c, ldc, beta == 1, path.rawValue, Int32(min(2, threads)))
        case .gemvPerRow:
            // Rows of C are independent matrix-vector products with B [n, k].
            for i in 0..<m {
                cblas_sgemv(
                    CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb),
                    a + i * lda, 1, beta, c + i * ldc, 1)
            }
        case .openBLAS:
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// Chosen by measurement per shape (refalign-bench sgemm --routes small-gemm,sgemv,sgemm: the routes
    /// interleaved in one process, 2 threads, SmolLM2's five linear shapes). Ratios of the small-batch kernel
    /// to OpenBLAS's better route, first on a shared machine at load 4–7 (ratios within a round):
    ///   M = 2–6: 1.2–3.2×   M = 8: 1.8–4.5×   M = 16: 1.6–3.4×   M = 32: 1.1–4.1×   M = 48: 0.7–1.5×   M = 64: 0.7–1.0×
    /// and on a quiet one (2026-12-01 19:20), GFLOP/s small-gemm / sgemv / OpenBLAS sgemm:
    ///   M = 1: 75/58/48 (576→576), 56/54/56 (576→192), 36/44/8 (576→1536), 52/54/20 (1536→576), 11.9/11.2/4.8 (head)
    ///   M = 2: 122/56/89, 111/52/84, 76/53/14, 94/52/14, 23/12/9;  M = 4: 110–131 against at most 117 (576→192)
    /// So sgemv at M = 1 (nothing is shared between rows, and it never loses by much), the kernel for 2–32
    /// rows, and OpenBLAS's blocked sgemm from 33 (its fixed cost pays off from about 48 rows). OpenBLAS's
    /// small-matrix sgemm (SkylakeX, M·N ≤ 1200) looked faster at M = 1 under load and was not on a quiet machine.
    ///
    /// Past 32 rows the answer depends on OpenBLAS's kernel. Where it runs without AVX-512 on a CPU that has it
    /// (an AMD EPYC, family 26, whose environment sets OPENBLAS_CORETYPE=Haswell), the kernel's AVX-512 path
    /// wins at any M on the k = 576 shapes; on a quiet machine, 2026-12-07, GFLOP/s small-gemm / OpenBLAS:
    ///   M = 1024: 256/210 (576→576), 303/203 (576→192), 287/194 (576→1536), 248/189 (head), 180/185 (1536→576)
    ///   M = 2048: 235/178, 160/103, 252/179, 245/182, 151/167
    /// so it takes k in 512...1024 there (k = 1536 stays with OpenBLAS; attention's k = 64 was not measured).
    /// OpenBLAS's SkylakeX kernels won from about 48 rows on the Xeon above.
    static func linearRoute(m: Int, n: Int, k: Int) -> LinearRoute {
        if m == 1 { return .gemvPerRow }
        if m <= 32 { return .smallGemm }
        return smallGemmOutrunsOpenBLAS && (512...1024).contains(k) ? .smallGemm : .openBLAS
    }

    /// True when the small-batch kernel has AVX-512 and OpenBLAS's running kernel does not.
    static let smallGemmOutrunsOpenBLAS =
        SmallGemmPath.avx512.isSupported && !["SkylakeX", "Cooperlake", "SapphireRapids"].contains(coreName)

    @usableFromInline static func dgemm(
        _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
        _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
        _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_dgemm(
            CblasRowMajor, cblasTranspose(ta), cblasTranspose(tb), Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Number of threads OpenBLAS uses for one call. Results are bitwise reproducible at a fixed
    /// count, not across counts (the blocking of the reduction changes).
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Build configuration, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64".
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// The kernel family chosen at run time (DYNAMIC_ARCH builds pick one per CPU).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The kernel family selected when OpenBLAS falls back to a pre-AVX2 one on a CPU with AVX2 and FMA:
    /// SkylakeX where AVX-512 is usable, else Haswell.
    public static var selectedCore: String { String(cString: refalign_kernel_select_choice()) }

    /// Why this process runs `coreName`, e.g. "selected by refalign: OpenBLAS 0.3.21 did not recognise
    /// this CPU and fell back to Prescott; CPUID has AVX2+FMA+AVX-512". Run files record it.
    public static var coreSelection: String {
        let environment = ProcessInfo.processInfo.environment
        let choice = selectedCore
        let version = configuration.split(separator: " ").prefix(2).joined(separator: " ")
        if let fallback = environment[String(cString: refalign_kernel_select_marker())],
           environment["OPENBLAS_CORETYPE"] == choice {
            return "selected by refalign: \(version) did not recognise this CPU and fell back to \(fallback); "
                + "CPUID has " + (refalign_cpu_has_avx512() ? "AVX2+FMA+AVX-512" : "AVX2+FMA")
        }
        if environment["OPENBLAS_CORETYPE"] != nil { return "OPENBLAS_CORETYPE set by the user" }
        let error = refalign_kernel_select_exec_errno()
        if error != 0 {
            return "detected by OpenBLAS, a pre-AVX2 fallback on a CPU with AVX2+FMA: re-executing with "
                + "OPENBLAS_CORETYPE=\(choice) failed (\(String(cString: strerror(error))))"
        }
        return "detected by OpenBLAS"
    }

    /// True when the CPU has AVX2 and FMA (CPUID, with YMM state enabled by the OS).
    public static var cpuHasAVX2FMA: Bool { refalign_cpu_has_avx2_fma() }

    /// True when `core` names an OpenBLAS kernel family older than AVX2 (Prescott, Nehalem, Sandybridge...).
    public static func isPreAVX2(core: String) -> Bool { refalign_core_is_pre_avx2(core) }
}
