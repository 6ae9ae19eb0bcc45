import Testing
@testable import ProbeStatistics

/// Values a peer controls taken to their limits (issue 17 item 1, issue 22 item 8): every figure
/// stays exact or saturates; nothing traps and nothing wraps.
@Suite struct ExtremeValueTests {
    /// −1,024 ns cast to unsigned, what a buggy caller sends.
    static let wrapped: UInt64 = 18_446_744_073_709_550_592

    @Test func mean_ofDurationsNear2To64_isExact_andNeverTraps() {
        var h = Histogram()
        h.record(ExtremeValueTests.wrapped)
        // A Double sum rounds 2^64 − 1,024 up to 2^64, which UInt64(_:) refused with a trap.
        #expect(h.mean == ExtremeValueTests.wrapped)
        #expect(h.min == ExtremeValueTests.wrapped && h.max == ExtremeValueTests.wrapped)
        #expect(h.quantiles([0.5, 0.99, 0.999]) == [ExtremeValueTests.wrapped, ExtremeValueTests.wrapped, ExtremeValueTests.wrapped])
        for _ in 0..<10 { h.record(1_000_000) }
        let sum = UInt128(ExtremeValueTests.wrapped) + 10 * 1_000_000
        #expect(h.sum == sum)
        #expect(h.mean == UInt64((sum + 5) / 11))  // rounded half up
        var many = Histogram()
        many.record(.max, count: 1 << 40)
        #expect(many.mean == .max && many.sum == UInt128(UInt64.max) << 40)
    }

    @Test func quantile_ranks_stayWithinOneAndTheCount_forAnyQ() {
        #expect(Histogram.rank(.nan, of: 10) == 1)
        #expect(Histogram.rank(-1, of: 10) == 1)
        #expect(Histogram.rank(2, of: 10) == 10)
        #expect(Histogram.rank(1, of: .max) == .max)  // q·n rounds to 2^64 in Double
        #expect(Histogram.rank(0.5, of: 11) == 6 && Histogram.rank(0.999, of: 1000) == 999)
    }

    @Test(arguments: [UInt64(0), 1, (1 << 63) - 1, 1 << 63, wrapped, .max])
    func compactHistogram_keepsAnExactSum_pastSixtyFourBits(_ value: UInt64) {
        var h = Histogram()
        h.record(value, count: 3)
        h.record(7)
        let back = CompactHistogram(h, trailer: [1, 2]).histogram
        #expect(back.sum == UInt128(value) * 3 + 7 && back.sum == h.sum)
        #expect(back.mean == h.mean && back.totalCount == 4 && back.max == max(value, 7))
        #expect(CompactHistogram(h, trailer: [1, 2]).trailer == [1, 2])
    }

    @Test func memoryDeltas_sumInOneHundredTwentyEightBits_soTheMeanAndTotalAreRight() {
        // Issue 22 item 8: two deltas of 2^63 − 1 showed MEMΔ MEAN −1 B and TOTAL −2 B.
        var m = MemoryDeltaStats()
        m.add(.max)
        m.add(.max)
        #expect(m.meanBytes == .max && m.largest == .max)
        #expect(m.total == Int128(Int64.max) * 2 && m.total == 18_446_744_073_709_551_614)
        var low = MemoryDeltaStats()
        for _ in 0..<3 { low.add(.min) }
        #expect(low.meanBytes == .min && low.total == Int128(Int64.min) * 3 && low.largest == .min)
        var merged = m
        merged.merge(low)
        #expect(merged.count == 5 && merged.total == Int128(Int64.max) * 2 + Int128(Int64.min) * 3)
        #expect(merged.meanBytes == Int64(merged.total! / 5))
    }

    @Test func items_totalSaturates_andThePerItemMeanIsExact() {
        var s = ItemStats()
        for i in 0..<5 { s.add(.max, duration: ExtremeValueTests.wrapped, counted: true, second: UInt64(i)) }
        #expect(s.total == 5 * UInt64(UInt32.max))
        #expect(s.meanPerItemNanoseconds == ExtremeValueTests.wrapped / UInt64(UInt32.max))
        var big = ItemStats()
        big.add(1, duration: .max, counted: true, second: 0)
        big.add(1, duration: .max, counted: true, second: 0)
        #expect(big.meanPerItemNanoseconds == .max)  // a 64-bit sum wrapped to 2^64 − 2 over 2 items
        let nearlyFull = UInt64.max - 10
        #expect(nearlyFull.saturatingAdd(11) == .max && nearlyFull.saturatingAdd(10) == .max - 0)
        #expect(Int64.min.saturatingAdd(-1) == .min && [UInt64.max, 1, 2].saturatingSum() == .max)
    }

    @Test(arguments: [(Double.nan, UInt64(0)), (-5, 0), (0.4, 0), (0.5, 1), (1e300, .max), (.infinity, .max),
                      (18_446_744_073_709_551_616.0, .max), (9_007_199_254_740_993.0, 9_007_199_254_740_992)])
    func doublesConvert_saturating(_ value: Double, _ want: UInt64) {
        #expect(UInt64(saturating: value) == want)
    }
}
