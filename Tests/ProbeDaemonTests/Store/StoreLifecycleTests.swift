import Foundation
import ProbeControl
import ProbeStatistics
import ProbeTestKit
import ProbeWire
import Testing
@testable import ProbeDaemon

/// A client process's life in a store: connected, a varied workload over several seconds, gone.
struct FakeProcess {
    var id: ConnectionID
    var pid: Int32
    var service = "svc"
    var operations = ["predict", "embed"]
    var seed: UInt64

    /// HELLO and DEFINEs: the operations, then two error types (ids 1 and 2).
    func connect(_ store: Store) async {
        await store.connect(id, pid: pid, service: service, operations: operations)
        await store.apply(.define(id, Definition(id: 1, kind: .errorType, name: "Model.Timeout")))
        await store.apply(.define(id, Definition(id: 2, kind: .errorType, name: "Model.BadInput.\(pid % 3)")))
    }

    /// One batch of everything a client sends: calls spread over six decades (some failed with a
    /// type, some device-synchronised, batches of 1–64 items), memory deltas, and a slow and a
    /// failed call's details.
    func batch(_ store: Store, _ r: inout SeededRandom, calls: Int = 40) async {
        for (op, _) in operations.enumerated() {
            let records = (0..<calls).map { _ -> EventRecord in
                let failed = r.uniform() < 0.05
                return EventRecord(
                    operationID: UInt32(op), flags: failed ? .failed : (r.uniform() < 0.5 ? .deviceSynchronized : []), startNanoseconds: 0,
                    durationNanoseconds: Distribution.uniformSixDecades.sample(&r), items: UInt32(1 + r.next() % 64),
                    errorTypeID: failed ? UInt32(1 + r.next() % 3) % 3 : 0)
            }
            await store.apply(.events(id, droppedTotal: r.next() % 5, records: records, bytes: 24 + 32 * records.count))
            await store.apply(.memoryDeltas(id, droppedTotal: 0, records: [MemoryDeltaRecord(operationID: UInt32(op), deltaBytes: Int64(r.next() % 4096) - 1024)], bytes: 0))
            let slow = CallDetail(operationID: UInt32(op), flags: .slow, startNanoseconds: 5, startWallNanoseconds: 1_700_000_000_000_000_000 + r.next() % 1_000_000,
                                  durationNanoseconds: 60_000_000 + r.next() % 1_000_000, items: 8, attributes: [.init("batch", "8"), .init("seed", "\(seed)")])
            await store.apply(.callDetail(id, slow, operation: operations[op], errorType: nil, bytes: 100))
            let failed = CallDetail(operationID: UInt32(op), flags: .failed, startNanoseconds: 6, startWallNanoseconds: 1_700_000_000_000_000_000 + r.next() % 1_000_000,
                                    durationNanoseconds: 3_000 + r.next() % 1_000, errorTypeID: 1, errorDescription: "timeout after \(r.next() % 100) ms")
            await store.apply(.callDetail(id, failed, operation: operations[op], errorType: "Model.Timeout", bytes: 100))
        }
    }
}

/// A JSON value (from JSONSerialization) as something `==` compares.
func hashable(_ value: Any) -> AnyHashable {
    switch value {
    case let array as [Any]: return AnyHashable(array.map(hashable))
    case let object as [String: Any]: return AnyHashable(object.mapValues(hashable))
    // JSON's true and false come as NSNumbers of a Boolean class, which compare with neither Bool nor numbers.
    case let n as NSNumber where String(describing: type(of: n)).contains("Boolean"): return AnyHashable(n.boolValue)
    default: return value as! AnyHashable
    }
}

/// Where two sets of rows by window differ: "window row key: a vs b" (empty when they are equal).
func differences(_ a: [String: [[String: AnyHashable]]], _ b: [String: [[String: AnyHashable]]], ignoring: Set<String> = []) -> [String] {
    var out: [String] = []
    for window in Set(a.keys).union(b.keys).sorted() {
        let (x, y) = (a[window] ?? [], b[window] ?? [])
        if x.count != y.count { out.append("\(window): \(x.count) rows vs \(y.count)") }
        for (i, (r, s)) in zip(x, y).enumerated() {
            for key in Set(r.keys).union(s.keys).subtracting(ignoring).sorted() where r[key] != s[key] {
                out.append("\(window) row \(i) (\(r["operation"].map { "\($0)" } ?? "?") pid \(r["pid"].map { "\($0)" } ?? "?")) \(key): \(r[key].map { "\($0)" } ?? "absent") vs \(s[key].map { "\($0)" } ?? "absent")")
            }
        }
    }
    return out
}

