// The op harness, in the spirit of ggml's test-backend-ops: every op of this module is one struct
// that (1) runs its forward in Float and compares it with a naive Double reference of the same math
// (normalised mean squared error), and (2) runs its backward in Double and compares it with 4-point
// central finite differences of the Double forward (normalised L2 error). Adding an op means adding
// one struct to `OpHarness.checks`.
import RealModule

public protocol OpCheck: Sendable {
    var name: String { get }
    /// Shapes of the differentiable inputs, in the order `forward` takes them.
    var inputShapes: [[Int]] { get }
    /// NMSE bound of the Float forward against `reference`.
    var forwardTolerance: Double { get }
    /// Bound on ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖) of the Double backward.
    var gradientTolerance: Double { get }
    func makeInputs(rng: inout Xoshiro256) -> [[Double]]
    /// The op under test, through the module's kernels.
    func forward<S: TensorScalar>(_ inputs: [Tensor<S>]) -> Tensor<S>
    /// Gradients of Σ outputGradient ⊙ forward(inputs) with respect to each input.
    func backward<S: TensorScalar>(_ inputs: [Tensor<S>], outputGradient: Tensor<S>) -> [Tensor<S>]
    /// The same forward, written plainly in Double.
    func reference(_ inputs: [[Double]]) -> [Double]
}

extension OpCheck {
    public var forwardTolerance: Double { 1e-10 }
    public var gradientTolerance: Double { 1e-6 }
    public func makeInputs(rng: inout Xoshiro256) -> [[Double]] {
        inputShapes.map { shape in (0..<shape.reduce(1, *)).map { _ in rng.nextNormal() } }
    }
    func zeros<S: TensorScalar>(like inputs: [Tensor<S>]) -> [Tensor<S>] {
        inputs.map { Tensor<S>(shape: $0.shape) }
    }
}

public struct OpCheckResult: Sendable {
    public let name: String
    public let forwardError: Double
    public let forwardTolerance: Double
    public let gradientError: Double
    public let gradientTolerance: Double
    public let checkedElements: Int
    public var passed: Bool { forwardError <= forwardTolerance && gradientError <= gradientTolerance }
}

public enum OpHarness {
    /// Every op of the module, by name.
    public static let checks: [any OpCheck] = [
        MatMulCheck(transposeA: false, transposeB: false, batch: 1),
        MatMulCheck(transposeA: true, transposeB: false, batch: 1),
        MatMulCheck(transposeA: false, transposeB: true, batch: 1),
        MatMulCheck(transposeA: true, transposeB: true, batch: 1),
        MatMulCheck(transposeA: false, transposeB: true, batch: 3),
        AddCheck(), MulCheck(), ScaleCheck(),
        EmbeddingCheck(),
        RMSNormCheck(), LayerNormCheck(),
        SoftmaxCheck(), LogSoftmaxCheck(), CrossEntropyCheck(),
        GELUCheck(approximation: .erf), GELUCheck(approximation: .tanh), SiLUCheck(), SwiGLUCheck(),
        RoPECheck(convention: .rotateHalf), RoPECheck(convention: .adjacentPairs),
        AttentionCheck(), AttentionCheck(causal: false),
    ]

    public static func run(_ check: any OpCheck, seed: UInt64 = 1) -> OpCheckResult {
        var rng = Xoshiro256(seed: seed, stream: check.name)
        let inputs = check.makeInputs(rng: &rng)
        for (values, shape) in zip(inputs, check.inputShapes) {
            precondition(values.count == shape.reduce(1, *), "\(check.name): input does not match \(shape)")
        }

        // (1) Float forward against the Double reference.
        let floatOut = check.forward(zip(inputs, check.inputShapes).map { Tensor<Float>(shape: $1, $0.map(Float.init)) })
        let expected = check.reference(inputs)
        precondition(floatOut.count == expected.count, "\(check.name): forward and reference sizes differ")
        let forwardError = normalizedMeanSquaredError(floatOut.array.map(Double.init), expected)

        // (2) Double backward against finite differences of L = Σ r ⊙ forward(x).
        let tensors = zip(inputs, check.inputShapes).map { Tensor<Double>(shape: $1, $0) }
        let r = Tensor<Double>(shape: [expected.count], (0..<expected.count).map { _ in rng.nextNormal() })
        func loss() -> Double {
            let out = check.forward(tensors)
            var sum = 0.0
            for i in 0..<out.count { sum += out[i] * r[i] }
            return sum
        }
        let analytic = check.backward(tensors, outputGradient: r)
        var diff = 0.0, normA = 0.0, normN = 0.0, elements = 0
        let h = 1e-3
        for (x, g) in zip(tensors, analytic) {
            for i in 0..<x.count {
                let saved = x[i]
                func at(_ delta: Double) -> Double { x[i] = saved + delta; return loss() }
                let numeric = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
                x[i] = saved
                diff += (g[i] - numeric) * (g[i] - numeric)
                normA += g[i] * g[i]
                normN += numeric * numeric
                elements += 1
            }
        }
        let gradientError = diff.squareRoot() / max(normA.squareRoot(), normN.squareRoot(), 1e-300)
        return OpCheckResult(
            name: check.name, forwardError: forwardError, forwardTolerance: check.forwardTolerance,
            gradientError: gradientError, gradientTolerance: check.gradientTolerance, checkedElements: elements)
    }
}

/// mean((a − b)²) / mean(b²), the scale-free error of a against reference b (0 when both are 0).
public func normalizedMeanSquaredError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) { num += (x - y) * (x - y); den += y * y }
    if num == 0 { return 0 }
    return den == 0 ? .infinity : num / den
}
