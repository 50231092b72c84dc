import Foundation
import Testing

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
        #expect(bad.status != 0 && bad.output.contains("bad.jsonl:2: not a JSON object") && !bad.output.contains("ids"))
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
