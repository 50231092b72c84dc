// One struct per op for the harness in GradientCheck.swift: its inputs, its call through the
// kernels, and a plain Double reference of its forward. Integer inputs (ids, targets, positions,
// masks) are fixed per struct; only floating inputs are differentiated.
import RealModule

struct MatMulCheck: OpCheck {
    let transposeA: Bool, transposeB: Bool, batch: Int
    let m = 3, n = 4, k = 5
    var name: String {
        let t = ["", " Aᵀ", " Bᵀ", " AᵀBᵀ"][(transposeA ? 1 : 0) + (transposeB ? 2 : 0)]
        return (batch > 1 ? "batched matmul" : "matmul") + t
    }
    var inputShapes: [[Int]] {
        [transposeA ? [batch, k, m] : [batch, m, k], transposeB ? [batch, n, k] : [batch, k, n]]
    }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let c = Tensor<S>(shape: [batch, m, n])
        matmulForward(c.pointer, x[0].pointer, x[1].pointer, m: m, n: n, k: k,
                      transposeA: transposeA, transposeB: transposeB, batch: batch)
        return c
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient dC: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x)
        matmulBackward(dA: g[0].pointer, dB: g[1].pointer, dC: dC.pointer, x[0].pointer, x[1].pointer,
                       m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, batch: batch)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        var c = [Double](repeating: 0, count: batch * m * n)
        for b in 0..<batch {
            for i in 0..<m {
                for j in 0..<n {
                    for p in 0..<k {
                        let a = transposeA ? x[0][b * m * k + p * m + i] : x[0][b * m * k + i * k + p]
                        let bb = transposeB ? x[1][b * k * n + j * k + p] : x[1][b * k * n + p * n + j]
                        c[b * m * n + i * n + j] += a * bb
                    }
                }
            }
        }
        return c
    }
}

struct AddCheck: OpCheck {
    let name = "add", inputShapes = [[7], [7]]
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [7]); addForward(out.pointer, x[0].pointer, x[1].pointer, count: 7); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x); addBackward(dA: g[0].pointer, dB: g[1].pointer, dOut: d.pointer, count: 7); return g
    }
    func reference(_ x: [[Double]]) -> [Double] { zip(x[0], x[1]).map(+) }
}

struct MulCheck: OpCheck {
    let name = "mul", inputShapes = [[7], [7]]
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [7]); mulForward(out.pointer, x[0].pointer, x[1].pointer, count: 7); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x)
        mulBackward(dA: g[0].pointer, dB: g[1].pointer, dOut: d.pointer, x[0].pointer, x[1].pointer, count: 7)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] { zip(x[0], x[1]).map(*) }
}

struct ScaleCheck: OpCheck {
    let name = "scale", inputShapes = [[7]], factor = -1.75
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [7]); scaleForward(out.pointer, x[0].pointer, by: S(factor), count: 7); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x); scaleBackward(dA: g[0].pointer, dOut: d.pointer, by: S(factor), count: 7); return g
    }
    func reference(_ x: [[Double]]) -> [Double] { x[0].map { $0 * factor } }
}

struct EmbeddingCheck: OpCheck {
    let name = "embedding", vocab = 6, dim = 4
    let ids: [Int32] = [3, 0, 3, 5, 1, 3]  // repeats exercise the scatter-add
    var inputShapes: [[Int]] { [[vocab, dim]] }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [ids.count, dim])
        ids.withUnsafeBufferPointer {
            embeddingForward(out.pointer, table: x[0].pointer, ids: $0.baseAddress!, count: ids.count, dim: dim)
        }
        return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x)
        ids.withUnsafeBufferPointer {
            embeddingBackward(dTable: g[0].pointer, dOut: d.pointer, ids: $0.baseAddress!, count: ids.count, dim: dim)
        }
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] { ids.flatMap { x[0][Int($0) * dim..<(Int($0) + 1) * dim] } }
}

