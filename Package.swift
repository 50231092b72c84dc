// swift-tools-version: 6.1
// RefAlign: reference-answer alignment of language models, on CPU.
// Modules depend one way: Tensor → Metrics (run records) → Training (loop, checkpoints) →
// Experiments (jobs) → CLI; Figures reads run records. Transformer, Tokenizers, Rewards and the
// alignment methods slot in between Tensor and Experiments as they land.
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
        .library(name: "Metrics", targets: ["Metrics"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Figures", targets: ["Figures"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        .executable(name: "refalign", targets: ["refalign"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .target(
            name: "Tensor",
            dependencies: ["COpenBLAS", .product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: optimizedInDebug),
        .target(name: "Tokenizers", dependencies: ["Tensor"], swiftSettings: optimizedInDebug),
        .target(name: "Transformer", dependencies: ["Tensor"], swiftSettings: optimizedInDebug),
        .target(name: "Rewards", dependencies: ["Tensor", "Tokenizers", "Transformer"], swiftSettings: optimizedInDebug),
        .target(name: "Metrics", dependencies: ["CHDF5", "Tensor"]),
        .target(name: "Training", dependencies: ["Tensor", "Metrics"]),
        .target(name: "Figures", dependencies: ["Metrics"]),
        .target(name: "Experiments", dependencies: ["Tensor", "Metrics", "Training"]),
        .executableTarget(
            name: "refalign",
            dependencies: [
                "Tensor", "Tokenizers", "Transformer", "Rewards", "Metrics", "Training", "Figures", "Experiments",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "refalign-bench",
            dependencies: [
                "Tensor", "Tokenizers", "Transformer", "Rewards", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/RefAlignBench"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TransformerTests", dependencies: ["Tensor", "Tokenizers", "Transformer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RewardTests", dependencies: ["Rewards", "Tensor", "Tokenizers", "Transformer"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RunTests", dependencies: ["Tensor", "Metrics", "Training", "Figures", "Experiments"]),
    ]
)
