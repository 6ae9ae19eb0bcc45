import Foundation
import ProbeControl
import ProbeStatistics
import ProbeTestKit
import ProbeWire
import Testing
@testable import ProbeDaemon

/// What a fake process sent of one operation: the figures a store must report for it, exactly.
struct Ledger: Equatable {
    var calls: UInt64 = 0
    var errors: UInt64 = 0
    var items: UInt64 = 0
    var synchronized: UInt64 = 0
    var slow: UInt64 = 0
    var memoryDeltas: UInt64 = 0
    var memoryTotal: Int128 = 0
    var errorTypes: [String: UInt64] = [:]
    /// Warm-up calls (the series' first N by start time, or the first N of each of the first 64
    /// items values), and calls of an items value past those (measured without a warm-up).
    var warmup: UInt64 = 0
    var untracked: UInt64 = 0

    static func + (a: Ledger, b: Ledger) -> Ledger {
        var s = a
        s.calls += b.calls
        s.errors += b.errors
        s.items += b.items
        s.synchronized += b.synchronized
        s.slow += b.slow
        s.memoryDeltas += b.memoryDeltas
        s.memoryTotal += b.memoryTotal
        s.errorTypes.merge(b.errorTypes, uniquingKeysWith: +)
        s.warmup += b.warmup
        s.untracked += b.untracked
        return s
    }

    /// Whether `row` reports exactly these figures (lifetime figures; `calls`, `errors` and
    /// `warmup` over the window `all`); what differs, else nil.
    func mismatch(_ row: OperationRow) -> String? {
        let expected: [(String, AnyHashable?, AnyHashable?)] = [
            ("calls", calls, row.calls), ("errors", errors, row.errors), ("lifetime_calls", calls, row.lifetimeCalls),
            ("items", items, row.items), ("synchronized_calls", synchronized, row.synchronizedCalls), ("slow_calls", slow, row.slowCalls),
            ("mem_delta_calls", memoryDeltas, row.memDeltaCalls), ("mem_delta_total_bytes", memoryTotal, row.memDeltaTotalBytes),
            ("error_types", errorTypes, row.errorTypes), ("warmup", warmup, row.warmup),
            ("untracked warning", untracked > 0, row.warnings?.contains { $0.contains("\(untracked) calls had an items value past") } ?? false),
        ]
        let wrong = expected.filter { $0.1 != $0.2 }.map { "\($0.0): \($0.2.map { "\($0)" } ?? "nil") instead of \($0.1.map { "\($0)" } ?? "nil")" }
        return wrong.isEmpty ? nil : "\(row.operation) pid \(row.pid.map { "\($0)" } ?? "nil"): " + wrong.joined(separator: ", ")
    }
}

/// A client process's life in a store: connected, a varied workload over several seconds, gone.
/// It keeps a `Ledger` of everything it sent, per operation.
final class FakeProcess {
    let id: ConnectionID
    let pid: Int32
    let service: String
    let operations: [String]
    let seed: UInt64
    /// The warm-up the store counts (`Store.Configuration.warmup`), for the ledger.
    let warmupLimit: Int
    private(set) var sent: [String: Ledger] = [:]
    /// The client's clock: where the next batch's calls start (in any order within 50 ms).
    private var clock: UInt64 = 5_000_000_000
    /// Per operation: calls so far of each items value, in the order values were first seen.
    private var itemsSeen: [Int: [UInt32: Int]] = [:]
    private var itemsOrder: [Int: [UInt32]] = [:]

    init(id: ConnectionID, pid: Int32, service: String = "svc", operations: [String] = ["predict", "embed"], seed: UInt64, warmup: Int = 3) {
        self.id = id
        self.pid = pid
        self.service = service
        self.operations = operations
        self.seed = seed
        warmupLimit = warmup
    }

    /// DEFINE's flags: `predict` is declared `no_device_work` by odd pids; `embed` keeps its
    /// warm-up per items value (and sees more items values than probed tracks).
    func flags(_ op: Int) -> OperationFlags { operations[op] == "embed" ? .warmupPerItems : (pid % 2 == 1 ? .noDeviceWork : []) }

    /// Error types 1...4; a failure with type 0 counts as `unknown`. Eight names among processes.
    var errorTypeNames: [String] { ["Model.Timeout", "Model.BadInput.\(pid % 3)", "Model.OOM", "Model.Shape.\(pid % 2)"] }

