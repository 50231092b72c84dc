import Foundation
import Testing
@testable import ModelFiles
@testable import Tensor
@testable import Transformer

/// Random GGUF blocks: every int8/nibble value, f16 scales around 0.01 (and mins around ±0.05).
func randomBlocks(_ format: QuantizedFormat, rows: Int, cols: Int, rng: inout Xoshiro256) -> [UInt8] {
    let blocks = rows * cols / 32
    var bytes = [UInt8](repeating: 0, count: blocks * format.blockBytes)
    func half(_ v: Float, at o: Int) { let h = Float16(v).bitPattern; bytes[o] = UInt8(h & 0xFF); bytes[o + 1] = UInt8(h >> 8) }
    for b in 0..<blocks {
        let o = b * format.blockBytes
        for j in 0..<format.blockBytes { bytes[o + j] = UInt8(truncatingIfNeeded: rng.next()) }
        half(Float(rng.nextDouble() * 0.02 + 0.001), at: o)
        if format == .q4_1 { half(Float(rng.nextDouble() - 0.5) * 0.1, at: o + 2) }
        if format == .q8_0 { for j in 2..<34 where bytes[o + j] == 0x80 { bytes[o + j] = 0x81 } }  // −128: never written by ggml
    }
    return bytes
}

@Suite("Quantized kernels against the dequantised fp32 product")
struct QuantizedKernelTests {
    static let paths = QuantizedKernelPath.allCases.filter { $0 != .auto }

