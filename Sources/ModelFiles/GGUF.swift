// GGUF (v2/v3) reader: header, metadata key-values, tensor infos and data, with dequantisation of the
// ggml types F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 to Float. The file is memory-mapped;
// nothing is copied until a tensor is dequantised. Layout (little-endian): magic "GGUF", u32 version,
// u64 tensor count, u64 key-value count, the key-values, the tensor infos (name, u32 n_dims, u64 dims
// with the contiguous one first, u32 type, u64 offset), then the data section at the next multiple of
// `general.alignment` (default 32). Every malformed file is an error naming the file and the problem.
import Foundation

/// The one error of this module: a GGUF or safetensors file that cannot be read, naming the file and the problem.
public struct ModelFileError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public indirect enum GGUFValue: Sendable, Equatable {
    case uint(UInt64), int(Int64), float(Double), bool(Bool), string(String), array([GGUFValue])

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var int: Int? {
        switch self {
        case .uint(let v): Int(exactly: v)
        case .int(let v): Int(exactly: v)
        default: nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let v): v
        case .uint, .int: int.map(Double.init)
        default: nil
        }
    }
    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { a } else { nil } }
}

/// ggml tensor types this reader can dequantise, by their ggml id.
public enum GGMLType: UInt32, Sendable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, bf16 = 30

    /// Elements per block and bytes per block.
    var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32: (1, 4)
        case .f16, .bf16: (1, 2)
        case .q4_0: (32, 18)
        case .q4_1: (32, 20)
        case .q5_0: (32, 22)
        case .q5_1: (32, 24)
        case .q8_0: (32, 34)
        }
    }
}

public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// ggml order: dims[0] is the contiguous dimension (row length).
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    let offset: Int
    /// Elements; the reader has checked that this and `byteCount` fit an Int.
    public let count: Int
    public let byteCount: Int
    /// Rows of dims[0] elements (a [out, in] weight has dims [in, out]).
    public var rows: Int { count / max(1, dims.first ?? 1) }
}

