import Foundation
@testable import ProbeCLI
import ProbeControl
import ProbePosix
import ProbeWire
import Testing

/// Issue 17 item 1 and issue 22 item 8, end to end: the real probed and probectl, given the
/// values a buggy or hostile client sends, answer with the right figures.
@Suite struct ExtremeValueEndToEndTests {
    /// −1,024 ns cast to unsigned, what a buggy caller sends.
    static let wrapped: UInt64 = 18_446_744_073_709_550_592

    @Test func tenCallsOfOneMillisecond_thenOneOfMinus1024Cast_statsAnswersWithTheRightFigures() throws {
        let daemon = try RunningDaemon(["--warmup", "10"])
        let dir = TemporaryDirectory()
        let durations = Array(repeating: "1000000", count: 10) + [String(ExtremeValueEndToEndTests.wrapped)]
        try durations.joined(separator: "\n").write(toFile: dir.file("d"), atomically: true, encoding: .utf8)
        let o = try run(Products.path("probe-fixture"),
                        ["--socket", daemon.socket, "--service", "svc", "--operation", "predict", "--durations", dir.file("d")])
        #expect(o.status == 0, "\(o.stderr)")
        // Before: probed trapped (SIGILL) computing the mean, and this request found no daemon.
        for window in ["all", "1m", "10s"] {
            let row = try #require(try daemon.stats(window: window).operations.first { $0.pid != nil })
            #expect(row.calls == 11 && row.warmup == 10 && row.counted == 1, "\(window)")
            #expect(row.minNs == ExtremeValueEndToEndTests.wrapped && row.meanNs == ExtremeValueEndToEndTests.wrapped
                    && row.maxNs == ExtremeValueEndToEndTests.wrapped && row.p999Ns == ExtremeValueEndToEndTests.wrapped, "\(window)")
        }
        let table = try daemon.probectl(["stats"])
        #expect(table.status == 0 && table.stdout.contains("307445734m33s"), "\(table.stdout)\(table.stderr)")
        let status = try daemon.status()
        #expect(status.eventsReceived == 11)
    }

    @Test func twoMemoryDeltasOfTheLargestSize_showTheirTrueMeanAndTotal() throws {
        // Issue 22 item 8: MEMΔ MEAN showed −1 B and MEMΔ TOTAL −2 B (a sum that wrapped 64 bits).
        let daemon = try RunningDaemon()
        let peer = try RawPeer(daemon.socket)
        try peer.handshake(service: "svc")
        peer.send(WireEncoder.define(Definition(id: 0, kind: .operation, name: "load")))
        peer.send(WireEncoder.events(droppedTotal: 0, records: [
            EventRecord(operationID: 0, startNanoseconds: 1, durationNanoseconds: 1_000),
        ]))
        peer.send(WireEncoder.memoryDeltas(droppedTotal: 0, records: [
            MemoryDeltaRecord(operationID: 0, deltaBytes: .max), MemoryDeltaRecord(operationID: 0, deltaBytes: .max),
        ]))
        let row = try #require(try daemon.stats().operations.first { $0.pid != nil })
        #expect(row.memDeltaCalls == 2 && row.memDeltaMeanBytes == .max && row.memDeltaMaxBytes == .max)
        #expect(row.memDeltaTotalBytes == 18_446_744_073_709_551_614)
        let table = try daemon.probectl(["stats", "--window", "all"])
        #expect(table.status == 0 && table.stdout.contains("MEMΔ TOTAL"), "\(table.stdout)\(table.stderr)")
        #expect(table.stdout.contains("+8.00EiB") && table.stdout.contains("+16.0EiB") && !table.stdout.contains("-1B"),
                "\(table.stdout)")
    }

    /// Issue 22 item 8: top computed `next - now` after reading the clock twice, which trapped
    /// when the clock passed `next` between the readings. The wait is computed from one reading,
    /// and is 0 once `next` has passed.
    @Test func top_waitsNothing_onceTheRefreshTimeHasPassed() {
        #expect(Top.remaining(until: 5_000, now: 7_000) == 0)
        #expect(Top.remaining(until: 5_000, now: 5_000) == 0)
        #expect(Top.remaining(until: 5_000, now: 1_000) == 4_000)
        #expect(Top.remaining(until: 0, now: .max) == 0 && Top.remaining(until: .max, now: 0) == .max)
    }

    /// The same kind of trap in top's options: a duration past 64 bits of nanoseconds.
    @Test func top_refusesAnIntervalTooLongForItsClock_asAUsageError() throws {
        let daemon = try RunningDaemon()
        for interval in ["1e300s", "1e12m", "18446744073709552s"] {
            let o = try daemon.probectl(["top", "--interval", interval, "--iterations", "1"])
            #expect(o.status == 2 && o.stderr.contains("--interval"), "\(interval): \(o.status) \(o.stderr)")
        }
    }
}

/// Issue 17 item 7: warm-up is the first N calls by start time, whatever the arrival order. A
/// thread pinned to alternate CPUs records into alternate per-CPU buffers, which the client ships
/// one after the other: calls 0, 2, 4, … reach probed before 1, 3, 5, ….
@Suite struct WarmupOrderEndToEndTests {
    @Test func threadPinnedToAlternateCPUs_itsFirstTenCallsByStart_areTheWarmup() throws {
        let daemon = try RunningDaemon(["--warmup", "10"])
        let dir = TemporaryDirectory()
        // The first ten calls take 50 ms (the model warming up), the next thirty 1 ms.
        let durations = (0..<40).map { $0 < 10 ? "50000000" : "1000000" }
        try durations.joined(separator: "\n").write(toFile: dir.file("d"), atomically: true, encoding: .utf8)
        let o = try run(Products.path("probe-fixture"), ["--socket", daemon.socket, "--service", "svc", "--operation", "predict",
                                                         "--durations", dir.file("d"), "--alternate-cpus", "yes"])
        #expect(o.status == 0, "\(o.stderr)")
        let row = try #require(try daemon.stats().operations.first { $0.pid != nil })
        #expect(row.calls == 40 && row.warmup == 10 && row.counted == 30)
        #expect(row.maxNs == 1_000_000 && row.minNs == 1_000_000 && row.p999Ns == 1_000_000, "a warm-up call was measured: \(row)")
    }
}
