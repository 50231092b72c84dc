// Figures regenerated from run files alone. For each figure this writes its data as TSV and a gnuplot
// script beside it (a person can edit the script and re-run `gnuplot NAME.gp`), then renders PNG
// (pngcairo) and PDF (pdfcairo). Runs are grouped by experiment, the folders between `results` (and its
// `runs/`) and the run's own folder (Results/runs/mt-bench-8/grpo/run.h5 is experiment "mt-bench-8"): each
// experiment gets its own figures, named EXPERIMENT_FIGURE. Within one, runs are grouped by their folder's
// name without a "-seedN" suffix (runs/sweep/c0-e0.01-seed2 is "c0-e0.01"); a curve is the mean over the
// group's runs (seeds) at each step with a ±1 standard deviation band.
import Foundation
import RunRecords

public struct FigureError: Error, CustomStringConvertible {
    public let description: String
}

public struct RenderedFigure: Sendable {
    public let name: String
    public let png: String
    public let pdf: String
}

public struct FigureReport: Sendable {
    public var rendered: [RenderedFigure] = []
    /// Figures not drawn, with the reason (no run logs that metric, …).
    public var skipped: [(name: String, reason: String)] = []
}

/// Line figures over steps: (file name, group and dataset, y label, title).
let stepFigures: [(name: String, group: String, metric: String, label: String, title: String)] = [
    ("train_reward", "train", "reward_mean", "mean reward of the step's samples", "Training reward"),
    ("train_kl", "train", "kl", "KL to the initial policy (k3, per token)", "KL to the initial policy"),
    ("completion_length", "train", "length_mean", "completion length (tokens)", "Completion length"),
    ("train_loss", "train", "loss", "training loss", "Training loss"),
    ("reward_accuracy", "train", "reward_accuracy", "share of pairs with implicit reward margin > 0", "Preference reward accuracy"),
    ("reward_margin", "train", "reward_margin", "implicit reward margin (chosen − rejected)", "Preference reward margin"),
    ("heldout_nll", "eval", "nll", "held-out NLL per answer token (nats)", "Held-out NLL"),
    ("harmlessness", "train", "reward_harmlessness", "sim(y, safe) − max sim(y, unsafe)", "Harmlessness of the samples"),
    ("confidence", "train", "reward_confidence", "stated confidence of the samples", "Stated confidence"),
    ("sampler_kl", "train", "sampler_kl", "KL(sampler ‖ trainer) per token (k3)", "Sampler–trainer mismatch"),
]

/// Run files under `results` (recursively, outside checkpoint folders), in path order.
public func findRunFiles(in results: String) -> [String] {
    guard let walker = FileManager.default.enumerator(atPath: results) else { return [] }
    return walker.compactMap { $0 as? String }
        .filter { $0.hasSuffix(".h5") && !$0.split(separator: "/").contains { $0 == "checkpoints" || $0.hasPrefix(".") } }
        .map { results + "/" + $0 }
        .sorted()
}

