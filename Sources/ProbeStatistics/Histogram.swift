/// A logarithmic histogram of nanosecond durations, HdrHistogram-style in what it promises: every
/// bucket is as wide as a relative error of at most 0.99% allows, so a value reported for a bucket
/// (the middle of the values it holds) is within 0.99% of every value in it, from 1 ns to 2^64 ns.
/// Below 256 ns buckets hold whole nanoseconds: exact up to 101 ns, then 2, 3 and 5 values wide.
/// From 256 ns each power of two is cut into 38 sub-buckets whose boundaries lie on a grid of 256
/// steps (the 8 bits after the leading one), each as wide as the bound allows at its low end
/// (about 2% of the value): 38 buckets per doubling where equal widths (HdrHistogram's log-linear
/// layout) need 64 for the same bound. A bucket also ends exactly at each of `exactEdges` (1 µs,
/// 2.5 µs, 5 µs … 240 s: the sub-bucket holding one is cut in two there), so an exporter's
/// `le` bucket at such a value counts exactly the values at or below it. Finding a value's bucket
/// takes a leading-zero count, a lookup in a 256-entry table and one comparison with the octave's
/// exact edge: no loop and no logarithm.
/// Buckets are stored densely between the lowest and highest index seen, so a series whose calls
/// span three decades holds a few hundred counters.
/// Mergeable: merging two histograms gives exactly the histogram of both sets of values.
public struct Histogram: Sendable, Equatable {
    /// Values below this are bucketed by `smallIndex`, one table entry per value.
    @usableFromInline static let smallLimit: UInt64 = 256
    /// Buckets below `smallLimit` (checked against `smallLows` when the tables are built).
    @usableFromInline static let smallBuckets = 146
    /// Sub-buckets per power of two from `smallLimit` up (checked against `octaveLows`).
    @usableFromInline static let bucketsPerOctave = 38
    /// The largest relative error a bucket may give, in parts per 10,000.
    static let maxErrorPer10k = 99
    /// Bucket slots per power of two: its 38 sub-buckets and one more, which holds the values
    /// above the power of two's exact edge in the sub-bucket the edge cuts in two; where the power
    /// of two has no exact edge, the slot stays empty (a bucket of width 0 that nothing falls in),
    /// so that finding a bucket needs no count of the edges below it.
    @usableFromInline static let slotsPerOctave = 39
    /// Highest bucket index (for 2^64 - 1, the last sub-bucket of the top power of two).
    package static let maxIndex = smallBuckets + 55 * slotsPerOctave + bucketsPerOctave - 1

