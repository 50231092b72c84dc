// JSONL errors keep their reason (file:LINE: invalid UTF-8 / JSON syntax error at column C / missing
// field / wrong type), the typed field helpers, the fuzz crashers, and hostile model inputs through the CLI.
import Experiments
import Foundation
import Testing
import TestSupport

@Suite("JSONL reading and typed fields")
struct JSONLinesTests {
    func parse(_ bytes: [UInt8]) throws -> [JSONRecord] { try parseJSONLines(Data(bytes), path: "d.jsonl") }
    func parse(_ text: String) throws -> [JSONRecord] { try parse(Array(text.utf8)) }

    func expectError(_ text: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) { try parse(text) } throws: { "\($0)" == message }
    }

    @Test func eachProblemKeepsItsReason() {
        #expect { try parse([0x7B, 0x7D, 0x0A, 0x7B, 0x22, 0xC3, 0xA9, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) } throws: {
            "\($0)" == "d.jsonl:2: invalid UTF-8 at column 4"  // after {, " and é
        }
        expectError("{}\n\n{\"a\": 1,, }", "d.jsonl:3: JSON syntax error at column 9: expected a string")
        expectError("{\"é\": tru}", "d.jsonl:1: JSON syntax error at column 7: invalid literal, expected true")
        expectError("{\"a\": 1} x", "d.jsonl:1: JSON syntax error at column 10: unexpected text after the JSON value")
        expectError("{\"a\": \"x\ty\"}", "d.jsonl:1: JSON syntax error at column 9: control character U+0009 inside a string (must be escaped)")
        expectError("{\"a\": 01}", "d.jsonl:1: JSON syntax error at column 8: invalid number, leading zero")
        expectError("{\"a\": \"\\ud800\"}", "d.jsonl:1: JSON syntax error at column 8: unpaired surrogate escape")
        expectError("{\"a\": 1, \"a\": 2}", "d.jsonl:1: JSON syntax error at column 10: duplicate key \"a\"")
        expectError(String(repeating: "[", count: 200), "d.jsonl:1: JSON syntax error at column 101: nested more than 100 deep")
        expectError("{\"a\": 1e400}", "d.jsonl:1: JSON value not representable: Number 1e400 is not representable in Swift.")
        expectError("[1, 2]", "d.jsonl:1: expected a JSON object, found an array")
        expectError("\"text\"", "d.jsonl:1: expected a JSON object, found a string")
    }

    @Test func typedFieldsNameTheFieldAndWhatItMustBe() throws {
        let records = try parse("{\"text\": \"hi\", \"n\": 3, \"refs\": [\"a\", 1], \"none\": [], \"choices\": [{\"turns\": [\"t\"]}, {\"turns\": 5}]}\r\n \n")
        #expect(records.count == 1 && records[0].line == 1)
        let r = records[0]
        #expect(try r.string("text") == "hi")
        #expect { try r.string("hypothesis") } throws: { "\($0)" == "d.jsonl:1: missing field \"hypothesis\"" }
        #expect { try r.string("n") } throws: { "\($0)" == "d.jsonl:1: field \"n\" must be a string" }
        #expect { try r.strings("refs") } throws: { "\($0)" == "d.jsonl:1: field \"refs\" must be a list of strings" }
        #expect(try r.strings("none") == [])
        #expect { try r.strings("none", nonEmpty: true) } throws: { "\($0)" == "d.jsonl:1: field \"none\" must be a non-empty list of strings" }
        let choices = try r.records("choices", nonEmpty: true)
        #expect(try choices[0].strings("turns") == ["t"])
        #expect { try choices[1].strings("turns") } throws: { "\($0)" == "d.jsonl:1: field \"choices[1].turns\" must be a list of strings" }
        #expect { try choices[0].string("x") } throws: { "\($0)" == "d.jsonl:1: missing field \"choices[0].x\"" }
        #expect { try r.records("text") } throws: { "\($0)" == "d.jsonl:1: field \"text\" must be a list of objects" }
    }

    @Test func realBLEUBERIFilesRead() throws {
        let records = try readJSONLines(projectRoot + "/../shared/bleuberi_data/mt_bench/reference_answer/gpt-4.1-mini.jsonl")
        #expect(records.count == 80)
        #expect(try records.allSatisfy { try !$0.records("choices", nonEmpty: true)[0].strings("turns").isEmpty })
    }

    /// Every input the JSONL fuzzer crashed on, replayed: read, or an error naming the file and line.
    @Test func fuzzCrashersAreClearErrors() throws {
        let dir = projectRoot + "/Tests/Fuzz/crashers/jsonl"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
            let path = dir + "/" + name
            do { _ = try readJSONLines(path) } catch { #expect("\(error)".hasPrefix(path + ":"), "\(name): \(error)") }
        }
    }
}

@Suite("refalign generate with hostile inputs")
struct GenerateInputCLITests {
    @Test func newTokensBeyondTheContextAreAClearError() throws {
        let binary = try refalignExecutable()
        let (status, output) = try runCommand([binary, "generate", "--greedy", "--max-new-tokens", "9000", "--prompt", "Hi"], in: projectRoot)
        #expect(status != 0)
        #expect(output.contains("new tokens exceed the model's context length of 8192"), "\(output)")
    }
}