/// Stats JSON rows, by window, as dictionaries (exact comparison of every key).
extension Store {
    nonisolated func rows(_ window: StatsWindow) async throws -> [[String: AnyHashable]] {
        let json = try JSONSerialization.jsonObject(with: Data(await statsJSON(window: window).utf8)) as! [String: Any]
        return (json["operations"] as! [[String: Any]]).map { row in row.mapValues(hashable) }
    }

    /// The merged rows of every window.
    nonisolated func mergedRows() async throws -> [String: [[String: AnyHashable]]] {
        var out: [String: [[String: AnyHashable]]] = [:]
        for w in StatsWindow.allCases { out[w.rawValue] = try await rows(w).filter { $0["merged"] == AnyHashable(true) } }
        return out
    }

    /// The Prometheus exposition, less the lines that may differ between two stores holding the
    /// same calls (series held, start time).
    func exposition() -> [Substring] {
        PrometheusExposition.render(metricsSnapshot()).split(separator: "\n")
            .filter { !$0.hasPrefix("probed_series ") && !$0.hasPrefix("probed_start_time_seconds ") }
    }
}

@Suite struct StoreLifecycleTests {
    static let second: UInt64 = 1_000_000_000

    /// Three processes of the same service over 40 s: two exit (one early), one stays.
    static func churn(_ store: Store, _ clock: ManualClock) async {
        let a = FakeProcess(id: 1, pid: 101, seed: 1), b = FakeProcess(id: 2, pid: 102, seed: 2), c = FakeProcess(id: 3, pid: 103, operations: ["predict"], seed: 3)
        var r = SeededRandom(seed: 42)
        await a.connect(store)
        await b.connect(store)
        for s in 0..<40 {
            if s == 5 { await c.connect(store) }
            await a.batch(store, &r)
            if s < 12 { await b.batch(store, &r) }
            if s == 12 { await store.apply(.disconnected(b.id)) }
            if s >= 5 { await c.batch(store, &r, calls: 7) }
            clock.advance(by: 1_000_000_000 - 7_000_000 * UInt64(s % 3))
        }
        await store.apply(.disconnected(a.id))
    }

    @Test func retiringExitedProcesses_changesNoMergedRowWindowOrCounter() async throws {
        let clock = ManualClock(1_700_000_000 * Self.second)
        var options = MemoryOptions()
        options.exitedRetention = 30 * Self.second
        let store = Store(configuration: .init(warmup: 3, memory: options), clock: clock)
        await Self.churn(store, clock)
        clock.advance(by: 31 * Self.second)
        let before = try await store.mergedRows()
        let metricsBefore = await store.exposition()
        let statusBefore = try await store.status()
        await store.retireExited()
        let after = try await store.mergedRows()
        // Every figure the same; only the count of retired processes among the merged ones moved.
        #expect(differences(before, after, ignoring: ["retired_processes"]).isEmpty, "\(differences(before, after, ignoring: ["retired_processes"]).prefix(10))")
        #expect(await store.exposition() == metricsBefore)
        // The two processes gone became one retired row per operation; the live one kept its own.
        let rows = try await store.rows(.all)
        let retired = rows.filter { $0["merged"] == AnyHashable(false) && $0["pid"] == AnyHashable(NSNull()) }
        #expect(retired.count == 2)
        #expect(retired.first { $0["operation"] == AnyHashable("predict") }?["retired_processes"] == AnyHashable(2))
        #expect(retired.first { $0["operation"] == AnyHashable("embed") }?["retired_processes"] == AnyHashable(2))
        #expect(rows.filter { $0["pid"] == AnyHashable(101) || $0["pid"] == AnyHashable(102) }.isEmpty)
        #expect(rows.contains { $0["pid"] == AnyHashable(103) })
        let status = try await store.status()
        #expect(status.series == 3 && status.retiredSeries == 2 && status.retiredProcesses == 2)
        #expect(status.processes.map(\.pid) == [103])
        #expect(status.droppedEvents == statusBefore.droppedEvents && status.eventsReceived == statusBefore.eventsReceived)
        let merged = try #require(after["all"]?.first { $0["operation"] == AnyHashable("predict") })
        #expect(merged["processes"] == AnyHashable(3) && merged["retired_processes"] == AnyHashable(2))
    }

