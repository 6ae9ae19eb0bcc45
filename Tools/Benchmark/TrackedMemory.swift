#if canImport(Glibc)
import Glibc
#endif
import CMallocCounter
import ProbeClient
import ProbePosix

/// The memory option's budget (issue 4): a memory-tracked `measure` of an empty body against its
/// floor, two `pread`s of a kept-open /proc/self/statm, in interleaved rounds; plus allocations per
/// call. No probed, as for `InterleavedMeasure`. `probe-bench --memory` adds these rows.
struct TrackedMemory {
    static let rounds = 41
    static let iterations = 4_000

    struct Result {
        var floor: Double, floorBest: Double
        var tracked: Double, trackedBest: Double
        /// The median of the per-round ratios, and the best tracked round over the best floor round.
        var ratio: Double, bestRatio: Double
        var plain: Double
        var allocations: Double
    }

    let fd: Int32
    let probe = Probe(service: "memory-bench", socketPath: "/nonexistent/probed.sock")
    let tracked: Probe.Operation
    let plain: Probe.Operation

    init() {
        fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "cannot open /proc/self/statm")
        tracked = probe.operation("tracked", trackMemory: true)
        plain = probe.operation("plain")
    }

    @inline(never)
    func floorRound() -> Double {
        var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        let start = monotonicNanoseconds()
        for _ in 0..<Self.iterations {
            withUnsafeMutableBytes(of: &buffer) { raw in
                sink &+= pread(fd, raw.baseAddress, raw.count, 0)
                sink &+= pread(fd, raw.baseAddress, raw.count, 0)
            }
        }
        return Double(monotonicNanoseconds() - start) / Double(Self.iterations)
    }

    @inline(never)
    func trackedRound() -> (Double, Double) {
        let allocations = cmalloc_count()
        let start = monotonicNanoseconds()
        for i in 0..<Self.iterations {
            sink &+= tracked.measure { i }
        }
        let ns = Double(monotonicNanoseconds() - start) / Double(Self.iterations)
        return (ns, Double(cmalloc_count() - allocations) / Double(Self.iterations))
    }

    @inline(never)
    func plainRound() -> Double {
        let start = monotonicNanoseconds()
        for i in 0..<Self.iterations { sink &+= plain.measure { i } }
        return Double(monotonicNanoseconds() - start) / Double(Self.iterations)
    }

    func run() -> Result {
        _ = trackedRound()  // warm up: first-use open of statm, page faults of the buffers
        _ = floorRound()
        var floors: [Double] = [], tracks: [Double] = [], plains: [Double] = [], ratios: [Double] = [], allocations: [Double] = []
        for _ in 0..<Self.rounds {
            let f = floorRound()
            let (t, a) = trackedRound()
            floors.append(f)
            tracks.append(t)
            ratios.append(t / f)
            allocations.append(a)
            plains.append(plainRound())
            _ = probe.flush(timeout: .milliseconds(200))
        }
        return Result(
            floor: median(floors), floorBest: floors.min()!, tracked: median(tracks), trackedBest: tracks.min()!,
            ratio: median(ratios), bestRatio: tracks.min()! / floors.min()!, plain: median(plains), allocations: allocations.max()!)
    }
}
