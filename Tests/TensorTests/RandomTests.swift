import Foundation
import Testing
@testable import Tensor

@Suite("Seeded randomness")
struct RandomTests {
    struct Fixture: Decodable {
        struct Stream: Decodable { let seed: String?; let state: [String]?; let outputs: [String] }
        let splitmix64: [Stream]
        let xoshiro256: [Stream]
    }

    @Test func generatorsMatchTheReferenceAlgorithms() throws {
        let fixture = try loadFixture(Fixture.self, "random")
        for c in fixture.splitmix64 {
            var g = SplitMix64(seed: UInt64(c.seed!)!)
            #expect(c.outputs.map { UInt64($0)! } == (0..<c.outputs.count).map { _ in g.next() })
        }
        for c in fixture.xoshiro256 {
            var g = Xoshiro256(state: c.state!.map { UInt64($0)! })
            if let seed = c.seed { #expect(Xoshiro256(seed: UInt64(seed)!) == g) }
            #expect(c.outputs.map { UInt64($0)! } == (0..<c.outputs.count).map { _ in g.next() })
        }
    }

    @Test func sameSeedSameStreamDifferentNamesDiffer() {
        var a = Xoshiro256(seed: 7, stream: "sampling"), b = Xoshiro256(seed: 7, stream: "sampling")
        var c = Xoshiro256(seed: 7, stream: "data"), d = Xoshiro256(seed: 8, stream: "sampling")
        let xs = (0..<8).map { _ in a.next() }
        #expect(xs == (0..<8).map { _ in b.next() })
        #expect(xs != (0..<8).map { _ in c.next() })
        #expect(xs != (0..<8).map { _ in d.next() })
    }

    @Test func uniformFloatsAndNormalsHaveTheRightMoments() {
        var g = Xoshiro256(seed: 3)
        let n = 200_000
        var floatSum = 0.0, minF: Float = 1, maxF: Float = 0
        var normalSum = 0.0, normalSquares = 0.0
        for _ in 0..<n {
            let f = g.nextFloat()
            floatSum += Double(f); minF = min(minF, f); maxF = max(maxF, f)
            let z = g.nextNormal()
            normalSum += z; normalSquares += z * z
        }
        #expect(minF >= 0 && maxF < 1)
        #expect(abs(floatSum / Double(n) - 0.5) < 0.005)  // sd of the mean ≈ 0.00065
        #expect(abs(normalSum / Double(n)) < 0.01)         // ≈ 0.0022
        #expect(abs(normalSquares / Double(n) - 1) < 0.02) // ≈ 0.0032
    }

    @Test func boundedIntegersAndShuffleArePermutationsWithoutBias() {
        var g = Xoshiro256(seed: 5)
        var counts = [Int](repeating: 0, count: 6)
        for _ in 0..<60_000 { counts[g.nextInt(below: 6)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 400 })  // sd ≈ 91
        var values = Array(0..<50)
        g.shuffle(&values)
        #expect(values.sorted() == Array(0..<50))
        #expect(values != Array(0..<50))
    }

    @Test func stateRoundTripsThroughCodable() throws {
        var g = Xoshiro256(seed: 11)
        _ = g.next()
        let copy = try JSONDecoder().decode(Xoshiro256.self, from: JSONEncoder().encode(g))
        #expect(copy == g)
    }
}

