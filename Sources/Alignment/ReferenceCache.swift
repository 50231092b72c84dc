// DPO's reference log-probs, computed once with the frozen initial policy and kept on disk. A cache file
// is named by a key over everything that determines its values: the bytes of the data and model files
// and a string of the tokenisation and pair settings, so a changed file makes a new key. The file also
// stores a checksum of its values; a file that cannot be read, has another pair count or fails the
// checksum is recomputed and rewritten, never used.
import Foundation
import ModelFiles
import Tensor

public enum ReferenceCache {
    /// The cache key of `files` (their contents) and `settings`, as 16 hex digits.
    public static func key(files: [String], settings: String) throws -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for path in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
            h = data.withUnsafeBytes { fnv1a($0, h) }
        }
        h = Array(settings.utf8).withUnsafeBytes { fnv1a($0, h) }
        return String(format: "%016llx", h)
    }

    static func checksum(_ values: [Float]) -> String {
        String(format: "%016llx", values.withUnsafeBytes { fnv1a($0) })
    }

    /// The cached (chosen, rejected) sums for `key`, or nil when absent, stale or corrupt.
    public static func load(directory: String, key: String, pairs: Int) -> [(chosen: Double, rejected: Double)]? {
        guard let file = try? Safetensors(contentsOf: path(directory, key)), file.metadata["key"] == key,
              let chosen = try? file.floats("chosen"), let rejected = try? file.floats("rejected"),
              chosen.count == pairs, rejected.count == pairs, file.metadata["checksum"] == checksum(chosen + rejected) else { return nil }
        return zip(chosen, rejected).map { (Double($0), Double($1)) }
    }

    /// Writes the sums rounded to Float and returns them as stored, so a fresh run and one that reads the
    /// cache train on the same values.
    public static func save(directory: String, key: String, _ sums: [(chosen: Double, rejected: Double)]) throws -> [(chosen: Double, rejected: Double)] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let chosen = sums.map { Float($0.chosen) }, rejected = sums.map { Float($0.rejected) }
        let temporary = path(directory, key) + ".tmp"
        try chosen.withUnsafeBufferPointer { c in
            try rejected.withUnsafeBufferPointer { r in
                try Safetensors.write([("chosen", [c.count], c), ("rejected", [r.count], r)],
                                      metadata: ["key": key, "checksum": checksum(chosen + rejected)], to: temporary)
            }
        }
        guard rename(temporary, path(directory, key)) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return zip(chosen, rejected).map { (Double($0), Double($1)) }
    }

    public static func path(_ directory: String, _ key: String) -> String { directory + "/reference-logprobs-\(key).safetensors" }
}
