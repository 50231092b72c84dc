// JSONL reading: one JSON object per non-empty line. Every problem is an error naming the file, the
// 1-based line and the reason (invalid UTF-8, a JSON syntax error and its column, a missing field, a
// field of the wrong type); `JSONRecord` gives typed field access with such errors to every loader.
import Foundation
import ModelFiles

public struct DataError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One JSON object of a JSONL file, with the file and line its errors name.
public struct JSONRecord {
    public let path: String
    public let line: Int
    public let object: [String: Any]
    /// The object's place in its line's object ("choices[0]."; empty for the line's object), which
    /// prefixes field names in errors.
    let prefix: String

    public func error(_ problem: String) -> DataError { DataError("\(path):\(line): \(problem)") }

    func field(_ key: String) throws -> Any {
        guard let value = object[key] else { throw error("missing field \"\(prefix)\(key)\"") }
        return value
    }

    public func string(_ key: String) throws -> String {
        guard let s = try field(key) as? String else { throw error("field \"\(prefix)\(key)\" must be a string") }
        return s
    }

    public func strings(_ key: String, nonEmpty: Bool = false) throws -> [String] {
        let what = nonEmpty ? "a non-empty list of strings" : "a list of strings"
        guard let list = try field(key) as? [Any], let strings = list as? [String], !(nonEmpty && strings.isEmpty) else {
            throw error("field \"\(prefix)\(key)\" must be \(what)")
        }
        return strings
    }

    /// A field holding a list of objects, each a record whose errors name its place ("key[i].field").
    public func records(_ key: String, nonEmpty: Bool = false) throws -> [JSONRecord] {
        let what = nonEmpty ? "a non-empty list of objects" : "a list of objects"
        guard let list = try field(key) as? [Any], let objects = list as? [[String: Any]], !(nonEmpty && objects.isEmpty) else {
            throw error("field \"\(prefix)\(key)\" must be \(what)")
        }
        return objects.enumerated().map { JSONRecord(path: path, line: line, object: $1, prefix: "\(prefix)\(key)[\($0)].") }
    }
}

/// Writes one JSON object per line (keys sorted, slashes unescaped), atomically.
public func writeJSONLines(_ objects: [[String: Any]], to path: String) throws {
    var text = ""
    for object in objects {
        text += String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// Reads a JSONL file (see `parseJSONLines`).
public func readJSONLines(_ path: String) throws -> [JSONRecord] {
    guard let data = FileManager.default.contents(atPath: path) else { throw DataError("cannot read \(path)") }
    return try parseJSONLines(data, path: path)
}

/// The objects of JSONL text, one per line that is not blank; `path` names the text in errors. Columns
/// count Unicode scalars from 1.
public func parseJSONLines(_ data: Data, path: String) throws -> [JSONRecord] {
    var records: [JSONRecord] = []
    for (index, slice) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        let line = Array(slice), number = index + 1
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        func fail(_ problem: String) -> DataError { DataError("\(path):\(number): \(problem)") }
        // Column of a byte offset in valid UTF-8: the scalars before it (bytes that are not continuation bytes), plus 1.
        func column(_ offset: Int) -> Int { line[..<offset].filter { $0 & 0xC0 != 0x80 }.count + 1 }
        if let offset = firstInvalidUTF8(line) { throw fail("invalid UTF-8 at column \(column(offset))") }
        if let problem = checkJSONSyntax(line) { throw fail("JSON syntax error at column \(column(problem.offset)): \(problem.problem)") }
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(line), options: .fragmentsAllowed)
        } catch {  // valid JSON that Foundation cannot represent, such as a number beyond Double's range
            throw fail("JSON value not representable: \((error as NSError).userInfo["NSDebugDescription"] ?? error)")
        }
        guard let object = value as? [String: Any] else {
            let kind = value is [Any] ? "an array" : value is String ? "a string" : value is NSNull ? "null" : "a number or boolean"
            throw fail("expected a JSON object, found \(kind)")
        }
        records.append(JSONRecord(path: path, line: number, object: object, prefix: ""))
    }
    return records
}

/// The byte offset of the first invalid UTF-8 sequence in `bytes`, or nil when they are valid UTF-8.
func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
    var parser = Unicode.UTF8.ForwardParser(), iterator = bytes.makeIterator(), offset = 0
    while true {
        switch parser.parseScalar(from: &iterator) {
        case .valid(let encoded): offset += encoded.count
        case .error: return offset
        case .emptyInput: return nil
        }
    }
}
