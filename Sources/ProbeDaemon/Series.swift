/// The identity of a series: one operation of one service in one process.
public struct SeriesKey: Hashable, Sendable {
    public var service: String
    public var pid: Int32
    public var operation: String
}

/// Calls per second over the last ten seconds, from sixteen one-second slots that are only
/// touched when an event arrives (an idle series costs nothing) and read on demand.
struct RateCounter {
    static let slots = 16
    static let window: UInt64 = 10
    private var second = [UInt64](repeating: .max, count: slots)
    private var count = [UInt64](repeating: 0, count: slots)

    mutating func add(_ n: UInt64, at nanoseconds: UInt64) {
        let s = nanoseconds / 1_000_000_000
        let i = Int(s % UInt64(RateCounter.slots))
        if second[i] != s {
            second[i] = s
            count[i] = 0
        }
        count[i] &+= n
    }

    /// Calls in the window ending now, divided by the part of the window the series has existed.
    func perSecond(now: UInt64, since firstSeen: UInt64) -> Double {
        let nowSecond = now / 1_000_000_000
        let oldest = nowSecond >= RateCounter.window - 1 ? nowSecond - (RateCounter.window - 1) : 0
        var total: UInt64 = 0
        for i in 0..<RateCounter.slots where second[i] != .max && second[i] >= oldest && second[i] <= nowSecond {
            total &+= count[i]
        }
        let windowStart = max(oldest * 1_000_000_000, firstSeen)
        let span = max(Double(now &- min(windowStart, now)) / 1e9, 1.0)
        return Double(total) / span
    }
}

/// Everything the daemon knows about one series. A class so that a connection's operation table
/// can point straight at it: the ingest loop does one array index per event, no hashing.
final class Series {
    let key: SeriesKey
    let firstSeen: UInt64
    var calls: UInt64 = 0
    var errors: UInt64 = 0
    var warmup: UInt64 = 0
    /// Successful calls past warm-up.
    var latency = Histogram()
    var rate = RateCounter()
    var errorTypes: [String: UInt64] = [:]
    var lastSeen: UInt64
    /// Per-call resident-memory deltas, when the client tracks them for this operation.
    var memory = MemoryDeltaStats()

    init(key: SeriesKey, now: UInt64) {
        self.key = key
        firstSeen = now
        lastSeen = now
    }

    /// Adds one call. `warmupLimit` calls of the series, whatever their outcome, are counted but
    /// kept out of the latency figures.
    @inline(__always)
    func add(duration: UInt64, failed: Bool, warmupLimit: UInt64) {
        calls &+= 1
        if failed { errors &+= 1 }
        if calls <= warmupLimit {
            warmup &+= 1
        } else if !failed {
            latency.record(duration)
        }
    }
}