struct RMSNormCheck: OpCheck {
    let name = "rmsnorm", rows = 3, dim = 8, eps = 1e-5
    var inputShapes: [[Int]] { [[rows, dim], [dim]] }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [rows, dim]), rstd = Tensor<S>(shape: [rows])
        rmsNormForward(out.pointer, rstd: rstd.pointer, x[0].pointer, weight: x[1].pointer, rows: rows, dim: dim, eps: S(eps))
        return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x), out = Tensor<S>(shape: [rows, dim]), rstd = Tensor<S>(shape: [rows])
        rmsNormForward(out.pointer, rstd: rstd.pointer, x[0].pointer, weight: x[1].pointer, rows: rows, dim: dim, eps: S(eps))
        rmsNormBackward(dX: g[0].pointer, dWeight: g[1].pointer, dOut: d.pointer, x[0].pointer,
                        weight: x[1].pointer, rstd: rstd.pointer, rows: rows, dim: dim)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        (0..<rows).flatMap { r -> [Double] in
            let row = x[0][r * dim..<(r + 1) * dim]
            let scale = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + eps).squareRoot()
            return row.enumerated().map { $0.element * scale * x[1][$0.offset] }
        }
    }
}

struct LayerNormCheck: OpCheck {
    let name = "layernorm", rows = 3, dim = 8, eps = 1e-5
    var inputShapes: [[Int]] { [[rows, dim], [dim], [dim]] }
    func run<S: TensorScalar>(_ x: [Tensor<S>]) -> (out: Tensor<S>, mean: Tensor<S>, rstd: Tensor<S>) {
        let out = Tensor<S>(shape: [rows, dim]), mean = Tensor<S>(shape: [rows]), rstd = Tensor<S>(shape: [rows])
        layerNormForward(out.pointer, mean: mean.pointer, rstd: rstd.pointer, x[0].pointer, weight: x[1].pointer,
                         bias: x[2].pointer, rows: rows, dim: dim, eps: S(eps))
        return (out, mean, rstd)
    }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> { run(x).out }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x), saved = run(x)
        layerNormBackward(dX: g[0].pointer, dWeight: g[1].pointer, dBias: g[2].pointer, dOut: d.pointer, x[0].pointer,
                          weight: x[1].pointer, mean: saved.mean.pointer, rstd: saved.rstd.pointer, rows: rows, dim: dim)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        (0..<rows).flatMap { r -> [Double] in
            let row = Array(x[0][r * dim..<(r + 1) * dim])
            let mean = row.reduce(0, +) / Double(dim)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            return (0..<dim).map { (row[$0] - mean) / (variance + eps).squareRoot() * x[1][$0] + x[2][$0] }
        }
    }
}

struct SoftmaxCheck: OpCheck {
    let name = "softmax", rows = 3, dim = 6
    var inputShapes: [[Int]] { [[rows, dim]] }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [rows, dim]); softmaxForward(out.pointer, x[0].pointer, rows: rows, dim: dim); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x), y = forward(x)
        softmaxBackward(dX: g[0].pointer, dOut: d.pointer, out: y.pointer, rows: rows, dim: dim)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        (0..<rows).flatMap { r -> [Double] in
            let e = x[0][r * dim..<(r + 1) * dim].map { Double.exp($0) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
    }
}

struct LogSoftmaxCheck: OpCheck {
    let name = "log-softmax", rows = 3, dim = 6
    var inputShapes: [[Int]] { [[rows, dim]] }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [rows, dim]); logSoftmaxForward(out.pointer, x[0].pointer, rows: rows, dim: dim); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x), y = forward(x)
        logSoftmaxBackward(dX: g[0].pointer, dOut: d.pointer, out: y.pointer, rows: rows, dim: dim)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        (0..<rows).flatMap { r -> [Double] in
            let row = x[0][r * dim..<(r + 1) * dim]
            let lse = Double.log(row.map { Double.exp($0) }.reduce(0, +))
            return row.map { $0 - lse }
        }
    }
}

