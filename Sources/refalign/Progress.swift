import Foundation
import RunRecords

/// Renders training events on the terminal: a live line redrawn in place when stdout is a TTY,
/// otherwise a plain line every `every` steps (stdout is line-buffered, so CI logs stream).
final class TerminalProgress {
    let isTTY = isatty(STDOUT_FILENO) != 0
    let every: Int
    private var meter: ProgressMeter?
    private var liveLine = false

    init(every: Int) { self.every = max(1, every) }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    private func say(_ text: String) {
        if liveLine { print("") }
        liveLine = false
        print(text)
    }

    func handle(_ event: TrainingEvent) -> TrainingDecision {
        switch event {
        case .started(let first, let total):
            meter = ProgressMeter(firstStep: first, totalSteps: total, start: Self.now())
            say(first > 1 ? "resuming at step \(first) of \(total)" : "training \(total) steps")
        case .step(let step, let metrics):
            guard let meter else { break }
            let line = meter.line(step: step, metrics: metrics, now: Self.now())
            if isTTY {
                print("\r\u{1B}[2K" + line, terminator: "")
                fflush(nil)  // all streams: the live line has no newline to flush it
                liveLine = true
            } else if step % every == 0 || step == meter.totalSteps {
                print(line)
            }
        case .evaluation(let step, let metrics):
            say("eval @ \(step): " + metrics.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: " | "))
        case .samples(let step, let rows):
            for row in rows.prefix(1) {
                let text = (row.prompt + row.completion).replacingOccurrences(of: "\n", with: "⏎")
                say("sample @ \(step): \(text.prefix(120))")
            }
        case .phase(let p):  // live only: a log gets the step line when the step ends
            guard isTTY, p.total > 0 else { break }
            let percent = Int((100 * Double(p.done) / Double(p.total)).rounded(.down))
            print("\r\u{1B}[2K" + "step \(p.step): \(p.phase) \(percent)%", terminator: "")
            fflush(nil)
            liveLine = true
        case .rollouts:
            break
        case .checkpoint(let step, let path):
            say("checkpoint @ \(step): \(path)")
        case .finished(let step):
            say("finished at step \(step)")
        }
        return .proceed
    }
}

/// Progress of a long job that is not a training run (evaluation, generation) on standard error, so
/// that standard output stays data: percentage, tokens per second and ETA, live on a terminal, every
/// 10 % in a log.
final class PhaseMeter {
    let label: String
    let isTTY = isatty(STDERR_FILENO) != 0
    let start = TerminalProgress.now()
    private var lastDecile = -1

    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        guard total > 0 else { return }
        let elapsed = TerminalProgress.now() - start, fraction = Double(done) / Double(total)
        let decile = Int(fraction * 10)
        guard isTTY || decile > lastDecile else { return }
        lastDecile = decile
        var line = "\(label) \(Int(fraction * 100))% | \(Int((Double(done) / max(elapsed, 1e-9)).rounded())) tok/s | elapsed \(ProgressMeter.clock(elapsed))"
        if done > 0 && done < total { line += " | ETA \(ProgressMeter.clock(elapsed / fraction * (1 - fraction)))" }
        FileHandle.standardError.write(Data((isTTY ? "\r\u{1B}[2K" + line : line + "\n").utf8))
    }

    func finish() { if isTTY { FileHandle.standardError.write(Data("\n".utf8)) } }
}
