#if canImport(Glibc)
import Glibc
#endif
import CMallocCounter
import ProbeClient
import ProbePosix

// The memory-option budget (issue 4): a memory-tracked `measure` of an empty body against its
// floor, two `pread`s of a kept-open /proc/self/statm, in the same run; plus allocations per call.
//   swift run -c release probe-memory-bench [--socket PATH]   (with a probed there, events flow)
// Prints figures; asserts nothing.

let arguments = Array(CommandLine.arguments.dropFirst())
let socket = arguments.count == 2 && arguments[0] == "--socket" ? arguments[1] : "/nonexistent/probed.sock"
// Short interleaved rounds: on a shared machine a burst of someone else's work lands in one
// round of one kind, and the median per-round ratio and the ratio of the best rounds shrug it off.
let rounds = 41
let iterations = 4_000

let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
precondition(fd >= 0, "cannot open /proc/self/statm")
nonisolated(unsafe) var sink = 0  // keeps the loops from being optimised away; one thread

@inline(never)
func floorRound() -> Double {
    var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    let start = monotonicNanoseconds()
    for _ in 0..<iterations {
        withUnsafeMutableBytes(of: &buffer) { raw in
            sink &+= pread(fd, raw.baseAddress, raw.count, 0)
            sink &+= pread(fd, raw.baseAddress, raw.count, 0)
        }
    }
    return Double(monotonicNanoseconds() - start) / Double(iterations)
}

let probe = Probe(service: "memory-bench", socketPath: socket)
let tracked = probe.operation("tracked", trackMemory: true)
let plain = probe.operation("plain")
var flushWaits = 0
while socket != "/nonexistent/probed.sock" && !probe.isConnected && flushWaits < 500 {
    sleepNanoseconds(10_000_000)
    flushWaits += 1
}

@inline(never)
func trackedRound() -> (Double, Double) {
    let allocations = cmalloc_count()
    let start = monotonicNanoseconds()
    for i in 0..<iterations {
        sink &+= tracked.measure { i }
    }
    let ns = Double(monotonicNanoseconds() - start) / Double(iterations)
    return (ns, Double(cmalloc_count() - allocations) / Double(iterations))
}

@inline(never)
func plainRound() -> Double {
    let start = monotonicNanoseconds()
    for i in 0..<iterations { sink &+= plain.measure { i } }
    return Double(monotonicNanoseconds() - start) / Double(iterations)
}

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
func twoDecimals(_ v: Double) -> String { String(Double(Int((v * 1000).rounded())) / 1000) }

_ = trackedRound()  // warm up: first-use open of statm, page faults of the buffers
_ = floorRound()
var floors: [Double] = [], tracks: [Double] = [], plains: [Double] = [], ratios: [Double] = [], allocations: [Double] = []
for _ in 0..<rounds {
    let f = floorRound()
    let (t, a) = trackedRound()
    floors.append(f)
    tracks.append(t)
    ratios.append(t / f)
    allocations.append(a)
    plains.append(plainRound())
    _ = probe.flush(timeout: .milliseconds(200))
}
let f = median(floors), t = median(tracks)
print("floor: two preads of /proc/self/statm   median \(Int(f.rounded())) ns, best \(Int(floors.min()!.rounded())) ns (\(rounds) interleaved rounds of \(iterations))")
print("measure(trackMemory: true) { }         median \(Int(t.rounded())) ns, best \(Int(tracks.min()!.rounded())) ns")
print("  ratio to the floor (budget 1.2x):     median of rounds \(twoDecimals(median(ratios)))x, best/best \(twoDecimals(tracks.min()! / floors.min()!))x")
print("measure { } without memory, for scale  median \(Int(median(plains).rounded())) ns")
print("allocations per tracked call           \(allocations.max()!) (max over rounds)")
print("connected to probed: \(probe.isConnected); events dropped: \(probe.droppedEvents)  [\(sink & 1)]")
