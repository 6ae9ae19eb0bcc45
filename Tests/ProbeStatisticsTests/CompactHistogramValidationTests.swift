import ProbeTestKit
import Testing
@testable import ProbeStatistics

/// `CompactHistogram(validating:)`: what a state file gives back is accepted exactly when the
/// encoder could have written it, and nothing else traps.
@Suite struct CompactHistogramValidationTests {
    static func samples(_ seed: UInt64) -> [CompactHistogram] {
        var r = SeededRandom(seed: seed)
        var out: [CompactHistogram] = [CompactHistogram(), CompactHistogram(Histogram(), trailer: [1, 2, 3])]
        for distribution in Distribution.allCases {
            var h = Histogram()
            for _ in 0..<Int(1 + r.next() % 3_000) { h.record(distribution.sample(&r)) }
            out.append(CompactHistogram(h))
            out.append(CompactHistogram(h, trailer: [r.next() % 1_000, r.next() % 10, 0, 4, r.next()]))
        }
        var extreme = Histogram()
        extreme.record(1)
        extreme.record(1 << 40, count: 12_345_678_901)
        extreme.record(.max - (1 << 20), count: 3)
        out.append(CompactHistogram(extreme))
        return out
    }

    @Test func everyEncodedHistogram_isAccepted_andReadsTheSame() {
        for (i, c) in Self.samples(1).enumerated() {
            let back = CompactHistogram(validating: c.encodedBytes)
            #expect(back != nil, "sample \(i)")
            #expect(back?.histogram == c.histogram && back?.trailer == c.trailer, "sample \(i)")
        }
    }

    @Test func cutChangedOrExtendedBytes_areRefusedOrRead_neverATrap() {
        var r = SeededRandom(seed: 2)
        var accepted = 0, tried = 0
        for c in Self.samples(3) {
            let bytes = c.encodedBytes
            for cut in 0..<bytes.count {
                tried += 1
                if let h = CompactHistogram(validating: Array(bytes[..<cut])) { _ = h.histogram.quantiles([0.5, 0.99]); accepted += 1 }
            }
            for _ in 0..<300 where !bytes.isEmpty {
                var b = bytes
                b[Int(r.next() % UInt64(b.count))] ^= UInt8(1) << (r.next() % 8)
                if r.next() % 4 == 0 { b.append(UInt8(truncatingIfNeeded: r.next())) }
                tried += 1
                if let h = CompactHistogram(validating: b) {
                    _ = h.histogram.quantiles([0.5, 0.99])
                    _ = h.histogram.mean
                    _ = h.trailer
                    accepted += 1
                }
            }
        }
        print("compact histograms from changed bytes: \(accepted) of \(tried) still canonical (and read), the rest refused")
    }

    @Test func aLongRunOfOnes_inAGammaCode_isRefused() {
        // Found by Tools/fuzz.sh state: a gamma code whose unary part (a run of one bits) ran past
        // the 57 to 64 bits the decoder's reader holds took it past its window, a trap in readGamma.
        let low = Histogram.index(of: 1_000)
        let high = Histogram.bounds(of: low + 2).low
        var bytes: [UInt8] = []
        for v in [UInt64(2), 1_000, high - 1_000, 2 * (1_000 + high), UInt64(low), 2, 0] {
            var x = v
            while x >= 0x80 { bytes.append(UInt8(x & 0x7F) | 0x80); x >>= 7 }
            bytes.append(UInt8(x))
        }
        // The gap: bits 1, 0, 0 (gamma 2); then the length's unary part: 61 ones and more.
        #expect(CompactHistogram(validating: bytes + [0xF9] + [UInt8](repeating: 0xFF, count: 9)) == nil)
        #expect(CompactHistogram(validating: bytes + [0xF9] + [UInt8](repeating: 0xFF, count: 3)) == nil)
    }

    @Test func aCountInASlotNoValueFallsIn_isRefused() throws {
        // The spare slot of a power of two without an exact `le` edge (39 slots, 38 buckets).
        let spare = try #require((Histogram.smallBuckets...Histogram.maxIndex - 1).first { Histogram.index(of: Histogram.bounds(of: $0).low) != $0 })
        let below = Histogram.bounds(of: spare - 1).low, above = Histogram.bounds(of: spare + 1).low
        var h = Histogram()
        h.record(below)
        h.record(above)
        #expect(CompactHistogram(validating: CompactHistogram(h).encodedBytes) != nil)
        h.cover(spare, spare)
        h.addToBucket(spare, 1)
        h.mergeSummary(count: 1, min: above, max: above, sum: UInt128(above))
        #expect(CompactHistogram(validating: CompactHistogram(h).encodedBytes) == nil)
    }

    @Test func aSumOutsideCountTimesMinAndMax_isRefused_alsoPast64Bits() {
        for (value, count) in [(UInt64(5_000), UInt64(3)), (UInt64.max - 7, UInt64(5))] {
            var h = Histogram()
            h.record(value, count: count)
            #expect(CompactHistogram(validating: CompactHistogram(h).encodedBytes) != nil)
            for wrong in [h.sum - 1, h.sum + 1, 0] {
                var bad = Histogram()
                bad.cover(Histogram.index(of: value), Histogram.index(of: value))
                bad.addToBucket(Histogram.index(of: value), count)
                bad.mergeSummary(count: count, min: value, max: value, sum: wrong)
                #expect(CompactHistogram(validating: CompactHistogram(bad).encodedBytes) == nil, "\(value) × \(count), sum \(wrong)")
            }
        }
    }
}
