import ProbeControl
import Synchronization

/// Writes lines through a token bucket so a storm (thousands of failures a second) cannot flood
/// the journal: `burst` lines at once, then `perSecond` on average. Lines over the rate are
/// counted and never built; at most once per `noticeInterval` a line says how many were
/// suppressed since the last such line, so a service that keeps failing adds one notice per
/// interval, not one per line let through.
final class RateLimitedLog: Sendable {
    struct State {
        var tokens: Double
        var last: UInt64
        /// Lines suppressed since the last notice, and when the first of them was.
        var suppressed = 0
        var since: UInt64 = 0
    }

    let perSecond: Double
    let burst: Double
    let noticeInterval: UInt64
    /// What the lines are about, and where to find what was suppressed, for the notice.
    let subject: String
    let hint: String
    let clock: any DaemonClock
    let sink: @Sendable (Log.Level, String) -> Void
    let state: Mutex<State>

    /// The defaults let a short burst of failures through whole (10 lines), then one line a second,
    /// and a notice every 10 s while lines are skipped: a service failing 15% of 1,000 calls a
    /// second adds about 1.1 lines a second to the journal. `probectl slow` and `errors` keep them all.
    init(perSecond: Double = 1, burst: Double = 10, noticeInterval: UInt64 = 10_000_000_000, clock: any DaemonClock = MonotonicClock(),
         subject: String = "slow calls and failures", hint: String = "probectl slow and probectl errors list them",
         sink: @escaping @Sendable (Log.Level, String) -> Void) {
        self.perSecond = perSecond
        self.burst = burst
        self.noticeInterval = noticeInterval
        self.subject = subject
        self.hint = hint
        self.clock = clock
        self.sink = sink
        state = Mutex(State(tokens: burst, last: clock.now()))
    }

    /// Writes `line` at `level` unless over the rate; returns whether it was written.
    @discardableResult
    func write(_ level: Log.Level, _ line: @autoclosure () -> String) -> Bool {
        let now = clock.now()
        let (allowed, notice) = state.withLock { s -> (Bool, (count: Int, span: UInt64)?) in
            s.tokens = min(burst, s.tokens + Double(now &- s.last) / 1e9 * perSecond)
            s.last = now
            var notice: (Int, UInt64)? = nil
            if s.suppressed > 0 && now &- s.since >= noticeInterval {
                notice = (s.suppressed, now &- s.since)
                s.suppressed = 0
            }
            guard s.tokens >= 1 else {
                if s.suppressed == 0 { s.since = now }
                s.suppressed += 1
                return (false, notice)
            }
            s.tokens -= 1
            return (true, notice)
        }
        if let notice { writeNotice(notice) }
        guard allowed else { return false }
        sink(level, line())
        return true
    }

    /// Writes the notice of lines suppressed once `noticeInterval` has passed, also when no new
    /// line comes to carry it (a storm that stopped): for a loop that runs anyway.
    func flush() {
        let now = clock.now()
        let notice = state.withLock { s -> (count: Int, span: UInt64)? in
            guard s.suppressed > 0, now &- s.since >= noticeInterval else { return nil }
            defer { s.suppressed = 0 }
            return (s.suppressed, now &- s.since)
        }
        if let notice { writeNotice(notice) }
    }

    /// Whether suppressed lines wait to be reported.
    var pending: Bool { state.withLock { $0.suppressed > 0 } }

    private func writeNotice(_ notice: (count: Int, span: UInt64)) {
        let rate = perSecond == perSecond.rounded() ? "\(Int(perSecond))" : "\(perSecond)"
        sink(.warning, "suppressed \(notice.count) \(notice.count == 1 ? "line" : "lines") about \(subject) in the last "
            + "\(Format.duration(notice.span)) (more than \(rate) a second; \(hint))")
    }
}
