import RealModule

public struct AdamWConfig: Sendable, Codable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0.01
    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
    }
}

/// AdamW (Loshchilov & Hutter) with decoupled weight decay and bias correction, in the order
/// torch.optim.AdamW applies them:
///   p ← p·(1 − lr·λ);  m ← m + (1−β₁)(g − m);  v ← β₂v + (1−β₂)g²;
///   p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
public final class AdamW: @unchecked Sendable {
    public let config: AdamWConfig
    public let count: Int
    /// First and second moments, one entry per parameter scalar.
    public let m: Tensor<Float>
    public let v: Tensor<Float>
    /// Optimizer steps taken so far.
    public private(set) var step = 0

    public init(count: Int, config: AdamWConfig = AdamWConfig()) {
        self.config = config
        self.count = count
        m = Tensor(shape: [count])
        v = Tensor(shape: [count])
    }

    /// One update of `values` from `gradients` over the store's entries (decay only where the entry
    /// asks for it).
    /// Elementwise, so the flat buffer is split across `threads` threads by `parallelFor` (about 0.46 s a
    /// step for SmolLM2's 134 M parameters on one core); each scalar's update is the same whatever the
    /// split, so results do not depend on the thread count.
    public func update(_ store: ParameterStore, learningRate: Float, threads: Int = BLAS.threads) {
        precondition(store.count == count, "optimizer built for \(count) parameters, store has \(store.count)")
        step += 1
        let entries = store.entries
        parallelFor(store.count, grain: 1 << 18, threads: threads) { range in
            // this thread's range of the flat parameter buffer, cut at entry boundaries inside it
            for entry in entries where entry.offset < range.upperBound && entry.offset + entry.count > range.lowerBound {
                let start = max(range.lowerBound, entry.offset), end = min(range.upperBound, entry.offset + entry.count)
                update(values: store.value(entry) + (start - entry.offset), gradients: store.gradient(entry) + (start - entry.offset), offset: start,
                       count: end - start, learningRate: learningRate, decays: entry.decays)
            }
        }
    }

    func update(
        values p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, offset: Int, count n: Int,
        learningRate lr: Float, decays: Bool
    ) {
        let (b1, b2, eps) = (config.beta1, config.beta2, config.eps)
        let decay: Float = decays ? 1 - lr * config.weightDecay : 1
        let stepSize = lr / (1 - Float.pow(b1, step))
        let bias2Sqrt = Float.sqrt(1 - Float.pow(b2, step))
        let m = self.m.pointer + offset, v = self.v.pointer + offset
        for i in 0..<n {
            p[i] *= decay
            m[i] += (g[i] - m[i]) * (1 - b1)
            v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i]
            p[i] -= stepSize * m[i] / (Float.sqrt(v[i]) / bias2Sqrt + eps)
        }
    }

    /// Restores the step count from a checkpoint (the moments are restored through `m` and `v`).
    public func restore(step: Int) { self.step = step }
}

/// Learning-rate multipliers as functions of the number of optimizer steps already taken
/// (Hugging Face's `get_*_schedule_with_warmup` definitions).
public enum LearningRateSchedule: Sendable, Codable, Equatable {
    case constant
    /// Linear warm-up from 0 over `warmupSteps`, then constant.
    case constantWithWarmup(warmupSteps: Int)
    /// Linear warm-up, then half a cosine from 1 down to 0 at `totalSteps`.
    case cosine(warmupSteps: Int, totalSteps: Int)

    public func multiplier(step: Int) -> Double {
        switch self {
        case .constant:
            return 1
        case .constantWithWarmup(let warmup):
            return step < warmup ? Double(step) / Double(max(1, warmup)) : 1
        case .cosine(let warmup, let total):
            if step < warmup { return Double(step) / Double(max(1, warmup)) }
            let progress = Double(step - warmup) / Double(max(1, total - warmup))
            return max(0, 0.5 * (1 + Double.cos(Double.pi * progress)))
        }
    }
}
