import ProbeTestKit
import Testing
@testable import ProbeStatistics

/// A whole hour, so that 1 min slices start on round numbers.
private let hour: UInt64 = 3_600_000_000_000

/// One series' windows driven by hand: calls recorded into the open second, as the daemon's
/// ingest does, with the totals it keeps beside them. (Tests/ProbeDaemonTests/Store/StoreWindowsTests
/// checks the same windows through the store's reports.)
private struct Driver {
    var windows: SeriesWindows
    var totals = SeriesWindows.Totals()

    init(now: UInt64) { windows = SeriesWindows(now: now) }

    mutating func record(_ value: UInt64, at now: UInt64) {
        windows.advance(to: now, totals: totals)
        windows.open.record(value)
        totals.calls += 1
    }

    /// The figures of the last `seconds` as a query at `now` sees them.
    mutating func figures(_ seconds: UInt64, at now: UInt64) -> SeriesWindows.Figures {
        windows.advance(to: now, totals: totals)
        return windows.figures(seconds: seconds, totals: totals, latency: true)
    }
}

@Suite struct SeriesWindowsTests {
    @Test func aValue_leavesEachWindow_exactlyTheWindowAfterItsSliceBegan() {
        var d = Driver(now: hour)
        d.record(7_000, at: hour + 5_300_000_000)  // 3605.3 s: its slices begin at 3605, 3600 and 3600
        for (seconds, leaves) in [(UInt64(10), UInt64(3_615)), (60, 3_660), (300, 3_900), (900, 4_500)] {
            var before = d, after = d
            let inside = before.figures(seconds, at: leaves * 1_000_000_000 - 1)
            let outside = after.figures(seconds, at: leaves * 1_000_000_000)
            #expect(inside.calls == 1 && inside.latency.totalCount == 1 && inside.latency.min == 7_000, "\(seconds) s window")
            #expect(outside.calls == 0 && outside.latency.totalCount == 0, "\(seconds) s window")
        }
    }

    @Test func rolledUpSlices_andTheLifetime_holdExactlyTheValuesRecorded() {
        var d = Driver(now: hour)
        var r = SeededRandom(seed: 21)
        var all = Histogram()
        for second in 0..<1_000 as Range<UInt64> {  // past the 15 min horizon, through every tier
            for _ in 0..<Int(r.next() % 20) {
                let v = Distribution.logNormal.sample(&r)
                d.record(v, at: hour + second * 1_000_000_000 + r.next() % 1_000_000_000)
                all.record(v)
            }
        }
        d.windows.advance(to: hour + 1_000 * 1_000_000_000, totals: d.totals)
        let lifetime = d.windows.lifetimeLatency
        #expect(lifetime.buckets().map(\.count) == all.buckets().map(\.count))
        #expect(lifetime.totalCount == all.totalCount && lifetime.min == all.min && lifetime.max == all.max && lifetime.sum == all.sum)
        #expect(d.windows.slices.count <= 10 + 7 + 16)
        #expect(Set(d.windows.slices.map(\.width)) == [1, 10, 60])
    }

    @Test func anIdleSeries_catchesUpInOneRotation() {
        var d = Driver(now: hour)
        for second in 0..<30 as Range<UInt64> { d.record(1_000, at: hour + second * 1_000_000_000) }
        let before = d.windows.rotations
        let f = d.figures(900, at: hour + 600 * 1_000_000_000)  // ten idle minutes later
        #expect(d.windows.rotations == before + 1)
        #expect(f.calls == 30 && d.windows.slices.allSatisfy { $0.width == 60 })
    }

    @Test func windows_slideInStepsOfTheirFarEdgesSliceWidth() {
        #expect([10, 60, 300, 900].map { SeriesWindows.granularity(ofWindow: $0) } == [1, 10, 60, 60])
        // At 3655 s the 1 min window's earliest slice start less than 60 s ago is 3600.
        #expect(SeriesWindows.windowStart(seconds: 60, nowSecond: 3_655) == 3_600)
        #expect(SeriesWindows.windowStart(seconds: 10, nowSecond: 3_655) == 3_646)
        #expect(SeriesWindows.windowStart(seconds: 300, nowSecond: 3_655) == 3_360)
    }
}

@Suite struct ItemStatsTests {
    @Test func itemsPerSecond_countTheLastSecondsOnly_andPerItemLatencyTheCountedCalls() {
        var items = ItemStats()
        for second in 0..<90 as Range<UInt64> {
            items.add(32, duration: 3_200, counted: second % 2 == 0, second: hour / 1_000_000_000 + second)
        }
        let now = hour / 1_000_000_000 + 89
        #expect(items.total == 90 * 32)
        #expect(items.recent(seconds: 60, nowSecond: now) == 60 * 32)
        #expect(items.recent(seconds: 10, nowSecond: now) == 10 * 32)
        #expect(items.meanPerItemNanoseconds == 100)
    }
}