    /// Values at which a bucket ends exactly (the last value it holds), in nanoseconds: the
    /// duration boundaries a Prometheus exposition publishes as `le` (1 µs … 240 s), so each of
    /// those buckets counts exactly the calls at or below its bound. At most one per power of two,
    /// all at or above `smallLimit` (HistogramTests checks both, and `octaveEdge` against this).
    package static let exactEdges: [UInt64] = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000,
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
        10_000_000, 25_000_000, 50_000_000, 100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000, 60_000_000_000,
        120_000_000_000, 240_000_000_000,
    ]

    /// The exact edge inside the power of two [2^(shift+8), 2^(shift+9)), `.max` where there is
    /// none: word `shift & 63` of `octaveEdges`.
    @inlinable @inline(__always)
    static func octaveEdge(_ shift: Int) -> UInt64 { UInt64(octaveEdges[shift & 63]) }

    /// `exactEdges` by power of two, as the words of an integer literal: word k (least significant
    /// first) is the edge inside [2^(k+8), 2^(k+9)), all ones where there is none, and the words
    /// past the literal's width are all ones too (it is negative: their sign extension). Read in
    /// place, also where `record` is inlined into another module: one load, no range check and no
    /// lazy initialiser (an array global would call one on every value; a switch became a jump
    /// table). HistogramTests checks every word against `exactEdges`.
    @inlinable static var octaveEdges: StaticBigInt {
        -0xffffffc81ee29fff_ffffffe40f714fff_fffffff207b8a7ff_fffffff903dc53ff_fffffffdabf41bff_fffffffed5fa0dff_ffffffff6afd06ff_0000000000000000_ffffffffc46535ff_ffffffffe2329aff_fffffffff1194d7f_fffffffffa0a1eff_fffffffffd050f7f_fffffffffe8287bf_ffffffffff67697f_ffffffffffb3b4bf_ffffffffffd9da5f_0000000000000000_fffffffffff0bdbf_fffffffffff85edf_fffffffffffc2f6f_fffffffffffe795f_ffffffffffff3caf_ffffffffffff9e57_ffffffffffffd8ef_ffffffffffffec77_fffffffffffff63b_0000000000000000_fffffffffffffc17_0000000000000001
    }

    /// The lowest value of each bucket below `smallLimit`: a value starts a bucket that takes in
    /// the values after it while the middle one stays within the bound of both ends.
    static let smallLows: [UInt16] = {
        var lows: [UInt16] = [0]
        var low: UInt64 = 1
        while low < smallLimit {
            lows.append(UInt16(low))
            var high = low
            while high + 1 < smallLimit && withinBound(low, high + 1) { high += 1 }
            low = high + 1
        }
        precondition(lows.count == smallBuckets, "smallBuckets must be \(lows.count)")
        return lows
    }()

    /// The lowest mantissa (the top 9 bits of a value, 256...511) of each sub-bucket of a power of
    /// two, then 512: each sub-bucket [M, N) is as wide as the bound allows at M, so the values of
    /// M·2^s ..< N·2^s (any s ≥ 0) are within the bound of their middle one.
    static let octaveLows: [UInt16] = {
        var lows: [UInt16] = [256]
        while lows[lows.count - 1] < 512 {
            let m = Int(lows[lows.count - 1])
            lows.append(UInt16(Swift.min(512, m + 2 * m * maxErrorPer10k / 10_000)))
        }
        precondition(lows.count == bucketsPerOctave + 1, "bucketsPerOctave must be \(lows.count - 1)")
        return lows
    }()

    /// Whether the values low...high, reported as their middle one, all stay within the bound.
    static func withinBound(_ low: UInt64, _ high: UInt64) -> Bool {
        let middle = low + (high - low) / 2
        return (middle - low) * 10_000 <= UInt64(maxErrorPer10k) * low
            && (high - middle) * 10_000 <= UInt64(maxErrorPer10k) * high
    }

    /// The bucket of each value below `smallLimit` (`smallLows` tabulated; a literal, so that it is
    /// constant memory with no lazy initialisation in this module: HistogramTests checks it).
    static let smallIndex: [UInt8] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
        48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
        64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
        80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
        96, 97, 98, 99, 100, 101, 101, 102, 102, 102, 103, 103, 103, 104, 104, 104,
        105, 105, 105, 106, 106, 106, 107, 107, 107, 108, 108, 108, 109, 109, 109, 110,
        110, 110, 111, 111, 111, 112, 112, 112, 113, 113, 113, 114, 114, 114, 115, 115,
        115, 116, 116, 116, 117, 117, 117, 118, 118, 118, 119, 119, 119, 120, 120, 120,
        121, 121, 121, 122, 122, 122, 123, 123, 123, 124, 124, 124, 125, 125, 125, 126,
        126, 126, 127, 127, 127, 128, 128, 128, 129, 129, 129, 130, 130, 130, 131, 131,
        131, 132, 132, 132, 133, 133, 133, 134, 134, 134, 135, 135, 135, 135, 136, 136,
        136, 136, 136, 137, 137, 137, 137, 137, 138, 138, 138, 138, 138, 139, 139, 139,
        139, 139, 140, 140, 140, 140, 140, 141, 141, 141, 141, 141, 142, 142, 142, 142,
        142, 143, 143, 143, 143, 143, 144, 144, 144, 144, 144, 145, 145, 145, 145, 145,
    ]

    /// The sub-bucket of each mantissa by its 8 bits after the leading one (`octaveLows`
    /// tabulated; HistogramTests checks it): entry k, for mantissa 256 + k. The bytes of a string
    /// literal, not an array: `record` is inlined into other modules (the ingest loop), where a
    /// literal is constant memory read in place but an array global costs a call to its lazy
    /// initialiser on every value.
    @inlinable static var octaveIndex: UnsafePointer<UInt8> {
        let table: StaticString = """
            \u{0}\u{0}\u{0}\u{0}\u{0}\u{1}\u{1}\u{1}\u{1}\u{1}\u{2}\u{2}\u{2}\u{2}\u{2}\u{3}\
            \u{3}\u{3}\u{3}\u{3}\u{4}\u{4}\u{4}\u{4}\u{4}\u{5}\u{5}\u{5}\u{5}\u{5}\u{6}\u{6}\
            \u{6}\u{6}\u{6}\u{7}\u{7}\u{7}\u{7}\u{7}\u{8}\u{8}\u{8}\u{8}\u{8}\u{9}\u{9}\u{9}\
            \u{9}\u{9}\u{A}\u{A}\u{A}\u{A}\u{A}\u{A}\u{B}\u{B}\u{B}\u{B}\u{B}\u{B}\u{C}\u{C}\
            \u{C}\u{C}\u{C}\u{C}\u{D}\u{D}\u{D}\u{D}\u{D}\u{D}\u{E}\u{E}\u{E}\u{E}\u{E}\u{E}\
            \u{F}\u{F}\u{F}\u{F}\u{F}\u{F}\u{10}\u{10}\u{10}\u{10}\u{10}\u{10}\u{11}\u{11}\u{11}\u{11}\
            \u{11}\u{11}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{12}\u{13}\u{13}\u{13}\u{13}\u{13}\u{13}\u{13}\
            \u{14}\u{14}\u{14}\u{14}\u{14}\u{14}\u{14}\u{15}\u{15}\u{15}\u{15}\u{15}\u{15}\u{15}\u{16}\u{16}\
            \u{16}\u{16}\u{16}\u{16}\u{16}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{17}\u{18}\u{18}\u{18}\u{18}\
            \u{18}\u{18}\u{18}\u{19}\u{19}\u{19}\u{19}\u{19}\u{19}\u{19}\u{1A}\u{1A}\u{1A}\u{1A}\u{1A}\u{1A}\
            \u{1A}\u{1A}\u{1B}\u{1B}\u{1B}\u{1B}\u{1B}\u{1B}\u{1B}\u{1B}\u{1C}\u{1C}\u{1C}\u{1C}\u{1C}\u{1C}\
            \u{1C}\u{1C}\u{1D}\u{1D}\u{1D}\u{1D}\u{1D}\u{1D}\u{1D}\u{1D}\u{1E}\u{1E}\u{1E}\u{1E}\u{1E}\u{1E}\
            \u{1E}\u{1E}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{1F}\u{20}\u{20}\u{20}\u{20}\u{20}\u{20}\
            \u{20}\u{20}\u{20}\u{21}\u{21}\u{21}\u{21}\u{21}\u{21}\u{21}\u{21}\u{21}\u{22}\u{22}\u{22}\u{22}\
            \u{22}\u{22}\u{22}\u{22}\u{22}\u{23}\u{23}\u{23}\u{23}\u{23}\u{23}\u{23}\u{23}\u{23}\u{24}\u{24}\
            \u{24}\u{24}\u{24}\u{24}\u{24}\u{24}\u{24}\u{25}\u{25}\u{25}\u{25}\u{25}\u{25}\u{25}\u{25}\u{25}
            """
        return table.utf8Start
    }

    /// counts[i] is the count of bucket `offset + i`.
    @usableFromInline var counts: [UInt64] = []
    @usableFromInline var offset = 0
    @usableFromInline package internal(set) var totalCount: UInt64 = 0
    @usableFromInline package internal(set) var min: UInt64 = .max
    @usableFromInline package internal(set) var max: UInt64 = 0
    /// Sum of recorded values, exact: 128 bits hold 2^64 values of up to 2^64 − 1 ns each, so
    /// no duration a peer sends can overflow it (a Double lost precision past 2^53 ns and made
    /// the mean of values near 2^64 trap when converted back).
    @usableFromInline package internal(set) var sum: UInt128 = 0

    package init() {}

    /// The bucket a value falls in: a leading-zero count, a shift, a table lookup and one
    /// comparison with the octave's exact edge (values above it, in the sub-bucket the edge cuts
    /// and in every later one, move one index up), no loop.
    @inlinable @inline(__always)
    package static func index(of value: UInt64) -> Int {
        if value < smallLimit { return smallBucket(of: value) }
        let shift = 55 &- value.leadingZeroBitCount  // the power of two, less 8: 0...55
        let mantissa = Int(truncatingIfNeeded: value &>> UInt64(shift)) & 0xFF
        return smallBuckets &+ shift &* slotsPerOctave &+ Int(octaveIndex[mantissa]) &+ (value > octaveEdge(shift) ? 1 : 0)
    }

    /// The bucket of a value below `smallLimit` (rare in practice: a call shorter than 256 ns).
    @usableFromInline static func smallBucket(of value: UInt64) -> Int { Int(smallIndex[Int(value)]) }

    /// The lowest value of bucket `index`, and its width (the top bucket's wraps to 2^64 - low; an
    /// empty spare slot has width 0).
    package static func bounds(of index: Int) -> (low: UInt64, width: UInt64) {
        if index < smallBuckets {
            let low = UInt64(smallLows[index])
            let high = index + 1 < smallBuckets ? UInt64(smallLows[index + 1]) : smallLimit
            return (low, high - low)
        }
        let k = index - smallBuckets
        let shift = k / slotsPerOctave
        var sub = k % slotsPerOctave
        let s = UInt64(shift)
        let edge = octaveEdge(shift)
        if edge == .max {
            // The spare slot of a power of two without an exact edge: empty, at the octave's end.
            if sub == bucketsPerOctave { return ((UInt64(octaveLows[bucketsPerOctave]) << s), 0) }
        } else {
            let cut = Int(octaveIndex[Int(truncatingIfNeeded: edge &>> s) & 0xFF])
            let cutLow = UInt64(octaveLows[cut]) << s, cutHigh = UInt64(octaveLows[cut + 1]) << s
            if sub == cut { return (cutLow, edge + 1 - cutLow) }
            if sub == cut + 1 { return (edge + 1, cutHigh - edge - 1) }
            if sub > cut { sub -= 1 }
        }
        let low = UInt64(octaveLows[sub]) << s
        return (low, (UInt64(octaveLows[sub + 1]) << s) &- low)
    }

    /// The value reported for bucket `index`: the middle of the values it holds (rounded down).
    package static func representative(of index: Int) -> UInt64 {
        let (low, width) = bounds(of: index)
        return low &+ (width &- 1) / 2
    }

    @inlinable @inline(__always)
    public mutating func record(_ value: UInt64, count: UInt64 = 1) {
        let i = Histogram.index(of: value)
        if counts.isEmpty {
            offset = i
            counts.append(0)  // keeps the capacity `removeAll` left
        } else if i < offset || i >= offset + counts.count {
            extend(to: i)
        }
        counts[i - offset] &+= count
        totalCount &+= count
        if value < min { min = value }
        if value > max { max = value }
        sum &+= UInt128(value) &* UInt128(count)  // two 64-bit factors: the product fits
    }

    /// Grows the counters to reach bucket `i`, with a sixteenth of the range spare on that side.
    /// Not by doubling: a histogram refilled every second keeps its storage, and would hold up
    /// to twice its range for good.
    @usableFromInline @inline(never)
    mutating func extend(to i: Int) {
        let low = offset, high = offset + counts.count - 1
        let spare = (Swift.max(high, i) - Swift.min(low, i)) / 16
        let newLow = i < low ? Swift.max(0, i - spare) : low
        let newHigh = i > high ? Swift.min(Histogram.maxIndex, i + spare) : high
        if counts.capacity >= newHigh - newLow + 1 {
            if newLow < low { counts.insert(contentsOf: repeatElement(0, count: low - newLow), at: 0) }
            if newHigh > high { counts.append(contentsOf: repeatElement(0, count: newHigh - high)) }
        } else {
            var grown: [UInt64] = []
            grown.reserveCapacity(newHigh - newLow + 1)
            grown.append(contentsOf: repeatElement(0, count: low - newLow))
            grown.append(contentsOf: counts)
            grown.append(contentsOf: repeatElement(0, count: newHigh - high))
            counts = grown
        }
        offset = newLow
    }

    package mutating func merge(_ other: Histogram) {
        guard other.totalCount > 0 else { return }
        if counts.isEmpty && counts.capacity == 0 {
            self = other
            return
        }
        cover(other.offset, other.offset + other.counts.count - 1)
        for (j, c) in other.counts.enumerated() { counts[other.offset - offset + j] &+= c }
        mergeSummary(count: other.totalCount, min: other.min, max: other.max, sum: other.sum)
    }

    /// Empties the histogram but keeps its storage, for a histogram refilled every second.
    package mutating func removeAll() {
        counts.removeAll(keepingCapacity: true)
        offset = 0
        totalCount = 0
        min = .max
        max = 0
        sum = 0
    }

    /// Empties the histogram for the next second of values: keeps the storage when it fits the
    /// range just seen, or reallocates it to that range when an outlier had stretched it (or
    /// growing had left spare beyond both ends), so a reused histogram holds about one typical
    /// second's range rather than the widest ever. The slack it keeps (an eighth) exceeds what
    /// `extend` adds (a sixteenth), so a range that wobbles a little does not reallocate every
    /// second.
    package mutating func reset() {
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else {
            return removeAll()
        }
        let used = last - first + 1
        if counts.capacity > used + used / 8 + 16 {
            let low = offset + first
            self = Histogram()
            cover(low, low + used - 1)
        } else {
            removeAll()
        }
    }

    /// Makes room for buckets `low...high`, so that `addToBucket` can fill them without moving
    /// storage again. Counts, min, max and sum are unchanged.
    mutating func cover(_ low: Int, _ high: Int) {
        if counts.isEmpty {
            offset = low
            counts.append(contentsOf: repeatElement(0, count: high - low + 1))
            return
        }
        let newLow = Swift.min(offset, low)
        let newHigh = Swift.max(offset + counts.count - 1, high)
        if newLow < offset || newHigh >= offset + counts.count {
            var grown = [UInt64](repeating: 0, count: newHigh - newLow + 1)
            for (j, c) in counts.enumerated() { grown[offset - newLow + j] = c }
            counts = grown
            offset = newLow
        }
    }

    /// Adds `count` to bucket `index`, which `cover` has made room for. The caller accounts for
    /// the values themselves with `mergeSummary`.
    @inline(__always)
    mutating func addToBucket(_ index: Int, _ count: UInt64) {
        counts[index - offset] &+= count
    }

    /// Adds the count, extremes and sum of values whose buckets were added with `addToBucket`.
    mutating func mergeSummary(count: UInt64, min otherMin: UInt64, max otherMax: UInt64, sum otherSum: UInt128) {
        totalCount &+= count
        min = Swift.min(min, otherMin)
        max = Swift.max(max, otherMax)
        sum &+= otherSum
    }

    /// The exact mean, rounded half up: never above `max`, so it always fits. 0 when empty.
    package var mean: UInt64 {
        guard totalCount > 0 else { return 0 }
        let n = UInt128(totalCount)
        let (q, r) = sum.quotientAndRemainder(dividingBy: n)
        return UInt64(clamping: r >= n - r ? q + 1 : q)
    }

    /// The nearest rank of quantile `q` among `n` values: ⌈q·n⌉, at least 1 and at most `n`
    /// (also for a `q` outside 0...1 or NaN, and for an `n` whose product with `q` rounds up
    /// past 2^64 − 1, where a plain conversion would trap).
    @inline(__always)
    static func rank(_ q: Double, of n: UInt64) -> UInt64 {
        let r = (q * Double(n)).rounded(.up)
        guard r >= 1 else { return 1 }  // also NaN
        return r >= Double(n) ? n : UInt64(r)
    }

    /// The value at quantile `q` (0...1): the nearest-rank order statistic, i.e. the midpoint of
    /// the bucket holding the ⌈q·n⌉-th smallest value, clamped to the exact min and max. 0 when empty.
    package func quantile(_ q: Double) -> UInt64 {
        guard totalCount > 0 else { return 0 }
        let rank = Histogram.rank(q, of: totalCount)
        var seen: UInt64 = 0
        for (j, c) in counts.enumerated() {
            seen &+= c
            if seen >= rank {
                let v = Histogram.representative(of: offset + j)
                return Swift.min(Swift.max(v, min), max)
            }
        }
        return max
    }

    /// Several quantiles in one pass over the buckets (`qs` ascending).
    package func quantiles(_ qs: [Double]) -> [UInt64] {
        guard totalCount > 0 else { return qs.map { _ in 0 } }
        var result: [UInt64] = []
        result.reserveCapacity(qs.count)
        var k = 0
        var seen: UInt64 = 0
        for (j, c) in counts.enumerated() where c > 0 {
            seen &+= c
            while k < qs.count {
                let rank = Histogram.rank(qs[k], of: totalCount)
                guard seen >= rank else { break }
                result.append(Swift.min(Swift.max(Histogram.representative(of: offset + j), min), max))
                k += 1
            }
        }
        while result.count < qs.count { result.append(max) }
        return result
    }

    /// Bytes of counters held (for the memory budget).
    package var footprintBytes: Int { counts.capacity * 8 }

    /// Each non-empty bucket as (upper bound exclusive, count), ascending. For exporters. The top
    /// bucket, which reaches 2^64 - 1, reports 2^64 - 1.
    package func buckets() -> [(upperBound: UInt64, count: UInt64)] {
        counts.enumerated().compactMap { j, c in
            guard c > 0 else { return nil }
            let (low, width) = Histogram.bounds(of: offset + j)
            let high = low &+ width
            return (high == 0 ? .max : high, c)
        }
    }
}
