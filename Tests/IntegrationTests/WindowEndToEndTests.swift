import Foundation
import ProbeControl
import Testing

@Suite struct WindowEndToEndTests {
    /// The acceptance scenario: a real client records 10,000 calls of 1 µs, waits 12 s,
    /// then 10,000 calls of 1 ms; the 10 s window shows the slow phase alone, `all` both.
    @Test func fastPhaseThenSlowPhase_tenSecondWindowShowsOnlyTheSlowOne_allShowsBoth() throws {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        let durations = Array(repeating: "1000", count: 10_000) + Array(repeating: "1000000", count: 10_000)
        try durations.joined(separator: "\n").write(toFile: dir.file("phases"), atomically: true, encoding: .utf8)
        let fixture = try run(Products.path("probe-fixture"), [
            "--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--durations", dir.file("phases"),
            "--pause-after", "10000", "--pause-seconds", "12",
        ], timeout: 90)
        #expect(fixture.status == 0, "fixture: \(fixture.stdout) \(fixture.stderr)")

        let recent = try daemon.stats(window: "10s")
        #expect(recent.window == "10s")
        for row in recent.operations where row.operation == "predict" {
            #expect(row.window == "10s" && row.calls == 10_000 && row.counted == 10_000 && row.warmup == 0)
            #expect(row.minNs == 1_000_000 && within1Percent(row.p50Ns, 1_000_000) && row.maxNs == 1_000_000)
            // Beside it, the lifetime p99: the slow phase is the top half of all calls.
            #expect(within1Percent(row.lifetimeP99Ns, 1_000_000))
        }
        let all = try daemon.stats(window: "all")
        for row in all.operations where row.operation == "predict" {
            #expect(row.window == "all" && row.calls == 20_000 && row.warmup == 10 && row.counted == 19_990)
            #expect(row.minNs == 1_000 && within1Percent(row.p99Ns, 1_000_000))
        }
        #expect(recent.operations.count == 2 && all.operations.count == 2)  // the process's row and the merged one

        // `--json` without `--window` keeps the lifetime figures it always had.
        let plain = try daemon.stats()
        #expect(plain.window == "all" && plain.operations.allSatisfy { $0.calls == 20_000 })
        // The table defaults to the last minute and shows the lifetime p99 beside the window's.
        let table = try daemon.probectl(["stats"])
        #expect(table.status == 0 && table.stdout.contains("P99 ALL") && table.stdout.contains("over the last 1m"))
        let lifetimeTable = try daemon.probectl(["stats", "--window", "all"])
        #expect(lifetimeTable.status == 0 && !lifetimeTable.stdout.contains("P99 ALL"))
        print(table.stdout)
    }

    @Test func daemon_refusesAnUnknownWindow_sayingWhichThereAre() throws {
        let daemon = try RunningDaemon()
        let client = try ControlClient(path: daemon.socket)
        defer { client.close() }
        let answer = try client.request("{\"command\":\"stats\",\"window\":\"2h\"}")
        let refusal = try JSONDecoder.snakeCase.decode(ErrorReport.self, from: Data(answer.utf8))
        #expect(refusal.error.contains("unknown window \"2h\"") && refusal.error.contains("10s, 1m, 5m, 15m or all"))
        let notAString = try client.request("{\"command\":\"stats\",\"window\":60}")
        let typeRefusal = try JSONDecoder.snakeCase.decode(ErrorReport.self, from: Data(notAString.utf8))
        #expect(typeRefusal.error.contains("\"window\" must be a string"))
    }
}
