/// A `Histogram` frozen into about one byte per non-empty bucket, for the closed slices of the
/// recent windows: runs of adjacent buckets, each count as a LEB128 varint of its zigzag-coded
/// difference from the previous bucket's (neighbouring counts are close), plus the exact count,
/// min, max and sum. Same buckets as `Histogram`, so decoding and merging loses nothing.
/// Immutable once built: to combine two, add both to a `Histogram` and freeze that. A few words
/// of the owner's (`trailer`) can ride in the same bytes, saving an allocation per slice.
struct CompactHistogram {
    /// Runs: varint gap (buckets skipped since the previous run's end, the first from `low`),
    /// varint length, then `length` varint zigzag differences from the previous count in the run
    /// (the first from 0; a lone empty bucket inside a run counts as a 0).
    private(set) var bytes: [UInt8] = []
    private(set) var totalCount: UInt64 = 0
    private(set) var min: UInt64 = .max
    private(set) var max: UInt64 = 0
    private(set) var sum: Double = 0
    /// The lowest and highest non-empty bucket.
    private var low: Int32 = 0
    private var high: Int32 = 0
    /// Where the runs end and the trailer's varints begin.
    private var runsEnd: Int32 = 0

    init() {}

    init(_ h: Histogram, trailer: [UInt64] = []) {
        var trailerSize = 0
        for v in trailer { trailerSize += CompactHistogram.varintSize(v) }
        guard h.totalCount > 0, let first = h.counts.firstIndex(where: { $0 > 0 }),
              let last = h.counts.lastIndex(where: { $0 > 0 })
        else {
            if !trailer.isEmpty {
                bytes = [UInt8](unsafeUninitializedCapacity: trailerSize) { buffer, initialized in
                    for v in trailer { CompactHistogram.putVarint(v, buffer, &initialized) }
                }
            }
            return
        }
        totalCount = h.totalCount
        min = h.min
        max = h.max
        sum = h.sum
        low = Int32(h.offset + first)
        high = Int32(h.offset + last)
        // Two passes, counting then writing, so the bytes are allocated once at their exact size.
        let counts = h.counts
        var size = 0
        CompactHistogram.runs(counts, first, last) { gap, run in
            size += CompactHistogram.varintSize(UInt64(gap)) + CompactHistogram.varintSize(UInt64(run.count))
            var previous: UInt64 = 0
            for j in run {
                size += CompactHistogram.varintSize(CompactHistogram.zigzag(counts[j], previous))
                previous = counts[j]
            }
        }
        runsEnd = Int32(size)
        bytes = [UInt8](unsafeUninitializedCapacity: size + trailerSize) { buffer, initialized in
            var i = 0
            CompactHistogram.runs(counts, first, last) { gap, run in
                CompactHistogram.putVarint(UInt64(gap), buffer, &i)
                CompactHistogram.putVarint(UInt64(run.count), buffer, &i)
                var previous: UInt64 = 0
                for j in run {
                    CompactHistogram.putVarint(CompactHistogram.zigzag(counts[j], previous), buffer, &i)
                    previous = counts[j]
                }
            }
            for v in trailer { CompactHistogram.putVarint(v, buffer, &i) }
            initialized = i
        }
    }

    /// The words given as `trailer`.
    var trailer: [UInt64] {
        bytes.withUnsafeBufferPointer { b in
            var out: [UInt64] = []
            var i = Int(runsEnd)
            while i < b.count { out.append(CompactHistogram.varint(b, &i)) }
            return out
        }
    }

    /// Adds every value of this histogram to `h`.
    func add(to h: inout Histogram) {
        guard totalCount > 0 else { return }
        let base = Int(low)
        h.cover(base, Int(high))
        bytes.withUnsafeBufferPointer { b in
            var i = 0
            var index = base
            while i < Int(runsEnd) {
                index += Int(CompactHistogram.varint(b, &i))
                let length = Int(CompactHistogram.varint(b, &i))
                var c: UInt64 = 0
                for _ in 0..<length {
                    c = CompactHistogram.unzigzag(CompactHistogram.varint(b, &i), c)
                    if c > 0 { h.addToBucket(index, c) }
                    index += 1
                }
            }
        }
        h.mergeSummary(count: totalCount, min: min, max: max, sum: sum)
    }

    /// The histogram this was frozen from.
    var histogram: Histogram {
        var h = Histogram()
        add(to: &h)
        return h
    }

    /// Heap bytes held: the encoded runs and their array header.
    var footprintBytes: Int { bytes.capacity == 0 ? 0 : bytes.capacity + 32 }

    /// Calls `body(gap, run)` for each run of buckets between `first` and `last` (both non-empty),
    /// splitting runs where two or more empty buckets follow each other.
    private static func runs(_ counts: [UInt64], _ first: Int, _ last: Int, _ body: (Int, ClosedRange<Int>) -> Void) {
        var start = first
        var previousEnd = first
        while start <= last {
            var end = start
            var k = start + 1
            while k <= last {
                if counts[k] > 0 {
                    end = k
                    k += 1
                } else if k + 1 <= last && counts[k + 1] > 0 {
                    end = k + 1
                    k += 2
                } else {
                    break
                }
            }
            body(start - previousEnd, start...end)
            previousEnd = end + 1
            start = end + 1
            while start <= last && counts[start] == 0 { start += 1 }
        }
    }

    /// `count - previous` with its sign in the low bit, so small differences either way stay small.
    @inline(__always)
    private static func zigzag(_ count: UInt64, _ previous: UInt64) -> UInt64 {
        count >= previous ? (count - previous) << 1 : ((previous - count) << 1) - 1
    }

    @inline(__always)
    private static func unzigzag(_ z: UInt64, _ previous: UInt64) -> UInt64 {
        z & 1 == 0 ? previous &+ (z >> 1) : previous &- ((z >> 1) + 1)
    }

    private static func varintSize(_ v: UInt64) -> Int {
        v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7
    }

    private static func putVarint(_ value: UInt64, _ buffer: UnsafeMutableBufferPointer<UInt8>, _ i: inout Int) {
        var v = value
        while v >= 0x80 {
            buffer[i] = UInt8(truncatingIfNeeded: v) | 0x80
            i += 1
            v >>= 7
        }
        buffer[i] = UInt8(v)
        i += 1
    }

    @inline(__always)
    private static func varint(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = b[i]
            i += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
    }
}
