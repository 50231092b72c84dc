import Alignment
import ArgumentParser
import Experiments
import Foundation

struct CalibrationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibration",
        abstract: "Calibration of confidences: JSONL {\"confidence\": c, \"correct\": 0|1 or a score in [0, 1]} → ECE, Pearson, Spearman, accuracy.",
        discussion: """
            ECE uses CONQORD's 10 equal-width bins (k/10, (k+1)/10]; a confidence of exactly 0 falls in no bin \
            but counts in N, as in CONQORD's code. Pearson and Spearman (average ranks for ties) are null when \
            undefined (a constant input, or fewer than two items), never NaN. A confidence or correctness outside \
            [0, 1] is an error naming the line. Prints {"accuracy", "ece", "n", "pearson", "spearman"}.
            """)

    @Option(help: "JSONL input.") var input: String

    func run() throws {
        var confidence: [Double] = [], correct: [Double] = []
        for record in try readJSONLines(input) {
            let (line, object) = (record.line, record.object)
            for (field, list) in [("confidence", 0), ("correct", 1)] {
                let value: Double
                switch object[field] {
                case let b as Bool: value = b ? 1 : 0
                case let x as NSNumber: value = x.doubleValue
                case nil: throw DataError("\(input):\(line): missing field \"\(field)\"")
                default: throw DataError("\(input):\(line): field \"\(field)\" must be a number")
                }
                guard value.isFinite, (0...1).contains(value) else {
                    throw DataError("\(input):\(line): field \"\(field)\" is \(value), outside [0, 1]")
                }
                if list == 0 { confidence.append(value) } else { correct.append(value) }
            }
        }
        let r = Calibration.report(confidence: confidence, correct: correct)
        let object: [String: Any] = ["ece": r.ece, "pearson": r.pearson.map { $0 as Any } ?? NSNull(),
                                     "spearman": r.spearman.map { $0 as Any } ?? NSNull(), "accuracy": r.accuracy, "n": r.n]
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
    }
}
