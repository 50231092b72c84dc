// swift-tools-version: 6.1
// RefAlign: reference-answer alignment of language models, on CPU.
// Modules depend one way:
//   Tensor (ops, BLAS, RNG, sampling) → ModelFiles (GGUF, safetensors) → Tokenizers, Transformer
//   → Rewards (similarity metrics, the reward registry) ─┐
//   RunRecords (HDF5 run files, events) → Training (loop, checkpoints) ─┴→ Alignment (rollouts,
//   objectives, alignment tasks) → Experiments (jobs) → CLI; Figures reads run records.
import PackageDescription

/// The numeric modules are optimised in debug builds too: their kernels are @inlinable generics that
/// would otherwise run unoptimised in `swift test` (about 10× slower on the real-model tests).
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "RefAlign",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Transformer", targets: ["Transformer"]),
        .library(name: "Rewards", targets: ["Rewards"]),
        .library(name: "ModelFiles", targets: ["ModelFiles"]),
        .library(name: "RunRecords", targets: ["RunRecords"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Alignment", targets: ["Alignment"]),
        .library(name: "Figures", targets: ["Figures"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        .library(name: "RewardServer", targets: ["RewardServer"]),
        .executable(name: "refalign", targets: ["refalign"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        // Re-executes a process once with a fast OpenBLAS kernel when OpenBLAS does not know the CPU.
        .target(name: "CKernelSelect"),
        // The one helper thread the C kernels share their output rows with.
        .target(name: "CHelperThread", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        // Products over GGUF's Q8_0/Q4_1 blocks for decoding (AVX-512 VNNI, AVX2, portable; chosen by CPUID).
        .target(name: "CQuantKernels", dependencies: ["CHelperThread"], cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        // fp32 y = x · Wᵀ for a few rows of x, one pass over W (AVX-512, AVX2, portable; chosen by CPUID).
        .target(name: "CSmallGemm", dependencies: ["CHelperThread"], cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        .target(
            name: "Tensor",
            dependencies: ["COpenBLAS", "CKernelSelect", "CHelperThread", "CQuantKernels", "CSmallGemm", .product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: optimizedInDebug),
        .target(name: "ModelFiles", dependencies: ["CQuantKernels"], swiftSettings: optimizedInDebug),
        .target(name: "Tokenizers", dependencies: ["Tensor", "ModelFiles"], swiftSettings: optimizedInDebug),
        .target(name: "Transformer", dependencies: ["Tensor", "ModelFiles"], swiftSettings: optimizedInDebug),
        .target(name: "Rewards", dependencies: ["Tensor", "Tokenizers", "Transformer"], swiftSettings: optimizedInDebug),
        .target(name: "RunRecords", dependencies: ["CHDF5", "Tensor"]),
        .target(name: "Training", dependencies: ["Tensor", "ModelFiles", "RunRecords"]),
        .target(name: "Alignment", dependencies: ["Tensor", "ModelFiles", "Tokenizers", "Transformer", "Rewards", "RunRecords", "Training"],
                swiftSettings: optimizedInDebug),
        .target(name: "Figures", dependencies: ["RunRecords"]),
        // The HTTP reward service (`refalign serve-reward`) that OpenRLHF, verl and TRL call.
        .target(name: "RewardServer", dependencies: ["Rewards", .product(name: "Hummingbird", package: "hummingbird")]),
        .target(name: "Experiments", dependencies: ["Tensor", "ModelFiles", "Tokenizers", "Transformer", "Rewards", "RunRecords", "Training", "Alignment"]),
        .executableTarget(
            name: "refalign",
            dependencies: [
                "Tensor", "ModelFiles", "Tokenizers", "Transformer", "Rewards", "RunRecords", "Training", "Alignment", "Figures", "Experiments", "RewardServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "refalign-bench",
            dependencies: [
                "Tensor", "ModelFiles", "Tokenizers", "Transformer", "Rewards", "RunRecords", "Alignment",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/RefAlignBench"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TransformerTests", dependencies: ["Tensor", "ModelFiles", "Tokenizers", "Transformer", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RewardTests", dependencies: ["Rewards", "Tensor", "Tokenizers", "Transformer", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AlignmentTests", dependencies: ["Alignment", "Rewards", "Tensor", "Tokenizers", "Transformer", "RunRecords", "Training", "Experiments", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ExportTests", dependencies: ["Experiments", "ModelFiles", "Tensor", "Tokenizers", "Transformer", "TestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "RewardServerTests", dependencies: ["RewardServer", "Rewards", .product(name: "Hummingbird", package: "hummingbird")]),
        .testTarget(name: "RunTests", dependencies: ["Tensor", "ModelFiles", "RunRecords", "Training", "Figures", "Experiments", "TestSupport"]),
    ]
)
