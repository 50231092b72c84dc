// BERTScore (Zhang et al. 2020) as bert_score 0.3.13 computes it, on a local BERT folder (all-MiniLM-L6-v2
// here, layer 6): each sentence is stripped (str.strip), WordPiece-encoded with [CLS]/[SEP] (512 at most) and run
// through the first `layer` layers; token embeddings are L2-normalised; a hypothesis token's precision is
// its best cosine against the reference tokens and a reference token's recall its best against the
// hypothesis tokens ([CLS]/[SEP] included as candidates); P and R are weighted means with weight 0 on
// [CLS]/[SEP] and otherwise 1, or idf = ln((M+1)/(df+1)) over the M references when idf is on;
// F = 2PR/(P+R). An empty hypothesis or reference scores 0. Several references: P, R and F are each the
// maximum over them. Optional baseline rescaling X' = (X − b)/(1 − b).
// Simplification: bert_score zeroes the similarities of padding positions inside its batches, so a token
// whose every real similarity is negative scores 0 there; here it keeps its (negative) best.
import Foundation
import Tensor
import Tokenizers
import Transformer

public struct BERTScoreValue: Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var f: Double
}

public final class BERTScorer: @unchecked Sendable {
    public let model: Bert
    public let tokenizer: WordPiece
    public let layer: Int
    /// Baseline (P, R, F) for rescaling, or nil.
    public var baseline: (Double, Double, Double)?
    /// idf per token id when idf weighting is on (computed from references by `useIDF(references:)`).
    private var idf: [Int32: Double]?
    private var unseenIDF = 0.0
    /// Sentences encoded per BERT call (sorted by length, so padding stays small).
    public var batchSize = 64

    public init(modelDirectory: String, layer: Int? = nil) throws {
        model = try Bert(directory: modelDirectory)
        tokenizer = try WordPiece(vocabularyFile: modelDirectory + "/vocab.txt")
        self.layer = layer ?? model.config.layers
        guard (1...model.config.layers).contains(self.layer) else {
            throw RewardError("BERTScore layer \(self.layer) is outside 1…\(model.config.layers)")
        }
    }

    func encode(_ sentence: String) -> [Int32] {
        tokenizer.encode(pythonStripped(sentence))
    }

    /// Turns on idf weighting with document frequencies from `references` (one document each); nil
    /// turns it off.
    public func useIDF(references: [String]?) {
        guard let references else { idf = nil; return }
        var df: [Int32: Int] = [:]
        for r in references { for id in Set(encode(r)) { df[id, default: 0] += 1 } }
        let m = Double(references.count)
        idf = df.mapValues { log((m + 1) / Double($0 + 1)) }
        unseenIDF = log(m + 1)
    }

    func weight(_ id: Int32) -> Double {
        if id == tokenizer.classifier || id == tokenizer.separator { return 0 }
        guard let idf else { return 1 }
        return idf[id] ?? unseenIDF
    }

    /// Unit-normalised token embeddings of each sentence ([tokens, H] row-major), batched by length.
    func embeddings(_ sentences: [String]) -> [(ids: [Int32], vectors: [Float])] {
        let encoded = sentences.map(encode)
        let H = model.config.hiddenSize
        var out = [(ids: [Int32], vectors: [Float])](repeating: ([], []), count: sentences.count)
        let order = encoded.indices.sorted { (encoded[$0].count, $0) < (encoded[$1].count, $1) }
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let members = Array(order[start..<min(order.count, start + batchSize)])
            let hidden = model.encode(members.map { encoded[$0] }, upTo: layer)
            let T = hidden.shape[1]
            for (b, index) in members.enumerated() {
                let count = encoded[index].count
                var vectors = Array(UnsafeBufferPointer(start: hidden.pointer + b * T * H, count: count * H))
                for t in 0..<count {
                    var norm: Float = 0
                    for j in 0..<H { norm += vectors[t * H + j] * vectors[t * H + j] }
                    let inv = 1 / norm.squareRoot()
                    for j in 0..<H { vectors[t * H + j] *= inv }
                }
                out[index] = (encoded[index], vectors)
            }
        }
        return out
    }

    /// P, R, F of one hypothesis against one reference from their embeddings.
    func match(_ h: (ids: [Int32], vectors: [Float]), _ r: (ids: [Int32], vectors: [Float])) -> BERTScoreValue {
        let H = model.config.hiddenSize, m = h.ids.count, n = r.ids.count
        var similarity = [Float](repeating: 0, count: m * n)
        h.vectors.withUnsafeBufferPointer { a in
            r.vectors.withUnsafeBufferPointer { b in
                similarity.withUnsafeMutableBufferPointer {
                    matmulForward($0.baseAddress!, a.baseAddress!, b.baseAddress!, m: m, n: n, k: H, transposeB: true)
                }
            }
        }
        var p = 0.0, pw = 0.0, rr = 0.0, rw = 0.0
        var rowBest = [Float](repeating: -.infinity, count: m), columnBest = [Float](repeating: -.infinity, count: n)
        for i in 0..<m {
            for j in 0..<n {
                let s = similarity[i * n + j]
                rowBest[i] = max(rowBest[i], s)
                columnBest[j] = max(columnBest[j], s)
            }
        }
        for i in 0..<m { let w = weight(h.ids[i]); p += w * Double(rowBest[i]); pw += w }
        for j in 0..<n { let w = weight(r.ids[j]); rr += w * Double(columnBest[j]); rw += w }
        guard pw > 0, rw > 0 else { return BERTScoreValue(precision: 0, recall: 0, f: 0) }  // empty side
        let (precision, recall) = (p / pw, rr / rw)
        let f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        return BERTScoreValue(precision: precision, recall: recall, f: f)
    }

    /// One score per hypothesis against its references (the maximum of each of P, R, F over them).
    public func score(hypotheses: [String], references: [[String]]) -> [BERTScoreValue] {
        precondition(hypotheses.count == references.count, "one reference list per hypothesis")
        var sentences: [String] = []
        var index: [CodePointString: Int] = [:]  // each distinct sentence (by code points) is encoded once
        for s in hypotheses + references.flatMap({ $0 }) where index[CodePointString(s)] == nil {
            index[CodePointString(s)] = sentences.count
            sentences.append(s)
        }
        let embedded = embeddings(sentences)
        return zip(hypotheses, references).map { h, refs in
            var best = BERTScoreValue(precision: -.infinity, recall: -.infinity, f: -.infinity)
            for r in refs {
                var s = match(embedded[index[CodePointString(h)]!], embedded[index[CodePointString(r)]!])
                if let (bp, br, bf) = baseline {
                    s = BERTScoreValue(precision: (s.precision - bp) / (1 - bp), recall: (s.recall - br) / (1 - br), f: (s.f - bf) / (1 - bf))
                }
                best = BERTScoreValue(precision: max(best.precision, s.precision), recall: max(best.recall, s.recall), f: max(best.f, s.f))
            }
            return refs.isEmpty ? BERTScoreValue(precision: 0, recall: 0, f: 0) : best
        }
    }
}
