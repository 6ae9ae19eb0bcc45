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
// With --alternate-cpus yes the recording thread moves to the next of its allowed CPUs
// (sched_setaffinity) before each call, so its calls land in different per-CPU buffers.

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

/// glibc's sched_getaffinity / sched_setaffinity (declared only under _GNU_SOURCE, so looked up).
typealias AffinityCall = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
func affinityCall(_ name: String) -> AffinityCall? {
    dlsym(dlopen(nil, RTLD_NOW), name).map { unsafeBitCast($0, to: AffinityCall.self) }
}

/// The CPUs this process may run on (sched_getaffinity).
func allowedCPUs() -> [Int] {
    var set = [UInt8](repeating: 0, count: 128)  // cpu_set_t: 1,024 CPUs
    guard let get = affinityCall("sched_getaffinity"), set.withUnsafeMutableBytes({ get(0, 128, $0.baseAddress!) }) == 0 else { return [] }
    return (0..<1024).filter { set[$0 / 8] & (1 << ($0 % 8)) != 0 }
}

/// Moves the calling thread to `cpu` (sched_setaffinity on this thread alone).
func pin(to cpu: Int) {
    var set = [UInt8](repeating: 0, count: 128)
    set[cpu / 8] |= UInt8(1 << (cpu % 8))
    if let setAffinity = affinityCall("sched_setaffinity") { _ = set.withUnsafeMutableBytes { setAffinity(0, 128, $0.baseAddress!) } }
}
let cpus = options["--alternate-cpus"] == "yes" ? allowedCPUs() : []
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
    if !cpus.isEmpty { pin(to: cpus[i % cpus.count]) }
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
