// Hostile model files and model inputs: each must be a clear error naming the file (or the input) and
// the problem, never a trap. Also replays every crasher the fuzzers found (Tests/Fuzz/crashers).
import Foundation
import Testing
import TestSupport
@testable import ModelFiles
@testable import Tensor
@testable import Tokenizers
@testable import Transformer

/// GGUF bytes written field by field, for headers makeGGUF cannot express.
struct GGUFBytes {
    var data = Data()
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func string(_ bytes: [UInt8]) { u64(UInt64(bytes.count)); data.append(contentsOf: bytes) }
    mutating func string(_ s: String) { string(Array(s.utf8)) }
    /// Magic, version 3 and the two counts.
    init(tensors: UInt64, keys: UInt64) {
        u32(0x4655_4747); u32(3); u64(tensors); u64(keys)
    }
    /// One tensor info.
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32 = 0, offset: UInt64 = 0) {
        string(name); u32(UInt32(dims.count)); dims.forEach { u64($0) }; u32(type); u64(offset)
    }
}

func expectGGUFError(_ data: Data, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let path = try temporaryFile("hostile.gguf", data)
    #expect(sourceLocation: sourceLocation) { try GGUFFile(contentsOf: path) } throws: { error in
        "\(error)".hasPrefix(path + ": ") && "\(error)".contains(message)
    }
}

@Suite("Hostile GGUF and safetensors files")
struct HostileModelFileTests {
    @Test func ggufCountsSizesAndOffsetsFromTheFileAreChecked() throws {
        var huge = GGUFBytes(tensors: 1, keys: 0)
        huge.tensor("w", dims: [1 << 63])
        try expectGGUFError(huge.data, "tensor w has dimension 9223372036854775808")
        var product = GGUFBytes(tensors: 1, keys: 0)
        product.tensor("w", dims: [1 << 40, 1 << 40])
        try expectGGUFError(product.data, "element count overflows")
        var bytes = GGUFBytes(tensors: 1, keys: 0)
        bytes.tensor("w", dims: [1 << 62])  // F32: 2^64 bytes
        try expectGGUFError(bytes.data, "byte count overflows")
        var offset = GGUFBytes(tensors: 1, keys: 0)
        offset.tensor("w", dims: [4], offset: UInt64.max - 8)
        try expectGGUFError(offset.data, "truncated: tensor w")
        var outside = GGUFBytes(tensors: 1, keys: 0)
        outside.tensor("w", dims: [4], offset: 64)
        try expectGGUFError(outside.data + Data(count: 64), "truncated: tensor w (16 bytes at data offset 64)")
        var dimensions = GGUFBytes(tensors: 1, keys: 0)
        dimensions.tensor("w", dims: [1, 1, 1, 1, 1])
        try expectGGUFError(dimensions.data, "tensor w has 5 dimensions")
        try expectGGUFError(GGUFBytes(tensors: 1 << 40, keys: 0).data, "implausible header counts")
        try expectGGUFError(GGUFBytes(tensors: 0, keys: UInt64.max).data, "implausible header counts")
    }

    @Test func ggufAlignmentMustBeAPowerOfTwo() throws {
        for (value, shown) in [(UInt32(0), "0"), (3, "3"), (1 << 31, "2147483648")] {
            var file = GGUFBytes(tensors: 0, keys: 1)
            file.string("general.alignment"); file.u32(4); file.u32(value)
            try expectGGUFError(file.data, "general.alignment is uint(\(shown)), not a power of two")
        }
        var text = GGUFBytes(tensors: 0, keys: 1)
        text.string("general.alignment"); text.u32(8); text.string("32")
        try expectGGUFError(text.data, "general.alignment is string(\"32\")")
    }

