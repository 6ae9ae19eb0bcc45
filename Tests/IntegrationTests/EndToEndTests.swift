import Foundation
import ProbeClient
import ProbeControl
import ProbePosix
import Testing

/// Durations from a seeded log-normal (median `median` ns), so the test knows the exact answer.
func logNormalDurations(count: Int, median: Double, sigma: Double, seed: UInt64) -> [UInt64] {
    var state = seed
    func uniform() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
    return (0..<count).map { _ in
        let n = (-2 * log(max(uniform(), 1e-300))).squareRoot() * cos(2 * .pi * uniform())
        return UInt64(max(1, median * exp(sigma * n)))
    }
}

func exact(_ values: [UInt64], _ q: Double) -> UInt64 {
    let sorted = values.sorted()
    return sorted[max(1, Int((q * Double(sorted.count)).rounded(.up))) - 1]
}

func within1Percent(_ got: UInt64?, _ want: UInt64) -> Bool {
    guard let got else { return false }
    return abs(Double(got) - Double(want)) <= 0.01 * Double(want)
}

@Suite(.serialized) struct EndToEndTests {
    @Test func twoClientProcesses_recordingKnownDurations_statsAreExact() throws {
        let daemon = try RunningDaemon(["--warmup", "5"])
        let dir = TemporaryDirectory()
        let a = logNormalDurations(count: 10_005, median: 2e6, sigma: 0.8, seed: 1)
        let b = logNormalDurations(count: 10_005, median: 50e3, sigma: 1.5, seed: 2)
        try a.map(String.init).joined(separator: "\n").write(toFile: dir.file("a"), atomically: true, encoding: .utf8)
        try b.map(String.init).joined(separator: "\n").write(toFile: dir.file("b"), atomically: true, encoding: .utf8)

        // Two real client processes at once. probed keeps out each process's first 5 calls by start
        // time, whatever order they arrive in; `record(nanoseconds:)` dates a call's start that long
        // before it is recorded, so each fixture pauses after its first 5 calls for longer than its
        // longest call (29 ms): no later call can then have started before them.
        let outcomes = Locked<[Outcome]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let o = try? run(Products.path("probe-fixture"), [
                "--socket", daemon.socket, "--service", "ranker", "--operation", "predict", "--durations", dir.file(i == 0 ? "a" : "b"),
                "--pause-after", "5", "--pause-seconds", "0.1",
            ])
            if let o { outcomes.update { $0.append(o) } }
        }
        #expect(outcomes.get().count == 2)
        for o in outcomes.get() { #expect(o.status == 0, "fixture: \(o.stdout) \(o.stderr)") }

        let stats = try daemon.stats()
        let rows = stats.operations.filter { $0.service == "ranker" && $0.operation == "predict" }
        let perProcess = rows.filter { $0.pid != nil }
        #expect(perProcess.count == 2)
        for row in perProcess {
            #expect(row.calls == 10_005 && row.warmup == 5 && row.errors == 0 && row.counted == 10_000)
        }
        // Which process recorded which file is learned from its minimum.
        let counted = [Array(a.dropFirst(5)), Array(b.dropFirst(5))]
        for row in perProcess {
            let values = try #require(counted.first { $0.min() == row.minNs })
            #expect(row.maxNs == values.max())
            for (q, got) in [(0.5, row.p50Ns), (0.9, row.p90Ns), (0.99, row.p99Ns), (0.999, row.p999Ns)] {
                #expect(within1Percent(got, exact(values, q)), "q \(q): \(String(describing: got)) vs \(exact(values, q))")
            }
            let mean = Double(values.reduce(0, +)) / Double(values.count)
            #expect(abs(Double(row.meanNs ?? 0) - mean) <= 1)
        }
        let merged = try #require(rows.first { $0.pid == nil })
        let all = counted[0] + counted[1]
        #expect(merged.calls == 20_010 && merged.warmup == 10 && merged.counted == 20_000 && merged.processes == 2)
        #expect(within1Percent(merged.p50Ns, exact(all, 0.5)) && within1Percent(merged.p99Ns, exact(all, 0.99)))
        #expect(merged.minNs == all.min() && merged.maxNs == all.max())
        #expect(stats.schemaVersion == 1 && stats.warmupCalls == 5)
    }

