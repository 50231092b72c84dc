// Responses are written by hand rather than through JSONSerialization so that numbers print as Swift's
// shortest round-trip form, the same digits `refalign score` prints.
import Foundation

enum JSONText {
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A list of finite numbers (callers reject non-finite values before writing).
    static func numbers(_ values: [Double]) -> String {
        "[" + values.map { precondition($0.isFinite, "non-finite value reached a response"); return "\($0)" }.joined(separator: ",") + "]"
    }

    /// An object of number lists, in the given order.
    static func object(_ members: [(name: String, values: [Double])]) -> String {
        "{" + members.map { string($0.name) + ":" + numbers($0.values) }.joined(separator: ",") + "}"
    }

    static func error(_ message: String) -> String { "{\"error\":" + string(message) + "}" }
}
