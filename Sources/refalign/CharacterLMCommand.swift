import ArgumentParser
import Experiments
import Foundation
import RunRecords
import Tensor
import Training

struct CharacterLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "char-lm",
        abstract: "Train a character-level MLP language model on the MT-Bench reference answers.",
        discussion: """
            The smallest real training job: byte-level context → embedding → GELU layer → next-byte \
            logits, AdamW on a cosine schedule. It writes a run file (run.h5, schema in \
            Results/README.md) and checkpoints into --out; kill it at any point and run it again with \
            --resume to continue with every metric row kept once. At a fixed --threads a resumed run ends \
            bitwise equal to an uninterrupted one. A folder that already holds a run is never replaced \
            without --overwrite.
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "Run folder (run.h5 and checkpoints/).") var out = "Results/runs/char-lm"
    @Option(help: "Seed for initialisation, data order and sampling.") var seed: UInt64 = 0
    @Option(help: "Optimizer steps.") var steps = 2000
    @Option(help: "Examples (next-byte predictions) per step.") var batchSize = 256
    @Option(help: "Peak learning rate.") var learningRate = 3e-3
    @Option(help: "Warm-up steps of the cosine schedule.") var warmupSteps = 20
    @Option(help: "Hidden units.") var hidden = 512
    @Option(help: "Context bytes.") var context = 8
    @Option(help: "JSONL answers file (MT-Bench format: choices[0].turns).")
    var data = "../shared/bleuberi_data/mt_bench/reference_answer/gpt-4.1-mini.jsonl"
    @Option(help: "Steps between checkpoints.") var checkpointEvery = 250
    @Option(help: "Steps between held-out evaluations and samples.") var evaluateEvery = 100
    @Option(help: "Steps between progress lines when stdout is not a terminal.") var logEvery = 50
    @OptionGroup var start: StartOptions

    func run() throws {
        options.apply()
        var model = CharacterLMConfig()
        model.hidden = hidden
        model.context = context
        model.data = data
        let loop = TrainerConfig(
            steps: steps, batchSize: batchSize, learningRate: learningRate,
            schedule: .cosine(warmupSteps: warmupSteps, totalSteps: steps), adamW: AdamWConfig(weightDecay: 0.01),
            maxGradNorm: 1, checkpointEvery: checkpointEvery, evaluateEvery: evaluateEvery, sampleEvery: evaluateEvery,
            seed: seed)
        let configJSON = try resolvedConfigJSON(["model": model, "loop": loop], threads: options.threads)
        let task = try CharacterLM(config: model, seed: seed)
        let metadata = RunMetadata.current(method: "char-lm", model: "char-mlp-\(hidden)", seed: seed, configJSON: configJSON)
        let trainer = Trainer(task: task, config: loop, directory: out, configJSON: configJSON, metadata: metadata)
        let progress = TerminalProgress(every: logEvery)
        try trainer.run(start.mode, progress: progress.handle)
    }
}

/// The fully resolved configuration as canonical JSON (sorted keys), stored with the run.
func resolvedConfigJSON(_ parts: [String: any Encodable], threads: Int) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var object: [String: Any] = ["threads": threads]
    for (key, value) in parts {
        object[key] = try JSONSerialization.jsonObject(with: encoder.encode(value))
    }
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}