    @Test func ggufStringsArraysAndNamesAreChecked() throws {
        var long = GGUFBytes(tensors: 0, keys: 1)
        long.u64(1 << 40)
        try expectGGUFError(long.data, "truncated: string of 1099511627776 bytes at offset 24")
        var utf8 = GGUFBytes(tensors: 0, keys: 1)
        utf8.string([0x61, 0xFF, 0x62]); utf8.u32(4); utf8.u32(1)
        try expectGGUFError(utf8.data, "invalid UTF-8 in the string at offset 24")
        var array = GGUFBytes(tensors: 0, keys: 1)
        array.string("a"); array.u32(9); array.u32(4); array.u64(1 << 27)  // 2^27 u32s claimed, none present
        try expectGGUFError(array.data, "truncated: array of 134217728 elements of type 4")
        var nested = GGUFBytes(tensors: 0, keys: 1)
        nested.string("a"); nested.u32(9)
        for _ in 0..<100 { nested.u32(9); nested.u64(1) }  // arrays of arrays, 100 deep
        nested.data.append(Data(count: 64))
        try expectGGUFError(nested.data, "arrays nested more than 8 deep")
        var elementType = GGUFBytes(tensors: 0, keys: 1)
        elementType.string("a"); elementType.u32(9); elementType.u32(77); elementType.u64(0)
        try expectGGUFError(elementType.data, "unknown metadata value type 77 of the array")
        var valueType = GGUFBytes(tensors: 0, keys: 1)
        valueType.string("a"); valueType.u32(13)
        try expectGGUFError(valueType.data, "unknown metadata value type 13")
        var keys = GGUFBytes(tensors: 0, keys: 2)
        for _ in 0..<2 { keys.string("k"); keys.u32(4); keys.u32(1) }
        try expectGGUFError(keys.data, "duplicate metadata key k")
        var tensors = GGUFBytes(tensors: 2, keys: 0)
        tensors.tensor("w", dims: [1]); tensors.tensor("w", dims: [1])
        try expectGGUFError(tensors.data + Data(count: 64), "duplicate tensor name w")
    }

    @Test func anEmptyTensorDequantisesToNoValues() throws {
        var file = GGUFBytes(tensors: 1, keys: 0)
        file.tensor("w", dims: [0])
        let gguf = try GGUFFile(contentsOf: temporaryFile("empty.gguf", file.data + Data(count: 16)))  // padding to the data section
        #expect(try gguf.dequantize("w") == [])
    }

    /// A safetensors file from a header string (length prefixed as given) and payload.
    func safetensors(_ header: String, length: UInt64? = nil, _ payload: [UInt8] = []) -> Data {
        var d = Data()
        withUnsafeBytes(of: (length ?? UInt64(header.utf8.count)).littleEndian) { d.append(contentsOf: $0) }
        return d + Data(header.utf8) + Data(payload)
    }

