import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import Synchronization
import Testing

/// Runs `body(i)` on `count` threads of their own (not Dispatch's pool, as wide as the CPUs) at
/// once and waits for them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        Thread {
            body(i)
            done.leave()
        }.start()
    }
    done.wait()
}

/// Many threads recording into one probe at once, through names and handles, against the real
/// probed: every call arrives, and `flush` does not wait for what others record after it.
@Suite(.serialized) struct ConcurrentRecordingTests {
    @Test func eightThreads_throughNamesAndHandles_probectlCountsEveryCall() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let probe = Probe(service: "eight", socketPath: daemon.socket)
        let handle = probe.operation("by.handle")
        let perThread = 100_000
        onThreads(8) { t in
            // Built at run time and kept: 16 bytes, so a heap string, not a small one.
            let runtime = "runtime.name.\(t % 2).x"
            var i = 0
            while i < perThread {
                // Pacing keeps every ring below half full, so nothing is dropped and every count
                // is exact; the library itself never waits.
                while probe.bufferedEvents > 16_384 { sleepNanoseconds(200_000) }
                for j in i..<min(i + 1_000, perThread) {
                    switch j % 4 {
                    case 0: probe.measure("short") {}
                    case 1: probe.measure("a.literal.longer.than.fifteen.bytes") {}
                    case 2: handle.measure {}
                    default: probe.measure(runtime) {}
                    }
                }
                i += 1_000
            }
        }
        #expect(probe.flush(timeout: .seconds(60)))
        #expect(probe.droppedEvents == 0)
        #expect(probe.deliveredEvents == UInt64(8 * perThread))
        let stats = try daemon.stats()
        var seen: [String: UInt64] = [:]
        for row in stats.operations where row.service == "eight" && row.pid != nil { seen[row.operation, default: 0] += row.calls }
        let quarter = UInt64(8 * perThread / 4)
        #expect(seen == [
            "short": quarter, "a.literal.longer.than.fifteen.bytes": quarter, "by.handle": quarter,
            "runtime.name.0.x": quarter / 2, "runtime.name.1.x": quarter / 2,
        ])
    }

    @Test func flush_whileTwoThreadsKeepRecording_returnsOnceWhatCameBeforeIsDelivered() throws {
        let daemon = try RunningDaemon(["--warmup", "0"])
        let probe = Probe(service: "busy", socketPath: daemon.socket)
        let handle = probe.operation("handle")
        final class Shared: @unchecked Sendable {
            let stop = Atomic<Bool>(false)
            let first = Atomic<UInt64>(0)
            let second = Atomic<UInt64>(0)
            // Written by the flushing thread, read after the threads are joined.
            var flushed: [Bool] = []
            var shortfall: [Int64] = []
        }
        let shared = Shared()
        let rounds = 8, mine = 200
        let start = monotonicNanoseconds()
        onThreads(3) { t in
            if t < 2 {
                // Two threads recording steadily until told to stop: ten calls every 20 µs or so,
                // so something new is always on its way (a thread that sleeps is scheduled again
                // promptly; one that spins may be preempted long enough to leave a quiet moment).
                var n: UInt64 = 0
                while !shared.stop.load(ordering: .acquiring) {
                    for _ in 0..<10 {
                        if t == 0 { handle.measure {} } else { probe.measure("name") {} }
                    }
                    n += 10
                    if t == 0 { shared.first.store(n, ordering: .releasing) } else { shared.second.store(n, ordering: .releasing) }
                    sleepNanoseconds(20_000)
                }
                return
            }
            while shared.first.load(ordering: .acquiring) < 1_000 || shared.second.load(ordering: .acquiring) < 1_000 {
                sleepNanoseconds(1_000_000)
            }
            // Several flushes in a row, each with a deadline far beyond what delivering what came
            // before it takes (milliseconds), while the other two never pause for long.
            for round in 1...rounds {
                for _ in 0..<mine { probe.measure("mine") {} }
                let before = shared.first.load(ordering: .acquiring) + shared.second.load(ordering: .acquiring)
                    + UInt64(round * mine)
                shared.flushed.append(probe.flush(timeout: .seconds(2)))
                shared.shortfall.append(Int64(before) - Int64(probe.deliveredEvents + probe.droppedEvents))
            }
            shared.stop.store(true, ordering: .releasing)
        }
        let took = Double(monotonicNanoseconds() - start) / 1e9
        // Each returned true, and what the two threads recorded before it was delivered (or
        // dropped and counted) too.
        #expect(shared.flushed == Array(repeating: true, count: rounds), "flushes under recording, \(took) s in all")
        #expect(shared.shortfall.allSatisfy { $0 <= 0 }, "recorded before a flush but not accounted: \(shared.shortfall)")
        // And once they stop, everything: the ledger and probed agree exactly.
        #expect(probe.flush(timeout: .seconds(30)))
        let total = shared.first.load(ordering: .acquiring) + shared.second.load(ordering: .acquiring) + UInt64(rounds * mine)
        #expect(probe.deliveredEvents + probe.droppedEvents == total)
        let row = try daemon.status().processes.first { $0.service == "busy" && $0.pid == Int(getpid()) }
        #expect(row?.eventsReceived == probe.deliveredEvents && row?.droppedEvents == probe.droppedEvents)
        let mineRow = try daemon.stats().operations.first { $0.service == "busy" && $0.operation == "mine" && $0.pid != nil }
        #expect(mineRow?.calls == UInt64(rounds * mine))
        print("flush under concurrent recording: \(took) s in all, \(total) events, \(probe.droppedEvents) dropped")
    }
}
