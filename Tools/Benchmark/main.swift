#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CMallocCounter
import ProbeClient
import ProbePosix
import Synchronization

// probe-bench: the event path's figures, each measured in the same run, in one table.
//   swift build -c release && .build/release/probe-bench [--clients N] [--events M] [--series S] [--calls C] [--memory]
// Starts its own probed (the release build next to it) on a temporary socket. --memory adds the
// rows of memory-tracked calls (`trackMemory: true`). Prints figures; asserts nothing.

struct Options {
    var clients = 4
    var events = 2_500_000
    var series = 5_000
    var calls = 20_000_000
    var memory = false
}

var options = Options()
var argv = Array(CommandLine.arguments.dropFirst())
if argv.first == "--ingest-client" {
    // Child mode: record M events as fast as possible, flush, report.
    IngestClient.run(socket: argv[1], events: Int(argv[2])!, operations: Int(argv[3]) ?? 1, paced: argv.count < 5 || argv[4] == "paced")
}
while !argv.isEmpty {
    let flag = argv.removeFirst()
    if flag == "--memory" {
        options.memory = true
        continue
    }
    guard let value = argv.first.flatMap(Int.init), value > 0 else {
        writeStandardError("usage: probe-bench [--clients N] [--events M] [--series S] [--calls C] [--memory]\n")
        exit(2)
    }
    argv.removeFirst()
    switch flag {
    case "--clients": options.clients = value
    case "--events": options.events = value
    case "--series": options.series = value
    case "--calls": options.calls = value
    default:
        writeStandardError("probe-bench: unknown flag \(flag)\n")
        exit(2)
    }
}

let daemon = BenchDaemon()
defer { daemon.stop() }
func row(_ what: String, _ value: String, _ note: String = "") {
    say(what.padding(toLength: 60, withPad: " ", startingAt: 0) + value.padding(toLength: 18, withPad: " ", startingAt: 0) + note)
}

say("probe-bench: \(cpuModel()), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) CPUs")
say(String(repeating: "-", count: 100))

// 1. The client's hot path.
let micro = Micro(socket: daemon.socket, calls: options.calls)
let floor = micro.floor()
row("floor: 2× clock_gettime around a closure call", ns(floor))
let handle = micro.measureHandle()
row("measure, operation handle, 1 thread", ns(handle), ratio(handle, floor) + " (budget ≤ 1.15×)")
let byName = micro.measureName()
row("measure, name string, 1 thread", ns(byName), ratio(byName, floor) + " (budget ≤ 1.3×)")
for (count, handleBudget, nameBudget) in [(2, " (budget ≤ 1.2×)", " (budget ≤ 1.35×)"), (4, "", ""), (8, "", "")] {
    let floorN = micro.threads(count) { micro.floorLoop($0) }
    row("floor, \(count) threads at once (thread CPU time)", ns(floorN.cpu) + " each", "wall " + ns(floorN.wall))
    let handleN = micro.threads(count) { micro.measureHandleLoop($0) }
    row("measure, operation handle, \(count) threads (thread CPU)", ns(handleN.cpu) + " each",
        ratio(handleN.cpu, floorN.cpu) + handleBudget + ", wall " + ns(handleN.wall))
    let nameN = micro.threads(count) { micro.measureNameLoop($0) }
    row("measure, name string, \(count) threads (thread CPU)", ns(nameN.cpu) + " each",
        ratio(nameN.cpu, floorN.cpu) + nameBudget + ", wall " + ns(nameN.wall))
}
let record = micro.record()
row("record alone (operation handle)", ns(record))
let allocations = micro.allocationsPerCall()
row("heap allocations per measure (calling thread)", String(format3(allocations)), "budget 0")
let stall = Stall(micro: micro, daemonPID: daemon.pid, seconds: 2).run()
row("measure while probed is stopped 2 s (SIGSTOP): p99.9", ns(Double(stall.p999)),
    "p50 \(stall.p50) ns, p99.999 \(stall.p99999) ns, max \(String(format3(Double(stall.max) / 1e6))) ms over \(stall.calls) calls")
row("  events dropped and counted while stopped", String(stall.dropped), "never blocks: drops instead")
micro.finish()
interleavedRows()
if options.memory { trackedMemoryRows() }

// 2. End-to-end ingest from several processes: paced to the path's lossless rate (the budget's
//    figure), then free-running (producers far faster than the path: drops, counted exactly).
var allExact = true
for paced in [true, false] {
    let ingest = Ingest(daemon: daemon, clients: options.clients, events: options.events, paced: paced)
    let result = ingest.run()
    let mode = paced ? "lossless (paced)" : "free-running"
    row("ingest \(mode): \(options.clients) processes × \(options.events) events",
        String(format3(result.eventsPerSecond / 1e6)) + " M events/s", paced ? "budget ≥ 10 M/s, no loss" : "received by probed")
    row("ingest \(mode): probed CPU per event", ns(result.cpuPerEvent), String(format3(result.cpuCores)) + " cores busy (budget < 1)")
    row("ingest \(mode): received + dropped = recorded", result.exact ? "exact" : "MISMATCH",
        "received \(result.received), dropped \(result.dropped), recorded \(result.recorded)")
    allExact = allExact && result.exact
}

// 3. Many series.
let many = ManySeries(daemon: daemon, series: options.series)
let (perSeries, statsTime) = many.run()
row("memory per series (\(options.series) series)", String(perSeries / 1024) + " KiB", "budget ≤ 32 KiB")
row("probectl stats --json with \(options.series)+ series", ns(statsTime), "budget ≤ 100 ms")

// 4. The state of those series: saved on SIGTERM, read back by the next probed.
let state = StateFigures(daemon: daemon).run()
row("state save with \(state.series) series: store held", ms(state.heldMs), "ingest waits this long; then, off the store:")
row("state save: encoding, writing (fsync, rename)", ms(state.encodeMs) + ", " + ms(state.writeMs), "\(state.bytes / 1024) KiB file")
row("state restore at start: read, check, restore", ms(state.restoreMs), "before probed accepts clients")
exit(allExact ? 0 : 1)

/// Writes a line to standard output at once (unbuffered: the table appears row by row).
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}