    @Test func safetensorsHeadersAreChecked() throws {
        let f32 = [UInt8](repeating: 0, count: 8)
        let cases: [(String, Data, String)] = [
            ("huge length", safetensors("{}", length: UInt64.max), "header length 18446744073709551615 does not fit"),
            ("signed length", safetensors("{}", length: 1 << 63), "header length 9223372036854775808 does not fit"),
            ("past the end", safetensors("{}", length: 3), "header length 3 does not fit a file of 10 bytes"),
            ("syntax", safetensors(#"{"x": [1,]}"#), "header JSON: unexpected character, expected a value at header byte 9"),
            ("utf-8", safetensors("", length: 7) + Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]), "header is not valid UTF-8"),
            ("duplicate", safetensors(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32),
             "duplicate key \"x\""),
            ("metadata", safetensors(#"{"__metadata__":{"format":1}}"#), "__metadata__ value of \"format\" is not a string"),
            ("metadata list", safetensors(#"{"__metadata__":["pt"]}"#), "__metadata__ is not a JSON object"),
            ("negative shape", safetensors(#"{"x":{"dtype":"F32","shape":[-1,-2],"data_offsets":[0,8]}}"#, f32), "not a list of non-negative integers"),
            ("boolean shape", safetensors(#"{"x":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, f32), "not a list of non-negative integers"),
            ("fraction shape", safetensors(#"{"x":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}"#, f32), "not a list of non-negative integers"),
            ("overflowing shape", safetensors(#"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, f32), "shape [4294967296, 4294967296] overflows"),
            ("offsets", safetensors(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[-9223372036854775808,4]}}"#, f32), "data_offsets must be two non-negative"),
            ("reversed offsets", safetensors(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, f32), "begin ≤ end"),
            ("size", safetensors(#"{"x":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}}"#, f32), "hold 8 bytes, but [2] I64 needs 16"),
            ("outside", safetensors(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775803,9223372036854775807]}}"#, f32), "truncated: tensor x"),
            ("gap", safetensors(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32), "data bytes 0..<4 belong to no tensor"),
            ("tail", safetensors(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, f32), "data bytes 4..<8 belong to no tensor"),
            ("overlap", safetensors(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, f32),
             "tensor y overlaps the tensor before it"),
        ]
        for (name, data, message) in cases {
            let path = try temporaryFile("\(name.filter(\.isLetter)).safetensors", data)
            #expect { try Safetensors(contentsOf: path) } throws: { error in
                "\(error)".hasPrefix(path + ": ") && "\(error)".contains(message)
            }
        }
        let ok = try Safetensors(contentsOf: temporaryFile("ok.safetensors",
            safetensors(#"{"__metadata__":{"format":"pt"},"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, f32)))
        #expect(ok.metadata == ["format": "pt"] && ok.entries.map(\.name) == ["e", "x"])
        #expect(try ok.floats("x") == [0, 0])
    }

    @Test func theRealFilesStillRead() throws {
        let miniLM = try Safetensors(contentsOf: miniLMDirectory + "/model.safetensors")
        #expect(miniLM.entries.count > 100)
        #expect(try SmolLM2.file.get().tensors.count == 272)
    }

    /// The fuzzers start from these (Tests/Fuzz/make-seeds): the cut-down real files read, the
    /// truncated ones are rejected.
    @Test func fuzzSeedsReadOrAreRejectedAsTruncated() throws {
        let seeds = projectRoot + "/Tests/Fuzz/seeds/"
        let small = try GGUFFile(contentsOf: seeds + "gguf/smollm2-small.gguf")
        #expect(small.tensors.map(\.type) == [.f32, .f32, .q4_1, .q8_0] && small["general.architecture"]?.string == "llama")
        #expect(try small.dequantize("token_embd.weight").prefix(4) == SmolLM2.file.get().dequantize("token_embd.weight").prefix(4))
        let bpe = try ByteLevelBPE(gguf: GGUFFile(contentsOf: seeds + "gguf/smollm2-tokenizer.gguf"))
        #expect(bpe.tokens.count == 1000 && bpe.decode(bpe.encode("Hello, world!")) == "Hello, world!")
        let synthetic = try GGUFFile(contentsOf: seeds + "gguf/synthetic-types.gguf")
        #expect(synthetic.tensors.map(\.type) == [.f16, .bf16, .q4_0, .q5_0, .q5_1])
        #expect(try Safetensors(contentsOf: seeds + "safetensors/minilm-small.safetensors").entries.count == 12)
        #expect { try GGUFFile(contentsOf: seeds + "gguf/smollm2-first-256k.gguf") } throws: { "\($0)".contains("truncated") }
        #expect { try Safetensors(contentsOf: seeds + "safetensors/minilm-first-64k.safetensors") } throws: { "\($0)".contains("truncated") }
    }

    /// Every input a fuzzer crashed on, replayed: now read or rejected with an error naming the file.
    @Test(arguments: ["gguf", "safetensors"])
    func fuzzCrashersAreClearErrors(format: String) throws {
        let dir = projectRoot + "/Tests/Fuzz/crashers/" + format
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names.sorted() {
            let path = dir + "/" + name
            do {
                if format == "gguf" {
                    let file = try GGUFFile(contentsOf: path)
                    for t in file.tensors { _ = try file.dequantize(t.name) }
                } else {
                    let file = try Safetensors(contentsOf: path)
                    for e in file.entries { _ = try file.floats(e.name) }
                }
            } catch {
                #expect("\(error)".hasPrefix(path + ": "), "\(name): \(error)")
            }
        }
    }
}

/// A GGUF holding a tiny tied-embedding Llama (F32 weights), with metadata and tensors replaceable.
func tinyLlamaGGUF(_ overrides: [(String, Any)] = [], dropping: String? = nil, reshaping: (String, [Int])? = nil) -> Data {
    var kv: [(String, Any)] = [("general.architecture", "llama"), ("llama.vocab_size", UInt32(8)), ("llama.embedding_length", UInt32(8)),
                               ("llama.feed_forward_length", UInt32(8)), ("llama.block_count", UInt32(1)),
                               ("llama.attention.head_count", UInt32(2)), ("llama.attention.head_count_kv", UInt32(1)),
                               ("llama.context_length", UInt32(16))]
    for (key, value) in overrides {
        if let i = kv.firstIndex(where: { $0.0 == key }) { kv[i].1 = value } else { kv.append((key, value)) }
    }
    let config = LlamaConfig(vocabSize: 8, hiddenSize: 8, intermediateSize: 8, layers: 1, heads: 2, kvHeads: 1, contextLength: 16)
    let tensors = Llama.parameterSpecs(config).filter { $0.name != dropping }.map { spec in
        let shape = reshaping?.0 == spec.name ? reshaping!.1 : spec.shape
        return (spec.name, Array(shape.reversed()), UInt32(0), [UInt8](repeating: 0, count: 4 * shape.reduce(1, *)))
    }
    return makeGGUF(kv: kv, tensors: tensors)
}

@Suite("Hostile Llama GGUF files and model inputs")
struct HostileModelTests {
    func expectLoadError(_ data: Data, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try temporaryFile("llama.gguf", data)
        let file = try GGUFFile(contentsOf: path)
        #expect(sourceLocation: sourceLocation) { try Llama.load(gguf: file) } throws: { error in
            "\(error)".hasPrefix(path + ": ") && "\(error)".contains(message)
        }
    }

    @Test func aWellFormedTinyFileLoads() throws {
        let model = try Llama.load(gguf: GGUFFile(contentsOf: temporaryFile("llama.gguf", tinyLlamaGGUF())))
        #expect(model.config.headDim == 4 && model.config.contextLength == 16)
    }

    @Test func hyperParametersAreChecked() throws {
        try expectLoadError(tinyLlamaGGUF([("llama.attention.head_count", UInt32(0))]), "metadata llama.attention.head_count is uint(0), not a positive integer")
        try expectLoadError(tinyLlamaGGUF([("llama.embedding_length", "8")]), "llama.embedding_length is string(\"8\"), not a positive integer")
        try expectLoadError(tinyLlamaGGUF([("llama.attention.head_count", UInt32(3))]), "3 heads do not divide the hidden size 8")
        try expectLoadError(tinyLlamaGGUF([("llama.attention.head_count", UInt32(8))]), "head dimension 1 is odd")
        try expectLoadError(tinyLlamaGGUF([("llama.attention.head_count_kv", UInt32(3))]), "3 key-value heads do not divide the 2 heads")
        try expectLoadError(tinyLlamaGGUF([("llama.block_count", UInt32.max)]), "llama.block_count is 4294967295, but the file holds only 11 tensors")
        try expectLoadError(tinyLlamaGGUF([("llama.context_length", UInt32(0))]), "llama.context_length is uint(0)")
        try expectLoadError(tinyLlamaGGUF([("tokenizer.ggml.tokens", "abc")]), "tokenizer.ggml.tokens is not a non-empty array")
    }

    @Test func configurationsAreValidated() {
        let base = LlamaConfig(vocabSize: 8, hiddenSize: 8, intermediateSize: 8, layers: 1, heads: 2, kvHeads: 1)
        var cases: [(LlamaConfig, String)] = []
        var c = base; c.ropeTheta = 0; cases.append((c, "RoPE base 0.0 is not a positive finite number"))
        c = base; c.rmsNormEps = .nan; cases.append((c, "RMSNorm epsilon nan is not a positive finite number"))
        c = base; c.kvHeads = -1; cases.append((c, "key-value heads is -1, not positive"))
        c = base; c.contextLength = 0; cases.append((c, "context length is 0, not positive"))
        for (config, message) in cases { #expect { try config.validate() } throws: { "\($0)" == message } }
        #expect(throws: Never.self) { try base.validate() }
    }

    @Test func missingAndWronglyShapedTensorsAreNamed() throws {
        try expectLoadError(tinyLlamaGGUF(dropping: "blk.0.ffn_up.weight"), "missing tensor blk.0.ffn_up.weight")
        try expectLoadError(tinyLlamaGGUF(reshaping: ("blk.0.attn_k.weight", [8, 8])), "tensor blk.0.attn_k.weight has dims [8, 8], expected [8, 4]")
        try expectLoadError(tinyLlamaGGUF([("llama.embedding_length", UInt32(16)), ("llama.attention.head_count", UInt32(4))]),
                            "tensor token_embd.weight has dims [8, 8], expected [16, 8]")
    }

    @Test func tokenizerMetadataIsChecked() throws {
        func expectTokenizerError(_ kv: [(String, Any)], _ message: String) throws {
            let path = try temporaryFile("tok.gguf", makeGGUF(kv: [("tokenizer.ggml.model", "gpt2")] + kv, tensors: []))
            let file = try GGUFFile(contentsOf: path)
            #expect { try ByteLevelBPE(gguf: file) } throws: { "\($0)".hasPrefix(path + ": ") && "\($0)".contains(message) }
        }
        try expectTokenizerError([], "missing tokenizer.ggml.tokens")
        try expectTokenizerError([("tokenizer.ggml.tokens", "a")], "tokenizer.ggml.tokens is not an array")
        // token_type arrays longer than the vocabulary used to index past it
        var file = GGUFBytes(tensors: 0, keys: 4)
        file.string("tokenizer.ggml.model"); file.u32(8); file.string("gpt2")
        file.string("tokenizer.ggml.tokens"); file.u32(9); file.u32(8); file.u64(1); file.string("a")
        file.string("tokenizer.ggml.merges"); file.u32(9); file.u32(8); file.u64(0)
        file.string("tokenizer.ggml.token_type"); file.u32(9); file.u32(5); file.u64(2); file.u32(1); file.u32(3)
        let path = try temporaryFile("types.gguf", file.data)
        #expect { try ByteLevelBPE(gguf: GGUFFile(contentsOf: path)) } throws: { "\($0)".contains("\(path): 2 token types for 1 tokens") }
        var mixed = GGUFBytes(tensors: 0, keys: 3)
        mixed.string("tokenizer.ggml.model"); mixed.u32(8); mixed.string("gpt2")
        mixed.string("tokenizer.ggml.tokens"); mixed.u32(9); mixed.u32(4); mixed.u64(1); mixed.u32(7)
        mixed.string("tokenizer.ggml.merges"); mixed.u32(9); mixed.u32(8); mixed.u64(0)
        let mixedPath = try temporaryFile("mixed.gguf", mixed.data)
        #expect { try ByteLevelBPE(gguf: GGUFFile(contentsOf: mixedPath)) } throws: {
            "\($0)".contains("\(mixedPath): tokenizer.ggml.tokens[0] is uint(7), not a string")
        }
        #expect { try ByteLevelBPE(tokens: ["a"], merges: [], special: [5]) } throws: { "\($0)".contains("special token id 5 is not in the vocabulary") }
    }

    static let config = LlamaConfig(vocabSize: 23, hiddenSize: 16, intermediateSize: 24, layers: 1, heads: 4, kvHeads: 2, contextLength: 12)
    let model = Llama(config: config)

    func expectInputError(_ message: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        #expect(sourceLocation: sourceLocation) { try body() } throws: { "\($0)".contains(message) }
    }

    @Test func tokenIdsOutsideTheVocabularyAreErrors() {
        var rng = Xoshiro256(seed: 1)
        for bad: Int32 in [23, -1, .max] {
            expectInputError("token id \(bad) is outside the vocabulary 0..<23") {
                _ = try model.generate(prompts: [[1, 2], [3, bad]], maxNewTokens: 2, sampling: .greedy, stopTokens: [], rng: &rng)
            }
            expectInputError("sequence 0, slot 1: token id \(bad)") { _ = try model.forward(TokenBatch(leftPadding: [[1, bad]])) }
            expectInputError("token id \(bad) is outside") { _ = try model.scoreLogProbs(TokenBatch(leftPadding: [[bad]]), targets: [-1]) }
        }
        let batch = TokenBatch(leftPadding: [[1, 2]])
        expectInputError("slot 0: target token id 23 is outside the vocabulary") { _ = try model.scoreLogProbs(batch, targets: [23, -1]) }
        expectInputError("1 targets for 1 × 2 slots") { _ = try model.scoreLogProbs(batch, targets: [2]) }
        expectInputError("slot 1: target token id 99") { try model.backward(try model.forward(batch), targets: [2, 99], dLogProb: [1, 1]) }
    }

    @Test func emptyPromptsAreErrors() {
        var rng = Xoshiro256(seed: 1)
        expectInputError("the batch has no sequences") {
            _ = try model.generate(prompts: [], maxNewTokens: 2, sampling: .greedy, stopTokens: [], rng: &rng)
        }
        expectInputError("prompt 0 of 2 is empty") {
            _ = try model.generate(prompts: [[], []], maxNewTokens: 2, sampling: .greedy, stopTokens: [], rng: &rng)
        }
        expectInputError("every sequence of the batch is empty") { _ = try model.forward(TokenBatch(leftPadding: [[], []])) }
        expectInputError("the batch has no sequences") { _ = try model.scoreLogProbs(TokenBatch(leftPadding: []), targets: []) }
    }

    @Test func promptsAndNewTokensMustFitTheContext() throws {
        var rng = Xoshiro256(seed: 1)
        expectInputError("10 slots + 3 new tokens exceed the model's context length of 12") {
            _ = try model.generate(prompts: [[1], Array(repeating: 2, count: 10)], maxNewTokens: 3, sampling: .greedy, stopTokens: [], rng: &rng)
        }
        expectInputError("max new tokens is -1") {
            _ = try model.generate(prompts: [[1]], maxNewTokens: -1, sampling: .greedy, stopTokens: [], rng: &rng)
        }
        expectInputError("13 slots exceed the model's context length of 12") {
            _ = try model.forward(TokenBatch(leftPadding: [Array(repeating: 1, count: 13)]))
        }
        let fits = try model.generate(prompts: [Array(repeating: 2, count: 10)], maxNewTokens: 2, sampling: .greedy, stopTokens: [], rng: &rng)
        #expect(fits[0].tokens.count == 2)
    }
}

extension Llama {
    /// Every prompt from a copy of one stream: these tests check input errors, not sampling.
    func generate(prompts: [[Int32]], maxNewTokens: Int, sampling: SamplingConfig, stopTokens: [Int32], rng: inout Xoshiro256) throws -> [Generation] {
        var rngs = prompts.map { _ in rng }
        return try generate(prompts: prompts, maxNewTokens: maxNewTokens, sampling: sampling, stopTokens: stopTokens, rngs: &rngs)
    }
}