public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Where each metadata pair (key, type, value) is encoded in `data`, parallel to `metadata`: a writer
    /// carries a pair over byte for byte, keeping the exact value type that llama.cpp checks.
    let metadataRanges: [Range<Int>]
    let data: Data

    public convenience init(contentsOf path: String) throws {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw ModelFileError(description: "\(path): cannot read file")
        }
        try self.init(data: data, path: path)
    }

    /// Parses a GGUF file already in memory; `path` names it in errors.
    public init(data: Data, path: String) throws {
        func fail(_ what: String) -> ModelFileError { ModelFileError(description: "\(path): \(what)") }
        self.path = path
        self.data = data
        var r = Reader(data: data, path: path)
        guard try r.u32() == 0x4655_4747 else { throw fail("not a GGUF file (wrong magic)") }
        version = Int(try r.u32())
        guard version == 2 || version == 3 else { throw fail("unsupported GGUF version \(version)") }
        let tensorCount = try r.u64(), kvCount = try r.u64()
        guard tensorCount < 1 << 20, kvCount < 1 << 20 else {
            throw fail("implausible header counts (\(tensorCount) tensors, \(kvCount) metadata keys)")
        }
        var metadata: [(String, GGUFValue)] = []
        var ranges: [Range<Int>] = []
        var keys = Set<String>()
        for _ in 0..<kvCount {
            let keyOffset = r.position
            let key = try r.string()
            guard keys.insert(key).inserted else { throw fail("duplicate metadata key \(key) at offset \(keyOffset)") }
            metadata.append((key, try r.value(type: try r.u32(), depth: 0)))
            ranges.append(keyOffset..<r.position)
        }
        self.metadata = metadata
        metadataRanges = ranges
        var infos: [(name: String, dims: [Int], typeID: UInt32, offset: UInt64)] = []
        var names = Set<String>()
        for _ in 0..<tensorCount {
            let name = try r.string()
            guard names.insert(name).inserted else { throw fail("duplicate tensor name \(name)") }
            let nDims = try r.u32()
            guard nDims >= 1 && nDims <= 4 else { throw fail("tensor \(name) has \(nDims) dimensions (1 to 4 are allowed)") }
            let dims = try (0..<nDims).map { _ in
                let d = try r.u64()
                guard let dim = Int(exactly: d) else { throw fail("tensor \(name) has dimension \(d), more than \(Int.max)") }
                return dim
            }
            infos.append((name, dims, try r.u32(), try r.u64()))
        }
        var alignment = 32
        if let value = metadata.first(where: { $0.0 == "general.alignment" })?.1 {
            guard let a = value.int, a > 0, a <= 1 << 30, a & (a - 1) == 0 else {
                throw fail("general.alignment is \(value), not a power of two up to 2^30")
            }
            alignment = a
        }
        let dataStart = (r.position + alignment - 1) / alignment * alignment  // position ≤ data.count, alignment ≤ 2^30
        tensors = try infos.map { name, dims, typeID, offset in
            guard let type = GGMLType(rawValue: typeID) else {
                throw fail("tensor \(name) has ggml type \(typeID), which this reader cannot dequantise")
            }
            guard dims[0] % type.block.elements == 0 else { throw fail("tensor \(name) rows of \(dims[0]) are not whole \(type) blocks") }
            var count = 1
            for d in dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("tensor \(name) has dims \(dims), whose element count overflows") }
                count = product
            }
            let (byteCount, overflow) = (count / type.block.elements).multipliedReportingOverflow(by: type.block.bytes)
            guard !overflow else { throw fail("tensor \(name) has dims \(dims), whose byte count overflows") }
            let (start, startOverflow) = dataStart.addingReportingOverflow(Int(clamping: offset))
            let (end, endOverflow) = start.addingReportingOverflow(byteCount)
            guard !startOverflow, !endOverflow, end <= data.count else {
                throw fail("truncated: tensor \(name) (\(byteCount) bytes at data offset \(offset)) ends past the file's \(data.count) bytes")
            }
            return GGUFTensorInfo(name: name, dims: dims, type: type, offset: start, count: count, byteCount: byteCount)
        }
    }

    public subscript(key: String) -> GGUFValue? { metadata.first { $0.key == key }?.value }

    /// The metadata pair of `key` as encoded in the file (key, value type, value), or nil if absent.
    public func encodedMetadata(_ key: String) -> Data? {
        metadata.firstIndex { $0.key == key }.map { Data(data[data.startIndex + metadataRanges[$0].lowerBound..<data.startIndex + metadataRanges[$0].upperBound]) }
    }

    public func tensor(_ name: String) throws -> GGUFTensorInfo {
        guard let info = tensors.first(where: { $0.name == name }) else {
            throw ModelFileError(description: "\(path): missing tensor \(name)")
        }
        return info
    }

    /// The tensor as Float, in file (row-major) order, written to `out` (count elements).
    public func dequantize(_ info: GGUFTensorInfo, into out: UnsafeMutablePointer<Float>) {
        data.withUnsafeBytes { raw in
            dequantizeRows(raw.baseAddress! + info.offset, type: info.type, count: info.count, into: out)
        }
    }

    /// The tensor's bytes as stored (its blocks, for kernels that multiply by them directly).
    public func withBytes<R>(_ info: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try data.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[info.offset..<info.offset + info.byteCount])) }
    }

    public func dequantize(_ name: String) throws -> [Float] {
        let info = try tensor(name)
        var values = [Float](repeating: 0, count: info.count)
        values.withUnsafeMutableBufferPointer { if let base = $0.baseAddress { dequantize(info, into: base) } }
        return values
    }
}

