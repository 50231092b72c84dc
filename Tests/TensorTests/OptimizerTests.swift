import Testing
@testable import Tensor

@Suite("Optimizer, clipping, schedules against torch/transformers")
struct OptimizerTests {
    @Test func adamWMatchesTorch() throws {
        let fixture = try loadFixture(TorchFixture.self, "torch_ops")
        for c in fixture.adamw {
            let store = ParameterStore([("decayed", [6], true), ("plain", [4], false)])
            let entries = store.entries
            for (entry, values) in zip(entries, c.initial) {
                for (i, v) in values.enumerated() { store.value(entry)[i] = v }
            }
            let optimizer = AdamW(count: store.count, config: AdamWConfig(weightDecay: c.weightDecay))
            for (step, lr) in c.learningRates.enumerated() {
                for (entry, grads) in zip(entries, c.gradients[step]) {
                    for (i, g) in grads.enumerated() { store.gradient(entry)[i] = g }
                }
                optimizer.update(store, learningRate: lr)
                for (entry, expected) in zip(entries, c.parameters[step]) {
                    let got = Array(UnsafeBufferPointer(start: store.value(entry), count: entry.count))
                    expectClose(got, expected, rtol: 2e-6, atol: 1e-7, "AdamW wd=\(c.weightDecay) step \(step + 1) \(entry.name)")
                }
            }
            #expect(optimizer.step == c.learningRates.count)
        }
    }

    /// AdamW splits a large store across threads at fixed offsets (cutting through entries): every thread
    /// count gives bitwise the same parameters and moments as one thread.
    @Test func adamWIsTheSameOnEveryThreadCount() {
        func run(threads: Int) -> ([Float], [Float]) {
            let store = ParameterStore([("a", [700_001], true), ("b", [3], false), ("c", [400_000], true)])
            var rng = Xoshiro256(seed: 3, stream: "adamw")
            for i in 0..<store.count { store.values.pointer[i] = Float(rng.nextNormal()) }
            let optimizer = AdamW(count: store.count)
            for step in 1...3 {
                for i in 0..<store.count { store.gradients.pointer[i] = Float(rng.nextNormal()) }
                optimizer.update(store, learningRate: 1e-3 * Float(step), threads: threads)
            }
            return (store.values.array, optimizer.v.array)
        }
        let one = run(threads: 1)
        for threads in [2, 3] {
            let other = run(threads: threads)
            #expect(other.0 == one.0 && other.1 == one.1, "\(threads) threads differ from one")
        }
    }

    @Test func gradientClippingMatchesTorch() throws {
        let fixture = try loadFixture(TorchFixture.self, "torch_ops")
        for c in fixture.clip {
            var grads = c.gradients
            let norm = grads.withUnsafeMutableBufferPointer {
                clipGradientNorm($0.baseAddress!, count: $0.count, maxNorm: c.maxNorm)
            }
            #expect(abs(norm - c.norm) <= 1e-6 * c.norm)
            expectClose(grads, c.clipped, rtol: 1e-6, atol: 1e-9, "clipped gradients")
        }
    }

    @Test func schedulesMatchTransformers() throws {
        let fixture = try loadFixture(TorchFixture.self, "torch_ops")
        #expect(fixture.schedules.count == 3)
        for c in fixture.schedules {
            let schedule: LearningRateSchedule = c.kind == "cosine"
                ? .cosine(warmupSteps: c.warmupSteps, totalSteps: c.totalSteps)
                : .constantWithWarmup(warmupSteps: c.warmupSteps)
            let got = (0..<c.multipliers.count).map { schedule.multiplier(step: $0) }
            expectClose(got, c.multipliers, rtol: 1e-12, atol: 1e-12, "\(c.kind) warmup \(c.warmupSteps)")
        }
    }

    @Test func parameterStoreKeepsDeclarationOrderAndRejectsNothingSilently() {
        let store = ParameterStore([("b", [2, 3], true), ("a", [4], false)])
        #expect(store.entries.map(\.name) == ["b", "a"])
        #expect(store.entries.map(\.offset) == [0, 6])
        #expect(store.count == 10)
        #expect(store.entry("a")?.decays == false)
        #expect(store.entry("missing") == nil)
    }
}
