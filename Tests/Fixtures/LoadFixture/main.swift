#if canImport(Glibc)
import Glibc
#endif
@_spi(Testing) import ProbeClient
import ProbePosix

// A client process under steady load, for the resilience tests.
//   probe-load-fixture --socket PATH --seconds S --rate EVENTS_PER_S [--service NAME] [--then-exit]
// records at the given rate (in bursts every millisecond) for S seconds, timing every call, then
// flushes and prints one line:
//   recorded N delivered D dropped X flushed true|false max_call_ns M connections C last_delivered L
// With --then-exit it exits right after recording, without flushing: the exit-time flush is tested.

var options: [String: String] = [:]
var flags = Set<String>()
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let a = args.removeFirst()
    if a == "--then-exit" { flags.insert(a); continue }
    guard !args.isEmpty else { break }
    options[a] = args.removeFirst()
}
guard let socket = options["--socket"], let seconds = options["--seconds"].flatMap(Double.init),
      let rate = options["--rate"].flatMap(Double.init), seconds > 0, rate > 0
else {
    writeStandardError("usage: probe-load-fixture --socket PATH --seconds S --rate EVENTS_PER_S [--service NAME] [--then-exit]\n")
    exit(2)
}
let probe = Probe(service: options["--service"] ?? "load", socketPath: socket)
let op = probe.operation("steady")
let start = monotonicNanoseconds()
let end = start + UInt64(seconds * 1e9)
var recorded: UInt64 = 0
var maxCall: UInt64 = 0
while true {
    let now = monotonicNanoseconds()
    if now >= end { break }
    let due = UInt64(Double(now - start) / 1e9 * rate)
    while recorded < due {
        let t0 = monotonicNanoseconds()
        // A rate beyond this machine (a flooder, a sanitizer build) must still stop on time.
        if t0 >= end { break }
        op.record(nanoseconds: 1_000 + recorded % 1000)
        let t = monotonicNanoseconds() - t0
        if t > maxCall { maxCall = t }
        recorded += 1
    }
    sleepNanoseconds(1_000_000)
}
if flags.contains("--then-exit") {
    print("recorded \(recorded)")
    exit(0)  // the atexit flush delivers what it can, bounded
}
let flushed = probe.flush(timeout: .seconds(30))
let connections = probe.deliveredByConnection
print("recorded \(recorded) delivered \(probe.deliveredEvents) dropped \(probe.droppedEvents) flushed \(flushed) max_call_ns \(maxCall) connections \(connections.count) last_delivered \(connections.last ?? 0)")
exit(flushed ? 0 : 3)