    @Test func statsJSON_hasEveryDocumentedKey_andMergedPidIsNull() throws {
        let daemon = try RunningDaemon()
        let dir = TemporaryDirectory()
        try (1...50).map { String($0 * 1000) }.joined(separator: "\n").write(toFile: dir.file("d"), atomically: true, encoding: .utf8)
        let fixture = try run(Products.path("probe-fixture"), [
            "--socket", daemon.socket, "--service", "svc", "--operation", "op", "--durations", dir.file("d"), "--fail-every", "10",
        ])
        #expect(fixture.status == 0)
        let text = try daemon.probectl(["stats", "--json"]).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["schema_version"] as? Int == 1)
        let rows = try #require(object["operations"] as? [[String: Any]])
        #expect(rows.count == 2)
        for key in ["service", "pid", "operation", "calls", "errors", "warmup", "min_ns", "mean_ns", "p50_ns", "p90_ns",
                    "p99_ns", "p999_ns", "max_ns", "rate_per_s"] {
            #expect(rows.allSatisfy { $0.keys.contains(key) }, "missing \(key)")
        }
        let merged = try #require(rows.first { $0["pid"] is NSNull })
        #expect(merged["calls"] as? Int == 50 && merged["errors"] as? Int == 5)
        // The table is readable and names the operation.
        let table = try daemon.probectl(["stats"])
        #expect(table.status == 0 && table.stdout.contains("svc") && table.stdout.contains("P99"))
    }

    @Test func status_showsDaemonAndConnectedProcesses() throws {
        let daemon = try RunningDaemon()
        let probe = Probe(service: "live", socketPath: daemon.socket)
        probe.record("op", nanoseconds: 1_000)
        #expect(probe.flush(timeout: .seconds(10)))
        let status = try daemon.status()
        #expect(status.connectedProcesses == 1 && status.pid == Int(daemon.pid) && status.socket == daemon.socket)
        #expect(status.processes.first?.service == "live" && status.processes.first?.pid == Int(getpid()))
        let text = try daemon.probectl(["status"])
        #expect(text.status == 0 && text.stdout.contains("1 connected processes"))
    }

    @Test func measure_throughTheClient_recordsValuesAndFailuresWithTypeNames() async throws {
        struct ModelUnavailable: Error {}
        let daemon = try RunningDaemon(["--warmup", "0"])
        let probe = Probe(service: "inproc", socketPath: daemon.socket)
        let value = probe.measure("predict") { 6 * 7 }
        #expect(value == 42)
        #expect(throws: ModelUnavailable.self) { try probe.measure("predict") { throw ModelUnavailable() } }
        let asyncValue = await probe.measure("predict") { () async -> Int in 7 }
        #expect(asyncValue == 7)
        #expect(probe.flush(timeout: .seconds(10)))
        let row = try #require(try daemon.stats().operations.first { $0.pid != nil && $0.service == "inproc" })
        #expect(row.calls == 3 && row.errors == 1 && row.counted == 2)
        #expect(row.errorTypes.keys.contains { $0.hasSuffix("ModelUnavailable") })
    }

    @Test func sigterm_removesTheSocketAndExitsZero() throws {
        let daemon = try RunningDaemon()
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
    }

    @Test func secondDaemonOnALiveSocket_refusesToStart_butAStaleSocketIsReplaced() throws {
        let first = try RunningDaemon()
        let second = try run(Products.path("probed"), ["--socket", first.socket], timeout: 10)
        #expect(second.status == 1 && second.stderr.contains("already listening"))
        kill(first.pid, SIGKILL)  // leaves a stale socket file behind
        first.process.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: first.socket))
        let replacement = try RunningDaemon(socket: first.socket)
        #expect(try replacement.status().connectedProcesses == 0)
    }
}