/// Dequantises `count` elements of `type` stored at `src`.
public func dequantizeRows(_ src: UnsafeRawPointer, type: GGMLType, count: Int, into out: UnsafeMutablePointer<Float>) {
    func half(_ offset: Int) -> Float { Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) }
    func byte(_ offset: Int) -> UInt8 { src.load(fromByteOffset: offset, as: UInt8.self) }
    let blocks = count / type.block.elements, size = type.block.bytes
    switch type {
    case .f32:
        for i in 0..<count { out[i] = Float(bitPattern: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
    case .f16:
        for i in 0..<count { out[i] = half(2 * i) }
    case .bf16:
        for i in 0..<count { out[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
    case .q8_0:  // f16 d, 32 × int8: x = d·q
        for b in 0..<blocks {
            let o = b * size, d = half(o), y = out + 32 * b
            for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: byte(o + 2 + j))) }
        }
    case .q4_0:  // f16 d, 16 bytes: x = d·(nibble − 8); low nibbles first
        for b in 0..<blocks {
            let o = b * size, d = half(o), y = out + 32 * b
            for j in 0..<16 {
                let q = byte(o + 2 + j)
                y[j] = d * Float(Int(q & 0x0F) - 8)
                y[j + 16] = d * Float(Int(q >> 4) - 8)
            }
        }
    case .q4_1:  // f16 d, f16 m, 16 bytes: x = d·nibble + m
        for b in 0..<blocks {
            let o = b * size, d = half(o), m = half(o + 2), y = out + 32 * b
            for j in 0..<16 {
                let q = byte(o + 4 + j)
                y[j] = d * Float(q & 0x0F) + m
                y[j + 16] = d * Float(q >> 4) + m
            }
        }
    case .q5_0, .q5_1:  // f16 d, [f16 m], u32 high bits, 16 bytes: 5-bit q = nibble | bit << 4
        let hasMin = type == .q5_1, qhOffset = hasMin ? 4 : 2
        for b in 0..<blocks {
            let o = b * size, d = half(o), y = out + 32 * b
            let m = hasMin ? half(o + 2) : 0
            let qh = src.loadUnaligned(fromByteOffset: o + qhOffset, as: UInt32.self)
            for j in 0..<16 {
                let q = byte(o + qhOffset + 4 + j)
                let lo = Int(q & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = hasMin ? d * Float(lo) + m : d * Float(lo - 16)
                y[j + 16] = hasMin ? d * Float(hi) + m : d * Float(hi - 16)
            }
        }
    }
}

/// Bounds-checked little-endian cursor over the file.
struct Reader {
    let data: Data
    let path: String
    var position = 0

    mutating func bytes(_ n: Int) throws -> Data {
        guard n >= 0, position + n <= data.count else {
            throw ModelFileError(description: "\(path): truncated: needs \(n) bytes at offset \(position) of \(data.count)")
        }
        defer { position += n }
        return data[data.startIndex + position..<data.startIndex + position + n]
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let chunk = try bytes(MemoryLayout<T>.size)
        return T(littleEndian: chunk.withUnsafeBytes { $0.loadUnaligned(as: T.self) })
    }

    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    mutating func string() throws -> String {
        let n = try u64(), start = position
        guard n <= UInt64(data.count - position) else {
            throw ModelFileError(description: "\(path): truncated: string of \(n) bytes at offset \(start - 8) of \(data.count)")
        }
        guard let s = String(validating: try bytes(Int(n)), as: UTF8.self) else {
            throw ModelFileError(description: "\(path): invalid UTF-8 in the string at offset \(start - 8)")
        }
        return s
    }

    /// Smallest encoded size of one value of a metadata type (arrays: their type and count), for
    /// bounding an array's length by the bytes left before reading it.
    static func minimumSize(type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 8, 10, 11, 12: 8
        case 9: 12
        default: nil
        }
    }

    /// Arrays may nest; deeper than this is an error rather than a stack overflow.
    static let maximumNesting = 8

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try load(UInt8.self)))
        case 1: return .int(Int64(try load(Int8.self)))
        case 2: return .uint(UInt64(try load(UInt16.self)))
        case 3: return .int(Int64(try load(Int16.self)))
        case 4: return .uint(UInt64(try u32()))
        case 5: return .int(Int64(try load(Int32.self)))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7: return .bool(try load(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            let start = position
            let elementType = try u32(), n = try u64()
            guard depth < Self.maximumNesting else {
                throw ModelFileError(description: "\(path): arrays nested more than \(Self.maximumNesting) deep at offset \(start)")
            }
            guard let size = Self.minimumSize(type: elementType) else {
                throw ModelFileError(description: "\(path): unknown metadata value type \(elementType) of the array at offset \(start)")
            }
            // Checked before anything is allocated for the elements.
            guard n <= UInt64((data.count - position) / size) else {
                throw ModelFileError(description: "\(path): truncated: array of \(n) elements of type \(elementType) at offset \(start) of \(data.count)")
            }
            return .array(try (0..<n).map { _ in try value(type: elementType, depth: depth + 1) })
        case 10: return .uint(try u64())
        case 11: return .int(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw ModelFileError(description: "\(path): unknown metadata value type \(type) at offset \(position - 4)")
        }
    }
}
