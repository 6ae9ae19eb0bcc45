import Foundation
import ProbeControl
import ProbeStatistics
import ProbeWire
import Testing
@testable import ProbeDaemon

extension Store {
    func procs() throws -> ProcsReport {
        try JSONDecoder.snakeCaseForTests.decode(ProcsReport.self, from: Data(procsJSON().utf8))
    }
}

@Suite struct StoreMemoryTests {
    static let MiB: UInt64 = 1 << 20

    static func reading(_ rss: UInt64, peak: UInt64? = nil) -> ProcStatus {
        ProcStatus(rssBytes: rss, peakBytes: peak ?? rss, anonBytes: rss / 2, swapBytes: 0)
    }

    @Test func leakingAndSteadyProcesses_areToldApart_inProcs() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.connect(2, pid: 200, service: "svc", operations: ["op"])
        #expect(await Set(store.memoryTargets().map(\.1)) == [100, 200])
        var logged: [String] = []
        for second in 0..<60 as Range<UInt64> {
            logged += await store.recordMemorySamples([
                (1, Self.reading(100 * Self.MiB + second * 4 * Self.MiB)),
                (2, Self.reading(second < 2 ? 10 * Self.MiB : 74 * Self.MiB, peak: 80 * Self.MiB)),
            ]).map(\.residentMemoryLogLine)
            clock.advance(seconds: 1)
        }
        let procs = try await store.procs()
        #expect(procs.schemaVersion == 1 && procs.sampleIntervalNs == 1_000_000_000 && procs.leakThresholdBytesPerMin == 1_048_576)
        let leaking = try #require(procs.processes.first { $0.pid == 100 })
        let steady = try #require(procs.processes.first { $0.pid == 200 })
        #expect(leaking.leakSuspected && leaking.trend == "leak" && leaking.state == "connected")
        #expect(abs((leaking.rssGrowthBytesPerMin ?? 0) - 240 * 1_048_576) < 1_048_576)
        #expect((leaking.rssGrowthFit ?? 0) > 0.95 && leaking.rssBytes == 336 * Self.MiB && leaking.samples == 60)
        #expect(!steady.leakSuspected && steady.rssBytes == 74 * Self.MiB && steady.rssPeakBytes == 80 * Self.MiB)
        #expect(logged.count == 1 && logged[0].contains("pid 100") && logged[0].contains("suspected memory leak"))
    }

    @Test func exitedProcess_keepsItsLastFigures_thenIsForgottenAfterTheRetention() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.record(1, durations: [5, 5], dropped: 3)
        _ = await store.recordMemorySamples([(1, Self.reading(50 * Self.MiB))])
        await store.apply(.disconnected(1))
        #expect(await store.memoryTargets().isEmpty)
        clock.advance(seconds: 60)
        let row = try #require(try await store.procs().processes.first)
        #expect(row.state == "exited" && row.rssBytes == 50 * Self.MiB && row.exitedAgoNs == 60_000_000_000)
        #expect(row.eventsReceived == 2 && row.droppedEvents == 3 && !row.leakSuspected && row.trend == "insufficient_data")
        clock.advance(seconds: 10 * 60)
        _ = await store.recordMemorySamples([])
        #expect(try await store.procs().processes.isEmpty)
        #expect(await store.memory.isEmpty)
    }

    @Test func memoryDeltas_givePerOperationMeanMaxAndTotal_mergedAcrossProcesses() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["load", "plain"])
        await store.connect(2, pid: 200, service: "svc", operations: ["load"])
        let deltas: [Int64] = [16 << 20, 0, -4096, 8 << 20]
        await store.apply(.memoryDeltas(1, droppedTotal: 2, records: deltas.map { MemoryDeltaRecord(operationID: 0, deltaBytes: $0) }, bytes: 0))
        await store.apply(.memoryDeltas(2, droppedTotal: 0, records: [MemoryDeltaRecord(operationID: 0, deltaBytes: 32 << 20)], bytes: 0))
        let rows = try await store.stats().operations
        let one = try #require(rows.first { $0.pid == 100 && $0.operation == "load" })
        #expect(one.memDeltaCalls == 4 && one.memDeltaTotalBytes == (24 << 20) - 4096)
        #expect(one.memDeltaMeanBytes == ((24 << 20) - 4096) / 4 && one.memDeltaMaxBytes == 16 << 20)
        let merged = try #require(rows.first { $0.pid == nil && $0.operation == "load" })
        #expect(merged.memDeltaCalls == 5 && merged.memDeltaMaxBytes == 32 << 20)
        let plain = try #require(rows.first { $0.operation == "plain" })
        #expect(plain.memDeltaCalls == 0 && plain.memDeltaMeanBytes == nil && plain.memDeltaMaxBytes == nil)
        #expect(try await store.procs().processes.first { $0.pid == 100 }?.memoryDeltasDropped == 2)
    }
}