struct CrossEntropyCheck: OpCheck {
    let name = "cross-entropy", vocab = 7
    let targets: [Int32] = [2, -1, 6, 0, -1]  // −1: ignored position
    var inputShapes: [[Int]] { [[targets.count, vocab]] }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let lse = Tensor<S>(shape: [targets.count])
        let loss = targets.withUnsafeBufferPointer {
            crossEntropyForward(logits: x[0].pointer, targets: $0.baseAddress!, logSumExp: lse.pointer,
                                rows: targets.count, vocab: vocab)
        }
        return Tensor<S>(shape: [1], [loss])
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x), lse = Tensor<S>(shape: [targets.count])
        targets.withUnsafeBufferPointer {
            _ = crossEntropyForward(logits: x[0].pointer, targets: $0.baseAddress!, logSumExp: lse.pointer,
                                    rows: targets.count, vocab: vocab)
            crossEntropyBackward(dLogits: g[0].pointer, dLoss: d[0], logits: x[0].pointer, targets: $0.baseAddress!,
                                 logSumExp: lse.pointer, rows: targets.count, vocab: vocab)
        }
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        let counted = targets.enumerated().filter { $0.element >= 0 }
        let total = counted.map { r, t -> Double in
            let row = x[0][r * vocab..<(r + 1) * vocab]
            return Double.log(row.map { Double.exp($0) }.reduce(0, +)) - row[r * vocab + Int(t)]
        }.reduce(0, +)
        return [total / Double(counted.count)]
    }
}

struct GELUCheck: OpCheck {
    let approximation: GELUApproximation
    var name: String { "gelu (\(approximation.rawValue))" }
    let inputShapes = [[9]]
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [9]); geluForward(out.pointer, x[0].pointer, count: 9, approximation: approximation); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x)
        geluBackward(dX: g[0].pointer, dOut: d.pointer, x[0].pointer, count: 9, approximation: approximation)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        x[0].map { v in
            switch approximation {
            case .erf: return 0.5 * v * (1 + Double.erf(v / 2.0.squareRoot()))
            case .tanh: return 0.5 * v * (1 + Double.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v)))
            }
        }
    }
}

struct SiLUCheck: OpCheck {
    let name = "silu", inputShapes = [[9]]
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [9]); siluForward(out.pointer, x[0].pointer, count: 9); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x); siluBackward(dX: g[0].pointer, dOut: d.pointer, x[0].pointer, count: 9); return g
    }
    func reference(_ x: [[Double]]) -> [Double] { x[0].map { $0 / (1 + Double.exp(-$0)) } }
}

struct SwiGLUCheck: OpCheck {
    let name = "swiglu", inputShapes = [[9], [9]]
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: [9]); swigluForward(out.pointer, gate: x[0].pointer, up: x[1].pointer, count: 9); return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x)
        swigluBackward(dGate: g[0].pointer, dUp: g[1].pointer, dOut: d.pointer, gate: x[0].pointer, up: x[1].pointer, count: 9)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] { zip(x[0], x[1]).map { g, u in g / (1 + Double.exp(-g)) * u } }
}

struct RoPECheck: OpCheck {
    let convention: RoPEConvention
    var name: String { "rope (\(convention.rawValue))" }
    let heads = 2, headDim = 8, base = 10_000.0
    let positions: [Int32] = [0, 1, 2, 7, 3, 40]  // rows of a padded batch need not be consecutive
    var inputShapes: [[Int]] { [[positions.count, heads, headDim]] }
    func table<S: TensorScalar>(_: S.Type) -> RoPETable<S> {
        RoPETable(headDim: headDim, base: S(base), positions: Int(positions.max()!) + 1)
    }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> {
        let out = Tensor<S>(shape: inputShapes[0])
        positions.withUnsafeBufferPointer {
            ropeForward(out.pointer, x[0].pointer, positions: $0.baseAddress!, tokens: positions.count,
                        heads: heads, headDim: headDim, table: table(S.self), convention: convention)
        }
        return out
    }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x)
        positions.withUnsafeBufferPointer {
            ropeBackward(dX: g[0].pointer, dOut: d.pointer, positions: $0.baseAddress!, tokens: positions.count,
                         heads: heads, headDim: headDim, table: table(S.self), convention: convention)
        }
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        var out = x[0]
        let half = headDim / 2
        for (t, p) in positions.enumerated() {
            for h in 0..<heads {
                let o = (t * heads + h) * headDim
                for i in 0..<half {
                    let angle = Double(p) / Double.pow(base, Double(2 * i) / Double(headDim))
                    let (ia, ib) = convention == .rotateHalf ? (o + i, o + i + half) : (o + 2 * i, o + 2 * i + 1)
                    out[ia] = x[0][ia] * Double.cos(angle) - x[0][ib] * Double.sin(angle)
                    out[ib] = x[0][ia] * Double.sin(angle) + x[0][ib] * Double.cos(angle)
                }
            }
        }
        return out
    }
}

