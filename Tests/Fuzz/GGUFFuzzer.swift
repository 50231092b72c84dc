// libFuzzer harness: GGUF bytes → GGUFFile, every metadata accessor, every tensor dequantised, and the
// byte-level BPE tokenizer built from the metadata, encoding and decoding a text. An input may only be
// read or rejected with an error that names the file; anything else (a trap, an ASan report, an error
// without the path) is a finding. Built by Tests/Fuzz/build (compiled together with
// Sources/Tokenizers/ByteLevelBPE.swift and PreTokenizer.swift).
import Foundation
import ModelFiles

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file: GGUFFile
    do {
        file = try GGUFFile(data: Data(bytes: bytes, count: size), path: "input.gguf")
    } catch {
        guard "\(error)".hasPrefix("input.gguf: ") else { fatalError("error without the file name: \(error)") }
        return 0
    }
    do {
        let bpe = try ByteLevelBPE(gguf: file)
        let ids = bpe.encode("<|im_start|>user\nHello, wörld! 123 \u{1F600}<|im_end|>\n")
        _ = bpe.decode(ids + [-1, Int32.max])
    } catch {
        guard "\(error)".hasPrefix("input.gguf: ") else { fatalError("tokenizer error without the file name: \(error)") }
    }
    for (_, value) in file.metadata { _ = (value.int, value.double, value.string, value.bool, value.array?.count) }
    var budget = 1 << 26  // elements dequantised per input, so tensors sharing one data range stay fast
    for tensor in file.tensors where tensor.count <= budget {
        budget -= tensor.count
        guard let values = try? file.dequantize(tensor.name), values.count == tensor.count else {
            fatalError("tensor \(tensor.name) did not dequantise to \(tensor.count) values")
        }
    }
    return 0
}
