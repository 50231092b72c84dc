import Foundation
import Testing
@testable import Alignment
@testable import Experiments
import RunRecords
import Tensor
import TestSupport

@Suite("DPO, SimPO and SFT")
struct PreferenceTests {
    static func pair(seed: UInt64, weight: Double = 0.25) -> PairTerms {
        var rng = Xoshiro256(seed: seed)
        let c = (0..<7).map { _ in Float(-0.2 - 3 * rng.nextDouble()) }, r = (0..<5).map { _ in Float(-0.2 - 3 * rng.nextDouble()) }
        return PairTerms(chosen: c, rejected: r, referenceChosen: -9.5, referenceRejected: -8.25, weight: weight)
    }

    static let objectives: [any PairObjective] = [
        DPOObjective(), DPOObjective(beta: 0.3, labelSmoothing: 0.1), DPOObjective(beta: 0.1, lossType: .ipo),
        SimPOObjective(), SimPOObjective(beta: 2, gamma: 1, labelSmoothing: 0.2),
    ]

    @Test(arguments: 0..<objectives.count) func pairGradientsMatchFiniteDifferences(index: Int) {
        let objective = Self.objectives[index]
        for seed: UInt64 in [1, 2] {
            let p = Self.pair(seed: seed), out = objective.loss(p), h: Float = 1e-2
            var analytic: [Double] = [], numeric: [Double] = []
            for side in 0..<2 {
                for i in 0..<(side == 0 ? p.chosen.count : p.rejected.count) {
                    var plus = p, minus = p
                    if side == 0 { plus.chosen[i] += h; minus.chosen[i] -= h } else { plus.rejected[i] += h; minus.rejected[i] -= h }
                    numeric.append((objective.loss(plus).loss - objective.loss(minus).loss) / (2 * Double(h)))
                    analytic.append(Double(side == 0 ? out.dChosen[i] : out.dRejected[i]))
                }
            }
            let diff = zip(analytic, numeric).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let norm = numeric.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(diff / norm < 2e-3, "\(objective.name) #\(index): gradient error \(diff / norm)")
        }
    }

    /// DPO's value at z = 0 is log 2 per pair, and the implicit rewards are β(π − π_ref).
    @Test func dpoValueAndImplicitRewards() {
        let p = PairTerms(chosen: [-1, -2], rejected: [-4], referenceChosen: -3, referenceRejected: -4, weight: 1)
        let out = DPOObjective(beta: 0.1).loss(p)
        #expect(abs(out.loss - log(2)) < 1e-12)
        #expect(abs(out.chosenReward - 0) < 1e-12 && abs(out.rejectedReward - 0) < 1e-12)
    }

    static func config(_ method: String, data: String, overrides: [String: Any] = [:]) throws -> AlignmentJobConfig {
        var fields: [String: Any] = ["data": data, "reward": "bleu", "steps": 6, "promptsPerStep": 4, "samples": 3, "maxNewTokens": 6,
                                     "learningRate": 3e-3, "warmupRatio": 0, "microBatch": 2, "seed": 3, "checkpointEvery": 0,
                                     "sampleEvery": 0, "cacheDirectory": temporaryDirectory()]
        for (k, v) in overrides { fields[k] = v }
        var c = try AlignmentJobConfig.resolve(method: method, preset: nil, overrides: fields)
        c.model = "tiny"
        c.modelFile = smolLM2Path
        return c
    }

    static func train(_ c: AlignmentJobConfig) throws -> [String: [Double]] {
        let dir = temporaryDirectory()
        try AlignmentJob.trainer(c, directory: dir, threads: 1).run(.new) { _ in .proceed }
        return try RunSummary(path: dir + "/run.h5").train.merging(try RunSummary(path: dir + "/run.h5").eval.mapValues { $0 }) { a, _ in a }
    }

    /// Each method lowers its own loss on the tiny model (DPO on fixed pairs also moves its accuracy).
    @Test(arguments: ["dpo", "sft"]) func fixedDataMethodsLowerTheirLoss(method: String) throws {
        let data = try AlignmentRunTests.dataFile()
        let t = try Self.train(Self.config(method, data: data, overrides: method == "sft" ? ["evalData": data, "evalEvery": 3] : [:]))
        let loss = t["loss"]!
        #expect(loss.last! < loss.first!, "\(method): loss \(loss)")
        if method == "dpo" { #expect(t["reward_accuracy"]!.last! >= t["reward_accuracy"]!.first!) }
    }

    @Test func onlineSimPORunsAndCountsTies() throws {
        let t = try Self.train(Self.config("simpo", data: try AlignmentRunTests.dataFile(), overrides: ["steps": 3]))
        #expect(t["tie_fraction"]?.count == 3 && t["loss"]!.allSatisfy { $0.isFinite })
    }

    /// The reference cache is reused for the same inputs, missed when the data file changes, and a
    /// truncated cache file is recomputed, never read.
    @Test func dpoReferenceCacheIsKeyedAndChecked() throws {
        let data = try AlignmentRunTests.dataFile()
        let c = try Self.config("dpo", data: data, overrides: ["steps": 1])
        _ = try Self.train(c)
        let files = try FileManager.default.contentsOfDirectory(atPath: c.cacheDirectory)
        #expect(files.count == 1)
        let path = c.cacheDirectory + "/" + files[0]
        let stamp = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        _ = try Self.train(c)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date == stamp, "a cache hit does not rewrite")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: path))
        #expect(ReferenceCache.load(directory: c.cacheDirectory, key: String(files[0].dropFirst(19).dropLast(12)), pairs: 4) == nil)
        _ = try Self.train(c)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "a truncated cache is recomputed to the same values")
        try (String(contentsOfFile: data, encoding: .utf8) + "{\"prompt\": \"x\", \"reference\": \"y\"}\n").write(toFile: data, atomically: true, encoding: .utf8)
        _ = try Self.train(c)
        #expect(try FileManager.default.contentsOfDirectory(atPath: c.cacheDirectory).count == 2, "a changed data file gets a new key")
    }
}
