import Tensor

/// Epoch-wise shuffled order over `count` examples. The permutation of epoch e is a pure function of
/// (seed, e), so the whole state to checkpoint is (epoch, position).
public struct DataOrder: Sendable {
    public let count: Int
    public let seed: UInt64
    public private(set) var epoch = 0
    public private(set) var position = 0
    private var order: [Int32]

    public init(count: Int, seed: UInt64, epoch: Int = 0, position: Int = 0) {
        precondition(count > 0, "no examples to order")
        self.count = count
        self.seed = seed
        self.epoch = epoch
        self.position = position
        order = Self.permutation(count: count, seed: seed, epoch: epoch)
    }

    static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var rng = Xoshiro256(seed: seed, stream: "data-epoch-\(epoch)")
        var order = (0..<Int32(count)).map { $0 }
        rng.shuffle(&order)
        return order
    }

    /// The next `n` example indices, crossing into the next epoch's permutation when one ends.
    public mutating func next(_ n: Int) -> [Int] {
        (0..<n).map { _ in
            if position == count {
                epoch += 1
                position = 0
                order = Self.permutation(count: count, seed: seed, epoch: epoch)
            }
            defer { position += 1 }
            return Int(order[position])
        }
    }
}
