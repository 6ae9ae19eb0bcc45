import ProbeStatistics

/// A process's memory history — resident (ProcessMemory) or on its GPUs (ProcessGPUMemory) — and
/// the leak judgement kept on it.
protocol LeakWatch {
    var history: MemoryHistory { get }
    var assessment: LeakDetector.Assessment? { get set }
    var assessedAt: UInt64 { get set }
    /// When the current suspicion began; nil when not suspected.
    var suspectedSince: UInt64? { get set }
}

extension LeakWatch {
    /// Judges the last `window` of history again, at most once a second; returns whether a
    /// suspicion began (true) or ended (false), nil when nothing changed.
    mutating func reassess(now: UInt64, detector: LeakDetector, window: UInt64) -> Bool? {
        guard assessment == nil || now &- assessedAt >= 1_000_000_000 else { return nil }
        let was = assessment?.suspected ?? false
        let a = detector.assess(history.since(now &- min(now, window)))
        assessment = a
        assessedAt = now
        if a.suspected && !was {
            suspectedSince = now
            return true
        }
        if !a.suspected && was {
            suspectedSince = nil
            return false
        }
        return nil
    }

    /// The trend fitted over the whole `window` ending at the last sample (for an exited
    /// process, at its last sample). The judgement `reassess` made at that very sample is that
    /// fit already (same samples, same window), so it is reused rather than fitted again: with
    /// samples a second or more apart, procs and every scrape cost no fitting at all.
    func latestAssessment(_ detector: LeakDetector, window: UInt64) -> LeakDetector.Assessment {
        let end = history.last?.time ?? 0
        if let assessment, history.count > 0, assessedAt == end { return assessment }
        return detector.assess(history.since(end &- min(end, window)))
    }
}

/// A suspicion of a leak that began or ended, for the sampler to log.
struct LeakChange: Sendable {
    var service: String
    var pid: Int32
    /// True when the suspicion began, false when it ended.
    var began: Bool
    var assessment: LeakDetector.Assessment

    /// `service NAME pid PID`, as the log lines name a process.
    var who: String { "service \(service) pid \(pid)" }
}
