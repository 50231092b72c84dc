/// FNV-1a (64 bit) over bytes: a fast, stable content hash for cache keys and config identities (not
/// cryptographic). Pass a previous result as `seed` to hash several buffers in sequence.
@inlinable public func fnv1a(_ bytes: UnsafeRawBufferPointer, _ seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}
