import ProbePosix
import Synchronization

/// The daemon's notion of "now", injected so tests move time by hand instead of sleeping.
public protocol DaemonClock: Sendable {
    /// Monotonic nanoseconds.
    func now() -> UInt64
}

/// CLOCK_MONOTONIC, the same clock clients stamp their events with.
public struct MonotonicClock: DaemonClock {
    public init() {}
    public func now() -> UInt64 { monotonicNanoseconds() }
}

/// CLOCK_MONOTONIC counted from the Unix epoch as of the clock's creation: it never steps (a
/// wall-clock change moves nothing) and reads about the wall-clock time, so times saved in a state
/// file land in the right place on the next probed's clock, even after a reboot restarted
/// CLOCK_MONOTONIC (Store+Persistence.swift). probed's store runs on it.
public struct AnchoredClock: DaemonClock {
    let offset: UInt64
    public init() {
        let monotonic = monotonicNanoseconds(), wall = wallClockNanoseconds()
        offset = wall > monotonic ? wall - monotonic : 0
    }
    public func now() -> UInt64 { monotonicNanoseconds() &+ offset }
}

/// A clock that only moves when told to.
public final class ManualClock: DaemonClock {
    private let value: Mutex<UInt64>
    public init(_ start: UInt64 = 1_000_000_000_000) { value = Mutex(start) }
    public func now() -> UInt64 { value.withLock { $0 } }
    public func advance(by ns: UInt64) { value.withLock { $0 &+= ns } }
    public func advance(seconds: Double) { advance(by: UInt64(seconds * 1e9)) }
}
