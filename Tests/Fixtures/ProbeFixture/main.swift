#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeClient
import ProbePosix

// A real client process for the integration tests.
//   probe-fixture --socket PATH --service NAME --operation OP --durations FILE [--fail-every K] [--linger S]
// records each duration in FILE (one integer of nanoseconds per line) with `record`, marking every
// K-th call as failed, then flushes and prints one line: "recorded N dropped D flushed true|false".
// With --linger it then stays connected for S seconds before exiting.

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while args.count >= 2 {
    options[args.removeFirst()] = args.removeFirst()
}
guard let socket = options["--socket"], let service = options["--service"], let operation = options["--operation"],
      let file = options["--durations"], let text = try? String(contentsOfFile: file, encoding: .utf8)
else {
    writeStandardError("usage: probe-fixture --socket PATH --service NAME --operation OP --durations FILE [--fail-every K]\n")
    exit(2)
}
let failEvery = Int(options["--fail-every"] ?? "0") ?? 0
let durations = text.split(separator: "\n").compactMap { UInt64($0) }
let probe = Probe(service: service, socketPath: socket)
let op = probe.operation(operation)
for (i, d) in durations.enumerated() {
    op.record(nanoseconds: d, failed: failEvery > 0 && (i + 1) % failEvery == 0)
}
let flushed = probe.flush(timeout: .seconds(20))
print("recorded \(durations.count) dropped \(probe.droppedEvents) flushed \(flushed)")
if let linger = options["--linger"].flatMap({ UInt64($0) }) {
    fflush(nil)  // every output stream: stdout is a pipe the test waits on
    sleepNanoseconds(linger * 1_000_000_000)
}
exit(flushed ? 0 : 3)
