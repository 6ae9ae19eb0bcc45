/// Items (batch sizes) of one series: the total, the per-item latency of counted calls, and
/// items per second over the last minute (one counter per second).
struct ItemStats {
    static let seconds = 60
    private(set) var total: UInt64 = 0
    /// Items and summed duration of counted calls (successful, past warm-up).
    private(set) var countedItems: UInt64 = 0
    private(set) var countedNanoseconds: UInt64 = 0
    private var perSecond: [UInt64] = []
    private var stamps: [UInt64] = []

    @inline(__always)
    mutating func add(_ items: UInt32, duration: UInt64, counted: Bool, second: UInt64) {
        total &+= UInt64(items)
        if counted {
            countedItems &+= UInt64(items)
            countedNanoseconds &+= duration
        }
        if perSecond.isEmpty {
            perSecond = Array(repeating: 0, count: ItemStats.seconds)
            stamps = Array(repeating: .max, count: ItemStats.seconds)
        }
        let slot = Int(second % UInt64(ItemStats.seconds))
        if stamps[slot] != second {
            stamps[slot] = second
            perSecond[slot] = 0
        }
        perSecond[slot] &+= UInt64(items)
    }

    /// Items in the last `seconds` whole seconds up to `nowSecond` (at most 60).
    func recent(seconds: UInt64, nowSecond: UInt64) -> UInt64 {
        guard !perSecond.isEmpty else { return 0 }
        let n = min(seconds, UInt64(ItemStats.seconds))
        var sum: UInt64 = 0
        for (slot, stamp) in stamps.enumerated() where stamp != .max && stamp <= nowSecond && stamp + n > nowSecond {
            sum &+= perSecond[slot]
        }
        return sum
    }

    /// Mean duration per item over counted calls; nil when none.
    var meanPerItemNanoseconds: UInt64? { countedItems == 0 ? nil : countedNanoseconds / countedItems }

    var footprintBytes: Int { (perSecond.capacity + stamps.capacity) * 8 }
}
