import Foundation
import Testing
import ModelFiles
import TestSupport
import Transformer

@Suite("refalign export: run folders, refusing to overwrite")
struct ExportCLITests {
    /// A one-step SFT run of the tiny model, exported: the GGUF holds the checkpoint's weights (Q/K
    /// permuted to GGUF's layout and back bit for bit), the folder transformers' files; an existing
    /// output is kept unless --overwrite, and nothing temporary is left behind.
    @Test(.timeLimit(.minutes(3))) func exportsTheNewestCheckpointOfARun() throws {
        let binary = try refalignExecutable(), dir = temporaryDirectory()
        let data = dir + "/data.jsonl"
        try Data("{\"prompt\": \"Say hi.\", \"reference\": \"Hi there.\"}\n{\"prompt\": \"Name a colour.\", \"reference\": \"Blue.\"}\n".utf8)
            .write(to: URL(fileURLWithPath: data))
        let run = dir + "/run"
        let train = try runCommand([binary, "train", "--method", "sft", "--model", "tiny", "--data", data, "--steps", "1", "--prompts-per-step", "2",
                                    "--micro-batch", "2", "--learning-rate", "1e-3", "--checkpoint-every", "1", "--threads", "1", "--out", run],
                                   in: projectRoot)
        try #require(train.status == 0, "\(train.output)")

        let gguf = dir + "/policy.gguf"
        let export = try runCommand([binary, "export", "--model", run, "--format", "gguf", "--out", gguf, "--threads", "1"], in: projectRoot)
        try #require(export.status == 0, "\(export.output)")
        let checkpoint = try Safetensors(contentsOf: run + "/checkpoints/step-00000001/weights.safetensors")
        let loaded = try Llama.load(gguf: GGUFFile(contentsOf: gguf))
        for (entry, exported) in zip(loaded.parameters.entries, loaded.huggingFaceTensors()) {
            #expect(try checkpoint.floats(entry.name).map(\.bitPattern) == exported.values.map(\.bitPattern), "\(entry.name)")
        }
        let file = try GGUFFile(contentsOf: gguf)
        #expect(file["general.file_type"] == .uint(0) && file["llama.block_count"] == .uint(2) && file["llama.embedding_length"] == .uint(64))
        #expect(file["tokenizer.chat_template"] != nil && file["tokenizer.ggml.pre"]?.string == "smollm")

        let refused = try runCommand([binary, "export", "--model", run, "--format", "gguf", "--type", "q8_0", "--out", gguf], in: projectRoot)
        #expect(refused.status != 0 && refused.output.contains("exists: pass --overwrite to replace it"), "\(refused.output)")
        #expect(try GGUFFile(contentsOf: gguf)["general.file_type"] == .uint(0))
        let replaced = try runCommand([binary, "export", "--model", run, "--format", "gguf", "--type", "q8_0", "--out", gguf, "--overwrite"],
                                      in: projectRoot)
        #expect(replaced.status == 0, "\(replaced.output)")
        #expect(try GGUFFile(contentsOf: gguf)["general.file_type"] == .uint(7))

        let folder = dir + "/hf"
        let hf = try runCommand([binary, "export", "--model", run, "--format", "hf", "--out", folder], in: projectRoot)
        try #require(hf.status == 0, "\(hf.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
                == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
        let weights = try Safetensors(contentsOf: folder + "/model.safetensors")
        #expect(weights.entries.count == 2 + 2 * 9 && weights.metadata == ["format": "pt"])
        #expect(try weights.floats("model.layers.1.self_attn.q_proj.weight") == checkpoint.floats("blk.1.attn_q.weight"))
        let again = try runCommand([binary, "export", "--model", run, "--format", "hf", "--out", folder], in: projectRoot)
        #expect(again.status != 0 && again.output.contains("exists"))
        let overwritten = try runCommand([binary, "export", "--model", run, "--format", "hf", "--out", folder, "--overwrite"], in: projectRoot)
        #expect(overwritten.status == 0, "\(overwritten.output)")
        #expect(try Safetensors(contentsOf: folder + "/model.safetensors").entries.count == 2 + 2 * 9)
        let wrongType = try runCommand([binary, "export", "--model", run, "--format", "hf", "--type", "q8_0", "--out", dir + "/x"], in: projectRoot)
        #expect(wrongType.status != 0 && wrongType.output.contains("--type q8_0 is for --format gguf"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["data.jsonl", "hf", "policy.gguf", "run"])
    }
}
