import ProbeStatistics

/// What probed knows about one client process's memory: its sampled history, its latest
/// figures, the last leak assessment, and the per-call memory deltas it reported dropping.
///
/// Leaks are judged on the memory the process owns (`ProcStatus.ownedBytes`, anonymous + swap):
/// `history` holds that. VmRSS also counts file-backed pages — model weights read through mmap
/// grow it as fast as a leak while owned memory stays flat — so its history (`rssHistory`) is
/// kept beside it as context only, for its own trend in `probectl procs`.
struct ProcessMemory: LeakWatch, Sendable {
    /// Owned bytes (anonymous + swap) per sample: what the leak detector fits.
    var history: MemoryHistory
    /// VmRSS per sample, for context.
    var rssHistory: MemoryHistory
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
        rssHistory = MemoryHistory(capacity: capacity)
    }

    /// VmRSS's trend over the `window` ending at the last sample (context, not a verdict).
    func rssTrend(_ detector: LeakDetector, window: UInt64) -> MemoryTrend? {
        let end = rssHistory.last?.time ?? 0
        return detector.assess(rssHistory.since(end &- min(end, window))).trend
    }
}
