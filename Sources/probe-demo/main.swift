#if canImport(Glibc)
import Glibc
#endif
import ProbeClient
import ProbePosix
import Synchronization

// probe-demo: an inference service instrumented with ProbeClient, and the project's showcase.
// With no arguments it finds a running probed (or starts one on the default socket), serves a
// few seconds of batched inference from two worker threads, prints `probectl stats` and exits.

let usage = """
    usage: probe-demo [--seconds N] [--socket PATH] [--workers N]
      --seconds N   how long to serve (default 4)
      --socket PATH the daemon's socket (default: as probed resolves it; started if nobody listens)
      --workers N   worker threads (default 2)
    """

var seconds = 4.0
var explicitSocket: String? = nil
var workers = 2
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "--seconds": if let v = args.first.flatMap(Double.init), v > 0 { seconds = v; args.removeFirst() } else { fail(usage, 2) }
    case "--socket": if let v = args.first { explicitSocket = v; args.removeFirst() } else { fail(usage, 2) }
    case "--workers": if let v = args.first.flatMap(Int.init), v > 0, v <= 64 { workers = v; args.removeFirst() } else { fail(usage, 2) }
    case "--help", "-h": print(usage); exit(0)
    default: fail("probe-demo: unknown argument \"\(a)\"\n" + usage, 2)
    }
}

func fail(_ message: String, _ status: Int32) -> Never {
    writeStandardError(message + "\n")
    exit(status)
}

/// The directory of this executable: probed and probectl are built next to it.
func siblingExecutable(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return name }
    let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(path[..<path.lastIndex(of: "/")!]) + "/" + name
}

/// Starts `argv`; our buffered output goes first, so that the child's lines follow ours also when
/// standard output is a file or a pipe (then fully buffered).
func spawn(_ argv: [String]) -> pid_t {
    fflush(nil)
    var pid: pid_t = 0
    var cargs = argv.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    let rc = posix_spawn(&pid, argv[0], nil, nil, &cargs, environ)
    return rc == 0 ? pid : -1
}

func wait(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status >> 8) & 0xFF
}

// 1. Find or start the daemon.
let socketPath = explicitSocket ?? SocketPath.environment("PROBED_SOCKET") ?? {
    let existing = SocketPath.candidates().first { UnixSocket.isLive(path: $0) }
    return existing ?? SocketPath.forDaemon(explicit: nil)
}()
var daemonPID: pid_t = -1
if !UnixSocket.isLive(path: socketPath) {
    let probed = siblingExecutable("probed")
    print("probe-demo: no probed on \(socketPath); starting \(probed) --socket \(socketPath) --warmup 10")
    daemonPID = spawn([probed, "--socket", socketPath, "--warmup", "10", "--log-level", "error"])
    guard daemonPID > 0 else { fail("probe-demo: could not start \(probed); build it with `swift build`", 1) }
    var waited = 0
    while !UnixSocket.isLive(path: socketPath) {
        sleepNanoseconds(20_000_000)
        waited += 1
        if waited > 250 { fail("probe-demo: probed did not start listening on \(socketPath) within 5 s", 1) }
    }
} else {
    print("probe-demo: using the probed listening on \(socketPath)")
}

// 2. Serve: preprocess → predict → postprocess, batches of 1 to 32, an occasional bad input.
let probe = Probe(service: "probe-demo", socketPath: socketPath)
let workload = Workload(
    probe: probe, model: Model(widths: [128, 256, 128, 10], seed: 42),
    deadline: monotonicNanoseconds() + UInt64(min(seconds, 86_400) * 1e9))
print("probe-demo: serving for \(seconds) s on \(workers) workers…")
workload.run(workers: workers)
let delivered = probe.flush(timeout: .seconds(5))
print("probe-demo: served \(workload.served.load(ordering: .relaxed)) items, \(workload.failed.load(ordering: .relaxed)) failed requests; events delivered: \(delivered), dropped: \(probe.droppedEvents)")
let times = workload.predictTimes.withLock { $0 }
func ms(_ ns: UInt64) -> String { String(Double(ns / 10_000) / 100) + "ms" }
print("""
    probe-demo: predict's warm-up: \(times.warmupCalls) calls packed the weights for a new batch size, \
    taking \(ms(times.shortestWarmup))–\(ms(times.longestWarmup)); probed keeps the first calls of each batch size \
    out (warm-up per items value), so predict's MAX below is at most its longest other call, \(ms(times.longestOther))

    """)

// 3. Show what the operator sees.
let status = wait(spawn([siblingExecutable("probectl"), "--socket", socketPath, "stats"]))
if daemonPID > 0 {
    kill(daemonPID, SIGTERM)
    _ = wait(daemonPID)
}
exit(status == 0 && delivered ? 0 : 1)
