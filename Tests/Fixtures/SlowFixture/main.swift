#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeClient
import ProbePosix

// A real client process for the slow-call tests: measures real calls with items and attributes.
//   probe-slow-fixture --socket PATH --service NAME --operation OP --calls FILE
//                      [--slow-threshold-ms N] [--wait-daemon-threshold]
// Each line of FILE is "MILLISECONDS BATCH SHAPE OUTCOME": the body sleeps MILLISECONDS, is
// measured with items BATCH and attributes batch=BATCH, shape=SHAPE, and throws
// InferenceError.timeout when OUTCOME is "timeout", InferenceError.badInput when "bad_input",
// cuda_out_of_memory (a snake_case type name, with the attribute device_id=cuda_0) when "oom"
// ("ok" succeeds). With --wait-daemon-threshold it first waits (up to 20 s) until probed has sent
// a threshold for OP and prints "threshold NS". Then it flushes and prints "recorded N flushed B".

enum InferenceError: Error {
    case timeout(milliseconds: Int)
    case badInput(String)
}

/// An error type whose name has underscores, as Python-style names do: probectl must show it as is.
struct cuda_out_of_memory: Error {}

var options: [String: String] = [:]
var flags: Set<String> = []
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let a = args.removeFirst()
    if a == "--wait-daemon-threshold" { flags.insert(a); continue }
    guard !args.isEmpty else { break }
    options[a] = args.removeFirst()
}
guard let socket = options["--socket"], let service = options["--service"], let operation = options["--operation"],
      let file = options["--calls"], let text = try? String(contentsOfFile: file, encoding: .utf8)
else {
    writeStandardError("usage: probe-slow-fixture --socket PATH --service NAME --operation OP --calls FILE [--slow-threshold-ms N] [--wait-daemon-threshold]\n")
    exit(2)
}
let probe = Probe(service: service, socketPath: socket)
let op = options["--slow-threshold-ms"].flatMap(Int.init).map { probe.operation(operation, slowThreshold: .milliseconds($0)) }
    ?? probe.operation(operation)
if flags.contains("--wait-daemon-threshold") {
    var waited = 0
    while op.slowThreshold == nil && waited < 2_000 {
        sleepNanoseconds(10_000_000)
        waited += 1
    }
    guard let t = op.slowThreshold else {
        print("no threshold from probed")
        exit(3)
    }
    let (s, atto) = t.components
    print("threshold \(s * 1_000_000_000 + atto / 1_000_000_000)")
}
var count = 0
for line in text.split(separator: "\n") {
    let f = line.split(separator: " ").map(String.init)
    guard f.count == 4, let ms = Int(f[0]), let batch = Int(f[1]) else { continue }
    let shape = f[2], outcome = f[3]
    let attributes = ["batch": String(batch), "shape": shape].merging(outcome == "oom" ? ["device_id": "cuda_0"] : [:]) { a, _ in a }
    _ = try? op.measure(items: batch, attributes: attributes) {
        if ms > 0 { sleepNanoseconds(UInt64(ms) * 1_000_000) }
        if outcome == "timeout" { throw InferenceError.timeout(milliseconds: ms) }
        if outcome == "bad_input" { throw InferenceError.badInput("shape \(shape) does not match the model") }
        if outcome == "oom" { throw cuda_out_of_memory() }
    }
    count += 1
}
let flushed = probe.flush(timeout: .seconds(20))
print("recorded \(count) flushed \(flushed) details_dropped \(probe.droppedCallDetails)")
exit(flushed ? 0 : 3)