struct AttentionCheck: OpCheck {
    var causal = true
    var name: String { causal ? "causal attention (GQA, padding)" : "bidirectional attention (GQA, padding)" }
    let batch = 2, seq = 5, queryHeads = 4, kvHeads = 2, headDim = 4
    // Row 0 is full; row 1 is left-padded by two positions, whose queries see no key.
    let keyMask: [Bool] = [true, true, true, true, true, false, false, true, true, true]
    var inputShapes: [[Int]] {
        [[batch, seq, queryHeads, headDim], [batch, seq, kvHeads, headDim], [batch, seq, kvHeads, headDim]]
    }
    func run<S: TensorScalar>(_ x: [Tensor<S>]) -> (out: Tensor<S>, probs: Tensor<S>) {
        let out = Tensor<S>(shape: inputShapes[0]), probs = Tensor<S>(shape: [batch, queryHeads, seq, seq])
        keyMask.withUnsafeBufferPointer {
            attentionForward(out.pointer, probs: probs.pointer, q: x[0].pointer, k: x[1].pointer, v: x[2].pointer,
                             keyMask: $0.baseAddress!, batch: batch, queries: seq, keys: seq, capacity: seq,
                             queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim, causal: causal)
        }
        return (out, probs)
    }
    func forward<S: TensorScalar>(_ x: [Tensor<S>]) -> Tensor<S> { run(x).out }
    func backward<S: TensorScalar>(_ x: [Tensor<S>], outputGradient d: Tensor<S>) -> [Tensor<S>] {
        let g = zeros(like: x), saved = run(x)
        attentionBackward(dQ: g[0].pointer, dK: g[1].pointer, dV: g[2].pointer, dOut: d.pointer, probs: saved.probs.pointer,
                          q: x[0].pointer, k: x[1].pointer, v: x[2].pointer, batch: batch, seq: seq,
                          queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim)
        return g
    }
    func reference(_ x: [[Double]]) -> [Double] {
        let (q, k, v) = (x[0], x[1], x[2])
        var out = [Double](repeating: 0, count: q.count)
        for b in 0..<batch {
            for h in 0..<queryHeads {
                let g = h / (queryHeads / kvHeads)
                for i in 0..<seq {
                    let visible = (0..<(causal ? i + 1 : seq)).filter { keyMask[b * seq + $0] }
                    let scores = visible.map { j in
                        (0..<headDim).map { d in
                            q[((b * seq + i) * queryHeads + h) * headDim + d] * k[((b * seq + j) * kvHeads + g) * headDim + d]
                        }.reduce(0, +) / Double(headDim).squareRoot()
                    }
                    let maxScore = scores.max() ?? 0
                    let weights = scores.map { Double.exp($0 - maxScore) }
                    let total = weights.reduce(0, +)
                    for (w, j) in zip(weights, visible) {
                        for d in 0..<headDim {
                            out[((b * seq + i) * queryHeads + h) * headDim + d] +=
                                w / total * v[((b * seq + j) * kvHeads + g) * headDim + d]
                        }
                    }
                }
            }
        }
        return out
    }
}
