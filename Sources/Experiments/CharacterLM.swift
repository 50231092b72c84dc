// A character-level MLP language model (Bengio et al. 2003): the previous `context` bytes are
// embedded, concatenated, passed through one GELU layer and projected to next-byte logits. It is the
// smallest real training job of the project: real text (the MT-Bench reference answers), real
// optimisation, run records, checkpoints and resume. Simplifications: bytes as the vocabulary, no
// biases, no normalisation.
import Foundation
import RunRecords
import Tensor
import Training

public struct CharacterLMConfig: Codable, Sendable, Equatable {
    public var context = 8
    public var embedding = 16
    public var hidden = 512
    public var data = "../shared/bleuberi_data/mt_bench/reference_answer/gpt-4.1-mini.jsonl"
    /// The last fraction of the text is held out for evaluation.
    public var heldOutFraction = 0.05
    public var samplePrompt = "The capital of France is"
    public init() {}
}

public final class CharacterLM: TrainingTask {
    public static let vocabulary = 256
    public let config: CharacterLMConfig
    public let parameters: ParameterStore
    let text: [UInt8]
    let trainEnd: Int
    let embedding, hidden, output: ParameterStore.Entry

    /// Loads the text (every turn of every answer in the JSONL file) and initialises the weights from
    /// the run's seed.
    public init(config: CharacterLMConfig, seed: UInt64) throws {
        self.config = config
        var text: [UInt8] = []
        for record in try readJSONLines(config.data) {
            for turn in try record.records("choices", nonEmpty: true)[0].strings("turns") { text += Array(turn.utf8) + [0x0A, 0x0A] }
        }
        guard text.count > 10 * config.context else { throw DataError("\(config.data): too little text (\(text.count) bytes)") }
        self.text = text
        trainEnd = Int(Double(text.count) * (1 - config.heldOutFraction))
        let inputs = config.context * config.embedding
        parameters = ParameterStore([
            ("embedding", [Self.vocabulary, config.embedding], false),
            ("hidden.weight", [config.hidden, inputs], true),
            ("output.weight", [Self.vocabulary, config.hidden], true),
        ])
        (embedding, hidden, output) = (parameters.entries[0], parameters.entries[1], parameters.entries[2])
        var rng = Xoshiro256(seed: seed, stream: "init")
        for (entry, std) in [(embedding, 1.0), (hidden, 1 / Double(inputs).squareRoot()), (output, 1 / Double(config.hidden).squareRoot())] {
            let p = parameters.value(entry)
            for i in 0..<entry.count { p[i] = Float(rng.nextNormal() * std) }
        }
    }

    /// Predicting byte i from the `context` bytes before it, for i in the training span.
    public var exampleCount: Int { trainEnd - config.context }

    /// Activations of one forward pass over a batch of target positions.
    struct Activations {
        let batch: Int
        let ids: [Int32]      // [B, context]
        let targets: [Int32]  // [B]
        let x: Tensor<Float>       // [B, context·embedding]
        let preActivation: Tensor<Float>  // [B, hidden]
        let activation: Tensor<Float>     // [B, hidden]
        let logits: Tensor<Float>  // [B, 256]
        let logSumExp: Tensor<Float>      // [B]
        let loss: Float
    }

    func forward(positions: [Int]) -> Activations {
        let (B, C, E, H, V) = (positions.count, config.context, config.embedding, config.hidden, Self.vocabulary)
        let ids = positions.flatMap { p in text[(p - C)..<p].map { Int32($0) } }
        let targets = positions.map { Int32(text[$0]) }
        let x = Tensor<Float>(shape: [B, C * E]), pre = Tensor<Float>(shape: [B, H]), act = Tensor<Float>(shape: [B, H])
        let logits = Tensor<Float>(shape: [B, V]), lse = Tensor<Float>(shape: [B])
        ids.withUnsafeBufferPointer {
            embeddingForward(x.pointer, table: parameters.value(embedding), ids: $0.baseAddress!, count: B * C, dim: E)
        }
        matmulForward(pre.pointer, x.pointer, parameters.value(hidden), m: B, n: H, k: C * E, transposeB: true)
        geluForward(act.pointer, pre.pointer, count: B * H, approximation: .tanh)
        matmulForward(logits.pointer, act.pointer, parameters.value(output), m: B, n: V, k: H, transposeB: true)
        let loss = targets.withUnsafeBufferPointer {
            crossEntropyForward(logits: logits.pointer, targets: $0.baseAddress!, logSumExp: lse.pointer, rows: B, vocab: V)
        }
        return Activations(batch: B, ids: ids, targets: targets, x: x, preActivation: pre, activation: act,
                           logits: logits, logSumExp: lse, loss: loss)
    }

