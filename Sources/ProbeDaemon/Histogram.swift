/// A log-linear (HdrHistogram-style) histogram of nanosecond durations: exact below 128 ns, then
/// 64 equal buckets per power of two, so any value reported is within 1/128 (0.78%) of every
/// value in its bucket, from 1 ns to 2^64 ns. Buckets are stored densely between the lowest and
/// highest index seen, so a series whose calls span three decades holds a few hundred counters.
/// Mergeable: merging two histograms gives exactly the histogram of both sets of values.
public struct Histogram: Sendable, Equatable {
    /// Sub-buckets per power of two.
    static let subBucketBits = 6
    static let subBuckets = 1 << subBucketBits  // 64
    /// Values below this are their own bucket.
    static let linearLimit: UInt64 = 128
    /// Highest bucket index (for 2^64 - 1).
    public static let maxIndex = index(of: .max)

    /// counts[i] is the count of bucket `offset + i`.
    private(set) var counts: [UInt64] = []
    private(set) var offset = 0
    public private(set) var totalCount: UInt64 = 0
    public private(set) var min: UInt64 = .max
    public private(set) var max: UInt64 = 0
    /// Sum of recorded values (as Double: exact to 2^53 ns ≈ 104 days of cumulative time).
    public private(set) var sum: Double = 0

    public init() {}

    /// The bucket a value falls in: a leading-zero count and a shift, no loop.
    @inline(__always)
    public static func index(of value: UInt64) -> Int {
        if value < linearLimit { return Int(value) }
        let power = 63 - value.leadingZeroBitCount  // ≥ 7
        let shift = power - subBucketBits           // ≥ 1
        let sub = Int(value >> UInt64(shift)) - subBuckets  // 0..<64
        return Int(linearLimit) + (power - 7) * subBuckets + sub
    }

    /// The lowest value of bucket `index`, and its width.
    public static func bounds(of index: Int) -> (low: UInt64, width: UInt64) {
        if index < Int(linearLimit) { return (UInt64(index), 1) }
        let k = index - Int(linearLimit)
        let power = k / subBuckets + 7
        let sub = k % subBuckets
        let shift = UInt64(power - subBucketBits)
        return (UInt64(subBuckets + sub) << shift, 1 << shift)
    }

    /// The value reported for bucket `index`: its midpoint.
    public static func representative(of index: Int) -> UInt64 {
        let (low, width) = bounds(of: index)
        return low &+ width / 2
    }

    @inline(__always)
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
        sum += Double(value) * Double(count)
    }

    /// Grows the counters to reach bucket `i`, with an eighth of the range spare on that side.
    /// Not by doubling: a histogram refilled every second keeps its storage, and would hold up
    /// to twice its range for good.
    @inline(never)
    private mutating func extend(to i: Int) {
        let low = offset, high = offset + counts.count - 1
        let spare = (Swift.max(high, i) - Swift.min(low, i)) / 8
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

    public mutating func merge(_ other: Histogram) {
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
    public mutating func removeAll() {
        counts.removeAll(keepingCapacity: true)
        offset = 0
        totalCount = 0
        min = .max
        max = 0
        sum = 0
    }

    /// Empties the histogram for the next second of values: keeps the storage when it fits the
    /// range just seen, or reallocates it to that range when an outlier had stretched it, so a
    /// reused histogram holds about one typical second's range rather than the widest ever.
    public mutating func reset() {
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else {
            return removeAll()
        }
        let used = last - first + 1
        if counts.capacity > used + used / 2 + 16 {
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
    mutating func mergeSummary(count: UInt64, min otherMin: UInt64, max otherMax: UInt64, sum otherSum: Double) {
        totalCount &+= count
        min = Swift.min(min, otherMin)
        max = Swift.max(max, otherMax)
        sum += otherSum
    }

    public var mean: UInt64 { totalCount == 0 ? 0 : UInt64((sum / Double(totalCount)).rounded()) }

    /// The value at quantile `q` (0...1): the midpoint of the bucket holding the ⌈q·n⌉-th smallest
    /// value, clamped to the exact min and max. 0 when empty.
    public func quantile(_ q: Double) -> UInt64 {
        guard totalCount > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(totalCount)).rounded(.up)))
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
    public func quantiles(_ qs: [Double]) -> [UInt64] {
        guard totalCount > 0 else { return qs.map { _ in 0 } }
        var result: [UInt64] = []
        result.reserveCapacity(qs.count)
        var k = 0
        var seen: UInt64 = 0
        for (j, c) in counts.enumerated() where c > 0 {
            seen &+= c
            while k < qs.count {
                let rank = Swift.max(1, UInt64((qs[k] * Double(totalCount)).rounded(.up)))
                guard seen >= rank else { break }
                result.append(Swift.min(Swift.max(Histogram.representative(of: offset + j), min), max))
                k += 1
            }
        }
        while result.count < qs.count { result.append(max) }
        return result
    }

    /// Bytes of counters held (for the memory budget).
    public var footprintBytes: Int { counts.capacity * 8 }

    /// Each non-empty bucket as (upper bound exclusive, count), ascending. For exporters.
    public func buckets() -> [(upperBound: UInt64, count: UInt64)] {
        counts.enumerated().compactMap { j, c in
            guard c > 0 else { return nil }
            let (low, width) = Histogram.bounds(of: offset + j)
            return (low &+ width, c)
        }
    }
}
