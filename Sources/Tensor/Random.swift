// The project's own seeded randomness. The standard library's random algorithms may change between
// Swift versions, so nothing here uses them: xoshiro256** streams seeded through SplitMix64, our own
// float conversion, normals, shuffle and categorical sampling. One `--seed` gives independent streams
// by name ("init", "data", "sampling"), so changing one consumer never shifts another's numbers.
import RealModule

/// SplitMix64 (Steele, Lea, Flood 2014): used only to expand a seed into xoshiro state.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** 1.0 (Blackman & Vigna). State is plain data, so checkpoints can save and restore it.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: [UInt64]

    /// Raw state, as in the reference implementation; it must not be all zero.
    public init(state: [UInt64]) {
        precondition(state.count == 4 && state.contains { $0 != 0 }, "xoshiro256 needs 4 words, not all zero")
        self.state = state
    }

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        self.init(state: [sm.next(), sm.next(), sm.next(), sm.next()])
    }

    /// An independent stream for one consumer of a run's seed (FNV-1a of the name mixes into it).
    public init(seed: UInt64, stream: String) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in stream.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        self.init(seed: seed ^ h)
    }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = Self.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1): the top 24 bits × 2⁻²⁴.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in [0, 1): the top 53 bits × 2⁻⁵³.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform integer in 0..<n (Lemire's multiply-shift with rejection, unbiased).
    public mutating func nextInt(below n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return Int(product.high)
    }

    /// Standard normal by Box–Muller (one of the pair; simple and branch-free of rejection).
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextDouble()  // (0, 1], so log is finite
        let u2 = nextDouble()
        return Double.sqrt(-2 * Double.log(u1)) * Double.cos(2 * Double.pi * u2)
    }

    /// Fisher–Yates, from the last element down.
    public mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, nextInt(below: i + 1))
        }
    }
}
