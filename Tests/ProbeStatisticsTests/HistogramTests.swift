import Foundation
import ProbeTestKit
import Testing
@testable import ProbeStatistics

@Suite struct HistogramTests {
    @Test(arguments: Distribution.allCases)
    func quantiles_onRandomSamples_areWithinOnePercentOfExact(_ distribution: Distribution) {
        for seed in 1...20 {
            var r = SeededRandom(seed: UInt64(seed) * 7_777)
            let n = 1 + Int(r.next() % 20_000)
            var h = Histogram()
            var values: [UInt64] = []
            for _ in 0..<n {
                let v = distribution.sample(&r)
                values.append(v)
                h.record(v)
            }
            values.sort()
            let qs = [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0]
            let got = h.quantiles(qs)
            for (q, value) in zip(qs, got) {
                let exact = exactQuantile(values, q)
                #expect(relativeError(value, exact) <= 0.01, "seed \(seed) n \(n) q \(q): \(value) vs exact \(exact)")
                #expect(h.quantile(q) == value)
            }
            #expect(h.min == values.first && h.max == values.last)
            #expect(h.totalCount == UInt64(n))
        }
    }

    @Test func bucketing_fromOneNanosecondToBeyondAnHour_boundsEveryValueWithinOnePercent() {
        var v: UInt64 = 1
        while v < 8 * 3_600_000_000_000 {
            for probe in [v, v + v / 3, v * 2 - 1] {
                let i = Histogram.index(of: probe)
                let (low, width) = Histogram.bounds(of: i)
                #expect(probe >= low && probe < low + width, "\(probe) outside bucket \(i)")
                #expect(relativeError(Histogram.representative(of: i), probe) <= 0.01)
            }
            v *= 2
        }
        #expect(Histogram.index(of: .max) == Histogram.maxIndex)
    }

    @Test func everyBucket_followsTheLastContiguously_andItsRepresentativeIsWithinTheBoundOfBothEnds() {
        var previousHigh: UInt64 = 0
        var worst = 0.0
        var spare = 0
        for i in 0...Histogram.maxIndex {
            let (low, width) = Histogram.bounds(of: i)
            // The spare slot of a power of two without an exact edge holds nothing, at its end.
            if width == 0 {
                spare += 1
                #expect(low == previousHigh && (i - Histogram.smallBuckets) % Histogram.slotsPerOctave == Histogram.bucketsPerOctave)
                continue
            }
            let high = low &+ width &- 1  // the highest value it holds
            #expect(low == previousHigh, "gap before bucket \(i)")
            #expect(Histogram.index(of: low) == i && Histogram.index(of: high) == i, "bucket \(i)")
            let r = Histogram.representative(of: i)
            if low > 0 { worst = max(worst, relativeError(r, low), relativeError(r, high)) }
            previousHigh = high &+ 1
        }
        #expect(previousHigh == 0, "the top bucket ends at 2^64 - 1")
        // 56 powers of two, 26 of them with an exact edge: 2,300 buckets of values, 29 spare slots.
        #expect(spare == 56 - Histogram.exactEdges.count - 1 && Histogram.maxIndex + 1 - spare == 146 + 56 * 38 + 26)
        #expect(worst <= 0.0099)
        print("worst relative error of a bucket's representative: \(worst)")
        // Below 2^16, every value: the index never goes down.
        var last = 0
        for v in UInt64(0)..<65_536 {
            let i = Histogram.index(of: v)
            #expect(i >= last)
            last = i
        }
    }

    @Test func tables_tabulateTheBucketRule_andNoBucketCouldBeWider() {
        var small: [UInt8] = []
        for (i, low) in Histogram.smallLows.enumerated() {
            let high = i + 1 < Histogram.smallLows.count ? Int(Histogram.smallLows[i + 1]) : 256
            small += repeatElement(UInt8(i), count: high - Int(low))
        }
        #expect(Histogram.smallIndex == small)
        var octave: [UInt8] = []
        for k in 0..<Histogram.bucketsPerOctave {
            octave += repeatElement(UInt8(k), count: Int(Histogram.octaveLows[k + 1] - Histogram.octaveLows[k]))
        }
        #expect((0..<256).map { Histogram.octaveIndex[$0] } == octave)
        #expect(Histogram.smallLows.count == Histogram.smallBuckets && Histogram.octaveLows.count == 39)
        // Minimal: one value (below 256) or one grid step (above) more breaks the bound, except
        // for the last bucket before a power of two.
        for (i, low) in Histogram.smallLows.enumerated().dropFirst() where i + 1 < Histogram.smallBuckets {
            #expect(!Histogram.withinBound(UInt64(low), UInt64(Histogram.smallLows[i + 1])), "small bucket \(i)")
        }
        for k in 0..<(Histogram.bucketsPerOctave - 1) {
            let m = UInt64(Histogram.octaveLows[k]), n = UInt64(Histogram.octaveLows[k + 1])
            #expect(Histogram.withinBound(m << 40, (n << 40) - 1) && !Histogram.withinBound(m << 40, ((n + 1) << 40) - 1), "sub-bucket \(k)")
        }
    }

