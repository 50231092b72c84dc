import ArgumentParser
import Experiments
import Figures
import Foundation
import RunRecords

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List the runs under a results folder: method, config hash, model, seed, steps, final metrics.")

    @Option(help: "Folder searched recursively for run files (*.h5).") var results = "Results"

    func run() throws {
        let files = findRunFiles(in: results)
        guard !files.isEmpty else {
            print("no run files under \(results)")
            return
        }
        var rows = [["run", "method", "config", "model", "seed", "steps", "final train", "final held-out"]]
        for path in files {
            let run = try RunSummary(path: path)
            let train = ["reward_mean", "loss"].first { run.train[$0] != nil }.map { "\($0) \(format(run.train[$0]!.last))" } ?? "-"
            let held = run.eval.keys.filter { $0 != "step" }.sorted().map { "\($0) \(format(run.eval[$0]!.last))" }
            rows.append([String(path.dropFirst(results.count + 1)), run.method, run.configHash, run.attributes["model"] ?? "?", run.seed,
                         String(run.steps), train, held.isEmpty ? "-" : held.joined(separator: ", ")])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        for row in rows {
            print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }

    func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "-" }
}

struct FiguresCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "figures",
        abstract: "Regenerate every figure from the run files: TSV data, an editable gnuplot script, PNG and PDF.",
        discussion: """
            Runs are grouped by experiment (the folders under Results/runs/), figures named EXPERIMENT_NAME; \
            within one, a curve per run folder name, seeds (folders ending -seedN) averaged. Figures: training \
            reward, KL, completion length, loss, preference accuracy and margin, held-out NLL, harmlessness and \
            stated confidence over steps (mean ± 1 std over seeds), final held-out metrics per run (bars with \
            error bars), one bar chart of speed ratios per Results/benchmarks/*.tsv, and the metric-vs-judge \
            scatter of Results/tables/judge-scatter.tsv. A figure whose data no run logs is skipped and named.
            """)

    @Option(help: "Folder searched recursively for run files (*.h5).") var results = "Results"
    @Option(help: "Folder of the benchmark tables (default: benchmarks/ in --results).") var benchmarks: String?
    @Option(help: "Output folder.") var out = "Paper/figures"

    func run() throws {
        let report = try renderFigures(results: results, benchmarks: benchmarks, out: out)
        for figure in report.rendered { print("\(figure.png)  \(figure.pdf)") }
        for (name, reason) in report.skipped { print("skipped \(name): \(reason)") }
    }
}

struct PaperTablesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paper-tables",
        abstract: "Write the paper's tables as LaTeX includes from Results/ alone (Paper/paper.tex \\input's them).",
        discussion: """
            From a preset's results (Results/quick or Results, the folders Scripts/reproduce writes): preset.tex \
            (\\preset, the preset's name), tasks.tex (Experiment 1: held-out exact match, BLEU, BERTScore and length \
            per method, mean ± 95 % t-interval over seeds), arena.tex (Experiment 2: five held-out metrics and length \
            per method), judge.tex (Experiment 3 against the MT-Bench judge column), extensions.tex (Experiments 4 \
            and 5: confidence and safety before and after), speed.tex (seconds per step against TRL, from \
            --benchmarks), and headline.md, the README's headline table. Each names the files it was made from; \
            a missing source is an error naming it.
            """)

    @Option(help: "A preset's results folder.") var results = "Results/quick"
    @Option(help: "Folder of the benchmark tables.") var benchmarks = "Results/benchmarks"
    @Option(help: "Output folder.") var out = "Paper/generated"

    func run() throws {
        let names = try PaperTables.write(results: results, benchmarks: benchmarks, folder: out)
        print(names.map { "\(out)/\($0)" + ($0 == "headline" ? ".md" : ".tex") }.joined(separator: "\n"))
    }
}
