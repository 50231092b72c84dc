// GGUF v3 writer, the inverse of GGUFFile: metadata pairs (new typed values, or pairs carried over byte
// for byte from a source file), tensor infos, then the data section at the next multiple of 32 (the
// default alignment, so no `general.alignment` key is written) with every tensor's data padded to a
// multiple of 32. Tensors are F32 or Q8_0 (quantised here as llama.cpp's reference quantiser does).
// The same inputs always give the same bytes.
import CQuantKernels
import Foundation

public struct GGUFWriter {
    /// A metadata value with its GGUF type: llama.cpp rejects a key whose type differs from the one it
    /// expects (u32 block counts, f32 RoPE base, …), so the type is explicit.
    public enum Value {
        case u32(UInt32), f32(Float), bool(Bool), string(String)
    }

    public static let alignment = 32

    /// Encoded metadata pairs in write order; a key appears once.
    private var pairs: [(key: String, bytes: Data)] = []
    private var tensors: [(name: String, dims: [Int], type: GGMLType, bytes: Data)] = []

    public init() {}

    /// Sets `key` to `value`, in place if the key is already there.
    public mutating func set(_ key: String, _ value: Value) {
        var bytes = Data()
        Self.append(string: key, to: &bytes)
        switch value {
        case .u32(let v): Self.append(UInt32(4), to: &bytes); Self.append(v, to: &bytes)
        case .f32(let v): Self.append(UInt32(6), to: &bytes); Self.append(v.bitPattern, to: &bytes)
        case .bool(let v): Self.append(UInt32(7), to: &bytes); bytes.append(v ? 1 : 0)
        case .string(let v): Self.append(UInt32(8), to: &bytes); Self.append(string: v, to: &bytes)
        }
        put(key, bytes)
    }

    /// Carries `key` over from `file` exactly as encoded there (its value type included).
    public mutating func copy(_ key: String, from file: GGUFFile) throws {
        guard let bytes = file.encodedMetadata(key) else { throw ModelFileError(description: "\(file.path): missing metadata \(key)") }
        put(key, bytes)
    }

    private mutating func put(_ key: String, _ bytes: Data) {
        if let i = pairs.firstIndex(where: { $0.key == key }) { pairs[i].bytes = bytes } else { pairs.append((key, bytes)) }
    }

    /// Adds a tensor of `shape` (row-major, the contiguous dimension last, as a PyTorch weight [out, in])
    /// stored as `type` (F32 or Q8_0; Q8_0 needs rows of whole 32-element blocks).
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, values: UnsafeBufferPointer<Float>) throws {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for \(shape)")
        guard !tensors.contains(where: { $0.name == name }) else { throw ModelFileError(description: "GGUF writer: duplicate tensor \(name)") }
        let bytes: Data
        switch type {
        case .f32: bytes = Data(buffer: values)  // little-endian hosts (x86-64, arm64)
        case .q8_0:
            guard let row = shape.last, row % 32 == 0 else {
                throw ModelFileError(description: "GGUF writer: tensor \(name) of shape \(shape) has rows that are not whole Q8_0 blocks of 32")
            }
            bytes = quantizeQ8_0(values)
        default: throw ModelFileError(description: "GGUF writer: tensor \(name): writing \(type) is not supported (F32 and Q8_0 are)")
        }
        tensors.append((name, Array(shape.reversed()), type, bytes))
    }

    /// The whole file.
    public func encoded() -> Data {
        var out = Data()
        Self.append(UInt32(0x4655_4747), to: &out)
        Self.append(UInt32(3), to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        Self.append(UInt64(pairs.count), to: &out)
        for pair in pairs { out.append(pair.bytes) }
        var offset = 0
        for t in tensors {
            Self.append(string: t.name, to: &out)
            Self.append(UInt32(t.dims.count), to: &out)
            for d in t.dims { Self.append(UInt64(d), to: &out) }
            Self.append(t.type.rawValue, to: &out)
            Self.append(UInt64(offset), to: &out)
            offset += Self.padded(t.bytes.count)
        }
        out.append(Data(count: Self.padded(out.count) - out.count))
        for t in tensors {
            out.append(t.bytes)
            out.append(Data(count: Self.padded(t.bytes.count) - t.bytes.count))
        }
        return out
    }

    static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func append<T: FixedWidthInteger>(_ v: T, to data: inout Data) {
        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
    }

    static func append(string s: String, to data: inout Data) {
        append(UInt64(s.utf8.count), to: &data)
        data.append(contentsOf: Array(s.utf8))
    }
}

/// Q8_0 blocks of 32: d = max|x|/127 as f16, q = round(x/d) (ties away from zero), as llama.cpp's
/// `quantize_row_q8_0_ref`, so a file quantised here matches one llama-quantize would write.
public func quantizeQ8_0(_ values: UnsafeBufferPointer<Float>) -> Data {
    let blocks = values.count / 32
    guard blocks > 0, let x = values.baseAddress else { return Data() }
    var out = Data(count: blocks * 34)
    out.withUnsafeMutableBytes { _ = raq_quantize_q8_0(x, blocks, $0.baseAddress!, Int32(RAQ_PATH_AUTO)) }
    return out
}
