#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbeControl
import ProbePosix
import ProbeStatistics
import ProbeTestKit
import ProbeWire
import Testing
@testable import ProbeDaemon

extension Store {
    func stats(window: StatsWindow) throws -> StatsReport {
        try JSONDecoder.snakeCaseForTests.decode(StatsReport.self, from: Data(statsJSON(window: window).utf8))
    }

    /// The series' rotation count: how often a touch found a new second.
    func rotations(pid: Int32, service: String = "svc", operation: String = "op") -> UInt64? {
        series[SeriesKey(service: service, pid: pid, operation: operation)]?.windows.rotations
    }
}

extension ManualClock {
    func set(_ ns: UInt64) {
        precondition(ns >= now(), "a monotonic clock never goes back")
        advance(by: ns - now())
    }
}

/// A whole hour, so that 1 min slices start on round numbers.
let hour: UInt64 = 3_600_000_000_000

/// The row of series `pid` (or the merged row when nil) for `operation`.
func row(_ report: StatsReport, pid: Int? = 100, operation: String = "op") throws -> OperationRow {
    try #require(report.operations.first { $0.pid == pid && $0.operation == operation })
}

@Suite struct StoreWindowsTests {
    @Test(arguments: [false, true])
    func aValue_leavesEachWindow_exactlyTheWindowAfterItsSliceBegan(queriedEverySecond: Bool) async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        clock.set(hour + 5_300_000_000)  // 3605.3 s
        await store.record(1, durations: [7_000])
        // Slices are 1 s wide in the 10 s window, 10 s in the 1 min window, 1 min in the 5 and
        // 15 min windows: the value's slices begin at 3605, 3600 and 3600.
        let leaves: [(StatsWindow, UInt64)] = [(.tenSeconds, 3_615), (.oneMinute, 3_660), (.fiveMinutes, 3_900), (.fifteenMinutes, 4_500)]
        for (window, second) in leaves {
            let edge = second * 1_000_000_000
            if queriedEverySecond {
                while clock.now() + 1_000_000_000 < edge {
                    clock.advance(by: 1_000_000_000)
                    _ = await store.statsJSON(window: window)
                }
            }
            clock.set(edge - 1)
            let inside = try row(try await store.stats(window: window))
            #expect(inside.calls == 1 && inside.counted == 1 && inside.p50Ns == 7_000 && inside.window == window.rawValue,
                    "\(window.rawValue) 1 ns before \(second) s")
            clock.set(edge)
            let outside = try row(try await store.stats(window: window))
            #expect(outside.calls == 0 && outside.counted == 0 && outside.p50Ns == nil && outside.minNs == nil,
                    "\(window.rawValue) at \(second) s")
        }
        let all = try row(try await store.stats(window: .all))
        #expect(all.calls == 1 && all.p50Ns == 7_000 && all.window == "all")
    }

    @Test func windowedFigures_equalOneHistogramOfTheSameValues_andAreWithinOnePercentOfExact() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        var r = SeededRandom(seed: 5)
        var recorded: [(second: UInt64, value: UInt64)] = []
        let granularity: [StatsWindow: UInt64] = [.tenSeconds: 1, .oneMinute: 10, .fiveMinutes: 60, .fifteenMinutes: 60]

        func check(_ label: String) async throws {
            let nowSecond = clock.now() / 1_000_000_000
            for window in [StatsWindow.tenSeconds, .oneMinute, .fiveMinutes, .fifteenMinutes] {
                let g = granularity[window]!, w = window.seconds!
                let values = recorded.filter { $0.second / g * g + w > nowSecond }.map(\.value)
                var h = Histogram()
                for v in values { h.record(v) }
                let got = try row(try await store.stats(window: window))
                #expect(got.calls == UInt64(values.count) && got.counted == h.totalCount, "\(label) \(window.rawValue)")
                guard !values.isEmpty else { continue }
                let q = h.quantiles(StatsJSON.quantiles)
                #expect([got.p50Ns, got.p90Ns, got.p99Ns, got.p999Ns] == q.map { Optional($0) }, "\(label) \(window.rawValue)")
                #expect(got.minNs == h.min && got.maxNs == h.max && got.meanNs == h.mean, "\(label) \(window.rawValue)")
                let sorted = values.sorted()
                for (quantile, value) in zip(StatsJSON.quantiles, q) {
                    #expect(relativeError(value, exactQuantile(sorted, quantile)) <= 0.01, "\(label) \(window.rawValue) q \(quantile)")
                }
            }
        }

        // 1,000 s of traffic whose distribution changes every 100 s, checked along the way.
        for step in 0..<1_000 {
            let distribution = Distribution.allCases[(step / 100) % Distribution.allCases.count]
            let values = (0..<Int(r.next() % 30)).map { _ in distribution.sample(&r) }
            clock.set(hour + UInt64(step) * 1_000_000_000 + r.next() % 1_000_000_000)
            await store.record(1, durations: values)
            recorded += values.map { (clock.now() / 1_000_000_000, $0) }
            if step % 37 == 0 { try await check("at step \(step)") }
        }
        try await check("at the end")
        clock.advance(seconds: 95)
        try await check("after 95 idle seconds")
    }

    @Test func rate_isCallsOverTheTimeTheWindowCovers() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        for _ in 0..<120 {  // 100 calls per second for two minutes
            await store.record(1, durations: Array(repeating: 5, count: 100))
            clock.advance(seconds: 1)
        }
        for window in StatsWindow.allCases {
            let got = try row(try await store.stats(window: window))
            #expect(abs(got.ratePerS - 100) < 0.001, "\(window.rawValue): \(got.ratePerS)")
            if window != .all {
                #expect(Double(got.calls) == (Double(got.spanNs) / 1e9 * 100).rounded(), "\(window.rawValue)")
            }
        }
        #expect(try row(try await store.stats(window: .fiveMinutes)).spanNs == 120_000_000_000)  // since the series began
        #expect(try row(try await store.stats(window: .oneMinute)).spanNs == 50_000_000_000)     // slides in 10 s steps
    }

    /// A merged row's rate is its calls over its span, like any row: a worker recycled halfway
    /// through the window, its successor doing the same 10 calls/s, reads 10 calls/s — not the
    /// sum of the two processes' rates (a new user's finding, issue 21).
    @Test func mergedRate_ofWorkersOneAfterAnother_isCallsOverTheSpan() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        for _ in 0..<20 {
            await store.record(1, durations: Array(repeating: 5, count: 10))
            clock.advance(seconds: 1)
        }
        await store.apply(.disconnected(1))
        await store.connect(2, pid: 101, service: "svc", operations: ["op"])
        for _ in 0..<20 {
            await store.record(2, durations: Array(repeating: 5, count: 10))
            clock.advance(seconds: 1)
        }
        let merged = try row(try await store.stats(window: .oneMinute), pid: nil)
        #expect(merged.calls == 400 && merged.processes == 2)
        #expect(abs(merged.ratePerS - Double(merged.calls) / (Double(merged.spanNs) / 1e9)) < 1e-9, "\(merged.ratePerS)")
        #expect(merged.ratePerS < 11, "\(merged.ratePerS) calls/s: the two workers' rates summed")
    }

    /// The same for items: two workers one after the other, each 40 items/s (10 calls of 4), read
    /// 40 items/s in the merged row over any window, not 80.
    @Test(arguments: [StatsWindow.oneMinute, .all])
    func mergedItemsRate_ofWorkersOneAfterAnother_isItemsOverTheSpan(window: StatsWindow) async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        let batch = (0..<10).map { _ in EventRecord(operationID: 0, startNanoseconds: 0, durationNanoseconds: 1_000, items: 4) }
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        for _ in 0..<30 {
            await store.apply(.events(1, droppedTotal: 0, records: batch, bytes: 0))
            clock.advance(seconds: 1)
        }
        await store.apply(.disconnected(1))
        await store.connect(2, pid: 101, service: "svc", operations: ["op"])
        for _ in 0..<30 {
            await store.apply(.events(2, droppedTotal: 0, records: batch, bytes: 0))
            clock.advance(seconds: 1)
        }
        let report = try await store.stats(window: window)
        let merged = try row(report, pid: nil), second = try row(report, pid: 101)
        #expect(merged.items == 2 * 30 * 40 && merged.processes == 2)
        let perSecond = try #require(merged.itemsPerS)
        #expect(abs(perSecond - 40) <= 40 * 0.1, "\(perSecond) items/s: the two workers' rates summed (\(window))")
        #expect(abs(try #require(second.itemsPerS) - 40) <= 40 * 0.1, "\(String(describing: second.itemsPerS))")
    }

    @Test func idleSeries_doNoWorkUntilTouched_andOneTouchCatchesUp() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        for pid in 1_000..<1_500 {
            await store.connect(ConnectionID(pid), pid: Int32(pid), service: "svc", operations: ["op"])
            await store.record(ConnectionID(pid), durations: [1_000])
        }
        for _ in 0..<600 {  // ten minutes: one busy series, 500 idle ones
            clock.advance(seconds: 1)
            await store.record(1, durations: [2_000])
        }
        #expect(await store.rotations(pid: 100) == 600)
        var idleWork: UInt64 = 0
        for pid in Int32(1_000)..<1_500 { idleWork += await store.rotations(pid: pid) ?? 99 }
        #expect(idleWork == 0)
        // A query brings each idle series up to date in one rotation, whatever the time passed.
        let report = try await store.stats(window: .fiveMinutes)
        idleWork = 0
        for pid in Int32(1_000)..<1_500 { idleWork += await store.rotations(pid: pid) ?? 99 }
        #expect(idleWork == 500)
        let idle = try row(report, pid: 1_000), busy = try row(report, pid: 100)
        #expect(idle.calls == 0 && busy.calls == 241)  // 5 min sliding in 1 min steps: seconds 360...600
        #expect(try row(try await store.stats(window: .tenSeconds), pid: 100).calls == 10)
        #expect(try row(try await store.stats(window: .fifteenMinutes), pid: 1_000).calls == 1)
    }

    @Test func warmup_isTheSeriesFirstCalls_countedInTheWindowTheyHappenedIn() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 5), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.record(1, durations: Array(repeating: 9_000_000, count: 8))  // 5 warm-up, 3 counted
        clock.advance(seconds: 30)
        await store.record(1, durations: Array(repeating: 1_000, count: 4))
        let recent = try row(try await store.stats(window: .tenSeconds))
        #expect(recent.calls == 4 && recent.warmup == 0 && recent.counted == 4 && recent.maxNs == 1_000)
        let minute = try row(try await store.stats(window: .oneMinute))
        #expect(minute.calls == 12 && minute.warmup == 5 && minute.counted == 7 && minute.maxNs == 9_000_000)
        #expect(relativeError(try #require(minute.lifetimeP99Ns), 9_000_000) <= 0.01)
    }

    @Test func errorTypes_areCountedPerWindow() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.apply(.define(1, Definition(id: 1, kind: .errorType, name: "Model.Timeout")))
        await store.apply(.define(1, Definition(id: 2, kind: .errorType, name: "Model.OOM")))
        func fail(_ type: UInt32, _ n: Int) async {
            let records = (0..<n).map { _ in
                EventRecord(operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 9, errorTypeID: type)
            }
            await store.apply(.events(1, droppedTotal: 0, records: records, bytes: 0))
        }
        await fail(1, 3)
        clock.advance(seconds: 20)
        await fail(2, 2)
        await fail(1, 1)
        let recent = try row(try await store.stats(window: .tenSeconds))
        #expect(recent.errors == 3 && recent.errorTypes == ["Model.OOM": 2, "Model.Timeout": 1])
        let all = try row(try await store.stats(window: .all))
        #expect(all.errors == 6 && all.errorTypes == ["Model.OOM": 2, "Model.Timeout": 4])
        clock.advance(seconds: 3_600)
        let later = try row(try await store.stats(window: .fifteenMinutes))
        #expect(later.errors == 0 && later.errorTypes.isEmpty && later.calls == 0)
    }

    @Test func mergedRows_sumTheirProcessesWindows() async throws {
        let clock = ManualClock(hour)
        let store = Store(configuration: .init(warmup: 0), clock: clock)
        await store.connect(1, pid: 100, service: "svc", operations: ["op"])
        await store.connect(2, pid: 200, service: "svc", operations: ["op"])
        await store.record(1, durations: Array(repeating: 1_000, count: 50))
        clock.advance(seconds: 15)
        await store.record(1, durations: Array(repeating: 2_000, count: 10))
        await store.record(2, durations: Array(repeating: 3_000, count: 10))
        let merged = try row(try await store.stats(window: .tenSeconds), pid: nil)
        #expect(merged.calls == 20 && merged.processes == 2 && merged.minNs == 2_000 && merged.maxNs == 3_000)
        #expect(relativeError(try #require(merged.lifetimeP99Ns), 3_000) <= 0.01)
        let all = try row(try await store.stats(window: .all), pid: nil)
        #expect(all.calls == 70 && all.minNs == 1_000 && all.lifetimeP99Ns == all.p99Ns)
    }

    /// The DESIGN.md budget: ≤ 32 KiB per series, windows included, on series with every window
    /// full (16 min of traffic at 1,000 calls/s, 1% failures of two types). Asserts the bytes a
    /// series accounts for; prints them beside the heap measured around building the series
    /// (glibc's in-use bytes, which include a few KB of allocator caches: a cross-check only).
    @Test func memoryPerSeries_withEveryWindowFull_isWithinTheBudget() {
        func busySeries(_ pool: [UInt64], _ n: Int) -> Series {
            let s = Series(key: SeriesKey(service: "svc", pid: Int32(n), operation: "predict"), now: hour, warmup: 10)
            var k = n * 7_919
            for second in 0..<960 {
                let now = hour + UInt64(second) * 1_000_000_000 + 250_000_000
                s.touch(now)
                for _ in 0..<1_000 {
                    k = (k &+ 40_503) & 65_535
                    let failed = k % 100 == 0
                    s.add(EventRecord(operationID: 0, flags: failed ? .failed : [], startNanoseconds: now, durationNanoseconds: pool[k]),
                          second: now / 1_000_000_000)
                    if failed { s.addError(named: k % 200 == 0 ? "Model.Timeout" : "Model.OOM") }
                }
            }
            s.touch(hour + 960_500_000_000)
            return s
        }
        let perDistribution = 2
        for distribution in Distribution.allCases {
            var r = SeededRandom(seed: 11)
            let pool = (0..<65_536).map { _ in distribution.sample(&r) }
            withExtendedLifetime(busySeries(pool, 99)) {}  // first allocations of the run, not the series'
            let before = heapBytesInUse()
            let kept = (0..<perDistribution).map { busySeries(pool, $0) }
            let heap = (heapBytesInUse() - before) / perDistribution
            let accounted = kept.map(\.footprintBytes).max()!
            let w = kept[0].windows
            let byWidth = Dictionary(grouping: w.slices, by: \.width).mapValues { $0.reduce(0) { $0 + $1.latency.footprintBytes } }
            print("memory per series (\(distribution), 1,000 calls/s, every window full, \(w.slices.count) slices): "
                  + "\(accounted) bytes accounted (open second \(w.open.footprintBytes), lifetime \(w.closed.footprintBytes), "
                  + "slice histograms by width \(byWidth.sorted { $0.key < $1.key }.map { "\($0.key) s: \($0.value)" })); "
                  + "heap measured \(heap) bytes (only meaningful with this test run alone)")
            #expect(accounted <= 32 * 1024, "\(distribution)")
            withExtendedLifetime(kept) {}
        }
    }
}