    @Test func retiredAggregates_ageExactlyLikeTheProcessesTheyHold() async throws {
        // The same calls in two stores; one retires its processes after 2 s, the other keeps them.
        let clocks = [ManualClock(1_700_000_000 * Self.second), ManualClock(1_700_000_000 * Self.second)]
        var stores: [Store] = []
        for (i, retention) in [2 * Self.second, 24 * 3600 * Self.second].enumerated() {
            var options = MemoryOptions()
            options.exitedRetention = retention
            stores.append(Store(configuration: .init(warmup: 3, memory: options), clock: clocks[i]))
            await Self.churn(stores[i], clocks[i])
        }
        for step: UInt64 in [3, 4, 9, 30, 61, 300, 600] {
            for (store, clock) in zip(stores, clocks) {
                clock.advance(by: step * Self.second)
                await store.retireExited()
            }
            let (retiring, keeping) = (try await stores[0].mergedRows(), try await stores[1].mergedRows())
            let d = differences(retiring, keeping, ignoring: ["retired_processes"])
            #expect(d.isEmpty, "after \(step) s more: \(d.prefix(10))")
            #expect(await stores[0].exposition() == stores[1].exposition())
        }
        #expect(try await stores[0].status().series == 3)
        #expect(try await stores[1].status().series == 5)
    }

    @Test func maxSeries_sixProcessesOneAfterAnother_everyOneIsMeasured() async throws {
        // The issue's smallest input: --max-series 5; six processes of `worker`, 100 calls each.
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 10, maxSeries: 5), clock: clock)
        for i in 0..<6 {
            let id = ConnectionID(i + 1)
            await store.connect(id, pid: Int32(200 + i), service: "worker", operations: ["predict"])
            await store.record(id, durations: (0..<100).map { UInt64(1_000 + $0 + 100 * i) })
            await store.apply(.disconnected(id))
            clock.advance(seconds: 1)
        }
        let status = try await store.status()
        #expect(status.seriesRefused == 0 && status.eventsRefused == 0)
        #expect(status.series <= 5)
        let merged = try #require(try await store.stats().operations.first { $0.pid == nil && $0.merged == true })
        #expect(merged.calls == 600 && merged.warmup == 60 && merged.counted == 540 && merged.processes == 6)
        #expect(merged.minNs == 1_010 && merged.maxNs == 1_599)
    }

    @Test func maxSeries_fullOfLiveSeries_stillRefusesVisibly() async throws {
        let store = Store(configuration: .init(warmup: 0, maxSeries: 2), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["a", "b", "c"])
        let status = try await store.status()
        #expect(status.series == 2 && status.seriesRefused == 1)
    }

    @Test func maxSeries_foldingThatWouldFreeNothing_foldsNothing() async throws {
        // One process gone (a): folding it would only trade its series for its aggregate.
        let store = Store(configuration: .init(warmup: 0, maxSeries: 2), clock: ManualClock())
        await store.connect(1, pid: 100, service: "svc", operations: ["x"])
        await store.apply(.disconnected(1))
        await store.connect(2, pid: 200, service: "svc", operations: ["y", "z"])
        let status = try await store.status()
        #expect(status.series == 2 && status.seriesRefused == 1 && status.retiredSeries == 0)
        #expect(try await store.stats().operations.contains { $0.pid == 100 })
    }

    @Test func processReconnectingWithinTheRetention_continuesItsSeries() async throws {
        let clock = ManualClock()
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.record(1, durations: [10, 20])
        await store.apply(.disconnected(1))
        clock.advance(seconds: 5)
        await store.retireExited()
        await store.connect(2, pid: 100, service: "svc", operations: ["op"])
        await store.record(2, durations: [30])
        let rows = try await store.stats().operations.filter { $0.pid == 100 }
        #expect(rows.count == 1 && rows[0].calls == 3)
    }

    @Test func exitedConnections_areForgottenAfterTheRetention_theirDropsStayCounted() async throws {
        let clock = ManualClock()
        var options = MemoryOptions()
        options.exitedRetention = 10 * Self.second
        let store = Store(configuration: .init(warmup: 0, memory: options), clock: clock)
        for i in 0..<1_000 {
            let id = ConnectionID(i + 1)
            await store.connect(id, pid: Int32(1_000 + i), service: "svc", operations: ["op"])
            await store.record(id, durations: [5], dropped: 2)
            await store.apply(.disconnected(id))
        }
        #expect(try await store.status().processes.count == 1_000)
        clock.advance(seconds: 11)
        await store.retireExited()
        let status = try await store.status()
        #expect(status.processes.isEmpty && status.series == 1 && status.retiredProcesses == 1_000)
        #expect(status.droppedEvents == 2_000 && status.eventsReceived == 1_000)
        #expect(await store.metricsSnapshot().droppedEvents == 2_000)
        #expect(try await store.procsJSON().contains("\"processes\":[]"))
    }
}
