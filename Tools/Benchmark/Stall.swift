#if canImport(Glibc)
import Glibc
#endif
import ProbeClient
import ProbePosix
import ProbeStatistics

/// `measure` while probed is stopped (SIGSTOP): the latency of every call, before and during the
/// stop, in probed's own histogram (≤ 1% error). The resilience test asserts no call took over
/// 50 ms; this reports the real tail and what the stop cost in drops.
struct Stall {
    struct Result {
        var calls: UInt64
        var p50: UInt64
        var p999: UInt64
        var p99999: UInt64
        var max: UInt64
        var dropped: UInt64
    }

    let micro: Micro
    let daemonPID: pid_t
    let seconds: UInt64

    func run() -> Result {
        let op = micro.op
        let droppedBefore = micro.probe.droppedEvents
        var latency = Histogram()
        let start = monotonicNanoseconds()
        let stopAt = start + 500_000_000
        let end = stopAt + seconds * 1_000_000_000
        var stopped = false
        var now = start
        while now < end {
            if !stopped && now >= stopAt {
                kill(daemonPID, SIGSTOP)
                stopped = true
            }
            for _ in 0..<64 {
                let t0 = monotonicNanoseconds()
                sink &+= op.measure { emptyBody() }
                let t1 = monotonicNanoseconds()
                latency.record(t1 &- t0)
            }
            now = monotonicNanoseconds()
        }
        kill(daemonPID, SIGCONT)
        let q = latency.quantiles([0.5, 0.999, 0.99999])
        _ = micro.probe.flush(timeout: .seconds(10))
        return Result(
            calls: latency.totalCount, p50: q[0], p999: q[1], p99999: q[2], max: latency.max,
            dropped: micro.probe.droppedEvents &- droppedBefore)
    }
}
