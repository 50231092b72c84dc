import ArgumentParser
import Experiments
import Foundation
import Rewards
import Tokenizers
import Transformer

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

    @Option(help: "Metric: \(RewardRegistry.names.joined(separator: ", ")) (the reward registry of train and evaluate).") var metric: String
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
        if corpus && metric != "sacrebleu" { throw ValidationError("--corpus is defined for sacrebleu only") }
        if !RewardRegistry.names.contains(metric) { throw ValidationError("--metric is one of \(RewardRegistry.names.joined(separator: ", "))") }
    }

    func run() throws {
        options.apply()
        let rows = try readJSONLines(input).map { (try $0.string("hypothesis"), try $0.strings("references", nonEmpty: true)) }
        if corpus {
            print("{\"score\":\(SacreBLEU.corpus(hypotheses: rows.map(\.0), references: rows.map(\.1)))}")
            return
        }
        let bertPath = try RewardRegistry.entry(metric).usesBERT ? resolveModelPath(bert) : ""
        let reward = try RewardRegistry.make(metric, options: RewardOptions(bert: bertPath, layer: layer, idf: idf, stem: stem,
                                                                            meteorTokenization: tokenization, wordnet: wordnet),
                                             references: rows.flatMap(\.1))
        let out = try reward.score(rows.map { RewardInput(prompt: "", completion: $0.0, references: $0.1) })
        if metric == "bertscore" {
            let component = { (name: String) in out.components.first { $0.name == name }!.values }
            for (p, (r, f)) in zip(component("bertscore_p"), zip(component("bertscore_r"), component("bertscore_f"))) {
                print("{\"precision\":\(p),\"recall\":\(r),\"f1\":\(f)}")
            }
        } else {
            for score in out.scores { print("{\"score\":\(score)}") }
        }
    }
}
