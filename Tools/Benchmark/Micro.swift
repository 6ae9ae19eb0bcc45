#if canImport(Glibc)
import Glibc
#endif
import CMallocCounter
import ProbeClient
import ProbePosix
import Synchronization

/// The body every loop times: an opaque call the optimiser cannot remove.
@inline(never)
func emptyBody() -> Int { 1 }

/// Keeps results alive.
nonisolated(unsafe) var sink = 0

/// Client hot-path loops against a connected probe. Each figure is the best of twenty rounds
/// (the least disturbed by the other core's work), in ns per call.
final class Micro: @unchecked Sendable {
    let probe: Probe
    let op: Probe.Operation
    let calls: Int

    init(socket: String, calls: Int) {
        probe = Probe(service: "bench", socketPath: socket)
        op = probe.operation("bench.handle")
        self.calls = calls
        _ = probe.operation("bench.name")
        var waited = 0
        while !probe.isConnected && waited < 500 {
            sleepNanoseconds(10_000_000)
            waited += 1
        }
    }

    /// The best of `calls / 50,000` rounds (at least 20) of ~3 ms each: on a shared two-core
    /// machine the least disturbed round is the one that shows what the code costs, and short
    /// rounds give a loaded machine's scheduler the chance to leave one alone.
    func best(_ loop: (Int) -> Void) -> Double {
        let rounds = max(20, calls / 50_000)
        loop(calls / 10)  // warm up caches and the buffer
        var best = Double.infinity
        for _ in 0..<rounds {
            let start = monotonicNanoseconds()
            loop(calls / rounds)
            best = min(best, Double(monotonicNanoseconds() - start) / Double(calls / rounds))
        }
        return best
    }

    func floorLoop(_ n: Int) {
        var total: UInt64 = 0
        for _ in 0..<n {
            let s = monotonicNanoseconds()
            sink &+= emptyBody()
            total &+= monotonicNanoseconds() &- s
        }
        sink &+= Int(truncatingIfNeeded: total)
    }

    func floor() -> Double { best(floorLoop) }

    func measureHandleLoop(_ n: Int) {
        let op = self.op
        for _ in 0..<n { sink &+= op.measure { emptyBody() } }
    }

    func measureNameLoop(_ n: Int) {
        for _ in 0..<n { sink &+= probe.measure("bench.name") { emptyBody() } }
    }

    func measureHandle() -> Double { best(measureHandleLoop) }
    func measureName() -> Double { best(measureNameLoop) }

    func record() -> Double {
        let op = self.op
        return best { n in for i in 0..<n { op.record(nanoseconds: UInt64(i & 1023)) } }
    }

    /// Two threads run `loop` at once; the time per call each thread saw, on the wall clock and
    /// in its own CPU time. On two cores the wall figure includes the time the flusher and probed
    /// (busy shipping 2 × the calls) preempt the loop; the CPU figure is the cost of the call.
    func twoThreads(_ loop: @escaping @Sendable (Int) -> Void) -> (wall: Double, cpu: Double) {
        threads(2, loop)
    }

    /// `count` threads run `loop` at once, `calls / (2 × count)` calls each in rounds of 50,000;
    /// the mean over the threads of the time per call: on the wall clock over all its calls, and
    /// in its own CPU time over its best round (a neighbour's cache pollution lands in some
    /// rounds; contention, a shared cache line or a lock, in all of them). With more threads than
    /// cores the wall figure shows how the cores were shared; the CPU figure, what a call costs.
    func threads(_ count: Int, _ loop: @escaping @Sendable (Int) -> Void) -> (wall: Double, cpu: Double) {
        let n = calls / (2 * count)
        let round = min(50_000, n)
        let times = Mutex<[(Double, Double)]>([])
        var threads: [pthread_t] = []
        final class Job: @unchecked Sendable {
            let run: () -> Void
            init(_ r: @escaping () -> Void) { run = r }
        }
        for _ in 0..<count {
            let job = Job {
                loop(n / 10)
                let start = monotonicNanoseconds()
                var cpu = Double.infinity
                for _ in 0..<n / round {
                    let cpuStart = Micro.threadCPUNanoseconds()
                    loop(round)
                    cpu = min(cpu, Double(Micro.threadCPUNanoseconds() - cpuStart) / Double(round))
                }
                let wall = Double(monotonicNanoseconds() - start) / Double(n / round * round)
                times.withLock { $0.append((wall, cpu)) }
            }
            var t = pthread_t()
            pthread_create(&t, nil, { raw in
                Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, Unmanaged.passRetained(job).toOpaque())
            threads.append(t)
        }
        for t in threads { pthread_join(t, nil) }
        return times.withLock { t in
            (t.map(\.0).reduce(0, +) / Double(t.count), t.map(\.1).reduce(0, +) / Double(t.count))
        }
    }

    /// The calling thread's CPU time.
    static func threadCPUNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    func allocationsPerCall() -> Double {
        measureHandleLoop(100_000)
        let n = 1_000_000
        let before = UInt64(cmalloc_count())
        measureHandleLoop(n)
        measureNameLoop(n)
        return Double(UInt64(cmalloc_count()) - before) / Double(2 * n)
    }

    func finish() { _ = probe.flush(timeout: .seconds(10)) }
}
