import Synchronization

/// A warning that can repeat thousands of times a second (a connection refused at a limit): the
/// first occurrence is logged in full, later ones are counted, and the count is logged at most
/// once per `interval` (by the next `note`, or by `flush` from a loop that runs anyway). A storm
/// costs a line a minute, and the operator still learns how big it was.
final class CountedWarning: Sendable {
    struct State {
        /// When a line was last written; nil before the first.
        var lastWritten: UInt64?
        /// Occurrences since then that were counted, not written.
        var counted = 0
    }

    let interval: UInt64
    let clock: any DaemonClock
    let sink: @Sendable (String) -> Void
    /// The line that reports `n` occurrences counted over the last `seconds`.
    let summary: @Sendable (_ n: Int, _ seconds: UInt64) -> String
    let state: Mutex<State>

    init(interval: UInt64 = 60_000_000_000, clock: any DaemonClock = MonotonicClock(),
         summary: @escaping @Sendable (_ n: Int, _ seconds: UInt64) -> String, sink: @escaping @Sendable (String) -> Void) {
        self.interval = interval
        self.clock = clock
        self.summary = summary
        self.sink = sink
        state = Mutex(State())
    }

    /// One occurrence: writes `line` when none was written within `interval` (after the summary
    /// of what was counted meanwhile), else counts it.
    func note(_ line: @autoclosure () -> String) {
        let now = clock.now()
        let write: (Bool, Int, UInt64) = state.withLock { s in
            if let last = s.lastWritten, now &- last < interval {
                s.counted += 1
                return (false, 0, 0)
            }
            defer { (s.lastWritten, s.counted) = (now, 0) }
            return (true, s.counted, s.lastWritten.map { now &- $0 } ?? 0)
        }
        guard write.0 else { return }
        if write.1 > 0 { sink(summary(write.1, write.2 / 1_000_000_000)) }
        sink(line())
    }

    /// Writes the count of occurrences not yet reported, once `interval` has passed since the
    /// last line (or at once when `now` is set: the condition is over).
    func flush(now: Bool = false) {
        let t = clock.now()
        let report: (Int, UInt64)? = state.withLock { s in
            guard s.counted > 0, let last = s.lastWritten, now || t &- last >= interval else { return nil }
            defer { (s.lastWritten, s.counted) = (t, 0) }
            return (s.counted, t &- last)
        }
        if let report { sink(summary(report.0, report.1 / 1_000_000_000)) }
    }

    /// Whether occurrences wait to be reported.
    var pending: Bool { state.withLock { $0.counted > 0 } }
}
