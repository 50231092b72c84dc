// The one place a reward's name selects its implementation: `refalign score`, `train`, `evaluate` and
// the reward server all build rewards here. Adding a reward is one file and one line in `entries`.
import Foundation
import Tokenizers
import Transformer

/// Options a reward may read; each reward ignores the ones that are not its own.
public struct RewardOptions: Codable, Sendable, Equatable {
    /// BERT folder (resolved path) for bertscore and embedding.
    public var bert: String
    /// BERTScore layer (nil: the model's last).
    public var layer: Int?
    /// BERTScore idf weights from the references the reward is built with.
    public var idf: Bool
    /// ROUGE with rouge-score's Porter stemmer.
    public var stem: Bool
    /// METEOR tokenisation: wordpunct or whitespace.
    public var meteorTokenization: String
    /// WordNet dictionary folder for METEOR.
    public var wordnet: String

    public init(bert: String = "", layer: Int? = nil, idf: Bool = false, stem: Bool = false,
                meteorTokenization: String = "wordpunct", wordnet: String = "/usr/share/wordnet") {
        self.bert = bert
        self.layer = layer
        self.idf = idf
        self.stem = stem
        self.meteorTokenization = meteorTokenization
        self.wordnet = wordnet
    }
}

public enum RewardRegistry {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        /// Whether it needs `RewardOptions.bert`.
        public let usesBERT: Bool
        let make: @Sendable (RewardOptions, _ references: [String]) throws -> any Reward
    }

    public static let entries: [Entry] = [
        Entry(name: "bleu", summary: "HF evaluate's smoothed sentence BLEU in [0, 1] (BLEUBERI's reward; scores <answer>…</answer> when present)",
              usesBERT: false) { _, _ in SimilarityReward.bleuberi },
        Entry(name: "sacrebleu", summary: "sacrebleu's sentence BLEU, 0–100 (exp smoothing, effective order)", usesBERT: false) { _, _ in
            SimilarityReward(name: "sacrebleu") { SacreBLEU.sentence(hypothesis: $0, references: $1) }
        },
        Entry(name: "rouge-1", summary: "rouge-score ROUGE-1 F, best reference", usesBERT: false) { o, _ in rougeReward(.n(1), "rouge_1", o) },
        Entry(name: "rouge-2", summary: "rouge-score ROUGE-2 F, best reference", usesBERT: false) { o, _ in rougeReward(.n(2), "rouge_2", o) },
        Entry(name: "rouge-l", summary: "rouge-score ROUGE-L F, best reference", usesBERT: false) { o, _ in rougeReward(.l, "rouge_l", o) },
        Entry(name: "exact-match", summary: "1 when the answer equals a reference (trimmed, case-insensitive, final period ignored), else 0",
              usesBERT: false) { _, _ in SimilarityReward.exactMatch },
        Entry(name: "brf1", summary: "harmonic mean of bleu and rouge-l (BLEUBERI's BRF1)", usesBERT: false) { _, _ in SimilarityReward.brf1 },
        Entry(name: "meteor", summary: "nltk's meteor_score over WordNet 3.0 (exact, stem, synonym stages)", usesBERT: false) { o, _ in
            guard let mode = METEORTokenization(rawValue: o.meteorTokenization) else {
                throw RewardError("meteor: tokenization is wordpunct or whitespace, not \(o.meteorTokenization)")
            }
            let metric = METEOR(wordNet: try WordNet(directory: o.wordnet))
            return SimilarityReward(name: "meteor") { metric.score(hypothesis: meteorTokenize($0, mode), references: $1.map { meteorTokenize($0, mode) }) }
        },
        Entry(name: "bertscore", summary: "BERTScore F1 (P and R logged) on the BERT folder's layer, all-MiniLM-L6-v2 layer 6 by default",
              usesBERT: true) { o, references in
            let scorer = try BERTScorer(modelDirectory: o.bert, layer: o.layer)
            if o.idf { scorer.useIDF(references: references) }
            return BERTScoreReward(scorer: scorer)
        },
        Entry(name: "embedding", summary: "cosine of mean-pooled sentence embeddings (sentence-transformers), best reference",
              usesBERT: true) { o, _ in
            EmbeddingReward(embedder: SentenceEmbedder(model: try Bert(directory: o.bert), tokenizer: try WordPiece(vocabularyFile: o.bert + "/vocab.txt")))
        },
        Entry(name: "harmful", summary: "safety judge for evaluation: 1 when the answer's sentence embedding is closer to a known-unsafe response than to the safe reference (needs \"unsafe\" in the data), else 0",
              usesBERT: true) { o, _ in
            HarmfulJudge(embedder: SentenceEmbedder(model: try Bert(directory: o.bert), tokenizer: try WordPiece(vocabularyFile: o.bert + "/vocab.txt")))
        },
    ]

    public static var names: [String] { entries.map(\.name) }

    public static func entry(_ name: String) throws -> Entry {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw RewardError("no reward named \(name) (known: \(names.joined(separator: ", ")))")
        }
        return entry
    }

    /// The reward `name` with `options`; `references` are the data's references (for idf).
    public static func make(_ name: String, options: RewardOptions, references: [String] = []) throws -> any Reward {
        try entry(name).make(options, references)
    }

    static func rougeReward(_ kind: ROUGEKind, _ name: String, _ o: RewardOptions) -> SimilarityReward {
        SimilarityReward(name: name) { rouge(kind, hypothesis: $0, references: $1, stem: o.stem).f }
    }
}
