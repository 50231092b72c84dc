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
/// The sum of squares is taken in Double over fixed blocks of 64 Ki gradients (eight lanes each, summed
/// in order) and the blocks' sums are added in order, so with the split scaling it is the same on every
/// thread count.
@discardableResult
public func clipGradientNorm(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double, threads: Int = BLAS.threads) -> Double {
    let block = 1 << 16, blocks = (count + block - 1) / block
    var partials = [Double](repeating: 0, count: blocks)
    partials.withUnsafeMutableBufferPointer { partials in
        parallelFor(blocks, grain: 1, threads: threads) { range in
            for b in range {
                let end = min(count, (b + 1) * block)
                var lanes = SIMD8<Double>()
                for i in stride(from: b * block, to: end, by: 8) {
                    let v = SIMD8<Double>(loadLanes(gradients, i, count: end, padding: 0) as SIMD8<Float>)
                    lanes += v * v
                }
                for j in 0..<8 { partials[b] += lanes[j] }
            }
        }
    }
    let norm = partials.reduce(0, +).squareRoot()
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 {
        let c = Float(coefficient)
        parallelFor(count, grain: parallelGrain, threads: threads) { range in
            for i in range { gradients[i] *= c }
        }
    }
    return norm
}