/// Every figure of the runs under `results` and of the benchmark tables in `benchmarks` (default results/benchmarks).
public func renderFigures(results: String, benchmarks: String? = nil, out: String, gnuplot: String = "gnuplot") throws -> FigureReport {
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let files = findRunFiles(in: results)
    var experiments: [String: [(label: String, run: RunSummary)]] = [:]
    for file in files {
        var folders = file.dropFirst(results.count + 1).split(separator: "/").map(String.init).dropLast()  // minus run.h5
        let runFolder = folders.popLast() ?? ""
        if folders.first == "runs" { folders.removeFirst() }
        let label = runFolder.replacingOccurrences(of: #"-seed[0-9]+$"#, with: "", options: .regularExpression)
        experiments[folders.joined(separator: "-"), default: []].append((label, try RunSummary(path: file)))
    }
    var report = FigureReport()
    for (experiment, runs) in experiments.sorted(by: { $0.key < $1.key }) {
        let (prefix, title) = (experiment.isEmpty ? "" : experiment + "_", experiment.isEmpty ? "" : experiment + ": ")
        try renderExperiment(prefix, title: title, runs: runs, out: out, gnuplot: gnuplot, report: &report)
        try renderReliability(prefix, title: title, runs: runs, out: out, gnuplot: gnuplot, report: &report)
    }
    try renderBenchmarks(benchmarks ?? results + "/benchmarks", out: out, gnuplot: gnuplot, report: &report)
    try renderJudgeScatter(results: results, out: out, gnuplot: gnuplot, report: &report)
    return report
}

/// The reliability diagram of every `refalign evaluate --confidence` run of an experiment: stated confidence
/// in 10 equal bins against the share of correct answers in each bin (the diagonal is perfect calibration).
func renderReliability(_ prefix: String, title: String, runs: [(label: String, run: RunSummary)], out: String, gnuplot: String,
                       report: inout FigureReport) throws {
    var tsv = "", plots = ["  x with lines dt 2 lc rgb \"gray\" title \"perfect calibration\""], sources: [String] = []
    for (label, run) in runs.sorted(by: { $0.label < $1.label }) {
        let file = try HDF5File.open(run.path)
        guard file.exists("eval_samples/stated_confidence") else { continue }
        sources.append(run.path)
        let correctness = ((try? JSONSerialization.jsonObject(with: Data((run.attributes["config"] ?? "{}").utf8))) as? [String: Any])?["correctness"]
            as? String ?? "exact-match"
        let confidence = try file.readDoubles("eval_samples/stated_confidence"), correct = try file.readDoubles("eval_samples/\(correctness)")
        var bins = [(confidence: Double, correct: Double, count: Int)](repeating: (0, 0, 0), count: 10)
        for (c, y) in zip(confidence, correct) {
            let b = min(max(Int(c * 10), 0), 9)
            bins[b] = (bins[b].confidence + c, bins[b].correct + y, bins[b].count + 1)
        }
        tsv += "# \(label)\n# mean stated confidence\taccuracy\tanswers\n"
            + bins.filter { $0.count > 0 }.map { "\($0.confidence / Double($0.count))\t\($0.correct / Double($0.count))\t\($0.count)" }
                .joined(separator: "\n") + "\n\n\n"
        plots.append("  data index \(plots.count - 1) using 1:2 with linespoints lw 2 pt 7 lc \(plots.count) title \"\(label)\"")
    }
    guard plots.count > 1 else { return }
    let name = prefix + "reliability"
    let script = """
        # \(name): reliability diagram of each evaluation with stated confidence (10 equal-width bins of the
        # stated confidence; a point is the bin's mean confidence against its share of correct answers).
        data = "\(name).tsv"
        set datafile separator "\\t"
        set title "\(title)Reliability of the stated confidence"
        set xlabel "stated confidence (bin mean)"
        set ylabel "share of correct answers"
        set xrange [0:1]
        set yrange [0:1]
        set grid
        set key outside right
        plot \\
        \(plots.joined(separator: ", \\\n"))
        """
    report.rendered.append(try render(name, tsv: provenance(sources) + tsv, plot: script, out: out, gnuplot: gnuplot))
}

/// The TSV's first lines: the run files a figure was drawn from (gnuplot skips # lines).
func provenance(_ paths: [String]) -> String { paths.map { "# from \($0)\n" }.joined() }

/// Experiment 3's scatter, one figure per metric: each Table-1 system's metric score against its published
/// MT-Bench judge score, labelled (Results/tables/judge-scatter.tsv of `refalign judge-agreement`).
func renderJudgeScatter(results: String, out: String, gnuplot: String, report: inout FigureReport) throws {
    let path = results + "/tables/judge-scatter.tsv"
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        report.skipped.append(("judge_scatter", "no \(path)"))
        return
    }
    let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
    guard let header = lines.first?.split(separator: "\t").map(String.init), header.count >= 3, header.last == "judge_MT" else {
        throw FigureError(description: "\(path): header must be system, metrics…, judge_MT")
    }
    let judge = header.count
    for (i, metric) in header.enumerated().dropFirst().dropLast() {
        let name = "judge_scatter_" + metric.replacingOccurrences(of: "-", with: "_")
        let script = """
            # \(name): \(metric) (mean over 80 MT-Bench questions, GPT-4.1-mini references) against the published
            # GPT-4.1-mini judge score of the 15 systems of BLEUBERI's Table 1 (mapping A).
            data = "\(name).tsv"
            set datafile separator "\\t"
            set title "Metric against judge: \(metric) vs MT-Bench judge score (15 systems)"
            set xlabel "\(metric), system mean"
            set ylabel "MT-Bench judge score (BLEUBERI Table 1)"
            set grid
            set key off
            set offsets graph 0.05, graph 0.2, graph 0.05, graph 0.05
            plot data using \(i + 1):\(judge) with points pt 7 ps 1.2 lc 1, \\
              data using \(i + 1):\(judge):1 with labels left offset 0.6,0 font ",8"
            """
        report.rendered.append(try render(name, tsv: lines.dropFirst().joined(separator: "\n") + "\n", plot: script, out: out, gnuplot: gnuplot))
    }
}

