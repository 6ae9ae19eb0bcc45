#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeClient
import ProbePosix
import ProbeTestKit

/// Child mode: one client process recording as fast as the path can take without loss.
///
/// It records flat out, in chunks of 1,024 events, and after each chunk looks at how many of its
/// events wait in its buffer, not yet sent; while that is over a quarter of the buffer (half of
/// one per-CPU shard) it sleeps 20 µs. The library itself never waits; this harness does,
/// so that the figure is the ingest path's lossless throughput rather than how much a producer
/// four times faster than any consumer on two cores can overflow its buffer. `--free-running`
/// leaves the pacing out (then drops are expected, and still counted exactly).
enum IngestClient {
    static let bufferCapacity = 1 << 18

    static func run(socket: String, events: Int, operations: Int, paced: Bool) -> Never {
        let probe = Probe(service: "ingest", socketPath: socket, configuration: .init(bufferCapacity: bufferCapacity))
        let ops = (0..<operations).map { probe.operation("op\($0)") }
        var waited = 0
        while !probe.isConnected && waited < 500 {
            sleepNanoseconds(10_000_000)
            waited += 1
        }
        let chunk = 1_024
        var recorded = 0
        var pauses = 0
        while recorded < events {
            let n = min(chunk, events - recorded)
            if operations == 1 {
                let op = ops[0]
                for i in recorded..<(recorded + n) { op.record(nanoseconds: UInt64(1_000 + (i & 4095))) }
            } else {
                for i in recorded..<(recorded + n) { ops[i % operations].record(nanoseconds: UInt64(1_000 + (i & 4095))) }
            }
            recorded += n
            while paced && probe.bufferedEvents > bufferCapacity / 4 {
                sleepNanoseconds(20_000)
                pauses += 1
            }
        }
        let flushed = probe.flush(timeout: .seconds(60))
        print("recorded \(events) dropped \(probe.droppedEvents) flushed \(flushed) pauses \(pauses)")
        exit(flushed ? 0 : 3)
    }
}

/// N client processes × M events into the real probed.
struct Ingest {
    let daemon: BenchDaemon
    let clients: Int
    let events: Int
    let paced: Bool

    struct Result {
        var eventsPerSecond: Double
        var cpuPerEvent: Double
        var cpuCores: Double
        var received: UInt64
        var dropped: UInt64
        var recorded: UInt64
        var exact: Bool
    }

    func run() -> Result {
        let before = jsonInteger(daemon.probectl(["status", "--json"]), "events_received")
        let cpuBefore = cpuSeconds(daemon.pid)
        let start = monotonicNanoseconds()
        let outputs = (0..<clients).map { "/tmp/probe-bench-\(getpid())-client\($0).out" }
        let pids = outputs.map { spawn([sibling("probe-bench"), "--ingest-client", daemon.socket, String(events), "1", paced ? "paced" : "free"], stdoutTo: $0) }
        for p in pids { _ = waitFor(p) }
        let status = daemon.probectl(["status", "--json"])
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let cpu = cpuSeconds(daemon.pid) - cpuBefore
        let received = jsonInteger(status, "events_received") - before
        var dropped: UInt64 = 0
        for o in outputs {
            let text = readFile(o)
            unlink(o)
            dropped += FixtureReport(text).number("dropped") ?? 0
        }
        let recorded = UInt64(clients * events)
        return Result(
            eventsPerSecond: Double(received) / elapsed, cpuPerEvent: cpu * 1e9 / Double(max(received, 1)),
            cpuCores: cpu / elapsed, received: received, dropped: dropped, recorded: recorded,
            exact: received + dropped == recorded)
    }
}

/// Memory per series and the time of `probectl stats --json` with many series.
struct ManySeries {
    let daemon: BenchDaemon
    let series: Int

    func run() -> (bytesPerSeries: Int, statsNanoseconds: Double) {
        _ = daemon.probectl(["stats", "--json"])
        let rssBefore = residentBytes(daemon.pid)
        // Each process holds up to 4,000 operations (the per-connection limit is 4,096).
        var remaining = series
        var pids: [pid_t] = []
        while remaining > 0 {
            let n = min(4_000, remaining)
            pids.append(spawn([sibling("probe-bench"), "--ingest-client", daemon.socket, String(n * 200), String(n), "paced"], stdoutTo: "/dev/null"))
            remaining -= n
        }
        for p in pids { _ = waitFor(p) }
        _ = daemon.probectl(["stats", "--json"])
        let perSeries = (residentBytes(daemon.pid) - rssBefore) / series
        var best = Double.infinity
        for _ in 0..<5 {
            let start = monotonicNanoseconds()
            _ = daemon.probectl(["stats", "--json"])
            best = min(best, Double(monotonicNanoseconds() - start))
        }
        return (perSeries, best)
    }
}
