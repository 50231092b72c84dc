// A small HDF5 wrapper: files, appendable datasets (1-D and 2-D, numeric or variable-length UTF-8
// strings) and attributes. The only file in the project that imports the C library. Every handle is a
// class that closes itself in deinit, so no id outlives its owner. One writer per file.
import CHDF5
import Foundation

public struct HDF5Error: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Calls an HDF5 function that returns a negative value on failure.
@discardableResult
func check<T: BinaryInteger>(_ value: T, _ what: @autoclosure () -> String) throws -> T {
    if value < 0 { throw HDF5Error("HDF5: \(what()) failed\(hdf5Reasons())") }
    return value
}

/// The library's own account of the last failure on this thread, outermost first (printing it is
/// silenced, but the stack is still kept): " (unable to open file: file signature not found)".
func hdf5Reasons() -> String {
    var reasons: [String] = []
    withUnsafeMutablePointer(to: &reasons) { list in
        _ = H5Ewalk2(chdf5_e_default(), H5E_WALK_DOWNWARD, { _, error, list in
            if let text = error?.pointee.desc.map({ String(cString: $0) }), !text.isEmpty {
                list!.assumingMemoryBound(to: [String].self).pointee.append(text)
            }
            return 0
        }, list)
    }
    return reasons.isEmpty ? "" : " (" + reasons.joined(separator: ": ") + ")"
}

/// An open id, closed with its matching H5*close when the owner goes.
final class Handle {
    let id: hid_t
    private let close: (hid_t) -> herr_t
    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) { self.id = id; self.close = close }
    deinit { _ = close(id) }
}

public enum HDF5Scalar: Sendable {
    case float64, int64

    var nativeType: hid_t { self == .float64 ? chdf5_native_double() : chdf5_native_int64() }
}

public final class HDF5File {
    public let path: String
    let handle: Handle
    public let writable: Bool

    private init(path: String, id: hid_t, writable: Bool) {
        self.path = path
        handle = Handle(id, close: H5Fclose)
        self.writable = writable
    }

    /// Creates (truncating) a file for writing.
    public static func create(_ path: String) throws -> HDF5File {
        silenceErrorStack()
        let id = H5Fcreate(path, chdf5_acc_trunc(), chdf5_p_default(), chdf5_p_default())
        guard id >= 0 else { throw HDF5Error("cannot create HDF5 file \(path)\(hdf5Reasons())") }
        return HDF5File(path: path, id: id, writable: true)
    }

