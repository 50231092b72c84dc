// Experiment 3: does a reference metric agree with judges? Each of the 49 systems whose MT-Bench answers
// are in ../shared/bleuberi_data is scored by each metric against GPT-4.1-mini's references (turn 1 of both:
// hypothesis choices[0].turns[0], reference choices[0].turns[0]); a system's score is its mean over the 80
// questions. The 15 systems of BLEUBERI's Table 1 carry published GPT-4.1-mini judge scores
// (Scripts/data/bleuberi-table1.tsv); Spearman's ρ and Kendall's τ-b between a metric's system scores and
// each judge column are reported for both candidate file mappings (../shared/notes/data.md §4.2), with
// percentile-bootstrap 95 % intervals over questions (the 80 questions resampled, system means recomputed).
//
// Simplifications: only turn 1 is scored (BLEUBERI's own check); the judge scores are the paper's, not
// re-run (no LLM judge here); ties in the judge columns keep average ranks.
import Alignment
import Foundation
import Rewards
import Tensor

public enum JudgeAgreement {
    /// One row of the published table: the judge's scores per column and the candidate answer files.
    public struct JudgedSystem: Sendable {
        public let family: String
        public let row: String
        public let judge: [String: Double]
        public let files: (a: String, b: String)
        public var label: String { "\(family) \(row)" }
    }

    public struct Correlation: Sendable {
        public let metric: String
        public let column: String
        public let mapping: String
        public let n: Int
        public let spearman: Double
        public let spearmanInterval: (lower: Double, upper: Double)
        public let kendall: Double
        public let kendallInterval: (lower: Double, upper: Double)
    }

    /// Per metric, per system, per question scores: `scores[m][s][q]`.
    public struct SystemScores: Sendable {
        public let systems: [String]
        public let questions: [Int]
        public let metrics: [String]
        public let scores: [[[Double]]]

        public func mean(metric m: Int, system s: Int, questions picked: [Int]? = nil) -> Double {
            let values = scores[m][s]
            guard let picked else { return values.reduce(0, +) / Double(values.count) }
            return picked.reduce(0.0) { $0 + values[$1] } / Double(picked.count)
        }
    }

    public static let judgeColumns = ["MT", "AH_v1", "AH_v2", "WB", "avg"]

