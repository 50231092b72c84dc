import Foundation
import Tensor
import Testing
import TestSupport

@Suite("refalign command line")
struct CLITests {
    @Test func tokenizeWritesOneLinePerInputAndNamesBadLines() throws {
        let binary = try refalignExecutable(), dir = temporaryDirectory()
        try Data("{\"text\": \"Hello world\"}\n\n{\"text\": \"The capital of France is Paris.\"}\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/ok.jsonl"))
        let (status, output) = try runCommand([binary, "tokenize", "--input", dir + "/ok.jsonl"], in: projectRoot)
        #expect(status == 0)
        // ids from assets.md (measured with the Python reference)
        #expect(output == "{\"ids\":[19556,905]}\n{\"ids\":[504,3575,282,4649,314,7042,30]}\n")
        try Data("{\"text\": \"a\"}\n{\"text\": oops}\n".utf8).write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
        let bad = try runCommand([binary, "tokenize", "--input", dir + "/bad.jsonl"], in: projectRoot)
        #expect(bad.status != 0 && bad.output.contains("bad.jsonl:2: JSON syntax error at column 10: unexpected character, expected a value") && !bad.output.contains("ids"))
    }

    /// `refalign info` started with no kernel choice in its environment runs an AVX2-or-better kernel on
    /// an AVX2 CPU and says why; a kernel the user sets is kept.
    @Test func infoPrintsTheKernelAndWhy() throws {
        let binary = try refalignExecutable()
        func core(_ environment: [String]) throws -> String {
            let (status, output) = try runCommand(["-u", "OPENBLAS_CORETYPE", "-u", "REFALIGN_OPENBLAS_FALLBACK"] + environment + [binary, "info"])
            try #require(status == 0, "\(output)")
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("OpenBLAS core:") }, "\(output)")
            return line.dropFirst("OpenBLAS core:".count).trimmingCharacters(in: .whitespaces)
        }
        let chosen = try core([])
        if BLAS.cpuHasAVX2FMA {
            #expect(!BLAS.isPreAVX2(core: String(chosen.prefix { $0 != " " })), "\(chosen)")
        }
        #expect(chosen.hasSuffix("(detected by OpenBLAS)") || chosen.hasPrefix(BLAS.selectedCore + " (selected by refalign: "),
                "\(chosen)")
        #expect(try core(["OPENBLAS_CORETYPE=Prescott"]) == "Prescott (OPENBLAS_CORETYPE set by the user)")
    }

    @Test func generateAnswersTheCapitalOfFrance() throws {
        let binary = try refalignExecutable()
        let (status, output) = try runCommand(
            [binary, "generate", "--model", "smollm2", "--greedy", "--json", "--prompt", "What is the capital of France?"], in: projectRoot)
        try #require(status == 0, "\(output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(object["text"] as? String == "The capital of France is Paris.")
        #expect((object["prompt_ids"] as? [Int])?.count == 37)
        #expect(object["ids"] as? [Int] == [504, 3575, 282, 4649, 314, 7042, 30])
    }
}

@Suite("refalign score")
struct ScoreCLITests {
    @Test func scoresEachLineAndNamesBadOnes() throws {
        let binary = try refalignExecutable(), dir = temporaryDirectory()
        try Data(("{\"hypothesis\": \"The cat sat on the mat.\", \"references\": [\"A cat was sitting on the mat.\"]}\n" +
                  "{\"hypothesis\": \"Paris is the capital of France.\", \"references\": [\"The capital of France is Paris.\"]}\n").utf8)
            .write(to: URL(fileURLWithPath: dir + "/pairs.jsonl"))
        func scores(_ arguments: [String]) throws -> [[String: Double]] {
            let (status, output) = try runCommand([binary, "score", "--input", dir + "/pairs.jsonl"] + arguments, in: projectRoot)
            try #require(status == 0, "\(output)")
            return try output.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Double] }
        }
        // metrics.md's measured values for pair 1 and pair 2
        #expect(try scores(["--metric", "bleu"]).map { ($0["score"]! * 1e5).rounded() / 1e5 } == [0.46905, 0.39764])
        #expect(try scores(["--metric", "rouge-l"]).map { ($0["score"]! * 1e5).rounded() / 1e5 } == [0.61538, 0.66667])
        #expect(try scores(["--metric", "meteor"]).map { ($0["score"]! * 1e5).rounded() / 1e5 } == [0.74543, 0.90671])
        #expect(try scores(["--metric", "meteor", "--tokenization", "whitespace"]).map { ($0["score"]! * 1e5).rounded() / 1e5 } == [0.70145, 0.625])
        let bert = try scores(["--metric", "bertscore"])
        #expect(bert.allSatisfy { Set($0.keys) == ["precision", "recall", "f1"] })
        #expect(abs(bert[0]["f1"]! - 0.90713) < 1e-4 && abs(bert[0]["precision"]! - 0.91864) < 1e-4 && abs(bert[0]["recall"]! - 0.89590) < 1e-4)
        #expect(try scores(["--metric", "sacrebleu", "--corpus"]).count == 1)
        // issue 9: an empty reference paid ≈ 0.30 (add-one smoothing) instead of 0
        try Data("{\"hypothesis\": \"The quick brown fox\", \"references\": [\"\"]}\n".utf8).write(to: URL(fileURLWithPath: dir + "/pairs.jsonl"))
        #expect(try scores(["--metric", "bleu"]) == [["score": 0]])
        try Data("{\"hypothesis\": \"x\", \"references\": []}\n".utf8).write(to: URL(fileURLWithPath: dir + "/bad.jsonl"))
        let bad = try runCommand([binary, "score", "--metric", "bleu", "--input", dir + "/bad.jsonl"], in: projectRoot)
        #expect(bad.status != 0 && bad.output.contains("bad.jsonl:1: field \"references\" must be a non-empty list of strings"))
    }
}
