import Testing
@testable import Tensor

@Suite("Op harness")
struct OpHarnessTests {
    static let names = OpHarness.checks.map(\.name)

    static func check(_ name: String) -> any OpCheck { OpHarness.checks.first { $0.name == name }! }

    @Test("Float forward matches the Double reference; Double backward matches finite differences", arguments: names)
    func finiteDifferences(name: String) {
        let result = OpHarness.run(Self.check(name))
        #expect(result.forwardError <= result.forwardTolerance, "forward NMSE \(result.forwardError)")
        #expect(result.gradientError <= result.gradientTolerance, "gradient error \(result.gradientError)")
    }

    @Test("Forward and gradients match PyTorch autograd (float64 fixture)", arguments: names)
    func torchParity(name: String) throws {
        let fixture = try loadFixture(TorchFixture.self, "torch_ops")
        let op = try #require(fixture.ops.first { $0.name == name }, "no torch fixture for \(name)")
        let check = Self.check(name)
        // The fixture's integer inputs must be the ones the Swift check uses.
        switch check {
        case let c as EmbeddingCheck: #expect(op.ids == c.ids)
        case let c as CrossEntropyCheck: #expect(op.targets == c.targets)
        case let c as RoPECheck: #expect(op.positions == c.positions)
        case let c as AttentionCheck: #expect(op.keyMask == c.keyMask && op.causal == c.causal)
        default: break
        }
        let inputs = zip(op.inputs, check.inputShapes).map { Tensor<Double>(shape: $1, $0) }
        let output = check.forward(inputs)
        expectClose(output.array, op.output, rtol: 1e-10, atol: 1e-12, "\(name) output")
        let r = Tensor<Double>(shape: [op.r.count], op.r)
        for (i, (g, expected)) in zip(check.backward(inputs, outputGradient: r), op.gradients).enumerated() {
            expectClose(g.array, expected, rtol: 1e-10, atol: 1e-12, "\(name) gradient of input \(i)")
        }
    }

    /// A backward with a small error must be caught, or the harness proves nothing.
    @Test func harnessCatchesWrongGradient() {
        struct BrokenSiLU: OpCheck {
            let name = "silu with a 1% gradient error", inputShapes = [[9]]
            func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> { SiLUCheck().forward(x) }
            func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
                let g = SiLUCheck().backward(x, outputGradient: d)
                for i in 0..<g[0].count { g[0][i] *= 1.01 }
                return g
            }
            func reference(_ x: [[Double]]) -> [Double] { SiLUCheck().reference(x) }
        }
        let result = OpHarness.run(BrokenSiLU())
        #expect(!result.passed)
        #expect(result.gradientError > 1e-3)
    }

    @Test func everyIssueOpIsListed() {
        let required = ["matmul", "matmul Aᵀ", "matmul Bᵀ", "matmul AᵀBᵀ", "batched matmul Bᵀ", "add", "mul", "scale",
                        "embedding", "rmsnorm", "layernorm", "softmax", "log-softmax", "cross-entropy",
                        "gelu (erf)", "gelu (tanh)", "silu", "swiglu", "rope (rotateHalf)", "rope (adjacentPairs)",
                        "causal attention (GQA, padding)", "bidirectional attention (GQA, padding)"]
        #expect(Self.names == required)
    }
}
