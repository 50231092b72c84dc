import ArgumentParser
import Experiments
import Foundation
import Rewards
import Tokenizers
import Transformer

enum MetricName: String, ExpressibleByArgument, CaseIterable {
    case bleu, sacrebleu, rouge1 = "rouge-1", rouge2 = "rouge-2", rougeL = "rouge-l", brf1, meteor, bertscore, embedding
}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score hypotheses against references: JSONL {\"hypothesis\", \"references\"} → {\"score\": x} per line.",
        discussion: """
            bleu: HF evaluate's smoothed sentence BLEU in [0, 1] (BLEUBERI's reward; shortest-reference brevity \
            penalty). sacrebleu: sacrebleu's sentence BLEU (0–100, exp smoothing, effective order); with --corpus \
            one corpus score. rouge-1/2/l: rouge-score F-measures (--stem: with its Porter stemmer), best reference. meteor: \
            nltk's meteor_score over WordNet 3.0 (exact, Porter stem, synonyms) on --tokenization wordpunct or \
            whitespace tokens. brf1: harmonic \
            mean of bleu and rouge-l. bertscore: BERTScore P/R/F on --bert at --layer (default all-MiniLM-L6-v2, \
            layer 6), optional --idf from the references; prints {"precision", "recall", "f1"}. embedding: cosine of \
            mean-pooled --bert sentence embeddings (sentence-transformers), best reference.
            """)

    @Option(help: "Metric: \(MetricName.allCases.map(\.rawValue).joined(separator: ", ")).") var metric: MetricName
    @Option(help: "JSONL input.") var input: String
    @Flag(help: "One corpus-level score instead of one per line (sacrebleu only).") var corpus = false
    @Option(help: "BERT folder for bertscore/embedding: 'minilm' (fetched by Scripts/bootstrap) or a path.") var bert = "minilm"
    @Option(help: "BERTScore layer (default: the model's last).") var layer: Int?
    @Flag(help: "ROUGE with rouge-score's Porter stemmer.") var stem = false
    @Option(help: "METEOR tokenisation: wordpunct (nltk's wordpunct_tokenize) or whitespace.") var tokenization = "wordpunct"
    @Option(help: "WordNet dictionary folder for meteor.") var wordnet = "/usr/share/wordnet"
    @Flag(help: "BERTScore idf weights from the input's references.") var idf = false
    @OptionGroup var options: RunOptions

    func validate() throws {
        if METEORTokenization(rawValue: tokenization) == nil { throw ValidationError("--tokenization is wordpunct or whitespace") }
        if corpus && metric != .sacrebleu { throw ValidationError("--corpus is defined for sacrebleu only") }
    }

    func run() throws {
        options.apply()
        let rows = try readJSONLines(input).map { (try $0.string("hypothesis"), try $0.strings("references", nonEmpty: true)) }
        if corpus {
            print("{\"score\":\(SacreBLEU.corpus(hypotheses: rows.map(\.0), references: rows.map(\.1)))}")
            return
        }
        if metric == .bertscore {
            let scorer = try BERTScorer(modelDirectory: try resolveModelPath(bert), layer: layer)
            if idf { scorer.useIDF(references: rows.flatMap(\.1)) }
            for s in scorer.score(hypotheses: rows.map(\.0), references: rows.map(\.1)) {
                print("{\"precision\":\(s.precision),\"recall\":\(s.recall),\"f1\":\(s.f)}")
            }
            return
        }
        if metric == .embedding {
            let directory = try resolveModelPath(bert)
            let embedder = SentenceEmbedder(model: try Bert(directory: directory), tokenizer: try WordPiece(vocabularyFile: directory + "/vocab.txt"))
            for score in embedder.cosine(hypotheses: rows.map(\.0), references: rows.map(\.1)) { print("{\"score\":\(score)}") }
            return
        }
        let meteor = metric == .meteor ? METEOR(wordNet: try WordNet(directory: wordnet)) : nil
        let mode = METEORTokenization(rawValue: tokenization)!
        for (h, refs) in rows {
            let score: Double
            switch metric {
            case .bleu: score = bleuSmoothed(hypothesis: h, references: refs)
            case .sacrebleu: score = SacreBLEU.sentence(hypothesis: h, references: refs)
            case .rouge1: score = rouge(.n(1), hypothesis: h, references: refs, stem: stem).f
            case .rouge2: score = rouge(.n(2), hypothesis: h, references: refs, stem: stem).f
            case .rougeL: score = rouge(.l, hypothesis: h, references: refs, stem: stem).f
            case .meteor: score = meteor!.score(hypothesis: meteorTokenize(h, mode), references: refs.map { meteorTokenize($0, mode) })
            case .brf1: score = brf1(hypothesis: h, references: refs)
            case .bertscore, .embedding: fatalError("handled above")
            }
            print("{\"score\":\(score)}")
        }
    }
}
