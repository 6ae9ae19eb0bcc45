import ProbeTestKit
import Testing
@testable import ProbeStatistics

/// The quantiles probectl reports.
private let quantiles = [0.5, 0.9, 0.99, 0.999]

@Suite struct CompactHistogramTests {
    @Test(arguments: Distribution.allCases)
    func freezing_thenDecoding_givesBackTheSameHistogram(_ distribution: Distribution) {
        for seed in 1...10 {
            var r = SeededRandom(seed: UInt64(seed) * 31)
            var h = Histogram()
            for _ in 0..<Int(r.next() % 5_000) { h.record(distribution.sample(&r)) }
            let compact = CompactHistogram(h)
            let back = compact.histogram
            #expect(back.buckets().map(\.upperBound) == h.buckets().map(\.upperBound), "seed \(seed)")
            #expect(back.buckets().map(\.count) == h.buckets().map(\.count), "seed \(seed)")
            #expect(back.totalCount == h.totalCount && back.min == h.min && back.max == h.max && back.sum == h.sum)
            #expect(back.quantiles(quantiles) == h.quantiles(quantiles))
        }
    }

    @Test func encoding_takesAFewBitsForASmallCount_andSkipsEmptyStretches() {
        var h = Histogram()
        var r = SeededRandom(seed: 3)
        let first = Histogram.index(of: 1_000)
        for i in first..<(first + 300) {  // adjacent buckets, small counts
            h.record(Histogram.bounds(of: i).low, count: 1 + r.next() % 4)
        }
        h.record(5_000_000_000, count: 1_000_000)  // far away, large count
        let compact = CompactHistogram(h)
        print("CompactHistogram: \(h.buckets().count) non-empty buckets in \(compact.bytes.count) bytes (dense: \(h.footprintBytes))")
        #expect(compact.bytes.count <= 301 * 4 / 8 + 40)  // 4 bits a bucket, the far one and the header
        #expect(compact.histogram.buckets().map(\.count) == h.buckets().map(\.count))
    }

    @Test func freezing_extremeCountsGapsAndTrailer_roundTrips() {
        var r = SeededRandom(seed: 17)
        for round in 0..<50 {
            var h = Histogram()
            h.record(1)
            h.record(.max, count: 1 << 62)                    // the top bucket, a huge count
            h.record(1 << 40, count: 12_345_678_901)          // a jump far past the Rice code's escape
            for _ in 0..<Int(r.next() % 200) {               // sparse and dense stretches, counts of every size
                let v = r.next() >> (r.next() % 64)
                h.record(v, count: r.next() >> (r.next() % 64 + 1) | 1)
            }
            let trailer = (0..<Int(round % 5)).map { _ in r.next() >> (r.next() % 64) }
            let compact = CompactHistogram(h, trailer: trailer)
            let back = compact.histogram
            #expect(back.buckets().map(\.upperBound) == h.buckets().map(\.upperBound), "round \(round)")
            #expect(back.buckets().map(\.count) == h.buckets().map(\.count), "round \(round)")
            #expect(back.totalCount == h.totalCount && back.min == h.min && back.max == h.max && back.sum == h.sum)
            #expect(compact.trailer == trailer, "round \(round)")
        }
    }

    @Test func addingTwoCompacts_equalsMergingTheirHistograms() {
        var r = SeededRandom(seed: 7)
        var a = Histogram(), b = Histogram()
        for _ in 0..<3_000 { a.record(Distribution.bimodal.sample(&r)) }
        for _ in 0..<3_000 { b.record(Distribution.uniformSixDecades.sample(&r)) }
        var viaCompact = Histogram()
        CompactHistogram(a).add(to: &viaCompact)
        CompactHistogram(b).add(to: &viaCompact)
        var merged = a
        merged.merge(b)
        #expect(viaCompact.buckets().map(\.count) == merged.buckets().map(\.count))
        #expect(viaCompact.quantiles(quantiles) == merged.quantiles(quantiles))
        #expect(viaCompact.mean == merged.mean && viaCompact.min == merged.min && viaCompact.max == merged.max)
    }

    @Test func empty_freezesToNothing() {
        let compact = CompactHistogram(Histogram())
        #expect(compact.bytes.isEmpty && compact.totalCount == 0 && compact.footprintBytes == 0)
        var h = Histogram()
        compact.add(to: &h)
        #expect(h.totalCount == 0 && h.buckets().isEmpty)
    }

    @Test func histogramRemoveAll_keepsStorage_andRefillsCorrectly() {
        var h = Histogram()
        for v in UInt64(1_000)...UInt64(900_000) where v % 1_000 == 0 { h.record(v) }
        let capacity = h.footprintBytes
        h.removeAll()
        #expect(h.totalCount == 0 && h.buckets().isEmpty && h == Histogram())
        h.record(50_000)
        h.record(20_000)
        #expect(h.footprintBytes == capacity && h.min == 20_000 && h.max == 50_000 && h.totalCount == 2)
        #expect(relativeError(h.quantile(0.5), 20_000) <= 0.01)
    }
}
