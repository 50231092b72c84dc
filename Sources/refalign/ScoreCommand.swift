import ArgumentParser
import Experiments
import Foundation
import Rewards

enum MetricName: String, ExpressibleByArgument, CaseIterable {
    case bleu, sacrebleu, rouge1 = "rouge-1", rouge2 = "rouge-2", rougeL = "rouge-l", brf1
}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score hypotheses against references: JSONL {\"hypothesis\", \"references\"} → {\"score\": x} per line.",
        discussion: """
            bleu: HF evaluate's smoothed sentence BLEU in [0, 1] (BLEUBERI's reward; shortest-reference brevity \
            penalty). sacrebleu: sacrebleu's sentence BLEU (0–100, exp smoothing, effective order); with --corpus \
            one corpus score. rouge-1/2/l: rouge-score F-measures (no stemmer), best reference. brf1: harmonic \
            mean of bleu and rouge-l.
            """)

    @Option(help: "Metric: \(MetricName.allCases.map(\.rawValue).joined(separator: ", ")).") var metric: MetricName
    @Option(help: "JSONL input.") var input: String
    @Flag(help: "One corpus-level score instead of one per line (sacrebleu only).") var corpus = false

    func validate() throws {
        if corpus && metric != .sacrebleu { throw ValidationError("--corpus is defined for sacrebleu only") }
    }

    func run() throws {
        let rows = try readJSONLines(input).map { line, object -> (String, [String]) in
            guard let hypothesis = object["hypothesis"] as? String else { throw DataError("\(input):\(line): no string field \"hypothesis\"") }
            guard let references = object["references"] as? [String], !references.isEmpty else {
                throw DataError("\(input):\(line): \"references\" must be a non-empty list of strings")
            }
            return (hypothesis, references)
        }
        if corpus {
            print("{\"score\":\(SacreBLEU.corpus(hypotheses: rows.map(\.0), references: rows.map(\.1)))}")
            return
        }
        for (h, refs) in rows {
            let score: Double
            switch metric {
            case .bleu: score = bleuSmoothed(hypothesis: h, references: refs)
            case .sacrebleu: score = SacreBLEU.sentence(hypothesis: h, references: refs)
            case .rouge1: score = rouge(.n(1), hypothesis: h, references: refs).f
            case .rouge2: score = rouge(.n(2), hypothesis: h, references: refs).f
            case .rougeL: score = rouge(.l, hypothesis: h, references: refs).f
            case .brf1: score = brf1(hypothesis: h, references: refs)
            }
            print("{\"score\":\(score)}")
        }
    }
}