    /// The kernels multiply the weights exactly (integer block dot products); the only approximation is
    /// the activations' rounding to d·q with d = max|x_block|/127, at most d/2 per element. So for both
    /// formats |y − Σ_j ŵ_j x_j| ≤ Σ_j |ŵ_j| · max|x_block(j)| / 254, plus float rounding of the scale
    /// products (≤ 1e-5 of Σ|ŵ_j x_j| here).
    func check(_ format: QuantizedFormat, rows n: Int, cols k: Int, m: Int) throws {
        var rng = Xoshiro256(seed: UInt64(n * 1000 + k + m), stream: "quantized")
        let bytes = randomBlocks(format, rows: n, cols: k, rng: &rng)
        let matrix = bytes.withUnsafeBytes { QuantizedMatrix(format: format, rows: n, cols: k, copying: $0.baseAddress!) }
        var weights = [Float](repeating: 0, count: n * k)
        bytes.withUnsafeBytes { raw in
            weights.withUnsafeMutableBufferPointer {
                dequantizeRows(raw.baseAddress!, type: GGMLType(rawValue: UInt32(format.rawValue))!, count: n * k, into: $0.baseAddress!)
            }
        }
        // activations with a few outliers, the case per-block scales exist for
        let x = (0..<m * k).map { i in Float(rng.nextNormal()) * (i % 37 == 0 ? 8 : 1) }
        var bound = [Double](repeating: 0, count: m * n), exact = bound
        for i in 0..<m {
            for r in 0..<n {
                var sum = 0.0, err = 0.0, magnitude = 0.0
                for b in 0..<k / 32 {
                    let xs = x[i * k + 32 * b..<i * k + 32 * b + 32], amax = Double(xs.map(abs).max()!)
                    for j in 0..<32 {
                        let wv = Double(weights[r * k + 32 * b + j]), xv = Double(x[i * k + 32 * b + j])
                        sum += wv * xv
                        err += abs(wv) * amax / 254
                        magnitude += abs(wv * xv)
                    }
                }
                exact[i * n + r] = sum
                bound[i * n + r] = err + 1e-5 * magnitude + 1e-6
            }
        }
        var reference: [Float]?, firstPath: (QuantizedKernelPath, [Float])?
        for path in Self.paths where path.isSupported {
            for threads in [1, 2] {
                var y = [Float](repeating: 7, count: m * n)  // overwritten, not accumulated into
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { matrix.multiply($0.baseAddress!, xp.baseAddress!, m: m, path: path, threads: threads) }
                }
                for e in 0..<m * n {
                    let error = abs(Double(y[e]) - exact[e])
                    try #require(error <= bound[e], "\(format) \(path) threads \(threads) [\(n)×\(k)] m \(m): element \(e) off by \(error) > \(bound[e])")
                }
                if threads == 1 { reference = y } else { #expect(y == reference, "\(format) \(path): 2 threads differ bitwise from 1") }
                // Q8_0's paths all sum each block exactly and apply its scale in one FMA, in block order
                if format == .q8_0 {
                    if let (p, first) = firstPath { #expect(y == first, "q8_0 \(path) differs bitwise from \(p)") } else { firstPath = (path, y) }
                }
                // rows are multiplied in tiles of up to eight; a row's result must not depend on its tile
                for i in [0, m / 2, m - 1] {
                    var single = [Float](repeating: 0, count: n)
                    x.withUnsafeBufferPointer { xp in
                        single.withUnsafeMutableBufferPointer { matrix.multiply($0.baseAddress!, xp.baseAddress! + i * k, m: 1, path: path, threads: threads) }
                    }
                    #expect(single[...] == y[i * n..<(i + 1) * n], "\(format) \(path): row \(i) alone differs bitwise from row \(i) of \(m)")
                }
                // accumulate: y += x·Wᵀ
                var acc = y
                x.withUnsafeBufferPointer { xp in
                    acc.withUnsafeMutableBufferPointer { matrix.multiply($0.baseAddress!, xp.baseAddress!, m: m, accumulate: true, path: path, threads: threads) }
                }
                #expect(zip(acc, y).allSatisfy { $0 == $1 + $1 }, "\(format) \(path): accumulate is not y + product")
            }
        }
    }

    // Shapes: odd block counts (the SIMD paths' one-block tails), row tiles of every size (1–8 rows),
    // and products large enough to be shared with the helper thread (≥ 65,536 weights).
    @Test(arguments: QuantizedFormat.allCases)
    func smallProducts(format: QuantizedFormat) throws {
        try check(format, rows: 5, cols: 32, m: 1)
        try check(format, rows: 7, cols: 96, m: 3)
        try check(format, rows: 9, cols: 160, m: 6)
        try check(format, rows: 6, cols: 96, m: 15)
        try check(format, rows: 33, cols: 64, m: 32)
    }

    /// Q8_0 quantization is llama.cpp's quantize_row_q8_0_ref, byte for byte: d = max|x|/127 rounded to f16
    /// (nearest even), q = x/d rounded half away from zero; an all-zero block has d = 0 and q = 0. The
    /// threaded matrix form packs the same bytes at any thread count.
    @Test func q8_0QuantizationIsGGMLsReferenceRule() throws {
        var rng = Xoshiro256(seed: 11)
        var values = (0..<(7 * 96)).map { _ in Float(rng.nextNormal()) * 0.05 }
        for j in 96..<128 { values[j] = 0 }                                              // a zero block
        values[128] = 127                                                                 // d = 1: q = x exactly,
        for j in 129..<160 { values[j] = Float(j - 144) + 0.5 }                         // and ties: 2.5 → 3, not 2
        values[141] = Float(0.5).nextDown                                                 // just under a tie: 0 (trunc(v + 0.5) gives 1)
        values[200] = 1e-9                                                                // a tiny block maximum
        var expected: [UInt8] = []
        for b in 0..<values.count / 32 {
            let x = values[32 * b..<32 * b + 32], d = x.reduce(0) { max($0, abs($1)) } / 127
            let bits = Float16(d).bitPattern
            expected += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
            expected += x.map { UInt8(bitPattern: Int8(($0 * (d == 0 ? 0 : 1 / d)).rounded(.toNearestOrAwayFromZero))) }
        }
        let written = values.withUnsafeBufferPointer { Array(quantizeQ8_0($0)) }
        #expect(written == expected)
        let packed = expected.withUnsafeBytes { QuantizedMatrix(format: .q8_0, rows: 7, cols: 96, copying: $0.baseAddress!).bytes }
        for path in QuantizedKernelTests.paths where path.isSupported {
            for threads in [1, 2, 5] {
                let matrix = values.withUnsafeBufferPointer {
                    QuantizedMatrix(quantizingQ8_0: $0.baseAddress!, rows: 7, cols: 96, threads: threads, path: path)
                }
                #expect(matrix.bytes == packed, "\(path), \(threads) threads")
            }
        }
    }

    /// Q8_0 matrices are packed in groups of 16 rows, quantized a group at a time on each thread: the
    /// bytes are those of packing the whole file-order matrix, whatever the split.
    @Test func q8_0PackingDoesNotDependOnTheThreads() throws {
        var rng = Xoshiro256(seed: 12)
        let values = (0..<(53 * 64)).map { _ in Float(rng.nextNormal()) }
        let rows = values.withUnsafeBufferPointer { quantizeQ8_0($0) }
        let whole = rows.withUnsafeBytes { QuantizedMatrix(format: .q8_0, rows: 53, cols: 64, copying: $0.baseAddress!).bytes }
        #expect(whole.count == 4 * 2 * 16 * 34)  // 53 rows: four groups, the last padded
        for threads in [1, 2, 3, 5] {
            let matrix = values.withUnsafeBufferPointer { QuantizedMatrix(quantizingQ8_0: $0.baseAddress!, rows: 53, cols: 64, threads: threads) }
            #expect(matrix.bytes == whole, "\(threads) threads")
        }
    }

    @Test(arguments: QuantizedFormat.allCases)
    func largeProductsShareRowsWithTheHelperThread(format: QuantizedFormat) throws {
        try check(format, rows: 301, cols: 288, m: 1)
        try check(format, rows: 256, cols: 576, m: 4)
    }

    /// Every dispatch path exists on the CPU this project runs on (AVX-512 VNNI); elsewhere at least the
    /// portable one. The CPU's own flags decide what `auto` must pick.
    @Test func dispatchFollowsTheCPUFlags() throws {
        #expect(QuantizedKernelPath.scalar.isSupported)
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        let avx2 = ["avx2", "fma", "f16c"].allSatisfy(flags.contains)
        let vnni = avx2 && ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"].allSatisfy(flags.contains)
        if !flags.isEmpty {
            #expect(QuantizedKernelPath.avx2.isSupported == avx2)
            #expect(QuantizedKernelPath.avx512VNNI.isSupported == vnni)
            #expect(QuantizedKernelPath.best == (vnni ? .avx512VNNI : avx2 ? .avx2 : .scalar))
        }
    }
}

@Suite("Generation from quantized weights")
struct QuantizedGenerationTests {
    static let config = LlamaConfig(vocabSize: 50, hiddenSize: 64, intermediateSize: 96, layers: 2, heads: 4, kvHeads: 2,
                                    ropeTheta: 10_000, contextLength: 64)

