/// All trainable parameters of a model in one allocation, and their gradients in another (llm.c's
/// arena): zeroing gradients, AdamW, clipping, checkpoints and dumps are single loops, and a tensor
/// is found by name in declaration order (never through a hashed collection's order).
public final class ParameterStore: @unchecked Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public let count: Int
        /// Whether AdamW's decoupled weight decay applies (by convention not to norms and biases).
        public let decays: Bool
    }

    public let entries: [Entry]
    public let count: Int
    public let values: Tensor<Float>
    /// Empty in a frozen store (a reference model holds weights only).
    public let gradients: Tensor<Float>
    public let trainable: Bool

    public init(_ specs: [(name: String, shape: [Int], decays: Bool)], trainable: Bool = true) {
        var entries: [Entry] = []
        var offset = 0
        for spec in specs {
            precondition(!entries.contains { $0.name == spec.name }, "duplicate parameter \(spec.name)")
            let n = spec.shape.reduce(1, *)
            entries.append(Entry(name: spec.name, shape: spec.shape, offset: offset, count: n, decays: spec.decays))
            offset += n
        }
        self.entries = entries
        count = offset
        values = Tensor(shape: [offset])
        gradients = Tensor(shape: [trainable ? offset : 0])
        self.trainable = trainable
    }

    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    public func value(_ entry: Entry) -> UnsafeMutablePointer<Float> { values.pointer + entry.offset }
    public func gradient(_ entry: Entry) -> UnsafeMutablePointer<Float> {
        precondition(trainable, "\(entry.name): a frozen parameter store has no gradients")
        return gradients.pointer + entry.offset
    }

    public func zeroGradients() { gradients.zero() }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm` (torch's clip_grad_norm_:
/// coefficient maxNorm / (norm + 1e-6), applied only when below 1). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double) -> Double {
    var sumSquares: Double = 0
    for i in 0..<count { let g = Double(gradients[i]); sumSquares += g * g }
    let norm = sumSquares.squareRoot()
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        let c = Float(coefficient)
        for i in 0..<count { gradients[i] *= c }
    }
    return norm
}