    /// Calls spread log-uniformly from 1 ns to an hour: every quantile on a fine grid, from the
    /// histogram, from its compact form, and from slices merged as the windows merge them.
    @Test func quantiles_acrossTwelveDecades_areWithinOnePercentOfExact() {
        var r = SeededRandom(seed: 12)
        let traffic = LogUniform(low: 1, high: 3_600_000_000_000)
        var whole = Histogram()
        var slices: [CompactHistogram] = []
        var values: [UInt64] = []
        for _ in 0..<20 {
            var slice = Histogram()
            for _ in 0..<10_000 {
                let v = traffic.sample(&r)
                values.append(v)
                slice.record(v)
                whole.record(v)
            }
            slices.append(CompactHistogram(slice))
        }
        var merged = Histogram()
        for s in slices { s.add(to: &merged) }
        values.sort()
        let qs = (0...1_000).map { Double($0) / 1_000 }
        let got = whole.quantiles(qs)
        #expect(merged.quantiles(qs) == got && CompactHistogram(whole).histogram.quantiles(qs) == got)
        var worst = 0.0
        for (q, value) in zip(qs, got) {
            let exact = exactQuantile(values, q)
            worst = max(worst, relativeError(value, exact))
            #expect(relativeError(value, exact) <= 0.01, "q \(q): \(value) vs exact \(exact)")
        }
        print("twelve decades: worst quantile error \(worst), \(whole.buckets().count) buckets")
    }

    /// Each exact edge B is the last value of its bucket: B and B - 1 share a bucket, B + 1 starts
    /// the next; and the octave table agrees with the list (one edge per power of two at most).
    @Test func exactEdges_endABucket_andTheOctaveTableHoldsEachOnce() {
        let edges = Histogram.exactEdges
        #expect(zip(edges, edges.dropFirst()).allSatisfy { $0 < $1 } && edges.first! >= Histogram.smallLimit)
        for b in edges {
            let i = Histogram.index(of: b)
            let (low, width) = Histogram.bounds(of: i)
            #expect(low + width - 1 == b, "edge \(b): bucket \(i) is \(low)..<\(low + width)")
            #expect(Histogram.index(of: b - 1) == i && Histogram.index(of: b + 1) == i + 1, "edge \(b)")
        }
        for shift in 0..<64 {
            let lowest = UInt64(1) << UInt64(min(shift + 8, 63))
            let inside = shift > 55 ? [] : edges.filter { $0 >= lowest && $0 <= (lowest << 1) &- 1 }
            #expect(inside.count <= 1 && Histogram.octaveEdge(shift) == inside.first ?? .max, "octave \(shift)")
        }
        #expect(Histogram.maxIndex == Histogram.smallBuckets + 55 * Histogram.slotsPerOctave + Histogram.bucketsPerOctave - 1)
    }

    @Test func merge_ofTwoHistograms_equalsHistogramOfAllValues() {
        var r = SeededRandom(seed: 99)
        var a = Histogram(), b = Histogram(), both = Histogram()
        for i in 0..<5_000 {
            let v = (i % 2 == 0 ? Distribution.logNormal : .uniformSixDecades).sample(&r)
            if i % 3 == 0 { a.record(v) } else { b.record(v) }
            both.record(v)
        }
        var merged = a
        merged.merge(b)
        #expect(merged.quantiles([0.5, 0.9, 0.99]) == both.quantiles([0.5, 0.9, 0.99]))
        #expect(merged.totalCount == both.totalCount && merged.min == both.min && merged.max == both.max)
        #expect(merged.buckets().map(\.count) == both.buckets().map(\.count))
    }

    @Test func empty_reportsZeroAndNoBuckets() {
        let h = Histogram()
        #expect(h.quantile(0.5) == 0 && h.totalCount == 0 && h.buckets().isEmpty)
    }

    @Test func smallValues_areExact() {
        var h = Histogram()
        for v in UInt64(1)...100 { h.record(v) }
        #expect(h.quantile(0.5) == 50 && h.quantile(0.99) == 99 && h.min == 1 && h.max == 100)
        #expect(h.mean == 51)  // 50.5 rounds half away from zero
    }
}
