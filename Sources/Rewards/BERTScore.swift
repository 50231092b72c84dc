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

/// One sentence's WordPiece ids and its unit-normalised token embeddings ([ids.count, H] row-major).
struct TokenEmbeddings: Sendable {
    let ids: [Int32]
    let vectors: [Float]
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
    /// Sentences encoded per BERT call (packed, so no padding; the bound keeps the activations' memory in check).
    public var batchSize = 64
    /// References' embeddings kept across calls: RL scores K samples against one reference, and the same
    /// references every epoch. One cache per scorer, so per model and layer.
    private let referenceCache: EmbeddingCache

    /// `referenceCacheBytes` bounds the reference cache (least recently used references are dropped).
    public convenience init(modelDirectory: String, layer: Int? = nil, referenceCacheBytes: Int = 256 << 20) throws {
        try self.init(model: try Bert(directory: modelDirectory), tokenizer: try WordPiece(vocabularyFile: modelDirectory + "/vocab.txt"),
                      layer: layer, referenceCacheBytes: referenceCacheBytes)
    }

    public init(model: Bert, tokenizer: WordPiece, layer: Int? = nil, referenceCacheBytes: Int = 256 << 20) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.layer = layer ?? model.config.layers
        referenceCache = EmbeddingCache(capacityBytes: referenceCacheBytes)
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

    /// Unit-normalised token embeddings of each sentence, `batchSize` sentences per packed BERT call.
    func embeddings(_ sentences: [String]) -> [TokenEmbeddings] {
        let encoded = sentences.map(encode)
        let H = model.config.hiddenSize
        var out: [TokenEmbeddings] = []
        out.reserveCapacity(sentences.count)
        for start in stride(from: 0, to: encoded.count, by: batchSize) {
            let members = encoded[start..<min(encoded.count, start + batchSize)]
            let hidden = model.encodePacked(Array(members), upTo: layer)
            var source = UnsafePointer(hidden.pointer)
            for ids in members {
                let count = ids.count
                let vectors = [Float](unsafeUninitializedCapacity: count * H) { v, initialized in
                    for t in 0..<count {
                        let row = source + t * H
                        var norm: Float = 0
                        for j in 0..<H { norm += row[j] * row[j] }
                        let inv = 1 / norm.squareRoot()
                        for j in 0..<H { v[t * H + j] = row[j] * inv }
                    }
                    initialized = count * H
                }
                source += count * H
                out.append(TokenEmbeddings(ids: ids, vectors: vectors))
            }
        }
        return out
    }

    /// P, R, F of one hypothesis against one reference from their embeddings.
    func match(_ h: TokenEmbeddings, _ r: TokenEmbeddings) -> BERTScoreValue {
        let H = model.config.hiddenSize, m = h.ids.count, n = r.ids.count
        // similarity [m, n], then each row's and each column's best
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: m * n + m + n)
        defer { scratch.deallocate() }
        let similarity = scratch, rowBest = scratch + m * n, columnBest = rowBest + m
        // on this thread: an OpenBLAS call here would leave its worker spinning into the next BERT forward
        h.vectors.withUnsafeBufferPointer { a in
            r.vectors.withUnsafeBufferPointer { b in
                BLAS.linear(.smallGemm, m, n, H, 1, a.baseAddress!, H, b.baseAddress!, H, 0, similarity, n, threads: 1)
            }
        }
        rowBest.initialize(repeating: -.infinity, count: m + n)
        for i in 0..<m {
            let row = similarity + i * n
            for j in 0..<n {
                rowBest[i] = max(rowBest[i], row[j])
                columnBest[j] = max(columnBest[j], row[j])
            }
        }
        var p = 0.0, pw = 0.0, rr = 0.0, rw = 0.0
        for i in 0..<m { let w = weight(h.ids[i]); p += w * Double(rowBest[i]); pw += w }
        for j in 0..<n { let w = weight(r.ids[j]); rr += w * Double(columnBest[j]); rw += w }
        guard pw > 0, rw > 0 else { return BERTScoreValue(precision: 0, recall: 0, f: 0) }  // empty side
        let (precision, recall) = (p / pw, rr / rw)
        let f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        return BERTScoreValue(precision: precision, recall: recall, f: f)
    }

    /// One score per hypothesis against its references (the maximum of each of P, R, F over them).
    /// References come from the cache where they can; every other distinct sentence (by code points) is
    /// encoded once, in packed batches.
    public func score(hypotheses: [String], references: [[String]]) -> [BERTScoreValue] {
        precondition(hypotheses.count == references.count, "one reference list per hypothesis")
        let referenceKeys = Set(references.joined().map(CodePointString.init))
        var embedded = referenceCache.lookup(referenceKeys)
        var pending: [CodePointString] = []
        for s in hypotheses + references.joined() {
            let key = CodePointString(s)
            if embedded[key] == nil { embedded[key] = TokenEmbeddings(ids: [], vectors: []); pending.append(key) }
        }
        for (key, e) in zip(pending, embeddings(pending.map(\.string))) { embedded[key] = e }
        referenceCache.insert(pending.filter(referenceKeys.contains).map { ($0, embedded[$0]!) })
        return zip(hypotheses, references).map { h, refs in
            var best = BERTScoreValue(precision: -.infinity, recall: -.infinity, f: -.infinity)
            for r in refs {
                var s = match(embedded[CodePointString(h)]!, embedded[CodePointString(r)]!)
                if let (bp, br, bf) = baseline {
                    s = BERTScoreValue(precision: (s.precision - bp) / (1 - bp), recall: (s.recall - br) / (1 - br), f: (s.f - bf) / (1 - bf))
                }
                best = BERTScoreValue(precision: max(best.precision, s.precision), recall: max(best.recall, s.recall), f: max(best.f, s.f))
            }
            return refs.isEmpty ? BERTScoreValue(precision: 0, recall: 0, f: 0) : best
        }
    }
}

/// Token embeddings by text, the least recently used dropped once they hold more than `capacityBytes`;
/// safe to use from several threads (the reward server and training may score concurrently).
final class EmbeddingCache: @unchecked Sendable {
    private struct Entry { let value: TokenEmbeddings; var lastUse: Int; let bytes: Int }
    private let lock = NSLock()
    private var entries: [CodePointString: Entry] = [:]
    private var clock = 0, bytes = 0
    let capacityBytes: Int

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    var count: Int { lock.withLock { entries.count } }

    /// The cached embeddings among `keys`, marked as used.
    func lookup(_ keys: some Sequence<CodePointString>) -> [CodePointString: TokenEmbeddings] {
        lock.withLock {
            clock += 1
            var found: [CodePointString: TokenEmbeddings] = [:]
            for key in keys where entries[key] != nil {
                entries[key]!.lastUse = clock
                found[key] = entries[key]!.value
            }
            return found
        }
    }

    func insert(_ items: [(CodePointString, TokenEmbeddings)]) {
        lock.withLock {
            clock += 1
            for (key, value) in items where entries[key] == nil {
                let size = 4 * (value.vectors.count + value.ids.count) + key.string.utf8.count
                entries[key] = Entry(value: value, lastUse: clock, bytes: size)
                bytes += size
            }
            while bytes > capacityBytes, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                bytes -= oldest.value.bytes
                entries[oldest.key] = nil
            }
        }
    }
}
