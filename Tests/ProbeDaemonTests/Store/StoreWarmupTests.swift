import Foundation
import ProbeControl
import ProbeStatistics
import ProbeWire
import Testing
@testable import ProbeDaemon

/// Issue 17 items 7 and 8 through the store: warm-up by start time, and per items value when the
/// client declares it in DEFINE.
@Suite struct StoreWarmupTests {
    static func record(_ start: UInt64, _ duration: UInt64, items: UInt32 = 1, failed: Bool = false) -> EventRecord {
        EventRecord(operationID: 0, flags: failed ? .failed : [], startNanoseconds: start, durationNanoseconds: duration, items: items)
    }

    @Test func laterCallsArrivingFirst_leaveTheFirstTenByStartOutOfLatency() async throws {
        let store = Store(configuration: .init(warmup: 10), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["predict"])
        // Forty calls of one thread alternating between two CPUs: the first ten take 50 ms (the
        // model warming up), the rest 1 ms. The client ships CPU 0's calls (0, 2, 4, …) first.
        let calls = (0..<40).map { i in StoreWarmupTests.record(UInt64(i) * 100_000_000, i < 10 ? 50_000_000 : 1_000_000) }
        let shard0 = stride(from: 0, to: 40, by: 2).map { calls[$0] }, shard1 = stride(from: 1, to: 40, by: 2).map { calls[$0] }
        await store.apply(.events(1, droppedTotal: 0, records: shard0, bytes: 0))
        await store.apply(.events(1, droppedTotal: 0, records: shard1, bytes: 0))
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(row.calls == 40 && row.warmup == 10 && row.counted == 30)
        #expect(row.maxNs == 1_000_000 && row.minNs == 1_000_000 && row.meanNs == 1_000_000)
        #expect(row.meanPerItemNs == 1_000_000 && row.items == 40)
        for window in StatsWindow.allCases {
            let w = try JSONDecoder.snakeCaseForTests.decode(StatsReport.self, from: Data(await store.statsJSON(window: window).utf8))
            let r = try #require(w.operations.first { $0.pid == 100 })
            #expect(r.maxNs == 1_000_000 && r.counted == 30 && r.warmup == 10, "\(window)")
        }
    }

    @Test func aFailedWarmupCallDisplaced_countsAsAFailure_neverInLatency() async throws {
        let store = Store(configuration: .init(warmup: 2), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["predict"])
        await store.apply(.events(1, droppedTotal: 0, records: [
            StoreWarmupTests.record(30, 9_000, failed: true), StoreWarmupTests.record(40, 9_000),
            StoreWarmupTests.record(10, 5_000), StoreWarmupTests.record(20, 5_000), StoreWarmupTests.record(50, 7),
        ], bytes: 0))
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        // Warm-up: the calls that started at 10 and 20. Measured: 40 (displaced) and 50; 30 failed.
        #expect(row.calls == 5 && row.warmup == 2 && row.errors == 1 && row.counted == 2)
        #expect(row.maxNs == 9_000 && row.minNs == 7 && row.errorTypes == ["unknown": 1])
    }

    @Test func warmupPerItems_declaredInDefine_keepsTheFirstNOfEachBatchSizeOut() async throws {
        let store = Store(configuration: .init(warmup: 2), clock: ManualClock())
        await store.apply(.connected(1, pid: 100, uid: 0))
        await store.apply(.hello(1, service: "svc"))
        await store.apply(.define(1, Definition(id: 0, kind: .operation, name: "predict", flags: .warmupPerItems)))
        // Batch sizes 1, 8 and 32, each slow (20 ms) on its first two calls, then 1 ms.
        var records: [EventRecord] = []
        var seen: [UInt32: Int] = [:]
        for i in 0..<60 {
            let items: UInt32 = [1, 8, 32][i % 3]
            seen[items, default: 0] += 1
            records.append(StoreWarmupTests.record(UInt64(i), seen[items]! <= 2 ? 20_000_000 : 1_000_000, items: items))
        }
        await store.apply(.events(1, droppedTotal: 0, records: records.reversed(), bytes: 0))
        let row = try #require(try await store.stats().operations.first { $0.pid == 100 })
        #expect(row.warmup == 6 && row.counted == 54 && row.maxNs == 1_000_000)
        // Without the flag the first two calls overall are warm-up and four slow calls are measured.
        let plain = Store(configuration: .init(warmup: 2), clock: ManualClock())
        await plain.connect(1, pid: 100, service: "svc", operations: ["predict"])
        await plain.apply(.events(1, droppedTotal: 0, records: records, bytes: 0))
        let p = try #require(try await plain.stats().operations.first { $0.pid == 100 })
        #expect(p.warmup == 2 && p.maxNs == 20_000_000)
    }
}
