// Swift side of the side-by-side benchmarks. Prints one JSON object per case on stdout; the
// driver (Scripts/benchmark) runs the Python reference in the same run and computes the ratios.
import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import Tensor

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refalign-bench", abstract: "Micro-benchmarks of RefAlign's kernels (JSON lines).",
        subcommands: [SgemmBench.self, LLMBench.self, RewardBench.self, AlignBench.self])

    static func main() {
        setvbuf(stdout, nil, _IOLBF, 0)  // rows reach the driver as they are measured
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Median seconds per call over `rounds` timed batches, each long enough (≥ `minSeconds`) to
/// swamp timer resolution, after one warm-up batch.
func medianSecondsPerCall(rounds: Int = 5, minSeconds: Double = 0.2, _ body: () -> Void) -> Double {
    var calls = 1
    while true {  // warm-up, and size the batch
        let start = now()
        for _ in 0..<calls { body() }
        if now() - start >= minSeconds { break }
        calls *= 2
    }
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = now()
        for _ in 0..<calls { body() }
        times.append((now() - start) / Double(calls))
    }
    return times.sorted()[rounds / 2]
}

/// Median seconds per call of each body, timed in interleaved rounds (body 0, 1, …, then again) so a
/// shared machine's load falls on all of them alike.
func interleavedMedianSecondsPerCall(rounds: Int = 7, minSeconds: Double = 0.1, _ bodies: [() -> Void]) -> [Double] {
    let calls = bodies.map { body in
        var calls = 1
        while true {  // warm-up, and size the batch
            let start = now()
            for _ in 0..<calls { body() }
            if now() - start >= minSeconds { return calls }
            calls *= 2
        }
    }
    var times = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<rounds {
        for (i, body) in bodies.enumerated() {
            let start = now()
            for _ in 0..<calls[i] { body() }
            times[i].append((now() - start) / Double(calls[i]))
        }
    }
    return times.map { $0.sorted()[rounds / 2] }
}

struct SgemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm",
        abstract: "y[M, out] = x[M, in] · W[out, in]ᵀ through matmulForward, on SmolLM2-135M's linear shapes.")

    @Option(help: "OpenBLAS threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Comma-separated batch sizes M.") var m: String = "1,8,16,32,1024"
    @Option(help: "Comma-separated in×out shapes.") var shapes: String = "576x576,576x192,576x1536,1536x576,576x49152"
    @Option(help: "Comma-separated linear routes (small-gemm, sgemv, sgemm) to time against each other, interleaved, instead of the dispatch.")
    var routes: String?

    func run() throws {
        BLAS.threads = threads
        var rng = Xoshiro256(seed: 0, stream: "bench")
        let routes = try routes.map { list in
            try list.split(separator: ",").map { name in
                guard let route = BLAS.LinearRoute(rawValue: String(name)) else { throw ValidationError("unknown route \(name)") }
                return route
            }
        }
        for rows in m.split(separator: ",").map({ Int($0)! }) {
            for shape in shapes.split(separator: ",") {
                let dims = shape.split(separator: "x").map { Int($0)! }
                let (k, n) = (dims[0], dims[1])
                let x = Tensor<Float>(shape: [rows, k]), w = Tensor<Float>(shape: [n, k]), y = Tensor<Float>(shape: [rows, n])
                for i in 0..<x.count { x[i] = rng.nextFloat() - 0.5 }
                for i in 0..<w.count { w[i] = rng.nextFloat() - 0.5 }
                let gflops = { (seconds: Double) in 2 * Double(rows * n * k) / seconds / 1e9 }
                let head = #"{"bench":"sgemm","m":\#(rows),"in":\#(k),"out":\#(n),"threads":\#(threads)"#
                guard let routes else {
                    let seconds = medianSecondsPerCall {
                        matmulForward(y.pointer, x.pointer, w.pointer, m: rows, n: n, k: k, transposeB: true)
                    }
                    print(head + #","gflops":\#(gflops(seconds))}"#)
                    continue
                }
                let seconds = interleavedMedianSecondsPerCall(routes.map { route in
                    { BLAS.linear(route, rows, n, k, 1, x.pointer, k, w.pointer, k, 0, y.pointer, n) }
                })
                let fields = zip(routes, seconds).map { #""\#($0.rawValue)":\#(gflops($1))"# }
                print(head + "," + fields.joined(separator: ",") + "}")
            }
        }
    }
}
