/// Per-call resident-memory deltas of one series (or several merged): how many, their sum and
/// the largest. The mean is the sum over the count; a steady positive mean is an operation that
/// keeps a little memory on every call.
public struct MemoryDeltaStats: Sendable, Equatable {
    @usableFromInline package internal(set) var count: UInt64 = 0
    @usableFromInline package internal(set) var totalBytes: Int64 = 0
    @usableFromInline package internal(set) var maxBytes: Int64 = .min

    package init() {}

    /// Deltas as a state file keeps them; nil when `count` is past `Int64.max` (the mean divides
    /// by it as an `Int64`) or a count of 0 comes with figures.
    package init?(count: UInt64, totalBytes: Int64, maxBytes: Int64) {
        guard count <= UInt64(Int64.max), count > 0 || (totalBytes == 0 && maxBytes == .min) else { return nil }
        self.count = count
        self.totalBytes = totalBytes
        self.maxBytes = maxBytes
    }

    @inlinable @inline(__always)
    public mutating func add(_ delta: Int64) {
        count &+= 1
        totalBytes &+= delta
        if delta > maxBytes { maxBytes = delta }
    }

    package mutating func merge(_ other: MemoryDeltaStats) {
        count &+= other.count
        totalBytes &+= other.totalBytes
        maxBytes = Swift.max(maxBytes, other.maxBytes)
    }

    /// The mean delta, rounded toward zero; nil when no delta was recorded.
    package var meanBytes: Int64? { count == 0 ? nil : totalBytes / Int64(count) }
    package var largest: Int64? { count == 0 ? nil : maxBytes }
    package var total: Int64? { count == 0 ? nil : totalBytes }
}
