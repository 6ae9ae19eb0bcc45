/// A `Histogram` frozen into a few bits per non-empty bucket, for the closed slices of the recent
/// windows and the lifetime figures: runs of adjacent buckets, each count coded as its zigzag
/// difference from the mean of the two counts before it (neighbouring counts are close) in an
/// adaptive Rice code (see `RiceCoder`), plus the exact count, min, max and sum. Same buckets as `Histogram`,
/// so decoding and merging loses nothing. Immutable once built: to combine two, add both to a
/// `Histogram` and freeze that. A few words of the owner's (`trailer`) can ride in the same
/// bytes, saving an allocation per slice.
struct CompactHistogram {
    /// A bit stream of runs: Elias-gamma gap + 1 (buckets skipped since the previous run's end,
    /// the first from `low`), Elias-gamma length, then `length` Rice-coded zigzag differences from
    /// `CountPredictor`'s guess (a lone empty bucket inside a run counts as a 0); padded to a byte,
    /// then the trailer as LEB128 varints.
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
        var counter = BitCounter()
        CompactHistogram.encode(counts, first, last, into: &counter)
        let size = (counter.bits + 7) / 8
        runsEnd = Int32(size)
        bytes = [UInt8](unsafeUninitializedCapacity: size + trailerSize) { buffer, initialized in
            var writer = BitWriter(buffer)
            CompactHistogram.encode(counts, first, last, into: &writer)
            var i = writer.finish()
            for v in trailer { CompactHistogram.putVarint(v, buffer, &i) }
            initialized = i
        }
    }

    /// Codes the buckets `first...last` of `counts` (both non-empty) as runs.
    private static func encode<Output: BitOutput>(_ counts: [UInt64], _ first: Int, _ last: Int, into out: inout Output) {
        var rice = RiceCoder()
        runs(counts, first, last) { gap, run in
            out.writeGamma(UInt64(gap) + 1)
            out.writeGamma(UInt64(run.count))
            var predictor = CountPredictor()
            for j in run {
                rice.write(zigzag(counts[j], predictor.next), into: &out)
                predictor.saw(counts[j])
            }
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
        let base = Int(low), top = Int(high)
        h.cover(base, top)
        bytes.withUnsafeBufferPointer { b in
            var reader = BitReader(b, end: Int(runsEnd))
            var rice = RiceCoder()
            var index = base
            while index <= top {
                index += Int(reader.readGamma()) - 1
                let length = Int(reader.readGamma())
                var predictor = CountPredictor()
                for _ in 0..<length {
                    let c = CompactHistogram.unzigzag(rice.read(from: &reader), predictor.next)
                    predictor.saw(c)
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

/// Where `CompactHistogram` codes its bits: counted first, then written. Bits go in least
/// significant first.
protocol BitOutput {
    /// Appends the low `count` bits of `value` (count ≤ 32; higher bits of `value` are zero).
    mutating func write(_ value: UInt64, _ count: Int)
}

extension BitOutput {
    /// Appends the low `count` bits of `value`, any count up to 64.
    mutating func writeLong(_ value: UInt64, _ count: Int) {
        if count > 32 {
            write(value & 0xFFFF_FFFF, 32)
            write(value >> 32, count - 32)
        } else {
            write(value, count)
        }
    }

    /// `n` ones then a zero.
    @inline(__always)
    mutating func writeUnary(_ n: Int) {
        var left = n
        while left > 24 {
            write((1 << 24) - 1, 24)
            left -= 24
        }
        write((1 << UInt64(left)) - 1, left + 1)
    }

    /// Elias gamma (x ≥ 1): the bit length less one in unary, then the bits below the leading one.
    mutating func writeGamma(_ x: UInt64) {
        let n = 63 - x.leadingZeroBitCount
        writeUnary(n)
        writeLong(x & ((1 << UInt64(n)) - 1), n)
    }
}

struct BitCounter: BitOutput {
    var bits = 0
    mutating func write(_ value: UInt64, _ count: Int) { bits += count }
}

struct BitWriter: BitOutput {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    var next = 0
    var pending: UInt64 = 0
    var pendingBits = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func write(_ value: UInt64, _ count: Int) {
        pending |= value << UInt64(pendingBits)
        pendingBits += count
        while pendingBits >= 8 {
            buffer[next] = UInt8(truncatingIfNeeded: pending)
            pending >>= 8
            pendingBits -= 8
            next += 1
        }
    }

    /// Writes the last partial byte; returns the bytes written.
    mutating func finish() -> Int {
        if pendingBits > 0 {
            buffer[next] = UInt8(truncatingIfNeeded: pending)
            next += 1
            pending = 0
            pendingBits = 0
        }
        return next
    }
}

struct BitReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let end: Int
    var next = 0
    /// Bits read ahead, least significant first.
    var window: UInt64 = 0
    var windowBits = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>, end: Int) {
        self.bytes = bytes
        self.end = end
    }

    /// Tops the window up to at least 57 bits (fewer at the end of the stream).
    @inline(__always)
    mutating func refill() {
        while windowBits <= 56 && next < end {
            window |= UInt64(bytes[next]) << UInt64(windowBits)
            windowBits += 8
            next += 1
        }
    }

    /// The next `count` bits (count ≤ 56).
    @inline(__always)
    mutating func read(_ count: Int) -> UInt64 {
        if windowBits < count { refill() }
        let value = window & ((1 << UInt64(count)) &- 1)
        window >>= UInt64(count)
        windowBits -= count
        return value
    }

    mutating func readLong(_ count: Int) -> UInt64 {
        count > 32 ? read(32) | (read(count - 32) << 32) : read(count)
    }

    /// Ones up to a zero, which is consumed; at most `limit` ones, after which no zero follows.
    @inline(__always)
    mutating func readUnary(limit: Int) -> Int {
        if windowBits <= limit { refill() }
        let ones = Swift.min((~window).trailingZeroBitCount, limit)
        let consumed = ones < limit ? ones + 1 : limit
        window >>= UInt64(consumed)
        windowBits -= consumed
        return ones
    }

    mutating func readGamma() -> UInt64 {
        let n = readUnary(limit: 63)
        return (1 << UInt64(n)) | readLong(n)
    }
}

/// The count a run's next bucket is guessed to hold: 0 for the first, then the previous count,
/// then the mean of the previous two: where counts hover around a level, the difference's variance
/// is then 1.5 times a count's instead of twice, about 0.2 bits a bucket less.
struct CountPredictor {
    private var last: UInt64 = 0
    private var beforeLast: UInt64 = 0
    private var started = false

    @inline(__always)
    var next: UInt64 { last / 2 &+ beforeLast / 2 &+ (last & beforeLast & 1) }

    @inline(__always)
    mutating func saw(_ count: UInt64) {
        beforeLast = started ? last : count
        last = count
        started = true
    }
}

/// An adaptive Rice code for the zigzag differences of a histogram's counts: a value z is
/// written as z >> k in unary, then its low k bits, where k follows the running mean of recent
/// values (as in JPEG-LS), so the code adapts along the buckets — a few bits where counts are
/// small or flat, more where they are large. A value whose unary part would pass `escape` ones is
/// written as `escape` ones, its bit length less one in 6 bits, and its bits below the leading one.
struct RiceCoder {
    static let escape = 20
    /// The sum and number of recent values; both halve every 32 values, so old ones fade.
    var sum: UInt64 = 4
    var n: UInt64 = 1

    /// The smallest k with n·2^k ≥ sum / 2: 2^k about half the recent mean, which measured a few
    /// percent smaller than the mean itself (JPEG-LS's choice for unfolded differences).
    @inline(__always)
    var k: Int {
        let ratio = (sum / 2 + n - 1) / n
        return ratio <= 1 ? 0 : 64 - (ratio - 1).leadingZeroBitCount
    }

    @inline(__always)
    mutating func update(_ z: UInt64) {
        let (s, overflow) = sum.addingReportingOverflow(z)
        sum = overflow ? .max : s
        n += 1
        if n == 32 {
            sum >>= 1
            n >>= 1
        }
    }

    mutating func write<Output: BitOutput>(_ z: UInt64, into out: inout Output) {
        let k = self.k
        let q = z >> UInt64(k)
        if q < RiceCoder.escape {
            out.writeUnary(Int(q))
            out.writeLong(z & ((1 << UInt64(k)) &- 1), k)
        } else {
            out.write((1 << UInt64(RiceCoder.escape)) - 1, RiceCoder.escape)
            let bits = 63 - z.leadingZeroBitCount
            out.write(UInt64(bits), 6)
            out.writeLong(z & ((1 << UInt64(bits)) - 1), bits)
        }
        update(z)
    }

    mutating func read(from reader: inout BitReader) -> UInt64 {
        let k = self.k
        let q = reader.readUnary(limit: RiceCoder.escape)
        let z: UInt64
        if q < RiceCoder.escape {
            z = (UInt64(q) << UInt64(k)) | reader.readLong(k)
        } else {
            let bits = Int(reader.read(6))
            z = (1 << UInt64(bits)) | reader.readLong(bits)
        }
        update(z)
        return z
    }
}
