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
        func fail(_ what: String) -> ModelFileError { ModelFileError(description: "\(path): \(what)") }
        guard let file = FileManager.default.contents(atPath: path) else { throw fail("cannot read file") }
        guard file.count >= 8 else { throw fail("truncated: \(file.count) bytes, no header length") }
        let headerLength = file.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard headerLength > 0, 8 + headerLength <= file.count else {
            throw fail("header length \(headerLength) does not fit a file of \(file.count) bytes")
        }
        guard let header = try? JSONSerialization.jsonObject(with: file.subdata(in: 8..<8 + headerLength)) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                metadata = value as? [String: String] ?? [:]
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor \(name): malformed header entry") }
            guard let dtype = DType(rawValue: dtypeName) else { throw fail("tensor \(name): unsupported dtype \(dtypeName)") }
            let (begin, end) = (offsets[0], offsets[1])
            let expected = shape.reduce(1, *) * dtype.byteSize
            guard begin >= 0, end - begin == expected else {
                throw fail("tensor \(name): offsets \(begin)..<\(end) do not hold \(shape) \(dtypeName)")
            }
            guard dataStart + end <= file.count else {
                throw fail("truncated: tensor \(name) ends at byte \(dataStart + end) of \(file.count)")
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, range: dataStart + begin..<dataStart + end))
        }
        self.path = path
        self.entries = entries.sorted { ($0.range.lowerBound, $0.name) < ($1.range.lowerBound, $1.name) }
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
        try writeAtomically(out, to: path)
    }
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
