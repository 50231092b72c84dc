import ArgumentParser
import Experiments
import Foundation
import Rewards

struct JudgeAgreementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge-agreement",
        abstract: "Experiment 3: system-level agreement of reference metrics with BLEUBERI's published judge scores.",
        discussion: """
            Scores the turn-1 MT-Bench answers of every system in --data-root against GPT-4.1-mini's turn-1 \
            references with each --metrics reward (a system's score is its mean over the 80 questions), then \
            correlates the 15 systems of BLEUBERI's Table 1 (--table, published GPT-4.1-mini judge scores) with \
            each judge column: Spearman's rho and Kendall's tau-b, for both candidate file mappings A and B, with \
            percentile-bootstrap 95 % intervals over questions (stream "judge-agreement/..." of --seed). Writes \
            system-scores.tsv, judge-agreement.tsv, judge-scatter.tsv and judge-agreement.md (the README's table) into --out.
            """)

    @Option(help: "Folder of the shared benchmark data.") var dataRoot = "../shared/bleuberi_data"
    @Option(help: "The published judge scores and answer files (TSV).") var table = "Scripts/data/bleuberi-table1.tsv"
    @Option(help: "Comma-separated rewards: \(RewardRegistry.names.joined(separator: ", ")).") var metrics = "bleu,rouge-l,meteor"
    @Option(help: "BERT folder for bertscore/embedding: minilm or a path.") var bert = "minilm"
    @Option(help: "Bootstrap resamples.") var resamples = 1000
    @Option(help: "Seed of the bootstrap streams.") var seed: UInt64 = 0
    @Flag(help: "Score only the answer files the table names (19 of 49; for the costly BERT metrics).") var tableSystemsOnly = false
    @Option(help: "Output folder.") var out = "Results/tables"
    @OptionGroup var options: RunOptions

    func run() throws {
        options.apply()
        let judged = try JudgeAgreement.readTable(table)
        let names = metrics.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        var rewardOptions = RewardOptions()
        if try names.contains(where: { try RewardRegistry.entry($0).usesBERT }) { rewardOptions.bert = try resolveModelPath(bert) }
        let rewards = try names.map { ($0, try RewardRegistry.make($0, options: rewardOptions, references: [])) }
        let meter = PhaseMeter(label: "judge-agreement: scoring systems")
        let only = tableSystemsOnly ? Set(judged.flatMap { [$0.files.a, $0.files.b] }) : nil
        let scores = try JudgeAgreement.score(dataRoot: dataRoot, metrics: rewards, only: only) { done, total in meter.update(done, total) }
        meter.finish()
        let correlations = try JudgeAgreement.correlations(scores, table: judged, resamples: resamples, seed: seed)
        try JudgeAgreement.write(scores, correlations: correlations, table: judged, tablePath: table, dataRoot: dataRoot, folder: out)
        print(JudgeAgreement.markdown(correlations), terminator: "")
        print("\(scores.systems.count) systems × \(scores.questions.count) questions → \(out)/judge-agreement.{tsv,md}, system-scores.tsv, judge-scatter.tsv")
    }
}