    func model() -> Llama {
        let m = Llama(config: Self.config)
        // Seed 1 has no near-tie in its first 24 greedy steps (most random tiny models hit one early).
        m.initializeRandom(seed: 1)
        for i in 0..<m.parameters.count where m.parameters.values[i] != 1 { m.parameters.values[i] *= 5 }  // wider logit gaps
        return m
    }

    /// Logits of every slot of `tokens` through the KV-cached path, with the model's inference weights.
    func cachedLogits(_ m: Llama, _ tokens: [Int32]) -> [Float] {
        let cache = KVCache(m.config, batch: 1, capacity: tokens.count)
        let buffers = InferenceBuffers(m.config, rows: tokens.count, batch: 1, queries: tokens.count, keys: tokens.count,
                                       logitRows: tokens.count)
        m.forwardCached(tokens: tokens, positions: tokens.indices.map(Int32.init), mask: tokens.map { _ in true },
                        slots: tokens.count, cache: cache, buffers: buffers, allSlots: true, quantized: m.inference)
        m.headLogits(buffers, rows: tokens.count, quantized: m.inference)
        return buffers.logits.array
    }

    /// q8_0 decoding follows the fp32 model: logits within 2 % of their range at every step (teacher-
    /// forced on the fp32 continuation), and the same greedy tokens up to the first step whose fp32
    /// top-1/top-2 margin is under twice that step's largest logit difference (a near-tie).
    @Test func q8_0GreedyFollowsF32() throws {
        let reference = model(), quantized = model()
        try quantized.useInferenceWeights(.q8_0)
        #expect(quantized.inferenceWeightFormats == Array(repeating: "q8_0", count: 2 * 7 + 1))
        let prompt: [Int32] = [4, 17, 9, 33, 2]
        var rngs = [Xoshiro256(seed: 0)]
        let f32 = try reference.generate(prompts: [prompt], maxNewTokens: 24, sampling: .greedy, stopTokens: [], rngs: &rngs)[0]
        let sequence = prompt + f32.tokens, V = Self.config.vocabSize
        let a = cachedLogits(reference, sequence), b = cachedLogits(quantized, sequence)
        let range = Double(a.max()! - a.min()!), worst = zip(a, b).map { Double(abs($0 - $1)) }.max()!
        #expect(worst < 0.02 * range, "largest logit difference \(worst) of a range \(range)")
        // a step is clear while the fp32 top-1/top-2 margin exceeds twice that row's largest difference
        let clear = f32.tokens.indices.first { s in
            let r = (prompt.count - 1 + s) * V, row = a[r..<r + V].sorted(by: >)
            let difference = (r..<r + V).map { abs(a[$0] - b[$0]) }.max()!
            return row[0] - row[1] < 2 * difference
        } ?? f32.tokens.count
        #expect(clear >= 8, "only \(clear) steps with a clear margin")
        rngs = [Xoshiro256(seed: 0)]
        let q8 = try quantized.generate(prompts: [prompt], maxNewTokens: clear, sampling: .greedy, stopTokens: [], rngs: &rngs)[0]
        #expect(q8.tokens == Array(f32.tokens.prefix(clear)))
    }

