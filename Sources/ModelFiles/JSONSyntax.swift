// A validating scan of JSON text (RFC 8259), run before Foundation's JSONSerialization builds the
// values: it finds the byte offset of the first error and says what is wrong (Foundation's errors give
// neither reliably), rejects an object that holds a key twice (Foundation keeps one silently) and
// bounds the nesting depth. Used for safetensors headers and JSONL lines.
import Foundation

/// The first violation of JSON syntax in a text: its byte offset (0-based) and what is wrong.
public struct JSONSyntaxProblem: Sendable, Equatable, CustomStringConvertible {
    public let offset: Int
    public let problem: String
    public var description: String { "\(problem) at byte \(offset)" }
}

/// Checks that `bytes` hold exactly one JSON value (whitespace around it allowed), with no key twice in
/// one object and arrays and objects nested at most `maximumDepth` deep. nil when the text is valid.
/// Bytes are not checked for UTF-8 validity: callers check that first.
public func checkJSONSyntax(_ bytes: some ContiguousBytes, maximumDepth: Int = 100) -> JSONSyntaxProblem? {
    bytes.withUnsafeBytes { raw -> JSONSyntaxProblem? in
        var scan = JSONScan(bytes: raw.bindMemory(to: UInt8.self), maximumDepth: maximumDepth)
        do throws(JSONSyntaxProblem) {
            scan.skipWhitespace()
            try scan.value(depth: 0)
            scan.skipWhitespace()
            if scan.position < scan.bytes.count { throw scan.problem("unexpected text after the JSON value") }
            return nil
        } catch {
            return error
        }
    }
}

extension JSONSyntaxProblem: Error {}

struct JSONScan {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var position = 0

    func problem(_ what: String) -> JSONSyntaxProblem { JSONSyntaxProblem(offset: position, problem: what) }

    var next: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while let b = next, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { position += 1 }
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxProblem) {
        guard next == byte else { throw problem(next == nil ? "unexpected end of text, expected \(what)" : "expected \(what)") }
        position += 1
    }

    mutating func value(depth: Int) throws(JSONSyntaxProblem) {
        guard let b = next else { throw problem("unexpected end of text, expected a value") }
        switch b {
        case UInt8(ascii: "{"):
            guard depth < maximumDepth else { throw problem("nested more than \(maximumDepth) deep") }
            try object(depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < maximumDepth else { throw problem("nested more than \(maximumDepth) deep") }
            try array(depth: depth + 1)
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw problem("unexpected character, expected a value")
        }
    }

    mutating func literal(_ word: String) throws(JSONSyntaxProblem) {
        let start = position
        for b in word.utf8 {
            guard next == b else { throw JSONSyntaxProblem(offset: start, problem: "invalid literal, expected \(word)") }
            position += 1
        }
    }

    mutating func digits() throws(JSONSyntaxProblem) {
        guard let b = next, (0x30...0x39).contains(b) else { throw problem("invalid number, expected a digit") }
        while let b = next, (0x30...0x39).contains(b) { position += 1 }
    }

    mutating func number() throws(JSONSyntaxProblem) {
        if next == UInt8(ascii: "-") { position += 1 }
        if next == UInt8(ascii: "0") {
            position += 1
            if let b = next, (0x30...0x39).contains(b) { throw problem("invalid number, leading zero") }
        } else {
            try digits()
        }
        if next == UInt8(ascii: ".") { position += 1; try digits() }
        if next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            position += 1
            if next == UInt8(ascii: "+") || next == UInt8(ascii: "-") { position += 1 }
            try digits()
        }
    }

    /// A string's decoded content as UTF-8 (for comparing object keys).
    mutating func string() throws(JSONSyntaxProblem) -> [UInt8] {
        try expect(UInt8(ascii: "\""), "a string")
        var content: [UInt8] = []
        while true {
            guard let b = next else { throw problem("unexpected end of text inside a string") }
            switch b {
            case UInt8(ascii: "\""):
                position += 1
                return content
            case UInt8(ascii: "\\"):
                position += 1
                guard let e = next else { throw problem("unexpected end of text inside a string") }
                let simple: [UInt8: UInt8] = [0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09]
                if let c = simple[e] {
                    position += 1
                    content.append(c)
                } else if e == UInt8(ascii: "u") {
                    let start = position - 1
                    position += 1
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard next == UInt8(ascii: "\\") else { throw JSONSyntaxProblem(offset: start, problem: "unpaired surrogate escape") }
                        position += 1
                        guard next == UInt8(ascii: "u") else { throw JSONSyntaxProblem(offset: start, problem: "unpaired surrogate escape") }
                        position += 1
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw JSONSyntaxProblem(offset: start, problem: "unpaired surrogate escape") }
                        code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw JSONSyntaxProblem(offset: start, problem: "unpaired surrogate escape")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw JSONSyntaxProblem(offset: start, problem: "invalid \\u escape") }
                    content += Array(String(Character(scalar)).utf8)
                } else {
                    throw problem("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
            case 0x00..<0x20:
                throw problem("control character U+\(String(format: "%04X", b)) inside a string (must be escaped)")
            default:
                position += 1
                content.append(b)
            }
        }
    }

    mutating func hex4() throws(JSONSyntaxProblem) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard let b = next, let digit = Character(Unicode.Scalar(b)).hexDigitValue else { throw problem("invalid \\u escape, expected 4 hex digits") }
            code = code << 4 | UInt32(digit)
            position += 1
        }
        return code
    }

    mutating func array(depth: Int) throws(JSONSyntaxProblem) {
        position += 1
        skipWhitespace()
        if next == UInt8(ascii: "]") { position += 1; return }
        while true {
            skipWhitespace()
            try value(depth: depth)
            skipWhitespace()
            if next == UInt8(ascii: "]") { position += 1; return }
            try expect(UInt8(ascii: ","), "',' or ']'")
        }
    }

    mutating func object(depth: Int) throws(JSONSyntaxProblem) {
        position += 1
        skipWhitespace()
        if next == UInt8(ascii: "}") { position += 1; return }
        var keys = Set<[UInt8]>()
        while true {
            skipWhitespace()
            let keyStart = position
            let key = try string()
            guard keys.insert(key).inserted else {
                throw JSONSyntaxProblem(offset: keyStart, problem: "duplicate key \(String(decoding: key, as: UTF8.self).debugDescription)")
            }
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':'")
            skipWhitespace()
            try value(depth: depth)
            skipWhitespace()
            if next == UInt8(ascii: "}") { position += 1; return }
            try expect(UInt8(ascii: ","), "',' or '}'")
        }
    }
}
