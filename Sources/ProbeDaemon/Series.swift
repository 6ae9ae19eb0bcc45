/// The identity of a series: one operation of one service in one process.
public struct SeriesKey: Hashable, Sendable {
    public var service: String
    public var pid: Int32
    public var operation: String
}

/// Everything the daemon knows about one series. A class so that a connection's operation table
/// can point straight at it: the ingest loop does one array index per event, no hashing.
final class Series {
    let key: SeriesKey
    let firstSeen: UInt64
    var calls: UInt64 = 0
    var errors: UInt64 = 0
    var warmup: UInt64 = 0
    /// Latency of successful calls past warm-up, by time: the recent windows and the lifetime.
    var windows: SeriesWindows
    /// Error-type names in the order first seen; slices count failures by index into it.
    private(set) var errorTypeNames: [String] = []
    private var errorTypeIndex: [String: UInt32] = [:]
    /// Lifetime failures by error-type index.
    private(set) var errorTypeCounts: [UInt64] = []
    var lastSeen: UInt64
    /// Per-call resident-memory deltas, when the client tracks them for this operation.
    var memory = MemoryDeltaStats()
    /// Calls whose timing waited for the device (EventFlags.deviceSynchronized), since the series began.
    var synchronizedCalls: UInt64 = 0
    /// Items (batch sizes) and slow calls (CALL_DETAILs flagged slow) of the series.
    var items = ItemStats()
    var slowCalls: UInt64 = 0

    init(key: SeriesKey, now: UInt64) {
        self.key = key
        firstSeen = now
        lastSeen = now
        windows = SeriesWindows(now: now)
    }

    var totals: SeriesWindows.Totals { .init(calls: calls, errors: errors, warmup: warmup) }

    /// Brings the windows up to `now`: call before adding events stamped `now`, and before reading.
    /// Costs a division unless a new second has begun since the last touch.
    @inline(__always)
    func touch(_ now: UInt64) {
        windows.advance(to: now, totals: totals)
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
            windows.open.record(duration)
        }
    }

    /// Counts a failure of the error type `name` (the call itself goes through `add`).
    func addError(named name: String) {
        let t: Int
        if let known = errorTypeIndex[name] {
            t = Int(known)
        } else {
            t = errorTypeNames.count
            errorTypeIndex[name] = UInt32(t)
            errorTypeNames.append(name)
            errorTypeCounts.append(0)
            windows.openErrorTypes.append(0)
        }
        errorTypeCounts[t] &+= 1
        windows.openErrorTypes[t] &+= 1
    }

    /// Lifetime failures by error-type name.
    var errorTypes: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for (t, c) in errorTypeCounts.enumerated() where c > 0 { out[errorTypeNames[t]] = c }
        return out
    }

    /// Heap bytes this series holds, windows included (names and the object header aside).
    var footprintBytes: Int {
        windows.footprintBytes + errorTypeCounts.capacity * 8 + errorTypeNames.capacity * 16 + items.footprintBytes
    }
}
