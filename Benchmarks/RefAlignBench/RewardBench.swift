import ArgumentParser
import Foundation
import Rewards
import Tensor

/// Reward metrics on the same pairs as Scripts/reference/rewards_python.py, one JSON line per case:
/// {"bench": CASE, "unit": ..., "value": ...}.
struct RewardBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewards", abstract: "Sentence BLEU, sacreBLEU, ROUGE-L, BERTScore and WordPiece throughput.")

    @Option(help: "OpenBLAS threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "JSONL of {\"hypothesis\", \"reference\"} pairs.") var pairs: String
    @Option(help: "JSONL of pairs as RL scores them: each run of 8 lines shares one reference.") var rlPairs: String?
    @Option(help: "The MiniLM folder.") var bert = ".assets/minilm"
    @Option(help: "Comma-separated cases.") var cases = "bleu,sacrebleu,rouge-l,bertscore,bertscore-rl,bertscore-rl-first-epoch,wordpiece"
    @Option(help: "Timed repetitions per case (median reported).") var repeats = 3

    func run() throws {
        BLAS.threads = threads
        func read(_ path: String) throws -> [(String, String)] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: String]
                return (object["hypothesis"]!, object["reference"]!)
            }
        }
        let rows = try read(pairs)
        // RL: one reward call per step of 4 prompts × 8 samples
        let steps = try rlPairs.map { path in try read(path).chunks(of: 32) } ?? []
        func scoreSteps(_ scorer: BERTScorer) -> Double {
            for step in steps { _ = scorer.score(hypotheses: step.map(\.0), references: step.map { [$0.1] }) }
            return Double(steps.reduce(0) { $0 + $1.count })
        }
        func report(_ name: String, _ unit: String, _ body: () -> Double) {
            _ = body()
            let values = (0..<repeats).map { _ in
                let start = now()
                let units = body()
                return units / (now() - start)
            }
            print(#"{"bench":"\#(name)","unit":"\#(unit)","value":\#(values.sorted()[values.count / 2])}"#)
        }
        for name in cases.split(separator: ",") {
            switch name {
            case "bleu":
                report("bleu", "pairs/s") { for (h, r) in rows { _ = bleuSmoothed(hypothesis: h, references: [r]) }; return Double(rows.count) }
            case "sacrebleu":
                report("sacrebleu", "pairs/s") { for (h, r) in rows { _ = SacreBLEU.sentence(hypothesis: h, references: [r]) }; return Double(rows.count) }
            case "rouge-l":
                report("rouge-l", "pairs/s") { for (h, r) in rows { _ = rouge(.l, hypothesis: h, references: [r]) }; return Double(rows.count) }
            case "bertscore":  // one call over all pairs, as bert_score is usually called; a new scorer (empty cache) each time
                let loaded = try BERTScorer(modelDirectory: bert, layer: 6)
                report("bertscore", "pairs/s") {
                    let scorer = try! BERTScorer(model: loaded.model, tokenizer: loaded.tokenizer, layer: 6)
                    _ = scorer.score(hypotheses: rows.map(\.0), references: rows.map { [$0.1] })
                    return Double(rows.count)
                }
            case "bertscore-rl":  // every epoch after the first: the references are cached
                guard !steps.isEmpty else { throw ValidationError("bertscore-rl needs --rl-pairs") }
                let scorer = try BERTScorer(modelDirectory: bert, layer: 6)
                report("bertscore-rl", "pairs/s") { scoreSteps(scorer) }
            case "bertscore-rl-first-epoch":  // a new scorer (empty cache) each time, the model loaded once
                guard !steps.isEmpty else { throw ValidationError("bertscore-rl-first-epoch needs --rl-pairs") }
                let loaded = try BERTScorer(modelDirectory: bert, layer: 6)
                report("bertscore-rl-first-epoch", "pairs/s") { scoreSteps(try! BERTScorer(model: loaded.model, tokenizer: loaded.tokenizer, layer: 6)) }
            case "wordpiece":  // one thread
                let tokenizer = try BERTScorer(modelDirectory: bert, layer: 1).tokenizer
                let text = rows.map { $0.0 + "\n" + $0.1 }.joined(separator: "\n")
                let corpus = String(repeating: text + "\n", count: 4)
                report("wordpiece", "MB/s") {
                    _ = tokenizer.encode(corpus, maxLength: .max)
                    return Double(corpus.utf8.count) / 1e6
                }
            default:
                throw ValidationError("unknown case \(name)")
            }
        }
    }
}

extension Array {
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min(count, $0 + size)] }
    }
}
