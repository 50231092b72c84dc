import Foundation
import Testing
@testable import Alignment
import TestSupport

@Suite("Calibration metrics against numpy/scipy")
struct CalibrationTests {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String
            let confidence: [Double]
            let correct: [Double]
            let ece: Double
            let pearson: Double?
            let spearman: Double?
            let kendall: Double?
            let accuracy: Double
            let n: Int
        }
        let cases: [Case]
    }

    @Test func agreesWithNumpyAndScipy() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/calibration", withExtension: "json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        #expect(fixture.cases.count == 9)
        for c in fixture.cases {
            let r = Calibration.report(confidence: c.confidence, correct: c.correct)
            #expect(abs(r.ece - c.ece) < 1e-12, "\(c.name): ece \(r.ece) vs \(c.ece)")
            #expect(abs(r.accuracy - c.accuracy) < 1e-12 && r.n == c.n, "\(c.name)")
            let kendall = Calibration.kendall(c.confidence, c.correct)
            for (ours, theirs, what) in [(r.pearson, c.pearson, "pearson"), (r.spearman, c.spearman, "spearman"), (kendall, c.kendall, "kendall")] {
                switch (ours, theirs) {
                case (nil, nil): break
                case let (a?, b?): #expect(abs(a - b) < 1e-12, "\(c.name): \(what) \(a) vs \(b)")
                default: Issue.record("\(c.name): \(what) \(String(describing: ours)) vs scipy \(String(describing: theirs))")
                }
            }
        }
    }

    @Test func theCommandWritesNullNotNaNAndRejectsOutOfRange() throws {
        let binary = try refalignExecutable(), dir = temporaryDirectory()
        try Data("{\"confidence\": 0.8, \"correct\": 1}\n{\"confidence\": 0.8, \"correct\": 0}\n".utf8).write(to: URL(fileURLWithPath: dir + "/a.jsonl"))
        let (status, output) = try runCommand([binary, "calibration", "--input", dir + "/a.jsonl"])
        #expect(status == 0)
        #expect(output.contains("\"pearson\":null") && output.contains("\"spearman\":null") && !output.contains("nan"), "\(output)")
        try Data("{\"confidence\": 0.5, \"correct\": 1}\n{\"confidence\": 1.5, \"correct\": 0}\n".utf8).write(to: URL(fileURLWithPath: dir + "/b.jsonl"))
        let (bad, message) = try runCommand([binary, "calibration", "--input", dir + "/b.jsonl"])
        #expect(bad != 0 && message.contains("b.jsonl:2: field \"confidence\" is 1.5, outside [0, 1]"), "\(message)")
    }
}