    /// Training and scoring ignore the inference weights: the fp32 path stays the reference.
    @Test func scoringStaysF32() throws {
        let reference = model(), quantized = model()
        try quantized.useInferenceWeights(.q8_0)
        let batch = TokenBatch(leftPadding: [[3, 8, 21, 5, 40]]), targets: [Int32] = [8, 21, 5, 40, -1]
        #expect(try quantized.scoreLogProbs(batch, targets: targets) == reference.scoreLogProbs(batch, targets: targets))
        #expect(try quantized.tokenLogProbs(quantized.forward(batch), targets: targets)
                == reference.tokenLogProbs(reference.forward(batch), targets: targets))
    }

    @Test func nativeWithoutAFileIsF32() throws {
        let m = model()
        try m.useInferenceWeights(.native)
        #expect(m.inferenceWeightFormats.isEmpty)
    }
}

struct LlamaCppGreedyFixture: Decodable {
    struct Case: Decodable { let prompt: String; let ids: [Int32]; let greedy: [Int32]; let margins: [Float] }
    let cases: [Case]

    static let shared: Result<LlamaCppGreedyFixture, Error> = Result {
        guard let url = Bundle.module.url(forResource: "Fixtures/llama_cpp_greedy", withExtension: "json") else {
            throw ModelFileError(description: "missing fixture llama_cpp_greedy.json: run Scripts/fixtures/make llama_cpp_greedy")
        }
        return try JSONDecoder().decode(LlamaCppGreedyFixture.self, from: Data(contentsOf: url))
    }
}

extension SmolLM2 {
    static let nativeModel: Result<Llama, Error> = Result { try Llama.load(gguf: file.get(), weights: .native) }
}

@Suite("SmolLM2-135M-Instruct from its Q4_1 blocks against llama.cpp")
struct SmolLM2NativeTests {
    @Test func nativeKeepsTheFileFormats() throws {
        let formats = try SmolLM2.nativeModel.get().inferenceWeightFormats
        #expect(formats.dropLast() == ArraySlice(repeating: "q4_1", count: 30 * 7))
        #expect(formats.last == "q8_0")  // token_embd, the tied head
    }

    /// Greedy tokens equal llama.cpp's on the same file up to the first step where llama.cpp's
    /// top-1/top-2 margin is under 0.2: both quantize activations per block, but not identically (fp32
    /// against fp16 scales, summation order, attention), so a closer race may go either way. (Measured:
    /// "List three primary colors." parts at step 9, where llama.cpp's margin is 0.158 and our choice is
    /// the fp32 model's, transformers' too.)
    @Test func greedyMatchesLlamaCppUpToTheFirstNearTie() throws {
        let model = try SmolLM2.nativeModel.get(), fixture = try LlamaCppGreedyFixture.shared.get()
        var compared = 0
        for c in fixture.cases {
            let clear = c.margins.firstIndex { $0 < 0.2 } ?? c.greedy.count
            guard clear > 0 else { continue }
            var rngs = [Xoshiro256(seed: 0)]
            let g = try model.generate(prompts: [c.ids], maxNewTokens: clear, sampling: .greedy, stopTokens: [2], rngs: &rngs)[0]
            #expect(g.tokens == Array(c.greedy.prefix(g.tokens.count)), "\(c.prompt)")
            compared += g.tokens.count
        }
        #expect(compared >= 40)
    }
}
