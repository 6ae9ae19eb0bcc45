/// Items (batch sizes) of one series: the total, the per-item latency of counted calls, and
/// items per second over the last minute (one counter per second).
///
/// Items come from peers (up to 2^32 − 1 a call): `total` saturates at 2^64 − 1 rather than wrap
/// (a client sending the largest batch flat out would wrap 64 bits in minutes), and the sums
/// behind the per-item mean are 128 bits wide, so the mean is exact for any durations.
public struct ItemStats: Sendable {
    package static let seconds = 60
    @usableFromInline package internal(set) var total: UInt64 = 0
    /// Items and summed duration of counted calls (successful, past warm-up).
    @usableFromInline package internal(set) var countedItems: UInt128 = 0
    @usableFromInline package internal(set) var countedNanoseconds: UInt128 = 0
    /// Items of the second being filled; moved into the ring when another second begins, so
    /// the per-event work is two additions and a comparison.
    @usableFromInline var openSecond: UInt64 = .max
    @usableFromInline var openItems: UInt64 = 0
    /// Closed seconds: items per slot (second % 60) and the second each slot holds.
    var perSecond: [UInt64] = []
    var stamps: [UInt64] = []

    package init() {}

    @inlinable @inline(__always)
    public mutating func add(_ items: UInt32, duration: UInt64, counted: Bool, second: UInt64) {
        let (sum, overflow) = total.addingReportingOverflow(UInt64(items))
        total = overflow ? .max : sum
        if counted { addCounted(items, duration: duration) }
        if _slowPath(second != openSecond) { open(second) }
        // Cannot wrap: a second would need 2^32 calls of the largest batch.
        openItems &+= UInt64(items)
    }

    /// Adds a call to the per-item latency only (a call that left the warm-up after it arrived:
    /// its items were already counted in `total` and in its second).
    @inlinable @inline(__always)
    public mutating func addCounted(_ items: UInt32, duration: UInt64) {
        countedItems &+= UInt128(items)
        countedNanoseconds &+= UInt128(duration)
    }

    /// Files the open second's items in the ring and starts `second`.
    @usableFromInline @inline(never)
    mutating func open(_ second: UInt64) {
        if openSecond != .max && openItems > 0 {
            if perSecond.isEmpty {
                perSecond = Array(repeating: 0, count: ItemStats.seconds)
                stamps = Array(repeating: .max, count: ItemStats.seconds)
            }
            let slot = Int(openSecond % UInt64(ItemStats.seconds))
            stamps[slot] = openSecond
            perSecond[slot] = openItems
        }
        openSecond = second
        openItems = 0
    }

    /// Items in the last `seconds` whole seconds up to `nowSecond` (at most 60).
    package func recent(seconds: UInt64, nowSecond: UInt64) -> UInt64 {
        let n = min(seconds, UInt64(ItemStats.seconds))
        let inWindow = { (stamp: UInt64) in stamp != .max && stamp <= nowSecond && stamp + n > nowSecond }
        var sum: UInt64 = inWindow(openSecond) ? openItems : 0
        for (slot, stamp) in stamps.enumerated() where inWindow(stamp) && stamp != openSecond {
            let (s, overflow) = sum.addingReportingOverflow(perSecond[slot])
            sum = overflow ? .max : s
        }
        return sum
    }

    /// Mean duration per item over counted calls (never above the longest call); nil when none.
    package var meanPerItemNanoseconds: UInt64? {
        countedItems == 0 ? nil : UInt64(clamping: countedNanoseconds / countedItems)
    }

    package var footprintBytes: Int { (perSecond.capacity + stamps.capacity) * 8 }
}
