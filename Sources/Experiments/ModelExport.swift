// `refalign export` as a library job: a policy (a run folder's newest checkpoint, or a GGUF) written as a
// GGUF file llama.cpp loads or as a transformers folder AutoModelForCausalLM and AutoTokenizer load.
// The tokenizer, chat template and descriptive metadata come from the source GGUF (the file the run
// started from); the architecture's hyper-parameters from the model itself (the tiny model's differ
// from its tokenizer file's). Output appears whole or not at all: it is written under a temporary
// name and renamed. The same model and source always give the same bytes.
import Foundation
import ModelFiles
import Tokenizers
import Training
import Transformer

public enum ModelExport {
    public enum Format: String, CaseIterable, Sendable { case gguf, hf }

    /// Source keys not carried over: the llama.* hyper-parameters and the file type are the exported
    /// model's own, and the writer uses the default alignment.
    static func carriedOver(_ key: String) -> Bool {
        !key.hasPrefix("llama.") && key != "general.file_type" && key != "general.alignment"
    }

    /// The policy `model` names (a run folder of `refalign train`, a GGUF path, or a name `resolveGGUF`
    /// knows) and the GGUF its tokenizer comes from.
    public static func policy(_ model: String, resolveGGUF: (String) throws -> String) throws -> (Llama, GGUFFile) {
        // trainedPolicy resolves the run's source GGUF through this closure, which keeps the path.
        var source: String?
        let (policy, _, _) = try AlignmentJob.trainedPolicy(model) { name in
            let path = try resolveGGUF(name)
            source = path
            return path
        }
        return (policy, try GGUFFile(contentsOf: source!))
    }

    /// The GGUF file of `model`: F32 (`.f32`) or Q8_0 (`.q8_0`) matrices, F32 norms.
    public static func gguf(_ model: Llama, source: GGUFFile, type: GGMLType) throws -> Data {
        try checkVocabulary(model, source: source)
        var writer = GGUFWriter()
        for (key, _) in source.metadata where carriedOver(key) { try writer.copy(key, from: source) }
        model.ggufHyperParameters(into: &writer)
        guard let fileType: UInt32 = [GGMLType.f32: 0, .q8_0: 7][type] else {  // llama_ftype ALL_F32, MOSTLY_Q8_0
            throw ModelFileError(description: "export: \(type) is not an export type (F32 and Q8_0 are)")
        }
        writer.set("general.file_type", .u32(fileType))
        try model.ggufTensors(type: type, into: &writer)
        return writer.encoded()
    }

    /// The files of a transformers folder for `model`, by name.
    public static func huggingFace(_ model: Llama, source: GGUFFile) throws -> [(name: String, data: Data)] {
        try checkVocabulary(model, source: source)
        let tensors = model.huggingFaceTensors()
        let flat = tensors.flatMap(\.values)
        let weights = flat.withUnsafeBufferPointer { all in
            var offset = 0
            let views: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)] = tensors.map { t in
                defer { offset += t.values.count }
                return (t.name, t.shape, UnsafeBufferPointer(rebasing: all[offset..<offset + t.values.count]))
            }
            return Safetensors.encode(views, metadata: ["format": "pt"])
        }
        var tokenIDs: [String: Int] = [:]
        for (field, key) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = source["tokenizer.ggml.\(key)_token_id"]?.int { tokenIDs[field] = id }
        }
        let config = try JSONSerialization.data(
            withJSONObject: model.huggingFaceConfig(tokenIDs: tokenIDs), options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        let (tokenizer, tokenizerConfig) = try HuggingFaceTokenizerFiles.make(gguf: source, maxLength: model.config.contextLength)
        return [("config.json", config), ("model.safetensors", weights), ("tokenizer.json", tokenizer),
                ("tokenizer_config.json", tokenizerConfig)]
    }

    /// Writes the export of `model` to `path` (a file for GGUF, a folder for transformers). An existing
    /// `path` is replaced only with `overwrite`.
    public static func write(_ model: Llama, source: GGUFFile, format: Format, type: GGMLType, to path: String, overwrite: Bool) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) && !overwrite { throw TrainingError("\(path) exists (pass --overwrite to replace it)") }
        switch format {
        case .gguf:
            try writeAtomically(try gguf(model, source: source, type: type), to: path)
        case .hf:
            let temporary = path + ".tmp-\(getpid())"
            try? fm.removeItem(atPath: temporary)
            try fm.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            do {
                for (name, data) in try huggingFace(model, source: source) { try writeAtomically(data, to: temporary + "/" + name) }
                // rename cannot replace a non-empty folder: the old one steps aside until the new one is in place
                let previous = path + ".old-\(getpid())", replacing = fm.fileExists(atPath: path)
                if replacing, rename(path, previous) != 0 {
                    throw TrainingError("cannot move \(path) aside to replace it: \(String(cString: strerror(errno)))")
                }
                guard rename(temporary, path) == 0 else {
                    let reason = String(cString: strerror(errno))
                    if replacing { rename(previous, path) }
                    throw TrainingError("cannot rename \(temporary) to \(path): \(reason)")
                }
                if replacing { try? fm.removeItem(atPath: previous) }
            } catch {
                try? fm.removeItem(atPath: temporary)
                throw error
            }
        }
    }

    static func checkVocabulary(_ model: Llama, source: GGUFFile) throws {
        let tokens = source["tokenizer.ggml.tokens"]?.array?.count
        guard tokens == model.config.vocabSize else {
            throw ModelFileError(description: "\(source.path): tokenizer.ggml.tokens holds \(tokens.map(String.init) ?? "no") tokens, the model \(model.config.vocabSize)")
        }
    }
}
