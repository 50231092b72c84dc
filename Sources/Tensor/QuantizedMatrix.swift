// Weight matrices kept in GGUF's quantized blocks for decoding: y = x · Wᵀ straight from the blocks,
// with x quantized per 32-element block to int8 (CQuantKernels). Decoding one token reads every weight
// once, so it is bound by memory traffic: Q4_1 moves 0.625 bytes per weight and Q8_0 1.06, against fp32's 4.
import CQuantKernels
import Foundation

/// Block formats the quantized kernels multiply by (raw values are ggml's type ids).
public enum QuantizedFormat: Int32, Sendable, CaseIterable {
    case q4_1 = 3, q8_0 = 8

    /// Bytes of one block of 32 weights.
    public var blockBytes: Int { raq_block_bytes(rawValue) }
}

/// The code path of a quantized product; `auto` is the best one CPUID reports.
public enum QuantizedKernelPath: Int32, Sendable, CaseIterable {
    case auto = 0, scalar = 1, avx2 = 2, avx512VNNI = 3

    public var isSupported: Bool { raq_path_supported(rawValue) }
    /// What `auto` runs on this CPU.
    public static var best: QuantizedKernelPath { QuantizedKernelPath(rawValue: raq_best_path()) ?? .scalar }
}

/// A [rows, cols] matrix of quantized blocks (cols a multiple of 32) in the kernels' layout, owning its
/// bytes: Q4_1 rows as the file stores them, Q8_0 repacked in groups of 16 rows (`raq_pack`).
public final class QuantizedMatrix: @unchecked Sendable {
    public let format: QuantizedFormat
    public let rows: Int
    public let cols: Int
    public let byteCount: Int
    let blocks: UnsafeMutableRawPointer

    /// Threads of one product (the caller and one helper share its output rows). A product's result
    /// does not depend on it: each output is one thread's dot product in a fixed order.
    public static let defaultThreads = min(2, ProcessInfo.processInfo.activeProcessorCount)

    /// The packed bytes of rows · cols / 32 blocks of `format`, written into the matrix's memory by `fill`.
    init(format: QuantizedFormat, rows: Int, cols: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) {
        precondition(rows > 0 && cols > 0 && cols % 32 == 0, "quantized matrix [\(rows), \(cols)]: columns must be whole blocks of 32")
        self.format = format
        self.rows = rows
        self.cols = cols
        byteCount = raq_packed_bytes(format.rawValue, Int32(rows), Int32(cols))
        blocks = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        fill(UnsafeMutableRawBufferPointer(start: blocks, count: byteCount))
    }

    /// Packs rows · cols / 32 blocks of `format` from `source`, row after row as GGUF stores them.
    public convenience init(format: QuantizedFormat, rows: Int, cols: Int, copying source: UnsafeRawPointer) {
        self.init(format: format, rows: rows, cols: cols) { raq_pack(format.rawValue, source, Int32(rows), Int32(cols), $0.baseAddress!) }
    }

    /// Quantizes `values` [rows, cols] to Q8_0 by GGUF's rule (`quantizeQ8_0`) and packs it, the groups of
    /// 16 rows split across `threads` (each block is quantized alone and each group packed alone, so the
    /// bytes do not depend on the split or the path). Training re-quantizes its weights before every
    /// sampled batch with it.
    public convenience init(quantizingQ8_0 values: UnsafePointer<Float>, rows: Int, cols: Int, threads: Int = QuantizedMatrix.defaultThreads,
                            path: QuantizedKernelPath = .auto) {
        precondition(path.isSupported, "the \(path) quantized kernel needs CPU features this machine lacks")
        self.init(format: .q8_0, rows: rows, cols: cols) { packed in
            let rowBlocks = cols / 32, groups = (rows + 15) / 16, groupBytes = packed.count / groups
            let parts = max(1, min(threads, groups))
            nonisolated(unsafe) let (source, destination) = (values, packed.baseAddress!)  // disjoint groups per thread
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: 16 * rowBlocks * QuantizedFormat.q8_0.blockBytes, alignment: 64)
                defer { scratch.deallocate() }
                for g in groups * p / parts..<groups * (p + 1) / parts {
                    let first = 16 * g, count = min(16, rows - first)
                    _ = raq_quantize_q8_0(source + first * cols, count * rowBlocks, scratch, path.rawValue)
                    raq_pack(QuantizedFormat.q8_0.rawValue, scratch, Int32(count), Int32(cols), destination + g * groupBytes)
                }
            }
        }
    }

    deinit { blocks.deallocate() }

    /// A copy of the blocks in the kernels' layout (a copy: a view could outlive the matrix).
    public var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: blocks, count: byteCount)) }

    /// y [m, rows] = x [m, cols] · Wᵀ, or y += that with `accumulate`.
    public func multiply(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, m: Int, accumulate: Bool = false,
                         path: QuantizedKernelPath = .auto, threads: Int = QuantizedMatrix.defaultThreads) {
        precondition(path.isSupported, "the \(path) quantized kernel needs CPU features this machine lacks")
        let done = raq_matmul(format.rawValue, blocks, Int32(rows), Int32(cols), x, Int32(m), y, accumulate, path.rawValue, Int32(threads))
        precondition(done, "quantized product failed (out of memory)")
    }
}
