// libFuzzer harness: JSONL bytes → records, and the typed field accessors the loaders use. An input may
// only be read or rejected with an error naming the file and line. Built by Tests/Fuzz/build (compiled
// together with Sources/Experiments/JSONLines.swift).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    func check(_ error: Error) {
        guard "\(error)".hasPrefix("input.jsonl:") else { fatalError("error without the file name: \(error)") }
    }
    do {
        for record in try parseJSONLines(Data(bytes: bytes, count: size), path: "input.jsonl") {
            for access in [{ _ = try record.string("text") }, { _ = try record.strings("references", nonEmpty: true) },
                           { _ = try record.records("choices", nonEmpty: true)[0].strings("turns") }] {
                do { try access() } catch { check(error) }
            }
        }
    } catch {
        check(error)
    }
    return 0
}