    public func computeGradients(step: Int, examples: [Int], rng: inout Xoshiro256, progress: (PhaseProgress) -> Void) throws -> TaskStep {
        let a = forward(positions: examples.map { $0 + config.context })
        let (B, C, E, H, V) = (a.batch, config.context, config.embedding, config.hidden, Self.vocabulary)
        let dLogits = Tensor<Float>(shape: [B, V]), dAct = Tensor<Float>(shape: [B, H])
        let dPre = Tensor<Float>(shape: [B, H]), dX = Tensor<Float>(shape: [B, C * E])
        a.targets.withUnsafeBufferPointer {
            crossEntropyBackward(dLogits: dLogits.pointer, dLoss: 1, logits: a.logits.pointer, targets: $0.baseAddress!,
                                 logSumExp: a.logSumExp.pointer, rows: B, vocab: V)
        }
        matmulBackward(dA: dAct.pointer, dB: parameters.gradient(output), dC: dLogits.pointer, a.activation.pointer,
                       parameters.value(output), m: B, n: V, k: H, transposeB: true)
        geluBackward(dX: dPre.pointer, dOut: dAct.pointer, a.preActivation.pointer, count: B * H, approximation: .tanh)
        matmulBackward(dA: dX.pointer, dB: parameters.gradient(hidden), dC: dPre.pointer, a.x.pointer,
                       parameters.value(hidden), m: B, n: H, k: C * E, transposeB: true)
        a.ids.withUnsafeBufferPointer {
            embeddingBackward(dTable: parameters.gradient(embedding), dOut: dX.pointer, ids: $0.baseAddress!, count: B * C, dim: E)
        }
        return TaskStep(metrics: [Metric("loss", Double(a.loss))], tokens: B)
    }

    /// Mean loss over the first 4096 held-out positions, in nats and bits per byte.
    public func evaluate(step: Int) throws -> [Metric] {
        let positions = Array((trainEnd + config.context)..<min(text.count, trainEnd + config.context + 4096))
        let loss = Double(forward(positions: positions).loss)
        return [Metric("loss", loss), Metric("bits_per_byte", loss / log(2))]
    }

    /// One continuation of the sample prompt (temperature 0.8); a language model has no reward.
    public func samples(step: Int, rng: inout Xoshiro256) throws -> [SampleRow] {
        var bytes = Array(config.samplePrompt.utf8)
        let prompt = bytes.count
        var scratch = [Float](repeating: 0, count: Self.vocabulary)
        for _ in 0..<120 {
            let window = Array(([UInt8](repeating: 0x20, count: config.context) + bytes).suffix(config.context))
            let a = forward(context: window)
            let next = scratch.withUnsafeMutableBufferPointer {
                sampleToken(logits: a.pointer, count: Self.vocabulary, config: SamplingConfig(temperature: 0.8),
                            scratch: $0.baseAddress!, rng: &rng)
            }
            bytes.append(UInt8(next))
        }
        return [SampleRow(prompt: config.samplePrompt, completion: String(decoding: bytes[prompt...], as: UTF8.self), reward: .nan)]
    }

    /// Next-byte logits for one context window.
    func forward(context window: [UInt8]) -> Tensor<Float> {
        let (C, E, H, V) = (config.context, config.embedding, config.hidden, Self.vocabulary)
        let x = Tensor<Float>(shape: [C * E]), pre = Tensor<Float>(shape: [H]), logits = Tensor<Float>(shape: [V])
        window.map { Int32($0) }.withUnsafeBufferPointer {
            embeddingForward(x.pointer, table: parameters.value(embedding), ids: $0.baseAddress!, count: C, dim: E)
        }
        matmulForward(pre.pointer, x.pointer, parameters.value(hidden), m: 1, n: H, k: C * E, transposeB: true)
        geluForward(pre.pointer, pre.pointer, count: H, approximation: .tanh)
        matmulForward(logits.pointer, pre.pointer, parameters.value(output), m: 1, n: V, k: H, transposeB: true)
        return logits
    }
}
