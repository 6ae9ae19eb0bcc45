import Synchronization

/// Writes lines through a token bucket so a storm (thousands of failures a second) cannot flood
/// the journal: `burst` lines at once, refilled at `perSecond`. Lines over the rate are counted,
/// and the next line written is preceded by one saying how many were suppressed.
final class RateLimitedLog: Sendable {
    struct State {
        var tokens: Double
        var last: UInt64
        var suppressed = 0
    }

    let perSecond: Double
    let burst: Double
    let clock: any DaemonClock
    let sink: @Sendable (Log.Level, String) -> Void
    let state: Mutex<State>

    init(perSecond: Double = 10, burst: Double = 10, clock: any DaemonClock = MonotonicClock(),
         sink: @escaping @Sendable (Log.Level, String) -> Void) {
        self.perSecond = perSecond
        self.burst = burst
        self.clock = clock
        self.sink = sink
        state = Mutex(State(tokens: burst, last: clock.now()))
    }

    /// Writes `line` at `level` unless over the rate; returns whether it was written.
    @discardableResult
    func write(_ level: Log.Level, _ line: @autoclosure () -> String) -> Bool {
        let now = clock.now()
        let (allowed, suppressed) = state.withLock { s -> (Bool, Int) in
            s.tokens = min(burst, s.tokens + Double(now &- s.last) / 1e9 * perSecond)
            s.last = now
            guard s.tokens >= 1 else {
                s.suppressed += 1
                return (false, 0)
            }
            s.tokens -= 1
            defer { s.suppressed = 0 }
            return (true, s.suppressed)
        }
        guard allowed else { return false }
        if suppressed > 0 {
            sink(.warning, "suppressed \(suppressed) lines about slow calls and failures (over \(Int(perSecond)) lines/s)")
        }
        sink(level, line())
        return true
    }
}
