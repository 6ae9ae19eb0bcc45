/// Per-call resident-memory deltas of one series (or several merged): how many, their sum and
/// the largest. The mean is the sum over the count; a steady positive mean is an operation that
/// keeps a little memory on every call.
struct MemoryDeltaStats: Sendable, Equatable {
    var count: UInt64 = 0
    var totalBytes: Int64 = 0
    var maxBytes: Int64 = .min

    @inline(__always)
    mutating func add(_ delta: Int64) {
        count &+= 1
        totalBytes &+= delta
        if delta > maxBytes { maxBytes = delta }
    }

    mutating func merge(_ other: MemoryDeltaStats) {
        count &+= other.count
        totalBytes &+= other.totalBytes
        maxBytes = Swift.max(maxBytes, other.maxBytes)
    }

    /// The mean delta, rounded toward zero; nil when no delta was recorded.
    var meanBytes: Int64? { count == 0 ? nil : totalBytes / Int64(count) }
    var largest: Int64? { count == 0 ? nil : maxBytes }
    var total: Int64? { count == 0 ? nil : totalBytes }
}
