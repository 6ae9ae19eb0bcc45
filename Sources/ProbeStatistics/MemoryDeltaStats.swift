/// Per-call resident-memory deltas of one series (or several merged): how many, their sum and
/// the largest. The mean is the sum over the count; a steady positive mean is an operation that
/// keeps a little memory on every call.
///
/// Deltas come from peers as any 64-bit value, so the sum is 128 bits wide: it cannot wrap (two
/// deltas of 2^63 − 1 sum to 2^64 − 2, not −2), and the mean, a value between the smallest and
/// the largest delta, always fits 64 bits.
public struct MemoryDeltaStats: Sendable, Equatable {
    @usableFromInline package internal(set) var count: UInt64 = 0
    @usableFromInline package internal(set) var totalBytes: Int128 = 0
    @usableFromInline package internal(set) var maxBytes: Int64 = .min

    package init() {}

    /// Deltas as a state file keeps them; nil unless `add` could have left them: a count of 0
    /// with no figures, or a sum that `count` deltas of at most `maxBytes` can make.
    package init?(count: UInt64, totalBytes: Int128, maxBytes: Int64) {
        if count == 0 {
            guard totalBytes == 0 && maxBytes == .min else { return nil }
        } else {
            // Both products fit: |Int64| × UInt64 < 2^127.
            let n = Int128(count)
            guard totalBytes <= Int128(maxBytes) * n, totalBytes >= Int128(Int64.min) * (n - 1) + Int128(maxBytes) else { return nil }
        }
        self.count = count
        self.totalBytes = totalBytes
        self.maxBytes = maxBytes
    }

    @inlinable @inline(__always)
    public mutating func add(_ delta: Int64) {
        count &+= 1
        totalBytes &+= Int128(delta)
        if delta > maxBytes { maxBytes = delta }
    }

    package mutating func merge(_ other: MemoryDeltaStats) {
        count &+= other.count
        totalBytes &+= other.totalBytes
        maxBytes = Swift.max(maxBytes, other.maxBytes)
    }

    /// The mean delta, rounded toward zero; nil when no delta was recorded.
    package var meanBytes: Int64? { count == 0 ? nil : Int64(clamping: totalBytes / Int128(count)) }
    package var largest: Int64? { count == 0 ? nil : maxBytes }
    /// The exact sum of the deltas (it may exceed 64 bits); nil when none was recorded.
    package var total: Int128? { count == 0 ? nil : totalBytes }
}