    /// HELLO and DEFINEs: the operations with their flags, then the error types.
    func connect(_ store: Store) async {
        await store.apply(.connected(id, pid: pid, uid: 0))
        await store.apply(.hello(id, service: service))
        for (i, name) in operations.enumerated() {
            await store.apply(.define(id, Definition(id: UInt32(i), kind: .operation, name: name, flags: flags(i))))
        }
        for (i, name) in errorTypeNames.enumerated() {
            await store.apply(.define(id, Definition(id: UInt32(i + 1), kind: .errorType, name: name)))
        }
    }

    /// One batch of everything a client sends: calls spread over six decades and now and then
    /// one near 2^64 ns (sums pass 64 bits), started out of order, some failed with a type,
    /// some device-synchronised, batches of 1–64 items (`embed`: 1–100); memory deltas, the
    /// first of each operation 2^63 − 1 bytes; and a slow and a failed call's details.
    func batch(_ store: Store, _ r: inout SeededRandom, calls: Int = 40) async {
        for (op, name) in operations.enumerated() {
            var ledger = sent[name] ?? Ledger()
            let records = (0..<calls).map { _ -> EventRecord in
                let failed = r.uniform() < 0.05
                let synchronized = r.uniform() < 0.5
                let huge = r.next() % 97 == 0
                let items = UInt32(1 + r.next() % (name == "embed" ? 100 : 64))
                let type = failed ? UInt32(r.next() % 5) : 0
                var flags: EventFlags = failed ? .failed : []
                if synchronized { flags.insert(.deviceSynchronized) }
                let record = EventRecord(
                    operationID: UInt32(op), flags: flags, startNanoseconds: clock + r.next() % 50_000_000,
                    durationNanoseconds: huge ? UInt64.max - r.next() % 1_000 : Distribution.uniformSixDecades.sample(&r), items: items,
                    errorTypeID: type)
                ledger.calls += 1
                ledger.items += UInt64(items)
                if synchronized { ledger.synchronized += 1 }
                if failed {
                    ledger.errors += 1
                    ledger.errorTypes[type == 0 ? "unknown" : errorTypeNames[Int(type) - 1], default: 0] += 1
                }
                countWarmup(op, items, &ledger)
                return record
            }
            await store.apply(.events(id, droppedTotal: r.next() % 5, records: records, bytes: 24 + 32 * records.count))
            let delta = ledger.memoryDeltas == 0 ? Int64.max : Int64(r.next() % 4096) - 1024
            ledger.memoryDeltas += 1
            ledger.memoryTotal += Int128(delta)
            await store.apply(.memoryDeltas(id, droppedTotal: 0, records: [MemoryDeltaRecord(operationID: UInt32(op), deltaBytes: delta)], bytes: 0))
            let slow = CallDetail(operationID: UInt32(op), flags: .slow, startNanoseconds: 5, startWallNanoseconds: 1_700_000_000_000_000_000 + r.next() % 1_000_000,
                                  durationNanoseconds: 60_000_000 + r.next() % 1_000_000, items: 8, attributes: [.init("batch", "8"), .init("seed", "\(seed)")])
            await store.apply(.callDetail(id, slow, operation: name, errorType: nil, bytes: 100))
            ledger.slow += 1
            let failed = CallDetail(operationID: UInt32(op), flags: .failed, startNanoseconds: 6, startWallNanoseconds: 1_700_000_000_000_000_000 + r.next() % 1_000_000,
                                    durationNanoseconds: 3_000 + r.next() % 1_000, errorTypeID: 1, errorDescription: "timeout after \(r.next() % 100) ms")
            await store.apply(.callDetail(id, failed, operation: name, errorType: "Model.Timeout", bytes: 100))
            sent[name] = ledger
        }
        clock += 50_000_000
    }

    /// The warm-up the store must count for one more call of operation `op` with `items`.
    private func countWarmup(_ op: Int, _ items: UInt32, _ ledger: inout Ledger) {
        let key = flags(op).contains(.warmupPerItems) ? items : 0
        if itemsSeen[op, default: [:]][key] == nil {
            guard itemsOrder[op, default: []].count < WarmupFilter.maxItemsValues else {
                ledger.untracked += 1
                return
            }
            itemsOrder[op, default: []].append(key)
        }
        let n = itemsSeen[op, default: [:]][key, default: 0]
        itemsSeen[op, default: [:]][key] = n + 1
        if n < warmupLimit { ledger.warmup += 1 }
    }
}

