// Helpers every test target shares: the project root and its assets, temporary folders, running the CLI.
import Foundation
import Testing

/// A fresh temporary folder for one test.
public func temporaryDirectory(_ name: String = #function) -> String {
    let path = NSTemporaryDirectory() + "refalign-tests-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs a command to completion; returns (status, stdout + stderr).
@discardableResult
public func runCommand(_ arguments: [String], in directory: String? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The `refalign` executable built next to this test bundle (`swift build --build-tests` builds it).
public func refalignExecutable() throws -> String {
    let here = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let path = URL(fileURLWithPath: here).deletingLastPathComponent().appendingPathComponent("refalign").path
    try #require(FileManager.default.isExecutableFile(atPath: path),
                 "no refalign executable at \(path): build it first (Scripts/test runs `swift build --build-tests`)")
    return path
}

/// The project root (for ../shared data paths).
public let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Assets fetched by Scripts/bootstrap.
public let smolLM2Path = projectRoot + "/.assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
public let miniLMDirectory = projectRoot + "/.assets/minilm"

/// Starts a command, reads its output until it prints `marker`, then kills it with SIGKILL. Returns the
/// output seen and whether the kill (not the command's own end) stopped it.
public func runUntilKilled(_ arguments: [String], after marker: String) throws -> (output: String, killed: Bool) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    var seen = ""
    while !seen.contains(marker) {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        seen += String(decoding: chunk, as: UTF8.self)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return (seen, process.terminationReason == .uncaughtSignal)
}