func renderExperiment(_ prefix: String, title: String, runs: [(label: String, run: RunSummary)], out: String, gnuplot: String,
                      report: inout FigureReport) throws {
    let labels = Array(Set(runs.map(\.label))).sorted()
    for figure in stepFigures {
        let groups = labels.compactMap { label -> (String, [(Double, Double, Double)])? in
            let series = runs.filter { $0.label == label }.compactMap { entry -> [(Double, Double)]? in
                let table = figure.group == "train" ? entry.run.train : entry.run.eval
                return table[figure.metric].map { zip(table["step"] ?? [], $0).map { $0 } }
            }
            let finite = series.filter { $0.contains { $0.1.isFinite } }
            return finite.isEmpty ? nil : (label, meanAndSpread(finite))
        }
        guard !groups.isEmpty else {
            report.skipped.append((prefix + figure.name, "no run logs /\(figure.group)/\(figure.metric)"))
            continue
        }
        let sources = runs.filter { ($0.run.train[figure.metric] ?? $0.run.eval[figure.metric]) != nil }.map(\.run.path)
        var tsv = provenance(sources)
        for (label, rows) in groups {
            tsv += "# \(label)\n# step\tmean\tstd\n" + rows.map { "\($0.0)\t\($0.1)\t\($0.2)" }.joined(separator: "\n") + "\n\n\n"
        }
        var plots: [String] = []
        for (i, (label, _)) in groups.enumerated() {
            plots.append("  data index \(i) using 1:($3 == $3 ? $2-$3 : $2):($3 == $3 ? $2+$3 : $2) with filledcurves fs transparent solid 0.2 noborder lc \(i + 1) notitle")
            plots.append("  data index \(i) using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc \(i + 1) title \"\(label)\"")
        }
        let name = prefix + figure.name
        let script = """
            # \(name): /\(figure.group)/\(figure.metric) per method, mean ± 1 std over runs (seeds).
            data = "\(name).tsv"
            set datafile separator "\\t"
            set title "\(title)\(figure.title), mean ± 1 std over seeds"
            set xlabel "step"
            set ylabel "\(figure.label)"
            set grid
            set key outside right
            plot \\
            \(plots.joined(separator: ", \\\n"))
            """
        report.rendered.append(try render(name, tsv: tsv, plot: script, out: out, gnuplot: gnuplot))
    }
    // Held-out metrics: the last /eval row of each run, bars of the mean over runs with ±1 std.
    // Lengths (tokens) are on another scale than the metrics: they are in the tables and the length curves;
    // a metric's bootstrap bounds (_lo, _hi) are in the tables too.
    let evalMetrics = Array(Set(runs.flatMap { $0.run.eval.filter { key, values in
        !["step", "length_mean"].contains(key) && !key.hasSuffix("_lo") && !key.hasSuffix("_hi") && !values.isEmpty
    }.map(\.key) })).sorted()
    if evalMetrics.isEmpty {
        report.skipped.append((prefix + "heldout", "no run logs /eval metrics"))
    } else {
        // Only methods whose runs logged held-out metrics get bars (an all-NaN column is no plot to gnuplot).
        func logsHeldOut(_ run: RunSummary) -> Bool {
            evalMetrics.contains { metric in run.eval[metric]?.last.map { !$0.isNaN } ?? false }
        }
        let methods = labels.filter { label in runs.contains { $0.label == label && logsHeldOut($0.run) } }
        var tsv = provenance(runs.filter { methods.contains($0.label) }.map(\.run.path)) + "# metric\t" + methods.map { "\($0)\t\($0) std" }.joined(separator: "\t") + "\n"
        for metric in evalMetrics {
            tsv += metric + "\t" + methods.map { method in
                let finals = runs.filter { $0.label == method }.compactMap { $0.run.eval[metric]?.last }.filter { !$0.isNaN }
                let (mean, std) = meanStd(finals)
                return "\(mean)\t\(std)"
            }.joined(separator: "\t") + "\n"
        }
        let bars = methods.enumerated().map { i, m in
            "  data using \(2 * i + 2):(valid(\(2 * i + 3)) && $\(2 * i + 3) == $\(2 * i + 3) ? $\(2 * i + 3) : 0):xtic(1) title \"\(m)\" lc \(i + 1)"
        }
        let script = """
            # \(prefix)heldout: final /eval value of each metric per method, mean ± 1 std over runs (seeds);
            # a method with one run has std NaN in the data and is drawn without an error bar.
            data = "\(prefix)heldout.tsv"
            set title "\(title)Held-out metrics, final evaluation"
            set datafile separator "\\t"
            set style data histogram
            set style histogram errorbars gap 2 lw 1
            set style fill solid 0.6 border -1
            set key outside right
            set grid ytics
            set ylabel "final held-out value"
            set xzeroaxis
                        plot \\
            \(bars.joined(separator: ", \\\n"))
            """
        report.rendered.append(try render(prefix + "heldout", tsv: tsv, plot: script, out: out, gnuplot: gnuplot))
    }
}

