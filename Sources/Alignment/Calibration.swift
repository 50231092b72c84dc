// Calibration of verbalised confidence against correctness, as the CONQORD protocol reports it:
//   ECE  10 equal-width bins (k/10, (k+1)/10], k = 0…9; ECE = Σ_b (n_b/N)·|acc_b − conf_b|. As in
//        CONQORD's code, a confidence of exactly 0 falls in no bin but still counts in N.
//   Pearson and Spearman (average ranks for ties) between confidence and correctness over all items;
//        undefined (nil) when either side is constant or there are fewer than two items.
//   accuracy  mean correctness (0/1, or a score in [0, 1]).

public struct CalibrationReport: Sendable, Equatable {
    public let ece: Double
    public let pearson: Double?
    public let spearman: Double?
    public let accuracy: Double
    public let n: Int
}

public enum Calibration {
    public static func report(confidence: [Double], correct: [Double]) -> CalibrationReport {
        precondition(confidence.count == correct.count)
        let n = confidence.count
        var ece = 0.0
        for k in 0..<10 {
            let lo = Double(k) / 10, hi = Double(k + 1) / 10
            let members = confidence.indices.filter { confidence[$0] > lo && confidence[$0] <= hi }
            guard !members.isEmpty else { continue }
            let acc = members.reduce(0.0) { $0 + correct[$1] } / Double(members.count)
            let conf = members.reduce(0.0) { $0 + confidence[$1] } / Double(members.count)
            ece += Double(members.count) / Double(n) * abs(acc - conf)
        }
        return CalibrationReport(ece: n == 0 ? .nan : ece, pearson: pearson(confidence, correct),
                                 spearman: pearson(ranks(confidence), ranks(correct)),
                                 accuracy: correct.reduce(0, +) / Double(max(n, 1)), n: n)
    }

    public static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        // A constant side (every value equal, as scipy tests it) has no correlation; its mean's rounding
        // error must not make one up.
        guard x.count >= 2, x.contains(where: { $0 != x[0] }), y.contains(where: { $0 != y[0] }) else { return nil }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return nil }
        return max(-1, min(1, sxy / (sxx * syy).squareRoot()))
    }

    /// Kendall's τ-b (scipy.stats.kendalltau's default): (P − Q) / √((n0 − n1)(n0 − n2)) over all pairs, n1 and
    /// n2 the pairs tied in x and in y; nil when either side is constant or there are fewer than two items.
    /// O(n²): meant for system-level correlations over tens of items.
    public static func kendall(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count)
        var concordant = 0.0, discordant = 0.0, tiedX = 0.0, tiedY = 0.0
        for i in x.indices {
            for j in x.indices where j > i {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 { tiedX += 1 }
                if dy == 0 { tiedY += 1 }
                if dx != 0 && dy != 0 { if (dx > 0) == (dy > 0) { concordant += 1 } else { discordant += 1 } }
            }
        }
        let pairs = Double(x.count * (x.count - 1) / 2)
        guard x.count >= 2, tiedX < pairs, tiedY < pairs else { return nil }
        return max(-1, min(1, (concordant - discordant) / ((pairs - tiedX) * (pairs - tiedY)).squareRoot()))
    }

    /// 1-based ranks, ties sharing their average rank (scipy's rankdata "average").
    public static func ranks(_ x: [Double]) -> [Double] {
        let order = x.indices.sorted { x[$0] < x[$1] }
        var out = [Double](repeating: 0, count: x.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
            let rank = Double(i + j + 2) / 2
            for k in i...j { out[order[k]] = rank }
            i = j + 1
        }
        return out
    }
}
