import ProbeStatistics

/// The identity of a series: one operation of one service in one process, or (`pid` is
/// `retiredPID`) the retired aggregate of that operation's processes that are gone.
public struct SeriesKey: Hashable, Sendable {
    public var service: String
    public var pid: Int32
    public var operation: String

    /// The pid of a retired aggregate: no process has it (the kernel's pids are positive; a peer
    /// outside probed's pid namespace reads as 0).
    public static let retiredPID: Int32 = -1

    /// The key of `service`'s `operation`'s retired aggregate.
    static func retired(service: String, operation: String) -> SeriesKey {
        SeriesKey(service: service, pid: retiredPID, operation: operation)
    }

    var isRetired: Bool { pid == SeriesKey.retiredPID }
}

/// What the ingest loop updates for every event of a series. It lives in memory of its own that
/// the loop reaches through `Series.hot`: a pointer, so the per-event updates pay neither
/// reference counting nor the dynamic exclusivity check that a class's stored `var` costs on
/// every access (together they were most of probed's time per event).
struct SeriesHot {
    var calls: UInt64 = 0
    var errors: UInt64 = 0
    var warmup: UInt64 = 0
    /// Calls whose timing waited for the device (EventFlags.deviceSynchronized), since the series began.
    var synchronizedCalls: UInt64 = 0
    var lastSeen: UInt64
    /// Latency of successful calls past warm-up, by time: the recent windows and the lifetime.
    var windows: SeriesWindows
    /// Items (batch sizes) of the series.
    var items = ItemStats()

    init(now: UInt64) {
        lastSeen = now
        windows = SeriesWindows(now: now)
    }

    var totals: SeriesWindows.Totals { .init(calls: calls, errors: errors, warmup: warmup) }

    /// Brings the windows up to `now`: call before adding events stamped `now`, and before reading.
    /// Costs a division by a constant unless a new second has begun since the last touch.
    @inline(__always)
    mutating func touch(_ now: UInt64) {
        windows.advance(to: now, totals: totals)
    }

    /// Adds one call. `warmupLimit` calls of the series, whatever their outcome, are counted but
    /// kept out of the latency figures.
    @inline(__always)
    mutating func add(duration: UInt64, failed: Bool, warmupLimit: UInt64) {
        calls &+= 1
        if failed { errors &+= 1 }
        if calls <= warmupLimit {
            warmup &+= 1
        } else if !failed {
            windows.open.record(duration)
        }
    }
}

/// Everything the daemon knows about one series. A class so that a connection's operation table
/// can point straight at it: the ingest loop does one array index per event, no hashing.
final class Series {
    let key: SeriesKey
    /// When the series began; for a retired aggregate, the earliest of its processes'.
    var firstSeen: UInt64
    /// The per-event state; owned by this object (freed with it).
    let hot: UnsafeMutablePointer<SeriesHot>
    /// Error-type names in the order first seen; slices count failures by index into it.
    private(set) var errorTypeNames: [String] = []
    private var errorTypeIndex: [String: UInt32] = [:]
    /// Lifetime failures by error-type index.
    private(set) var errorTypeCounts: [UInt64] = []
    /// Per-call resident-memory deltas, when the client tracks them for this operation.
    var memory = MemoryDeltaStats()
    /// Slow calls (CALL_DETAILs flagged slow) of the series.
    var slowCalls: UInt64 = 0
    /// Whether its process is connected. A series of a process gone (and a retired aggregate)
    /// spreads its calls over the whole of a window (see `Store.Aggregate.span`).
    var live = true
    /// Processes folded into a retired aggregate (0 for a process's own series).
    var retiredProcesses = 0

    init(key: SeriesKey, now: UInt64) {
        self.key = key
        firstSeen = now
        hot = .allocate(capacity: 1)
        hot.initialize(to: SeriesHot(now: now))
    }

    deinit {
        hot.deinitialize(count: 1)
        hot.deallocate()
    }

    var calls: UInt64 {
        get { hot.pointee.calls }
        set { hot.pointee.calls = newValue }
    }
    var errors: UInt64 {
        get { hot.pointee.errors }
        set { hot.pointee.errors = newValue }
    }
    var warmup: UInt64 {
        get { hot.pointee.warmup }
        set { hot.pointee.warmup = newValue }
    }
    var synchronizedCalls: UInt64 {
        get { hot.pointee.synchronizedCalls }
        set { hot.pointee.synchronizedCalls = newValue }
    }
    var lastSeen: UInt64 {
        get { hot.pointee.lastSeen }
        set { hot.pointee.lastSeen = newValue }
    }
    var windows: SeriesWindows {
        _read { yield hot.pointee.windows }
        _modify { yield &hot.pointee.windows }
    }
    var items: ItemStats {
        _read { yield hot.pointee.items }
        _modify { yield &hot.pointee.items }
    }

    var totals: SeriesWindows.Totals { hot.pointee.totals }

    func touch(_ now: UInt64) { hot.pointee.touch(now) }

    func add(duration: UInt64, failed: Bool, warmupLimit: UInt64) {
        hot.pointee.add(duration: duration, failed: failed, warmupLimit: warmupLimit)
    }

    /// Counts a failure of the error type `name` (the call itself goes through `add`).
    func addError(named name: String) {
        let t = errorType(name)
        errorTypeCounts[t] &+= 1
        windows.openErrorTypes[t] &+= 1
    }

    /// The index of error type `name`, registered with no failures when it is new.
    func errorType(_ name: String) -> Int {
        if let known = errorTypeIndex[name] { return Int(known) }
        let t = errorTypeNames.count
        errorTypeIndex[name] = UInt32(t)
        errorTypeNames.append(name)
        errorTypeCounts.append(0)
        windows.openErrorTypes.append(0)
        return t
    }

    /// Adds `count` lifetime failures of error type `t` (folding, restoring: the windows get theirs apart).
    func addLifetimeErrors(_ t: Int, _ count: UInt64) {
        errorTypeCounts[t] &+= count
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