func renderBenchmarks(_ benchmarkDir: String, out: String, gnuplot: String, report: inout FigureReport) throws {
    // Benchmark ratios: one figure per Results/benchmarks/NAME.tsv (last column is ours/reference).
    let tables = ((try? FileManager.default.contentsOfDirectory(atPath: benchmarkDir)) ?? []).filter { $0.hasSuffix(".tsv") }.sorted()
    if tables.isEmpty { report.skipped.append(("benchmarks", "no Results/benchmarks/*.tsv")) }
    for table in tables {
        let name = "benchmark_" + table.dropLast(4)
        let lines = try String(contentsOfFile: benchmarkDir + "/" + table, encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }
        // "ratio" is ours over the reference's; "REFERENCE/refalign" (times, lower is better) the reference's over ours:
        // either way > 1 means we are faster.
        guard let header = lines.first?.split(separator: "\t"),
              let ratio = header.firstIndex(where: { $0 == "ratio" || $0.hasSuffix("/refalign") }),
              let keyColumns = header.firstIndex(where: { $0.hasPrefix("refalign") }) else { continue }
        var tsv = "# case\tratio\n"
        for line in lines.dropFirst() {
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard cells.count == header.count else { continue }
            let label = cells.prefix(keyColumns).joined(separator: " ")
            tsv += "\(label)\t\(cells[ratio])\n"
        }
        let script = """
            # \(name): our figure over the Python reference's (the `ratio` column), per case (> 1: we are faster).
            data = "\(name).tsv"
            set datafile separator "\\t"
            set style data histogram
            set style fill solid 0.6 border -1
            set boxwidth 0.8
            set xtics rotate by -40
            set bmargin 7
            set rmargin 6
            set xlabel "\(header.prefix(keyColumns).joined(separator: " "))"
            set grid ytics
            set title "\(table.dropLast(4)): RefAlign against the reference, one run (> 1: RefAlign faster or smaller)"
            set ylabel "\(header[ratio] == "ratio" ? "ratio (RefAlign / reference)" : "ratio (\(header[ratio]))")"
            set yrange [0:*]
            set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2
            plot data using 2:xtic(1) notitle lc 1
            """
        report.rendered.append(try render(name, tsv: tsv, plot: script, out: out, gnuplot: gnuplot))
    }
}

/// Writes NAME.tsv and NAME.gp into `out`, then runs gnuplot there for NAME.png and NAME.pdf.
func render(_ name: String, tsv: String, plot: String, out: String, gnuplot: String) throws -> RenderedFigure {
    try tsv.write(toFile: "\(out)/\(name).tsv", atomically: true, encoding: .utf8)
    let script = """
        # Regenerated by `refalign figures`; edit and run `gnuplot \(name).gp` in this folder.
        set terminal pngcairo size 900,560 noenhanced font "DejaVu Sans,11"
        set output "\(name).png"
        \(plot)
        set terminal pdfcairo size 6.4in,4in noenhanced font "DejaVu Sans,10"
        set output "\(name).pdf"
        replot
        unset output

        """
    try script.write(toFile: "\(out)/\(name).gp", atomically: true, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [gnuplot, "\(name).gp"]
    process.currentDirectoryURL = URL(fileURLWithPath: out)
    let errors = Pipe()
    process.standardError = errors
    do { try process.run() } catch { throw FigureError(description: "cannot run \(gnuplot): \(error) (Scripts/bootstrap installs gnuplot-nox)") }
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw FigureError(description: "gnuplot failed on \(out)/\(name).gp (status \(process.terminationStatus)): \(message)")
    }
    return RenderedFigure(name: name, png: "\(out)/\(name).png", pdf: "\(out)/\(name).pdf")
}

/// Per step index: (step, mean, std) over the series that reach it. NaN values are left out.
func meanAndSpread(_ series: [[(Double, Double)]]) -> [(Double, Double, Double)] {
    let length = series.map(\.count).max() ?? 0
    return (0..<length).compactMap { i in
        let values = series.compactMap { i < $0.count ? $0[i].1 : nil }.filter { !$0.isNaN }
        guard let step = series.first(where: { i < $0.count })?[i].0, !values.isEmpty else { return nil }
        let (mean, std) = meanStd(values)
        return (step, mean, std)
    }
}

/// Mean and sample standard deviation (NaN std for fewer than two values: gnuplot then draws no band).
func meanStd(_ values: [Double]) -> (Double, Double) {
    guard !values.isEmpty else { return (.nan, .nan) }
    let mean = values.reduce(0, +) / Double(values.count)
    guard values.count > 1 else { return (mean, .nan) }
    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
    return (mean, variance.squareRoot())
}
