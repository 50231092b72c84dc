import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import Tensor

@main
struct RefAlignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refalign",
        abstract: "Reference-answer alignment of language models on CPU (RefAlign, BLEUBERI-style GRPO, baselines).",
        discussion: """
            Every subcommand takes --threads (default: all cores). Runs are bitwise reproducible at a \
            fixed thread count; results may differ in the last bits across thread counts.
            """,
        version: "0.1.0",
        subcommands: [
            InfoCommand.self, CheckOpsCommand.self, GenerateCommand.self, ExportCommand.self, TokenizeCommand.self, ScoreCommand.self, ServeRewardCommand.self,
            CharacterLMCommand.self, TrainCommand.self, EvaluateCommand.self, SelectHardCommand.self, PrepareDataCommand.self, CalibrationCommand.self,
            RunsCommand.self, FiguresCommand.self, PaperTablesCommand.self, JudgeAgreementCommand.self,
        ])

    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)  // stream lines into CI logs and pipes
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every subcommand shares.
struct RunOptions: ParsableArguments {
    @Option(help: "Threads for OpenBLAS and parallel loops (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func apply() { BLAS.threads = threads }
}

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Print the numeric environment: OpenBLAS build, kernel and threads.")

    @OptionGroup var options: RunOptions

    func run() throws {
        options.apply()
        print("OpenBLAS configuration: \(BLAS.configuration)")
        print("OpenBLAS core:          \(BLAS.coreName) (\(BLAS.coreSelection))")
        print("OpenBLAS threads:       \(BLAS.threads)")
        print("cores:                  \(ProcessInfo.processInfo.activeProcessorCount)")
    }
}

struct CheckOpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-ops",
        abstract: "Check every tensor op: Float forward against a Double reference, backward against finite differences.",
        discussion: """
            Forward error is the NMSE of the Float kernel against a plain Double implementation of the \
            same formula. Gradient error is ‖analytic − numeric‖/max(‖analytic‖, ‖numeric‖), with the \
            backward in Double and 4-point central differences of the Double forward. Exits non-zero \
            if any op is outside its tolerance.
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "Seed for the random inputs.") var seed: UInt64 = 1

    func run() throws {
        options.apply()
        let results = OpHarness.checks.map { OpHarness.run($0, seed: seed) }
        let width = results.map(\.name.count).max() ?? 0
        print("op".padding(toLength: width, withPad: " ", startingAt: 0)
              + "  forward NMSE (tol)      gradient error (tol)    elements  result")
        for r in results {
            let line = r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  " + String(format: "%9.2e (%7.1e)", r.forwardError, r.forwardTolerance)
                + "   " + String(format: "%9.2e (%7.1e)", r.gradientError, r.gradientTolerance)
                + String(format: "   %8d  ", r.checkedElements) + (r.passed ? "ok" : "FAILED")
            print(line)
        }
        let failed = results.filter { !$0.passed }.count
        print("\(results.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode.failure }
    }
}
