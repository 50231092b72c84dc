// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor
// name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data section), an
// optional "__metadata__" string map, then the raw little-endian data. Used for checkpoints and for
// MiniLM's weights. Every malformed file is an error naming the file and what is wrong.
import Foundation

public struct Safetensors {
    public enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16", i64 = "I64"

        var byteSize: Int { switch self { case .f32: 4; case .f16, .bf16: 2; case .i64: 8 } }
    }

    public struct Entry: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        let range: Range<Int>  // within `data`
    }

    public let path: String
    /// Entries in file order (ascending data offset), never a hashed collection's order.
    public let entries: [Entry]
    public let metadata: [String: String]
    let data: Data

    public init(contentsOf path: String) throws {
        guard let file = FileManager.default.contents(atPath: path) else { throw ModelFileError(description: "\(path): cannot read file") }
        try self.init(data: file, path: path)
    }

    /// Parses a safetensors file already in memory; `path` names it in errors. As the reference
    /// implementation requires, the tensors' data must tile the data section exactly.
    public init(data file: Data, path: String) throws {
        func fail(_ what: String) -> ModelFileError { ModelFileError(description: "\(path): \(what)") }
        let file = file.startIndex == 0 ? file : Data(file)  // offsets below are from 0
        guard file.count >= 8 else { throw fail("truncated: \(file.count) bytes, no header length") }
        let length = file.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
        guard length > 0, length <= UInt64(file.count - 8) else {
            throw fail("header length \(length) does not fit a file of \(file.count) bytes")
        }
        let dataStart = 8 + Int(length)
        let headerBytes = file.subdata(in: 8..<dataStart)
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail("header is not valid UTF-8") }
        if let problem = checkJSONSyntax(headerBytes) { throw fail("header JSON: \(problem.problem) at header byte \(problem.offset)") }
        guard let header = try? JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw fail("__metadata__ is not a JSON object") }
                for (key, item) in map {
                    guard let text = item as? String else { throw fail("__metadata__ value of \(key.debugDescription) is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw fail("tensor \(name): header entry is not a JSON object") }
            guard let dtypeName = info["dtype"] as? String else { throw fail("tensor \(name): dtype missing or not a string") }
            guard let dtype = DType(rawValue: dtypeName) else { throw fail("tensor \(name): unsupported dtype \(dtypeName)") }
            guard let shape = (info["shape"] as? [Any])?.compactMap(jsonInteger), shape.count == (info["shape"] as? [Any])?.count,
                  shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor \(name): shape missing or not a list of non-negative integers")
            }
            guard let offsets = (info["data_offsets"] as? [Any])?.compactMap(jsonInteger), offsets.count == 2,
                  (info["data_offsets"] as? [Any])?.count == 2, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw fail("tensor \(name): data_offsets must be two non-negative integers [begin, end] with begin ≤ end")
            }
            var expected = dtype.byteSize
            for d in shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor \(name): shape \(shape) overflows") }
                expected = product
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard end - begin == expected else {
                throw fail("tensor \(name): data_offsets \(begin)..<\(end) hold \(end - begin) bytes, but \(shape) \(dtypeName) needs \(expected)")
            }
            guard end <= file.count - dataStart else {
                throw fail("truncated: tensor \(name) ends at byte \(end) of a \(file.count - dataStart)-byte data section")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, range: dataStart + begin..<dataStart + end))
        }
        entries.sort { ($0.range.lowerBound, $0.name) < ($1.range.lowerBound, $1.name) }
        var covered = dataStart
        for e in entries {
            guard e.range.lowerBound == covered else {
                throw fail(e.range.lowerBound < covered ? "tensor \(e.name) overlaps the tensor before it"
                                                        : "data bytes \(covered - dataStart)..<\(e.range.lowerBound - dataStart) belong to no tensor")
            }
            covered = e.range.upperBound
        }
        guard covered == file.count else { throw fail("data bytes \(covered - dataStart)..<\(file.count - dataStart) belong to no tensor") }
        self.path = path
        self.entries = entries
        self.metadata = metadata
        data = file
    }

    public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }

    /// The tensor converted to Float (F16 and BF16 widened exactly).
    public func floats(_ name: String) throws -> [Float] {
        guard let e = entry(name) else { throw ModelFileError(description: "\(path): no tensor \(name)") }
        let count = e.shape.reduce(1, *)
        return data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + e.range.lowerBound
            switch e.dtype {
            case .f32: return (0..<count).map { Float(bitPattern: base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
            case .f16: return (0..<count).map { Float(Float16(bitPattern: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian)) }
            case .bf16: return (0..<count).map { Float(bitPattern: UInt32(base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian) << 16) }
            case .i64: return (0..<count).map { Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            }
        }
    }

    /// Writes F32 tensors (in the given order) to `path` via a temporary file and a rename, so a
    /// crash never leaves a half-written file under the final name.
    public static func write(
        _ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)], metadata: [String: String] = [:],
        to path: String
    ) throws {
        try writeAtomically(encode(tensors, metadata: metadata), to: path)
    }

    /// The bytes of a safetensors file of F32 tensors in the given order.
    public static func encode(
        _ tensors: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)], metadata: [String: String] = [:]
    ) -> Data {
        var header = "{"
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            header += "\"__metadata__\":{\(pairs.joined(separator: ","))},"
        }
        var offset = 0
        header += tensors.map { t in
            precondition(t.values.count == t.shape.reduce(1, *), "\(t.name): \(t.values.count) values for \(t.shape)")
            defer { offset += 4 * t.values.count }
            return "\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":\(t.shape),\"data_offsets\":[\(offset),\(offset + 4 * t.values.count)]}"
        }.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }  // pad with spaces to align the data
        var out = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for t in tensors { out.append(t.values) }  // little-endian hosts (x86-64, arm64)
        return out
    }
}

/// A JSON number that is an integer (not a boolean, not written with a fraction or exponent that
/// Foundation turns into a Double) as Int.
func jsonInteger(_ value: Any) -> Int? {
    guard let number = value as? NSNumber, !(value is Bool && String(cString: number.objCType) == "c"),
          !["d", "f"].contains(String(cString: number.objCType)) else { return nil }
    return value as? Int
}

func jsonString(_ s: String) -> String {
    String(data: try! JSONSerialization.data(withJSONObject: s, options: .fragmentsAllowed), encoding: .utf8)!
}

/// Writes `data` to a sibling temporary file, syncs it, and renames it over `path`.
public func writeAtomically(_ data: Data, to path: String) throws {
    let temporary = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: data) else {
        throw ModelFileError(description: "cannot write \(temporary)")
    }
    let fd = open(temporary, O_RDONLY)
    if fd >= 0 { fsync(fd); close(fd) }
    guard rename(temporary, path) == 0 else {
        unlink(temporary)
        throw ModelFileError(description: "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
    }
}