    /// Reads the published table (tab-separated, `#` comments, a header line).
    public static func readTable(_ path: String) throws -> [JudgedSystem] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated().filter { !$0.element.hasPrefix("#") && !$0.element.isEmpty }
        guard let header = lines.first?.element.split(separator: "\t").map(String.init) else { throw DataError("\(path): no header line") }
        func column(_ name: String) throws -> Int {
            guard let i = header.firstIndex(of: name) else { throw DataError("\(path): header has no column \"\(name)\"") }
            return i
        }
        let (family, row, fileA, fileB) = (try column("family"), try column("row"), try column("file_a"), try column("file_b"))
        let judged = try judgeColumns.map { ($0, try column($0)) }
        return try lines.dropFirst().map { number, line in
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard cells.count == header.count else { throw DataError("\(path):\(number + 1): \(cells.count) cells, the header has \(header.count)") }
            let judge = try Dictionary(uniqueKeysWithValues: judged.map { name, i -> (String, Double) in
                guard let v = Double(cells[i]), v.isFinite else { throw DataError("\(path):\(number + 1): field \"\(name)\" is not a number: \(cells[i])") }
                return (name, v)
            })
            return JudgedSystem(family: cells[family], row: cells[row], judge: judge, files: (cells[fileA], cells[fileB]))
        }
    }

    /// Scores every system's (or only the named systems') turn-1 answers with every metric. `progress(done, total)` per system.
    public static func score(dataRoot: String, metrics: [(name: String, reward: any Reward)], only: Set<String>? = nil,
                             progress: ((Int, Int) -> Void)? = nil) throws -> SystemScores {
        let folder = dataRoot + "/mt_bench"
        let references = try turnOne(folder + "/reference_answer/gpt-4.1-mini.jsonl")
        let questions = references.keys.sorted()
        let files = try FileManager.default.contentsOfDirectory(atPath: folder + "/model_answer").filter { $0.hasSuffix(".jsonl") && only?.contains(String($0.dropLast(".jsonl".count))) != false }.sorted()
        guard !files.isEmpty else { throw DataError("\(folder)/model_answer: no answer files") }
        var scores = [[[Double]]](repeating: [], count: metrics.count)
        for (done, file) in files.enumerated() {
            let answers = try turnOne(folder + "/model_answer/" + file)
            let inputs = try questions.map { q -> RewardInput in
                guard let answer = answers[q] else { throw DataError("\(folder)/model_answer/\(file): no answer to question \(q)") }
                return RewardInput(prompt: "", completion: answer, references: [references[q]!])
            }
            for (m, metric) in metrics.enumerated() { scores[m].append(try metric.reward.score(inputs).scores) }
            progress?(done + 1, files.count)
        }
        return SystemScores(systems: files.map { String($0.dropLast(".jsonl".count)) }, questions: questions, metrics: metrics.map(\.name), scores: scores)
    }

    /// question_id → choices[0].turns[0] of an MT-Bench answer file.
    static func turnOne(_ path: String) throws -> [Int: String] {
        var out: [Int: String] = [:]
        for record in try readJSONLines(path) {
            guard let id = record.object["question_id"] as? Int, let choices = record.object["choices"] as? [[String: Any]],
                  let turn = (choices.first?["turns"] as? [String])?.first else {
                throw DataError("\(path):\(record.line): no question_id and choices[0].turns[0]")
            }
            out[id] = turn
        }
        return out
    }

    /// ρ and τ-b of every metric against every judge column, for mappings A and B, with bootstrap intervals.
    public static func correlations(_ scores: SystemScores, table: [JudgedSystem], resamples: Int = 1000, seed: UInt64 = 0) throws -> [Correlation] {
        var out: [Correlation] = []
        for (mapping, pick) in [("A", { (s: JudgedSystem) in s.files.a }), ("B", { (s: JudgedSystem) in s.files.b })] {
            let indices = try table.map { system -> Int in
                guard let i = scores.systems.firstIndex(of: pick(system)) else { throw DataError("no answer file \(pick(system)).jsonl for \(system.label)") }
                return i
            }
            for m in scores.metrics.indices {
                for column in judgeColumns {
                    let judge = table.map { $0.judge[column]! }
                    let judgeRanks = Calibration.ranks(judge)
                    func pair(_ picked: [Int]?) -> (Double?, Double?) {
                        let metric = indices.map { scores.mean(metric: m, system: $0, questions: picked) }
                        return (Calibration.pearson(Calibration.ranks(metric), judgeRanks), Calibration.kendall(metric, judge))
                    }
                    let (rho, tau) = pair(nil)
                    guard let rho, let tau else { throw DataError("\(scores.metrics[m]): constant system scores, no correlation with \(column)") }
                    // One stream per (metric, column, mapping): a row's interval does not depend on which others are computed.
                    var rng = Xoshiro256(seed: seed, stream: "judge-agreement/\(scores.metrics[m])/\(column)/\(mapping)")
                    var rhos: [Double] = [], taus: [Double] = []
                    for _ in 0..<resamples {
                        let picked = scores.questions.indices.map { _ in rng.nextInt(below: scores.questions.count) }
                        let (r, t) = pair(picked)
                        if let r { rhos.append(r) }
                        if let t { taus.append(t) }
                    }
                    out.append(Correlation(metric: scores.metrics[m], column: column, mapping: mapping, n: table.count, spearman: rho,
                                           spearmanInterval: percentileInterval(rhos), kendall: tau, kendallInterval: percentileInterval(taus)))
                }
            }
        }
        return out
    }

    /// Writes into `folder`: system-scores.tsv (every system's mean per metric), judge-agreement.tsv (one row
    /// per metric × judge column × mapping) and judge-scatter.tsv (the Table-1 systems, mapping A: label,
    /// each metric, the MT-Bench judge score), each headed by the files it was made from.
    public static func write(_ scores: SystemScores, correlations: [Correlation], table: [JudgedSystem], tablePath: String,
                             dataRoot: String, folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let provenance = "# made by `refalign judge-agreement` from \(dataRoot)/mt_bench (turn 1, gpt-4.1-mini references) and \(tablePath)\n"
        func format(_ x: Double) -> String { String(format: "%.4f", x) }
        var systems = provenance + "system\t" + scores.metrics.joined(separator: "\t") + "\n"
        for (s, name) in scores.systems.enumerated() {
            systems += name + "\t" + scores.metrics.indices.map { format(scores.mean(metric: $0, system: s)) }.joined(separator: "\t") + "\n"
        }
        var agreement = provenance + "metric\tjudge\tmapping\tn\tspearman\tspearman_lo\tspearman_hi\tkendall\tkendall_lo\tkendall_hi\n"
        for c in correlations {
            agreement += [c.metric, c.column, c.mapping, "\(c.n)", format(c.spearman), format(c.spearmanInterval.lower), format(c.spearmanInterval.upper),
                          format(c.kendall), format(c.kendallInterval.lower), format(c.kendallInterval.upper)].joined(separator: "\t") + "\n"
        }
        var scatter = provenance + "system\t" + scores.metrics.joined(separator: "\t") + "\tjudge_MT\n"
        for system in table {
            guard let s = scores.systems.firstIndex(of: system.files.a) else { continue }
            scatter += system.label + "\t" + scores.metrics.indices.map { format(scores.mean(metric: $0, system: s)) }.joined(separator: "\t")
                + "\t\(system.judge["MT"]!)\n"
        }
        for (name, text) in [("system-scores", systems), ("judge-agreement", agreement), ("judge-scatter", scatter)] {
            try text.write(toFile: "\(folder)/\(name).tsv", atomically: true, encoding: .utf8)
        }
        try markdown(correlations).write(toFile: folder + "/judge-agreement.md", atomically: true, encoding: .utf8)
    }

    /// The README's table: ρ and τ-b against the MT-Bench and average judge columns, mappings A and B side by side.
    public static func markdown(_ correlations: [Correlation]) -> String {
        func cell(_ value: Double, _ interval: (lower: Double, upper: Double)) -> String {
            String(format: "%.2f [%.2f, %.2f]", value, interval.lower, interval.upper)
        }
        var text = "| metric | judge column | ρ, mapping A | ρ, mapping B | τ-b, mapping A | τ-b, mapping B |\n|---|---|---|---|---|---|\n"
        let metrics = correlations.map(\.metric).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for metric in metrics {
            for column in ["MT", "avg"] {
                let row = { (mapping: String) in correlations.first { $0.metric == metric && $0.column == column && $0.mapping == mapping } }
                guard let a = row("A"), let b = row("B") else { continue }
                text += "| \(metric) | \(column) | \(cell(a.spearman, a.spearmanInterval)) | \(cell(b.spearman, b.spearmanInterval)) | "
                    + "\(cell(a.kendall, a.kendallInterval)) | \(cell(b.kendall, b.kendallInterval)) |\n"
            }
        }
        return text
    }
}
