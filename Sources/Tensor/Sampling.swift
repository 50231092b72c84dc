import RealModule

// Categorical sampling from logits, with the filters applied in Hugging Face's order:
// temperature, then top-k, then top-p (nucleus) on the renormalised top-k distribution.
// Top-p keeps the smallest set of most likely tokens whose mass reaches p (a token is kept when the
// mass of the tokens strictly more likely than it is below p), at least one token.

public struct SamplingConfig: Sendable, Codable, Equatable {
    /// 0 means greedy (argmax).
    public var temperature: Float
    /// 0 disables top-k.
    public var topK: Int
    /// 1 disables top-p.
    public var topP: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    public static let greedy = SamplingConfig(temperature: 0)
    public var isGreedy: Bool { temperature == 0 }
}

/// Index of the largest value (the first one on ties).
public func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
    var best = 0
    for i in 1..<count where x[i] > x[best] { best = i }
    return best
}

/// Draws one index from softmax(logits / temperature) after the top-k/top-p filters.
/// `scratch` must hold `count` floats; it is overwritten.
public func sampleToken(
    logits: UnsafePointer<Float>, count: Int, config: SamplingConfig, scratch: UnsafeMutablePointer<Float>,
    rng: inout Xoshiro256
) -> Int {
    if config.isGreedy { return argmax(logits, count: count) }
    // Unnormalised probabilities exp((x − max)/T) in scratch.
    let maxLogit = logits[argmax(logits, count: count)]
    let invT = 1 / config.temperature
    for i in 0..<count { scratch[i] = Float.exp((logits[i] - maxLogit) * invT) }

    let filtered = config.topK > 0 && config.topK < count || config.topP < 1
    guard filtered else {
        var total: Double = 0
        for i in 0..<count { total += Double(scratch[i]) }
        return drawIndex(weights: scratch, count: count, total: total, rng: &rng)
    }
    // Candidates in descending order of probability (ties: lower index first), via a max-heap so
    // only the kept prefix is ever sorted.
    var heap = TokenHeap(weights: scratch, count: count)
    let limit = config.topK > 0 ? min(config.topK, count) : count
    var kept: [Int32] = []
    var keptWeights: [Double] = []
    while kept.count < limit, let i = heap.pop() {
        kept.append(Int32(i))
        keptWeights.append(Double(scratch[i]))
    }
    if config.topP < 1 {
        let total = keptWeights.reduce(0, +)
        var before: Double = 0, n = 0
        while n < kept.count, before < Double(config.topP) * total {
            before += keptWeights[n]
            n += 1
        }
        kept.removeSubrange(max(1, n)...)
        keptWeights.removeSubrange(max(1, n)...)
    }
    let pick = keptWeights.withUnsafeBufferPointer {
        drawIndex(weights: $0.baseAddress!, count: $0.count, total: $0.reduce(0, +), rng: &rng)
    }
    return Int(kept[pick])
}

/// Inverse-CDF draw from non-negative weights summing to `total`.
func drawIndex<W: BinaryFloatingPoint>(
    weights: UnsafePointer<W>, count: Int, total: Double, rng: inout Xoshiro256
) -> Int {
    let r = rng.nextDouble() * total
    var acc: Double = 0
    for i in 0..<count {
        acc += Double(weights[i])
        if r < acc { return i }
    }
    // Rounding left r at the very top: return the last index with positive weight.
    var i = count - 1
    while i > 0 && weights[i] == 0 { i -= 1 }
    return i
}

/// Binary max-heap of indices keyed by weight, ties broken by the lower index.
struct TokenHeap {
    let weights: UnsafePointer<Float>
    var items: [Int32]

    init(weights: UnsafePointer<Float>, count: Int) {
        self.weights = weights
        items = (0..<Int32(count)).map { $0 }
        for i in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    @inline(__always) func above(_ a: Int32, _ b: Int32) -> Bool {
        let wa = weights[Int(a)], wb = weights[Int(b)]
        return wa > wb || (wa == wb && a < b)
    }

    mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var top = i
            if l < items.count && above(items[l], items[top]) { top = l }
            if r < items.count && above(items[r], items[top]) { top = r }
            if top == i { return }
            items.swapAt(i, top)
            i = top
        }
    }

    mutating func pop() -> Int? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            siftDown(0)
        }
        return Int(first)
    }
}
