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

/// A clock that only moves when told to.
public final class ManualClock: DaemonClock {
    private let value: Mutex<UInt64>
    public init(_ start: UInt64 = 1_000_000_000_000) { value = Mutex(start) }
    public func now() -> UInt64 { value.withLock { $0 } }
    public func advance(by ns: UInt64) { value.withLock { $0 &+= ns } }
    public func advance(seconds: Double) { advance(by: UInt64(seconds * 1e9)) }
}
