#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeClient
import ProbePosix

// A real client process for the integration tests.
//   probe-fixture [--socket PATH] --service NAME --operation OP --durations FILE [--fail-every K]
//                 [--pause-after N --pause-seconds S] [--linger S]
// Without --socket it finds probed as every client does (PROBED_SOCKET, /run/probed/probed.sock, …).
// records each duration in FILE (one integer of nanoseconds per line) with `record`, marking every
// K-th call as failed, then flushes and prints one line: "recorded N dropped D flushed true|false".
// With --pause-after, it flushes after the N-th call and sleeps S seconds before the rest
// (two phases a known time apart, for the windowed statistics).
// With --linger it then stays connected for S seconds before exiting.
// With --synced-operation NAME --synced-calls N it also makes N device-synchronised calls of NAME
// (`measure(sync:)` with an empty sync and body), as a GPU service would.

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 {
    options[args.removeFirst()] = args.removeFirst()
}
let socket = options["--socket"]
guard let service = options["--service"], let operation = options["--operation"],
      let file = options["--durations"], let text = try? String(contentsOfFile: file, encoding: .utf8)
else {
    writeStandardError("usage: probe-fixture [--socket PATH] --service NAME --operation OP --durations FILE [--fail-every K] [--pause-after N --pause-seconds S]\n")
    exit(2)
}
let failEvery = Int(options["--fail-every"] ?? "0") ?? 0
let pauseAfter = options["--pause-after"].map { Int($0) ?? -1 }
let pauseSeconds = options["--pause-seconds"].map { Double($0) ?? -1 } ?? 0
if (pauseAfter ?? 0) < 0 || pauseSeconds < 0 || (pauseAfter == nil) != (options["--pause-seconds"] == nil) {
    writeStandardError("probe-fixture: --pause-after N and --pause-seconds S go together, N and S not negative\n")
    exit(2)
}
let durations = text.split(separator: "\n").compactMap { UInt64($0) }
let probe = Probe(service: service, socketPath: socket)
let op = probe.operation(operation)
for (i, d) in durations.enumerated() {
    if i == pauseAfter {
        guard probe.flush(timeout: .seconds(20)) else {
            print("recorded \(i) dropped \(probe.droppedEvents) flushed false")
            exit(3)
        }
        usleep(UInt32(pauseSeconds * 1_000_000))
    }
    op.record(nanoseconds: d, failed: failEvery > 0 && (i + 1) % failEvery == 0)
}
if let name = options["--synced-operation"], let n = Int(options["--synced-calls"] ?? "") {
    let synced = probe.operation(name)
    for _ in 0..<n { synced.measure(sync: {}) {} }
}
let flushed = probe.flush(timeout: .seconds(20))
print("recorded \(durations.count) dropped \(probe.droppedEvents) flushed \(flushed)")
if let linger = options["--linger"].flatMap({ UInt64($0) }) {
    fflush(nil)  // every output stream: stdout is a pipe the test waits on
    sleepNanoseconds(linger * 1_000_000_000)
}
exit(flushed ? 0 : 3)
