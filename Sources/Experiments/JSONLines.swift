import Foundation

public struct DataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads a JSONL file: one JSON object per non-empty line, with its 1-based line number (for errors
/// about its fields). A malformed line is an error naming the file and its line number.
public func readJSONLines(_ path: String) throws -> [(line: Int, object: [String: Any])] {
    guard let data = FileManager.default.contents(atPath: path) else { throw DataError("cannot read \(path)") }
    var objects: [(line: Int, object: [String: Any])] = []
    for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
            throw DataError("\(path):\(index + 1): not a JSON object")
        }
        objects.append((index + 1, object))
    }
    return objects
}
