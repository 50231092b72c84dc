/// Contiguous row-major storage of `count` scalars, 64-byte aligned, freed when the last reference
/// goes. Kernels never see this class: they take its `pointer` and sizes.
public final class Tensor<Scalar: TensorScalar>: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let pointer: UnsafeMutablePointer<Scalar>

    @inlinable  // specialised, the fill is a vectorised loop (unspecialised, one witness call per element)
    public init(shape: [Int], repeating value: Scalar = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(1, count) * MemoryLayout<Scalar>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Scalar.self, capacity: max(1, count))
        pointer.initialize(repeating: value, count: count)
    }

    @inlinable
    public convenience init(shape: [Int], _ values: [Scalar]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Scalar> { .init(start: pointer, count: count) }
    public var array: [Scalar] { Array(buffer) }
    @inlinable public func zero() { pointer.update(repeating: 0, count: count) }

    public subscript(index: Int) -> Scalar {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}
