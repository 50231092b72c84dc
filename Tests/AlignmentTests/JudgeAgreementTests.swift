import Foundation
import Testing
@testable import Experiments
import Rewards
import TestSupport

@Suite("Experiment 3: metric–judge agreement")
struct JudgeAgreementTests {
    /// System-level BLEU and its Spearman ρ with the published MT-Bench judge scores, against the values in
    /// ../shared/notes/data.md §4.3 (evaluate-style BLEU × 100, two decimals; ρ three decimals).
    @Test func bleuAgreesWithTheNotes() throws {
        let table = try JudgeAgreement.readTable(projectRoot + "/Scripts/data/bleuberi-table1.tsv")
        #expect(table.count == 15)
        let files = Set(table.flatMap { [$0.files.a, $0.files.b] } + ["qwen7b_SFT_1ref-gold_1k_checkpoint-31"])
        let scores = try JudgeAgreement.score(dataRoot: projectRoot + "/../shared/bleuberi_data", metrics: [("bleu", SimilarityReward.bleuberi)], only: files)
        #expect(scores.systems.count == files.count && scores.questions.count == 80)
        for (system, bleu) in [("Qwen2.5-7B", 12.97), ("Llama-3.1-8B-Instruct", 7.66), ("qwen7b_BLEU_1ref-gold_5k_random_checkpoint-1250", 22.98),
                               ("qwen7b_SFT_1ref-gold_1k_checkpoint-31", 15.09)] {
            let ours = 100 * scores.mean(metric: 0, system: try #require(scores.systems.firstIndex(of: system)))
            #expect(abs(ours - bleu) < 0.005 + 1e-9, "\(system): \(ours) vs \(bleu)")
        }
        let rows = try JudgeAgreement.correlations(scores, table: table, resamples: 50, seed: 1)
        let mt = { (mapping: String) in rows.first { $0.column == "MT" && $0.mapping == mapping }! }
        #expect(abs(mt("A").spearman - 0.622) < 0.0005 && abs(mt("B").spearman - 0.672) < 0.0005, "\(mt("A").spearman) \(mt("B").spearman)")
        #expect(mt("A").spearmanInterval.lower < mt("A").spearman && mt("A").spearman < mt("A").spearmanInterval.upper)
        #expect(rows.count == 2 * JudgeAgreement.judgeColumns.count)
    }

    @Test func aMalformedTableNamesTheLineAndField() throws {
        let path = temporaryDirectory() + "/t.tsv"
        try "family\trow\tMT\tAH_v1\tAH_v2\tWB\tavg\tfile_a\tfile_b\nQ\tBase\t63.5\tx\t1\t1\t1\ta\tb\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try JudgeAgreement.readTable(path) } throws: { "\($0)".contains("t.tsv:2: field \"AH_v1\" is not a number: x") }
    }
}
