import Foundation
import Testing
import TestSupport
@testable import Figures
@testable import RunRecords

@Suite("Figures")
struct FiguresTests {
    /// Two methods × two seeds of synthetic run files.
    func makeRuns(in results: String) throws {
        for (method, base) in [("refalign", 0.3), ("grpo", 0.2)] {
            for seed in [1, 2] {
                let dir = "\(results)/\(method)-seed\(seed)"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let run = try RunRecord.create("\(dir)/run.h5", metadata: RunMetadata(
                    method: method, model: "tiny", seed: UInt64(seed), threads: 1, configJSON: "{}", gitSHA: "", swiftVersion: "",
                    openBLASConfig: "", openBLASCore: "", openBLASCoreReason: "", startTime: ""))
                for step in 1...20 {
                    try run.appendStep(step, [Metric("reward_mean", base + 0.01 * Double(step) + 0.005 * Double(seed)),
                                              Metric("length_mean", 100 - Double(step))])
                }
                try run.appendEvaluation(20, [Metric("bleu", base), Metric("rouge_l", base + 0.1)])
            }
        }
    }

    /// Width and height from a PNG's IHDR chunk, nil if the file is not a PNG.
    func pngSize(_ path: String) -> (Int, Int)? {
        guard let d = FileManager.default.contents(atPath: path), d.count > 24,
              d.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), d[12..<16] == Data("IHDR".utf8) else { return nil }
        let be = { (o: Int) in d[o..<o + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }

    @Test func rendersEveryFigureFromRunFilesAloneAndRegeneratesThem() throws {
        let results = temporaryDirectory(), out = results + "/figures-out"
        try makeRuns(in: results)
        let report = try renderFigures(results: results, out: out)
        #expect(report.rendered.map(\.name) == ["train_reward", "completion_length", "heldout"])
        #expect(report.skipped.map(\.name) == ["train_kl", "train_loss", "reward_accuracy", "reward_margin", "heldout_nll", "harmlessness",
                                                "confidence", "sampler_kl", "benchmarks", "judge_scatter"])
        for figure in report.rendered {
            #expect(pngSize(figure.png).map { $0 == (900, 560) } == true, "\(figure.png) is not a 900×560 PNG")
            #expect(FileManager.default.contents(atPath: figure.pdf)?.prefix(4) == Data("%PDF".utf8))
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(figure.name).gp"))
        }
        // The curve is the mean over seeds: step 1 of refalign is 0.3 + 0.01 + mean(0.005, 0.01).
        let tsv = try String(contentsOfFile: out + "/train_reward.tsv", encoding: .utf8)
        let grpoBlock = tsv.components(separatedBy: "# grpo\n")[1]
        #expect(grpoBlock.split(separator: "\n")[1].hasPrefix("1.0\t0.2175"))
        try FileManager.default.removeItem(atPath: out)
        #expect(try renderFigures(results: results, out: out).rendered.count == 3)
        #expect(pngSize(out + "/heldout.png") != nil)

        // Runs under runs/EXPERIMENT/ get their own figures, named after the experiment.
        try makeRuns(in: results + "/runs/sweep")
        let grouped = try renderFigures(results: results, out: out).rendered.map(\.name)
        #expect(grouped == ["train_reward", "completion_length", "heldout", "sweep_train_reward", "sweep_completion_length", "sweep_heldout"])
    }

    /// An evaluation with stated confidence gets a reliability diagram: per bin of confidence, the share correct.
    @Test func reliabilityDiagramBinsStatedConfidence() throws {
        let results = temporaryDirectory(), out = results + "/figures-out", dir = results + "/runs/confidence/eval-sft"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let run = try RunRecord.create(dir + "/run.h5", metadata: RunMetadata(
            method: "evaluate", model: "tiny", seed: 0, threads: 1, configJSON: #"{"correctness":"exact-match"}"#, gitSHA: "", swiftVersion: "",
            openBLASConfig: "", openBLASCore: "", openBLASCoreReason: "", startTime: ""))
        try run.appendEvaluation(0, [Metric("ece", 0.2)])
        let confidence = [0.25, 0.25, 0.75, 0.75, 0.75, 0.75]
        try run.writeEvaluationSamples(example: Array(0..<6), sample: [Int](repeating: 0, count: 6), length: [Int](repeating: 3, count: 6),
                                       truncated: [Bool](repeating: false, count: 6), completion: [String](repeating: "", count: 6),
                                       scores: [("exact-match", [0, 1, 1, 1, 1, 0]), ("stated_confidence", confidence)])
        let report = try renderFigures(results: results, out: out)
        #expect(report.rendered.map(\.name).contains("confidence_reliability"))
        let rows = try String(contentsOfFile: out + "/confidence_reliability.tsv", encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(rows == ["0.25\t0.5\t2", "0.75\t0.75\t4"])
    }
}
