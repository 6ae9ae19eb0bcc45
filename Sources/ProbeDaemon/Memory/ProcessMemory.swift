import ProbeStatistics

/// What probed knows about one client process's memory: its sampled history, its latest
/// figures, the last leak assessment, and the per-call memory deltas it reported dropping.
struct ProcessMemory: LeakWatch, Sendable {
    var history: MemoryHistory
    var latest: ProcStatus?
    var samplesTaken: UInt64 = 0
    /// Reads that failed (process already gone, or not readable by probed).
    var sampleFailures: UInt64 = 0
    var assessment: LeakDetector.Assessment?
    var assessedAt: UInt64 = 0
    /// When the current suspicion began; nil when not suspected.
    var suspectedSince: UInt64?
    /// The client's cumulative count of memory deltas it had to drop.
    var deltasDropped: UInt64 = 0

    init(capacity: Int) {
        history = MemoryHistory(capacity: capacity)
    }
}
