import Foundation
import ProbeControl
import ProbeStatistics
import ProbeTestKit
import ProbeWire
import Testing
@testable import ProbeDaemon

extension Store {
    /// Connects a fake client with one operation (id 0) for tests.
    func connect(_ id: ConnectionID, pid: Int32, service: String, operations: [String]) {
        apply(.connected(id, pid: pid, uid: 0))
        apply(.hello(id, service: service))
        for (i, name) in operations.enumerated() {
            apply(.define(id, Definition(id: UInt32(i), kind: .operation, name: name)))
        }
    }

    func record(_ id: ConnectionID, operation: UInt32 = 0, durations: [UInt64], failed: Bool = false, dropped: UInt64 = 0) {
        let records = durations.map {
            EventRecord(operationID: operation, flags: failed ? .failed : [], startNanoseconds: 0, durationNanoseconds: $0)
        }
        apply(.events(id, droppedTotal: dropped, records: records, bytes: 24 + 32 * records.count))
    }

    func stats() throws -> StatsReport {
        try JSONDecoder.snakeCaseForTests.decode(StatsReport.self, from: Data(statsJSON().utf8))
    }

    func status() throws -> StatusReport {
        try JSONDecoder.snakeCaseForTests.decode(StatusReport.self, from: Data(statusJSON(pid: 1).utf8))
    }
}

extension JSONDecoder {
    static var snakeCaseForTests: JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }
}

@Suite struct StoreTests {
    @Test func warmup_firstNCallsOfEachSeries_areCountedButKeptOutOfLatency() async throws {
        let store = Store(configuration: .init(warmup: 5), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["predict"])
        // Five very slow warm-up calls, one of them failed, then fast ones.
        await store.record(1, durations: [9_000_000_000, 9_000_000_000, 9_000_000_000, 9_000_000_000])
        await store.record(1, durations: [9_000_000_000], failed: true)
        await store.record(1, durations: Array(repeating: 1_000, count: 100))
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(row.calls == 105 && row.warmup == 5 && row.errors == 1 && row.counted == 100)
        #expect(row.maxNs == 1_000 && row.minNs == 1_000 && row.p99Ns == 1_000)
    }

    @Test func warmup_isPerSeries_notPerOperationAcrossProcesses() async throws {
        let store = Store(configuration: .init(warmup: 3), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.connect(2, pid: 200, service: "svc", operations: ["op"])
        await store.record(1, durations: Array(repeating: 10, count: 10))
        await store.record(2, durations: Array(repeating: 10, count: 10))
        let rows = try await store.stats().operations
        #expect(rows.filter { $0.pid != nil }.allSatisfy { $0.warmup == 3 && $0.counted == 7 })
        let merged = try #require(rows.first { $0.pid == nil })
        #expect(merged.warmup == 6 && merged.calls == 20 && merged.counted == 14 && merged.processes == 2)
    }

    @Test func mergedRow_sumsCountsAndCoversEveryProcessesCountedCalls() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op", "other"])
        await store.connect(2, pid: 200, service: "svc", operations: ["op"])
        await store.record(1, durations: Array(repeating: 1_000, count: 99))
        await store.record(2, durations: [5_000_000])
        await store.record(2, durations: [7], failed: true)
        let rows = try await store.stats().operations
        let merged = try #require(rows.first { $0.pid == nil && $0.operation == "op" })
        #expect(merged.calls == 101 && merged.errors == 1 && merged.counted == 100)
        #expect(merged.minNs == 1_000 && merged.maxNs == 5_000_000)
        // Quantiles are bucket midpoints: within 1% of the exact value.
        #expect(relativeError(merged.p50Ns!, 1_000) <= 0.01 && relativeError(merged.p99Ns!, 1_000) <= 0.01)
        #expect(relativeError(merged.p999Ns!, 5_000_000) <= 0.01)
        // A defined operation with no calls is a series with empty latency, figures null.
        let other = try #require(rows.first { $0.operation == "other" && $0.pid == 100 })
        #expect(other.calls == 0 && other.p50Ns == nil)
    }

    @Test func rate_isCallsOverTheLastTenSeconds() async throws {
        let clock = ManualClock(1_000_000_000_000)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        for _ in 0..<30 {  // 100 calls per second for 30 s
            await store.record(1, durations: Array(repeating: 5, count: 100))
            clock.advance(seconds: 1)
        }
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(abs(row.ratePerS - 100) < 0.001)
        clock.advance(seconds: 60)
        let idle = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(idle.ratePerS == 0 && idle.calls == 3_000)
    }

    @Test func errorTypes_areCountedByName() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.apply(.define(1, Definition(id: 1, kind: .errorType, name: "Model.Timeout")))
        let failedRecords = (0..<3).map { _ in
            EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 9, errorTypeID: 1)
        }
        await store.apply(.events(1, droppedTotal: 0, records: failedRecords, bytes: 0))
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(row.errors == 3 && row.errorTypes == ["Model.Timeout": 3] && row.counted == 0)
    }

    @Test func status_reportsProcessesDropsAndDisconnects() async throws {
        let store = Store(configuration: .init(warmup: 0), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.record(1, durations: [1, 2, 3], dropped: 42)
        await store.connect(2, pid: 200, service: "svc", operations: ["op"])
        await store.apply(.disconnected(2))
        let status = try await store.status()
        #expect(status.connectedProcesses == 1 && status.eventsReceived == 3 && status.droppedEvents == 42)
        #expect(status.processes.map(\.state) == ["connected", "exited"])
        #expect(status.processes[0].droppedEvents == 42)
    }
}
