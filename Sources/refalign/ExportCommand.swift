import ArgumentParser
import Experiments
import Foundation
import ModelFiles

extension ModelExport.Format: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
    enum TensorType: String, CaseIterable, ExpressibleByArgument {
        case f32, q8_0
        var ggml: GGMLType { self == .f32 ? .f32 : .q8_0 }
    }

    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a policy as a GGUF file (llama.cpp) or a transformers folder (AutoModelForCausalLM).",
        discussion: """
            --model is a run folder of `refalign train` (its newest checkpoint), smollm2, a GGUF path, or tiny \
            (the random model `refalign train --model tiny --seed 0` starts from). The tokenizer, chat template \
            and descriptive metadata come from the GGUF the policy started from. --format gguf writes one \
            file with F32 (or, with --type q8_0, Q8_0) matrices and F32 norms; --format hf writes a folder \
            with config.json, model.safetensors (F32, transformers' Q/K layout), tokenizer.json and \
            tokenizer_config.json (with the chat template). The output is written under a temporary name \
            and renamed into place; an existing --out is replaced only with --overwrite.
            """)

    @OptionGroup var options: RunOptions
    @Option(help: "Policy: a run folder, smollm2, a GGUF path, or tiny.") var model: String
    @Option(help: "gguf or hf.") var format: ModelExport.Format
    @Option(help: "GGUF matrix type: f32 or q8_0.") var type: TensorType = .f32
    @Option(help: "Output: a .gguf file, or the transformers folder.") var out: String
    @Flag(help: "Replace an existing --out.") var overwrite = false

    func validate() throws {
        if format == .hf && type != .f32 { throw ValidationError("--type q8_0 is for --format gguf (transformers folders are F32)") }
        if FileManager.default.fileExists(atPath: out) && !overwrite {
            throw ValidationError("\(out) exists: pass --overwrite to replace it")
        }
    }

    func run() throws {
        options.apply()
        let (policy, source) = try ModelExport.policy(model) { try resolveModelPath($0 == "tiny" ? "smollm2" : $0) }
        try ModelExport.write(policy, source: source, format: format, type: type.ggml, to: out, overwrite: overwrite)
        print("wrote \(out) (\(format.rawValue)\(format == .gguf ? ", " + type.rawValue : "")) from \(model)")
    }
}
