import ProbeStatistics
import ProbeWire

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
    /// Which calls are warm-up: the first N by start time (WarmupFilter).
    var warmupCalls: WarmupFilter

    init(now: UInt64, warmup: Int) {
        lastSeen = now
        windows = SeriesWindows(now: now)
        warmupCalls = WarmupFilter(limit: warmup)
    }

    var totals: SeriesWindows.Totals { .init(calls: calls, errors: errors, warmup: warmup) }

    /// Brings the windows up to `now`: call before adding events stamped `now`, and before reading.
    /// Costs a division by a constant unless a new second has begun since the last touch.
    @inline(__always)
    mutating func touch(_ now: UInt64) {
        windows.advance(to: now, totals: totals)
    }

    /// Adds one call that arrived in `second`. The series' warm-up calls — its first N by start
    /// time, whatever their outcome — are counted but kept out of the latency figures.
    @inline(__always)
    mutating func add(_ r: EventRecord, second: UInt64) {
        calls &+= 1
        let failed = r.failed
        if failed { errors &+= 1 }
        if _slowPath(warmupCalls.mayAdmit(r.startNanoseconds)) && isWarmup(r, second: second) { return }
        if !failed { windows.open.record(r.durationNanoseconds) }
        items.add(r.items, duration: r.durationNanoseconds, counted: !failed, second: second)
    }

    /// Offers a call to the warm-up filter; true when it is warm-up (and its items are counted).
    /// A call it displaces from the warm-up is measured now.
    @inline(never)
    mutating func isWarmup(_ r: EventRecord, second: UInt64) -> Bool {
        let call = WarmupFilter.Call(
            start: r.startNanoseconds, duration: r.durationNanoseconds, arrival: calls, items: r.items, failed: r.failed)
        switch warmupCalls.offer(call) {
        case .measured:
            return false
        case .warmup:
            warmup &+= 1
        case .warmupReplacing(let left):
            if !left.failed {
                windows.open.record(left.duration)
                items.addCounted(left.items, duration: left.duration)
            }
        }
        items.add(r.items, duration: r.durationNanoseconds, counted: false, second: second)
        return true
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
    /// Failures by error type: at most `ErrorTypeTable.capacity` names, the rest as `other`;
    /// the windows count failures by its slots. Changed by `addError`, folds and restores only.
    var errorTypeTable = ErrorTypeTable()
    /// Per-call resident-memory deltas, when the client tracks them for this operation.
    var memory = MemoryDeltaStats()
    /// Slow calls (CALL_DETAILs flagged slow) of the series.
    var slowCalls: UInt64 = 0
    /// Whether its process is connected. A series of a process gone (and a retired aggregate)
    /// spreads its calls over the whole of a window (see `Store.Aggregate.span`).
    var live = true
    /// Processes folded into a retired aggregate (0 for a process's own series).
    var retiredProcesses = 0
    /// What the client declared about the operation in its latest DEFINE; for a retired
    /// aggregate, what its processes declared together (see `Series.absorb`).
    var flags: OperationFlags = [] {
        didSet { hot.pointee.warmupCalls.perItems = flags.contains(.warmupPerItems) }
    }

    /// A series whose first `warmup` calls (by start time) are kept out of latency.
    init(key: SeriesKey, now: UInt64, warmup: Int) {
        self.key = key
        firstSeen = now
        hot = .allocate(capacity: 1)
        hot.initialize(to: SeriesHot(now: now, warmup: warmup))
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

    func add(_ r: EventRecord, second: UInt64) {
        hot.pointee.add(r, second: second)
    }

    var warmupCalls: WarmupFilter {
        get { hot.pointee.warmupCalls }
        set { hot.pointee.warmupCalls = newValue }
    }
    /// Calls whose items value was past those the warm-up tracks (read in place, not copied).
    var warmupUntracked: UInt64 { hot.pointee.warmupCalls.untrackedCalls }

    /// Counts a failure of the error type `name` (the call itself goes through `add`).
    func addError(named name: String) {
        let (slot, replaced) = errorTypeTable.record(name)
        let t = Int(slot)
        if replaced { windows.reassignErrorType(slot) }
        if windows.openErrorTypes.count <= t {
            windows.openErrorTypes.append(contentsOf: repeatElement(0, count: t + 1 - windows.openErrorTypes.count))
        }
        windows.openErrorTypes[t] &+= 1
    }

    /// Lifetime failures by error type (at most `ErrorTypeTable.capacity` names, and `other`).
    var errorTypes: ErrorTypeCounts { errorTypeTable.lifetime }

    /// The name of error-type slot `slot` (nil: `ErrorTypeTable.otherSlot`, or no such slot).
    func errorTypeName(slot: Int) -> String? {
        slot < errorTypeTable.names.count ? errorTypeTable.names[slot] : nil
    }

    /// Heap bytes this series holds, windows and error-type names included (the key's names and
    /// the object header aside).
    var footprintBytes: Int {
        windows.footprintBytes + errorTypeTable.footprintBytes + items.footprintBytes
            + hot.pointee.warmupCalls.footprintBytes
    }
}
