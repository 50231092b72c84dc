// The weights KV-cached generation multiplies by: the fp32 parameters (the exact reference, and what
// training always uses), or quantized copies of the matrices for decoding at the speed of memory.
// Norms stay fp32 and the embedding lookup reads the fp32 table; the tied LM head is quantized with
// the other matrices. The copies are taken once: a model that trains afterwards must take them again.
import ModelFiles
import Tensor

/// How generation stores its matrices: `native` as the GGUF file does (Q8_0 and Q4_1 blocks kept,
/// F32 matrices on the fp32 path), `q8_0` re-quantized from the fp32 weights, `f32` dequantised.
public enum WeightMode: String, Sendable, CaseIterable, Codable {
    case native, q8_0, f32
}

/// Quantized matrices of one block; nil ones take the fp32 path.
struct QuantizedLayer {
    let q, k, v, output, gate, up, down: QuantizedMatrix?
}

struct InferenceWeights {
    let layers: [QuantizedLayer]
    let head: QuantizedMatrix?
    /// Threads of each quantized product (their results do not depend on it).
    let threads: Int
}

extension Llama {
    /// Makes generation multiply by `mode`'s matrices from now on (scoring and training stay fp32).
    /// `native` keeps the blocks `gguf` stores (the file the model was loaded from); without a file it
    /// is the fp32 path, which is how a checkpoint stores its weights. `threads` is that of the quantized
    /// products (the fp32 path uses BLAS's).
    public func useInferenceWeights(_ mode: WeightMode, gguf: GGUFFile? = nil, threads: Int = QuantizedMatrix.defaultThreads) throws {
        switch mode {
        case .f32:
            inference = nil
        case .q8_0:
            inference = try build(threads: threads) { entry in
                guard entry.shape[1] % 32 == 0 else {
                    throw ModelError("\(entry.name) has rows of \(entry.shape[1]) values, not whole Q8_0 blocks of 32")
                }
                return QuantizedMatrix(quantizingQ8_0: w(entry), rows: entry.shape[0], cols: entry.shape[1], threads: threads)
            }
        case .native:
            guard let gguf else { inference = nil; return }
            inference = try build(threads: threads) { entry in
                let info = try gguf.tensor(entry.name)
                guard Array(info.dims.reversed()) == entry.shape else {
                    throw ModelError("\(gguf.path): tensor \(entry.name) has dims \(info.dims), not the model's \(Array(entry.shape.reversed()))")
                }
                switch info.type {
                case .f32: return nil
                case .q8_0, .q4_1:
                    let format: QuantizedFormat = info.type == .q8_0 ? .q8_0 : .q4_1
                    return gguf.withBytes(info) {
                        QuantizedMatrix(format: format, rows: entry.shape[0], cols: entry.shape[1], copying: $0.baseAddress!)
                    }
                default:
                    throw ModelError("\(gguf.path): tensor \(entry.name) is stored as \(info.type); --weights native multiplies " +
                                     "Q8_0, Q4_1 and F32 matrices only (use q8_0 or f32)")
                }
            }
        }
    }

    /// The format of each matrix generation multiplies by (per block q, k, v, output, gate, up, down;
    /// then the head): "q8_0", "q4_1" or "f32". Empty on the all-fp32 path.
    public var inferenceWeightFormats: [String] {
        guard let inference else { return [] }
        let all = inference.layers.flatMap { [$0.q, $0.k, $0.v, $0.output, $0.gate, $0.up, $0.down] } + [inference.head]
        return all.map { $0.map { "\($0.format)" } ?? "f32" }
    }

    private func build(threads: Int, _ make: (ParameterStore.Entry) throws -> QuantizedMatrix?) throws -> InferenceWeights {
        let layers = try self.layers.map { l in
            QuantizedLayer(q: try make(l.q), k: try make(l.k), v: try make(l.v), output: try make(l.output),
                           gate: try make(l.gate), up: try make(l.up), down: try make(l.down))
        }
        return InferenceWeights(layers: layers, head: try make(embedding), threads: threads)
    }

    /// y [m, n] = x [m, k] · Wᵀ (+= with `accumulate`) for the matrix `entry` [n, k]: quantized when a
    /// copy is given, fp32 otherwise.
    @inline(__always)
    func linear(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ entry: ParameterStore.Entry, _ quantized: QuantizedMatrix?,
                m: Int, n: Int, k: Int, accumulate: Bool = false) {
        if let quantized {
            quantized.multiply(y, x, m: m, accumulate: accumulate, threads: inference?.threads ?? QuantizedMatrix.defaultThreads)
        } else {
            matmulForward(y, x, w(entry), m: m, n: n, k: k, transposeB: true, accumulate: accumulate)
        }
    }
}
