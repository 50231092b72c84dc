// libFuzzer harness: safetensors bytes → Safetensors, every tensor converted to Float. An input may only
// be read or rejected with an error that names the file. Built by Tests/Fuzz/build.
import Foundation
import ModelFiles

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let file: Safetensors
    do {
        file = try Safetensors(data: Data(bytes: bytes, count: size), path: "input.safetensors")
    } catch {
        guard "\(error)".hasPrefix("input.safetensors: ") else { fatalError("error without the file name: \(error)") }
        return 0
    }
    for entry in file.entries {
        guard let values = try? file.floats(entry.name), values.count == entry.shape.reduce(1, *) else {
            fatalError("tensor \(entry.name) did not convert to \(entry.shape) values")
        }
    }
    return 0
}