    /// Opens an existing file, read-only unless `writable`.
    public static func open(_ path: String, writable: Bool = false) throws -> HDF5File {
        silenceErrorStack()
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error("no such file: \(path)") }
        let flags = writable ? chdf5_acc_rdwr() : chdf5_acc_rdonly()
        var id = H5Fopen(path, flags, chdf5_p_default())
        if id < 0 && !writable {
            // Readers may go without the lock: a process spawned while the file was being written keeps a
            // copy of the writer's descriptor, and its exclusive lock, for a moment after the writer closes;
            // a finished run (or one in progress, flushed each step) must read all the same. Only a retry:
            // a file this process has open must be joined with the locking it was opened with.
            let access = Handle(try check(H5Pcreate(chdf5_p_file_access()), "file access properties"), close: H5Pclose)
            try check(H5Pset_file_locking(access.id, false, true), "read without locking")
            id = H5Fopen(path, flags, access.id)
            if id < 0 { throw HDF5Error("\(path) is not a readable HDF5 file\(hdf5Reasons())") }  // before H5Pclose clears them
        }
        guard id >= 0 else {
            throw HDF5Error("\(path) \(writable ? "cannot be opened for writing" : "is not a readable HDF5 file")\(hdf5Reasons())")
        }
        return HDF5File(path: path, id: id, writable: writable)
    }

    /// The library prints its error stack to stderr by default; errors surface as HDF5Error instead.
    private static func silenceErrorStack() { H5Eset_auto2(chdf5_e_default(), nil, nil) }

    /// Pushes everything written so far to the file, so a crash keeps it.
    public func flush() throws { try check(H5Fflush(handle.id, H5F_SCOPE_LOCAL), "flush \(path)") }

    public func exists(_ path: String) -> Bool {
        // H5Lexists needs each parent to exist, so walk the path.
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if H5Lexists(handle.id, prefix, chdf5_p_default()) <= 0 { return false }
        }
        return true
    }

    /// Names of the members of a group, in the file's (alphabetical) order.
    public func members(of group: String) throws -> [String] {
        guard exists(group) || group == "/" else { return [] }
        let g = Handle(try check(H5Gopen2(handle.id, group, chdf5_p_default()), "open group \(group)"), close: H5Gclose)
        var info = H5G_info_t()
        try check(H5Gget_info(g.id, &info), "group info \(group)")
        return try (0..<info.nlinks).map { i in
            let size = try check(H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, chdf5_p_default()), "name in \(group)")
            var buffer = [CChar](repeating: 0, count: Int(size) + 1)
            H5Lget_name_by_idx(g.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, chdf5_p_default())
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    // MARK: attributes (on the root group)

    public func setAttribute(_ name: String, _ value: String) throws {
        let type = try stringType()
        let space = Handle(try check(H5Screate(H5S_SCALAR), "scalar space"), close: H5Sclose)
        if H5Aexists(handle.id, name) > 0 { H5Adelete(handle.id, name) }
        let attribute = Handle(try check(H5Acreate2(handle.id, name, type.id, space.id, chdf5_p_default(), chdf5_p_default()),
                                         "create attribute \(name)"), close: H5Aclose)
        try value.withCString { c in
            var pointer: UnsafePointer<CChar>? = c
            try check(H5Awrite(attribute.id, type.id, &pointer), "write attribute \(name)")
        }
    }

    public func setAttribute(_ name: String, _ value: Int64) throws {
        try setNumericAttribute(name, value, type: chdf5_native_int64())
    }

    public func setAttribute(_ name: String, _ value: Double) throws {
        try setNumericAttribute(name, value, type: chdf5_native_double())
    }

    private func setNumericAttribute<T: BitwiseCopyable>(_ name: String, _ value: T, type: hid_t) throws {
        let space = Handle(try check(H5Screate(H5S_SCALAR), "scalar space"), close: H5Sclose)
        if H5Aexists(handle.id, name) > 0 { H5Adelete(handle.id, name) }
        let attribute = Handle(try check(H5Acreate2(handle.id, name, type, space.id, chdf5_p_default(), chdf5_p_default()),
                                         "create attribute \(name)"), close: H5Aclose)
        var v = value
        try check(H5Awrite(attribute.id, type, &v), "write attribute \(name)")
    }

    /// A root attribute as text (strings as stored, numbers formatted), nil when absent.
    public func attribute(_ name: String) throws -> String? {
        guard H5Aexists(handle.id, name) > 0 else { return nil }
        let attribute = Handle(try check(H5Aopen(handle.id, name, chdf5_p_default()), "open attribute \(name)"), close: H5Aclose)
        let type = Handle(H5Aget_type(attribute.id), close: H5Tclose)
        switch H5Tget_class(type.id) {
        case H5T_STRING:
            let memType = try stringType()
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try check(H5Aread(attribute.id, memType.id, &pointer), "read attribute \(name)")
            defer { free(pointer) }
            return pointer.map { String(cString: $0) }
        case H5T_INTEGER:
            var v: Int64 = 0
            try check(H5Aread(attribute.id, chdf5_native_int64(), &v), "read attribute \(name)")
            return String(v)
        default:
            var v: Double = 0
            try check(H5Aread(attribute.id, chdf5_native_double(), &v), "read attribute \(name)")
            return String(v)
        }
    }

    /// Variable-length UTF-8 string type.
    func stringType() throws -> Handle {
        let type = Handle(try check(H5Tcopy(chdf5_c_s1()), "copy string type"), close: H5Tclose)
        try check(H5Tset_size(type.id, chdf5_variable()), "variable string size")
        try check(H5Tset_cset(type.id, H5T_CSET_UTF8), "utf-8 string")
        return type
    }

    // MARK: appendable datasets

    /// Creates a chunked dataset of `columns` values per row (1-D when `columns` is nil) that grows
    /// along its first dimension; intermediate groups are created as needed.
    public func createAppendable(_ path: String, scalar: HDF5Scalar, columns: Int? = nil) throws {
        try createAppendable(path, type: scalar.nativeType, columns: columns)
    }

    public func createAppendableStrings(_ path: String) throws {
        let type = try stringType()
        try createAppendable(path, type: type.id, columns: nil)
    }

    private func createAppendable(_ path: String, type: hid_t, columns: Int?) throws {
        let rank: Int32 = columns == nil ? 1 : 2
        var dims: [hsize_t] = columns.map { [0, hsize_t($0)] } ?? [0]
        var maxDims: [hsize_t] = columns.map { [chdf5_unlimited(), hsize_t($0)] } ?? [chdf5_unlimited()]
        var chunk: [hsize_t] = columns.map { [hsize_t(max(1, 4096 / max(1, $0))), hsize_t($0)] } ?? [256]
        let space = Handle(try check(H5Screate_simple(rank, &dims, &maxDims), "dataspace for \(path)"), close: H5Sclose)
        let dcpl = Handle(try check(H5Pcreate(chdf5_p_dataset_create()), "dataset properties"), close: H5Pclose)
        try check(H5Pset_chunk(dcpl.id, rank, &chunk), "chunking for \(path)")
        let lcpl = Handle(try check(H5Pcreate(chdf5_p_link_create()), "link properties"), close: H5Pclose)
        try check(H5Pset_create_intermediate_group(lcpl.id, 1), "intermediate groups")
        _ = Handle(try check(H5Dcreate2(handle.id, path, type, space.id, lcpl.id, dcpl.id, chdf5_p_default()),
                             "create dataset \(path)"), close: H5Dclose)
    }

    func openDataset(_ path: String) throws -> Handle {
        guard exists(path) else { throw HDF5Error("\(self.path) has no dataset \(path)") }
        return Handle(try check(H5Dopen2(handle.id, path, chdf5_p_default()), "open dataset \(path)"), close: H5Dclose)
    }

    /// Current extent: rank (1 or 2), rows, and columns per row (1 for a 1-D dataset).
    public func extent(_ path: String) throws -> (rank: Int, rows: Int, columns: Int) {
        let dataset = try openDataset(path)
        let space = Handle(H5Dget_space(dataset.id), close: H5Sclose)
        var dims: [hsize_t] = [0, 0]
        let rank = Int(try check(H5Sget_simple_extent_dims(space.id, &dims, nil), "extent of \(path)"))
        return (rank, Int(dims[0]), rank == 2 ? Int(dims[1]) : 1)
    }

    /// Dimensions for `rows` rows of a dataset of this rank and width.
    private func dims(rank: Int, rows: Int, columns: Int) -> [hsize_t] {
        rank == 2 ? [hsize_t(rows), hsize_t(columns)] : [hsize_t(rows)]
    }

    /// Appends rows (row-major, `columns` values each) to a numeric dataset.
    public func append(_ path: String, _ values: [Double]) throws { try appendNumeric(path, values, chdf5_native_double()) }
    public func append(_ path: String, _ values: [Int64]) throws { try appendNumeric(path, values, chdf5_native_int64()) }

    private func appendNumeric<T: BitwiseCopyable>(_ path: String, _ values: [T], _ memType: hid_t) throws {
        let columns = try extent(path).columns
        guard values.count % columns == 0 else {
            throw HDF5Error("\(values.count) values do not fill rows of \(columns) in \(path)")
        }
        try values.withUnsafeBufferPointer { buffer in
            try write(path, adding: values.count / columns, memType: memType, buffer.baseAddress!)
        }
    }

    public func append(_ path: String, strings: [String]) throws {
        let type = try stringType()
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers = copies.map { UnsafePointer($0) }
        try write(path, adding: strings.count, memType: type.id, &pointers)
    }

    private func write(_ path: String, adding count: Int, memType: hid_t, _ data: UnsafeRawPointer) throws {
        guard count > 0 else { return }
        let (rank, rows, columns) = try extent(path)
        let dataset = try openDataset(path)
        var newDims = dims(rank: rank, rows: rows + count, columns: columns)
        try check(H5Dset_extent(dataset.id, &newDims), "extend \(path)")
        let fileSpace = Handle(H5Dget_space(dataset.id), close: H5Sclose)
        var start = dims(rank: rank, rows: rows, columns: 0)
        var size = dims(rank: rank, rows: count, columns: columns)
        try check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &start, nil, &size, nil), "select rows of \(path)")
        let memSpace = Handle(try check(H5Screate_simple(Int32(rank), &size, nil), "memory space"), close: H5Sclose)
        try check(H5Dwrite(dataset.id, memType, memSpace.id, fileSpace.id, chdf5_p_default(), data), "write \(path)")
    }

    /// Shrinks a dataset to its first `rows` rows (resume drops rows written after a checkpoint).
    public func truncate(_ path: String, rows: Int) throws {
        let (rank, current, columns) = try extent(path)
        guard rows < current else { return }
        var newDims = dims(rank: rank, rows: rows, columns: columns)
        let dataset = try openDataset(path)
        try check(H5Dset_extent(dataset.id, &newDims), "truncate \(path)")
    }

    // MARK: reading

    public func readDoubles(_ path: String) throws -> [Double] { try readNumeric(path, chdf5_native_double(), 0.0) }
    public func readInt64s(_ path: String) throws -> [Int64] { try readNumeric(path, chdf5_native_int64(), Int64(0)) }

    private func readNumeric<T: BitwiseCopyable>(_ path: String, _ memType: hid_t, _ zero: T) throws -> [T] {
        let (_, rows, columns) = try extent(path)
        var values = [T](repeating: zero, count: rows * columns)
        guard !values.isEmpty else { return [] }
        let dataset = try openDataset(path)
        try check(H5Dread(dataset.id, memType, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &values), "read \(path)")
        return values
    }

    public func readStrings(_ path: String) throws -> [String] {
        let rows = try extent(path).rows
        guard rows > 0 else { return [] }
        let dataset = try openDataset(path)
        let type = try stringType()
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: rows)
        try check(H5Dread(dataset.id, type.id, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &pointers), "read \(path)")
        let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
        let space = Handle(H5Dget_space(dataset.id), close: H5Sclose)
        H5Dvlen_reclaim(type.id, space.id, chdf5_p_default(), &pointers)
        return strings
    }
}
