#if canImport(Glibc)
import Glibc
#endif
import CMallocCounter
import ProbeClient
import ProbePosix

// The `measure` budget (DESIGN.md): `measure` of an empty body against its floor, two
// clock_gettime(CLOCK_MONOTONIC) around a closure call, in the same run; plus allocations per call.
// Also times the same call with `items:` and lazy `attributes:` on a fast, successful call under a
// threshold (issue 6: attributes must cost nothing unless the call is slow or fails).
//   swift run -c release probe-measure-bench [--socket PATH]
// Prints figures; asserts nothing.

let arguments = Array(CommandLine.arguments.dropFirst())
let socket = arguments.count == 2 && arguments[0] == "--socket" ? arguments[1] : "/nonexistent/probed.sock"
// Short interleaved rounds: a burst of someone else's work lands in one round of one kind; the
// median per-round figures shrug it off.
let rounds = 41
let iterations = 20_000

nonisolated(unsafe) var sink = 0  // keeps the loops from being optimised away; one thread

@inline(never)
func body(_ i: Int) -> Int { i &* 3 }

@inline(never)
func floorRound() -> Double {
    let start = monotonicNanoseconds()
    for i in 0..<iterations {
        let a = monotonicNanoseconds()
        sink &+= body(i)
        sink &+= Int(truncatingIfNeeded: monotonicNanoseconds() &- a)
    }
    return Double(monotonicNanoseconds() - start) / Double(iterations)
}

let probe = Probe(service: "measure-bench", socketPath: socket)
let plain = probe.operation("plain")
var waits = 0
while socket != "/nonexistent/probed.sock" && !probe.isConnected && waits < 500 {
    sleepNanoseconds(10_000_000)
    waits += 1
}

@inline(never)
func plainRound() -> (Double, Double) {
    let allocations = cmalloc_count()
    let start = monotonicNanoseconds()
    for i in 0..<iterations { sink &+= plain.measure { body(i) } }
    let ns = Double(monotonicNanoseconds() - start) / Double(iterations)
    return (ns, Double(cmalloc_count() - allocations) / Double(iterations))
}

@inline(never)
func byNameRound() -> Double {
    let start = monotonicNanoseconds()
    for i in 0..<iterations { sink &+= probe.measure("by-name") { body(i) } }
    return Double(monotonicNanoseconds() - start) / Double(iterations)
}

// A fast, successful call with a batch size and attributes, under a threshold it never reaches:
// the attributes must never be evaluated (counted) and the call must cost what a plain one does.
let batched = probe.operation("batched", slowThreshold: .seconds(10))
nonisolated(unsafe) var evaluations = 0
@inline(never)
func shape(_ batch: Int) -> [String: String] {
    evaluations += 1
    return ["batch": String(batch), "shape": "\(batch)x3x224x224"]
}

@inline(never)
func attributesRound() -> Double {
    let start = monotonicNanoseconds()
    for i in 0..<iterations { sink &+= batched.measure(items: 32, attributes: shape(32)) { body(i) } }
    return Double(monotonicNanoseconds() - start) / Double(iterations)
}

func extraRounds() -> [Double] { [attributesRound()] }
func printExtra(_ e: [[Double]], floor: Double) {
    let a = median(e.map { $0[0] })
    print("op.measure(items: 32, attributes: [...]) { }  median \(two(a)) ns (\(two(a / floor))x floor), best \(two(e.map { $0[0] }.min()!)) ns; attributes evaluated \(evaluations) times")
}

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
func two(_ v: Double) -> String { String(Double(Int((v * 100).rounded())) / 100) }

_ = plainRound()
_ = floorRound()
var floors: [Double] = [], plains: [Double] = [], names: [Double] = [], allocations: [Double] = []
var extra: [[Double]] = []
for _ in 0..<rounds {
    let f = floorRound()
    let (p, a) = plainRound()
    floors.append(f)
    plains.append(p)
    allocations.append(a)
    names.append(byNameRound())
    extra.append(extraRounds())
    if probe.isConnected { _ = probe.flush(timeout: .milliseconds(200)) }
}
let f = median(floors)
print("floor: two clock_gettime around a call   median \(two(f)) ns, best \(two(floors.min()!)) ns (\(rounds) interleaved rounds of \(iterations))")
print("op.measure { }                           median \(two(median(plains))) ns (\(two(median(plains) / f))x floor), best \(two(plains.min()!)) ns")
print("probe.measure(\"by-name\") { }             median \(two(median(names))) ns")
printExtra(extra, floor: f)
print("allocations per op.measure call          \(allocations.max()!) (max over rounds)")
print("connected to probed: \(probe.isConnected); events dropped: \(probe.droppedEvents)  [\(sink & 1)]")