/// The ledgers of `processes`, summed per operation.
func ledgers(_ processes: [FakeProcess]) -> [String: Ledger] {
    processes.reduce(into: [:]) { sum, p in sum.merge(p.sent, uniquingKeysWith: +) }
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

extension Store {
    /// The flags a series holds (a retired aggregate's: its processes' together).
    func flags(of key: SeriesKey) -> OperationFlags? { series[key]?.flags }

    /// The exact sum of every counted call's duration of (service, operation), all series.
    func lifetimeLatencySum(service: String, operation: String) -> UInt128 {
        series.values.filter { $0.key.service == service && $0.key.operation == operation }
            .reduce(0) { $0 + $1.windows.lifetimeLatency.sum }
    }
}

@Suite struct StoreLifecycleTests {
    static let second: UInt64 = 1_000_000_000

    /// Three processes of the same service over 40 s: two exit (one early), one stays. Returns them (ledgers).
    @discardableResult
    static func churn(_ store: Store, _ clock: ManualClock) async -> [FakeProcess] {
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
        return [a, b, c]
    }

    /// What differs between the rows of `report` and the ledgers: each process's own rows, the
    /// merged rows (every process), and the retired rows (the processes in `retired`).
    static func ledgerMismatches(_ report: StatsReport, _ processes: [FakeProcess], retired: Set<Int32>) -> [String] {
        var out: [String] = []
        for row in report.operations {
            let holds: [FakeProcess]
            if let pid = row.pid {
                holds = processes.filter { $0.pid == pid }
            } else if row.merged == true {
                holds = processes
            } else {
                holds = processes.filter { retired.contains($0.pid) }
            }
            guard let expected = ledgers(holds)[row.operation] else {
                out.append("\(row.operation) pid \(row.pid.map { "\($0)" } ?? "nil"): a row for no process")
                continue
            }
            if let m = expected.mismatch(row) { out.append(m) }
        }
        return out
    }

    /// The per-operation Prometheus counters that must equal the ledgers.
    static func counterMismatches(_ lines: [Substring], _ processes: [FakeProcess]) -> [String] {
        var out: [String] = []
        for (operation, l) in ledgers(processes) {
            for (name, value) in [("probe_calls_total", l.calls), ("probe_failures_total", l.errors), ("probe_warmup_calls_total", l.warmup),
                                  ("probe_slow_calls_total", l.slow), ("probe_items_total", l.items),
                                  ("probe_device_synchronized_calls_total", l.synchronized)] {
                let line = "\(name){service=\"svc\",operation=\"\(operation)\"} \(value)"
                if !lines.contains(Substring(line)) { out.append("no line \(line)") }
            }
        }
        return out
    }

    @Test func retiringExitedProcesses_changesNoMergedRowWindowOrCounter() async throws {
        let clock = ManualClock(1_700_000_000 * Self.second)
        var options = MemoryOptions()
        options.exitedRetention = 30 * Self.second
        let store = Store(configuration: .init(warmup: 3, memory: options), clock: clock)
        let processes = await Self.churn(store, clock)
        clock.advance(by: 31 * Self.second)
        let before = try await store.mergedRows()
        let metricsBefore = await store.exposition()
        let statusBefore = try await store.status()
        // Every figure is what the processes sent: calls, failures by type, warm-up (per items
        // value for embed, with calls past the values tracked), items, synchronised and slow
        // calls, memory deltas past 64 bits; in the rows and the Prometheus counters.
        let exact = Self.ledgerMismatches(try await store.stats(), processes, retired: [])
        #expect(exact.isEmpty, "\(exact.prefix(10))")
        #expect(Self.counterMismatches(metricsBefore, processes).isEmpty, "\(Self.counterMismatches(metricsBefore, processes))")
        let total = ledgers(processes)
        #expect(total["predict"]!.memoryTotal > Int128(UInt64.max) && total["embed"]!.untracked > 0 && total["embed"]!.errorTypes.count > 4)
        #expect(await store.lifetimeLatencySum(service: "svc", operation: "predict") > UInt128(UInt64.max))
        let sumBefore = await store.lifetimeLatencySum(service: "svc", operation: "predict")
        await store.retireExited()
        let after = try await store.mergedRows()
        // Every figure the same; only the count of retired processes among the merged ones moved.
        #expect(differences(before, after, ignoring: ["retired_processes"]).isEmpty, "\(differences(before, after, ignoring: ["retired_processes"]).prefix(10))")
        #expect(await store.exposition() == metricsBefore)
        #expect(await store.lifetimeLatencySum(service: "svc", operation: "predict") == sumBefore)
        // And still exact, the retired rows holding what the two processes gone sent.
        let folded = Self.ledgerMismatches(try await store.stats(), processes, retired: [101, 102])
        #expect(folded.isEmpty, "\(folded.prefix(10))")
        // Flags: predict was declared no_device_work by 101 only, so its aggregate is not; embed
        // kept warm-up per items value in both.
        #expect(await store.flags(of: .retired(service: "svc", operation: "predict")) == [])
        #expect(await store.flags(of: .retired(service: "svc", operation: "embed")) == [.warmupPerItems])
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
        var processes: [FakeProcess] = []
        for (i, retention) in [2 * Self.second, 24 * 3600 * Self.second].enumerated() {
            var options = MemoryOptions()
            options.exitedRetention = retention
            stores.append(Store(configuration: .init(warmup: 3, memory: options), clock: clocks[i]))
            processes = await Self.churn(stores[i], clocks[i])
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
            let exact = Self.ledgerMismatches(try await stores[0].stats(), processes, retired: [101, 102])
            #expect(exact.isEmpty, "after \(step) s more: \(exact.prefix(10))")
        }
        #expect(try await stores[0].status().series == 3)
        #expect(try await stores[1].status().series == 5)
    }

    @Test func moreErrorTypesThanAnAggregateKeeps_foldWithExactCounts_neverUnderAnotherName() async throws {
        // 30 processes of one operation over 30 s, each failing with a frequent type and three of
        // its own (91 names): more than the 16 a series keeps by name.
        let clock = ManualClock(1_700_000_000 * Self.second)
        var options = MemoryOptions()
        options.exitedRetention = 5 * Self.second
        let store = Store(configuration: .init(warmup: 0, memory: options), clock: clock)
        var sent: [String: UInt64] = [:]
        for p in 0..<30 {
            let id = ConnectionID(p + 1)
            await store.connect(id, pid: Int32(500 + p), service: "svc", operations: ["op"])
            let names = ["Frequent"] + (0..<3).map { "Own.\(p).\($0)" }
            for (i, name) in names.enumerated() { await store.apply(.define(id, Definition(id: UInt32(i + 1), kind: .errorType, name: name))) }
            var records = (0..<20).map { _ in EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 10, errorTypeID: 1) }
            for k in 1...3 {
                records += (0...k).map { _ in EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 10, errorTypeID: UInt32(k + 1)) }
            }
            records += (0..<5).map { _ in EventRecord(operationID: 0, startNanoseconds: 0, durationNanoseconds: 20) }
            for r in records where r.failed { sent[names[Int(r.errorTypeID) - 1], default: 0] += 1 }
            await store.apply(.events(id, droppedTotal: 0, records: records, bytes: 0))
            clock.advance(seconds: 1)
            await store.apply(.disconnected(id))
        }
        func check(_ moment: String) async throws -> [String: [String: UInt64]] {
            var byWindow: [String: [String: UInt64]] = [:]
            for w in StatsWindow.allCases {
                let report = try JSONDecoder.snakeCaseForTests.decode(StatsReport.self, from: Data(await store.statsJSON(window: w).utf8))
                let merged = try #require(report.operations.first { $0.merged == true })
                #expect(merged.errorTypes.values.reduce(0, +) == merged.errors, "\(moment), \(w): error types sum to errors")
                for (name, count) in merged.errorTypes where name != "other" {
                    #expect(count <= sent[name] ?? 0, "\(moment), \(w): \(name) counted \(count), sent \(sent[name] ?? 0)")
                }
                byWindow[w.rawValue] = merged.errorTypes
            }
            #expect(byWindow["all"]?["Frequent"] == 600, "\(moment): the frequent type keeps its slot, exact")
            return byWindow
        }
        clock.advance(seconds: 6)
        let before = try await check("before the fold")
        await store.retireExited()
        #expect(try await store.status().retiredProcesses == 30)
        let after = try await check("after the fold")
        for (w, types) in before { #expect(after[w]?.values.reduce(0, +) == types.values.reduce(0, +), "\(w)") }
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
