/// A `Histogram` frozen into a few bits per non-empty bucket, for the closed slices of the recent
/// windows and the lifetime figures: runs of adjacent buckets, each count coded as its zigzag
/// difference from the mean of the two counts before it (neighbouring counts are close) in an
/// adaptive Rice code (see `RiceCoder`), plus the exact count, min, max and sum. Same buckets as
/// `Histogram`, so decoding and merging loses nothing. Immutable once built: to combine two, add
/// both to a `Histogram` and freeze that. A few words of the owner's (`trailer`) ride in the same
/// bytes. Everything is in one byte array — a slice costs one allocation and one word inline.
package struct CompactHistogram: Sendable {
    /// Empty when there is neither a value nor a trailer. Otherwise LEB128 varints: the count of
    /// values; when not 0, min, max - min, the sum (one varint or two, see `packSum`), the lowest non-empty
    /// bucket and the highest less the lowest; then the number of trailer words and the words;
    /// then, when there are values, a bit stream of runs to the end: Elias-gamma gap + 1 (buckets
    /// skipped since the previous run's end, the first from the lowest), Elias-gamma length, then
    /// `length` Rice-coded zigzag differences from `CountPredictor`'s guess (a lone empty bucket
    /// inside a run counts as a 0).
    var bytes: [UInt8] = []

    package init() {}

    package init(_ h: Histogram, trailer: [UInt64] = []) {
        guard h.totalCount > 0, let first = h.counts.firstIndex(where: { $0 > 0 }),
              let last = h.counts.lastIndex(where: { $0 > 0 })
        else {
            guard !trailer.isEmpty else { return }
            let header = [0, UInt64(trailer.count)] + trailer
            bytes = [UInt8](unsafeUninitializedCapacity: header.reduce(0) { $0 + CompactHistogram.varintSize($1) }) { buffer, i in
                for v in header { CompactHistogram.putVarint(v, buffer, &i) }
            }
            return
        }
        let header = [h.totalCount, h.min, h.max - h.min] + CompactHistogram.packSum(h.sum) + [
            UInt64(h.offset + first), UInt64(last - first), UInt64(trailer.count),
        ] + trailer
        // Coded into scratch space as large as the worst case (per bucket: a run's two gamma codes
        // of at most 25 bits, and an escaped value of 89), then copied out at the exact size.
        let counts = h.counts
        let bound = header.count * 10 + (last - first + 1) * 18 + 8
        bytes = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { scratch in
            var i = 0
            for v in header { CompactHistogram.putVarint(v, scratch, &i) }
            var writer = BitWriter(UnsafeMutableBufferPointer(rebasing: scratch[i...]))
            CompactHistogram.encode(counts, first, last, into: &writer)
            return Array(scratch[..<(i + writer.finish())])
        }
    }

    /// Codes the buckets `first...last` of `counts` (both non-empty) as runs.
    private static func encode(_ counts: [UInt64], _ first: Int, _ last: Int, into out: inout BitWriter) {
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

    /// The fields before the runs.
    private struct Header {
        var totalCount: UInt64 = 0
        var min: UInt64 = .max
        var max: UInt64 = 0
        var sum: UInt128 = 0
        var low = 0
        var high = 0
        /// Where the trailer's words begin, how many there are, and where the runs begin.
        var trailerStart = 0
        var trailerCount = 0
        var runsStart = 0
    }

    private static func header(_ b: UnsafeBufferPointer<UInt8>) -> Header {
        var h = Header()
        guard !b.isEmpty else { return h }
        var i = 0
        h.totalCount = varint(b, &i)
        if h.totalCount > 0 {
            h.min = varint(b, &i)
            h.max = h.min &+ varint(b, &i)
            let packed = varint(b, &i)
            h.sum = UInt128(packed >> 1)
            if packed & 1 == 1 { h.sum |= UInt128(varint(b, &i)) << 63 }
            h.low = Int(varint(b, &i))
            h.high = h.low + Int(varint(b, &i))
        }
        h.trailerCount = Int(varint(b, &i))
        h.trailerStart = i
        for _ in 0..<h.trailerCount { _ = varint(b, &i) }
        h.runsStart = i
        return h
    }

    /// The exact sum as one varint below 2^63 (shifted left, a few bytes), otherwise as its low 63
    /// bits shifted left with the low bit set, then a second varint with the bits from 63 up
    /// (a sum of 2^64 values each under 2^64 ns is below 2^128; the second word saturates at
    /// 2^64 − 1, which no real count of calls reaches).
    private static func packSum(_ sum: UInt128) -> [UInt64] {
        if sum < 1 << 63 { return [UInt64(sum) << 1] }
        return [UInt64(truncatingIfNeeded: sum) << 1 | 1, UInt64(clamping: sum >> 63)]
    }

    private var header: Header { bytes.withUnsafeBufferPointer { CompactHistogram.header($0) } }

    package var totalCount: UInt64 { header.totalCount }
    package var min: UInt64 { header.min }
    package var max: UInt64 { header.max }
    package var sum: UInt128 { header.sum }

    /// The words given as `trailer`.
    package var trailer: [UInt64] {
        bytes.withUnsafeBufferPointer { b in
            let h = CompactHistogram.header(b)
            var i = h.trailerStart
            return (0..<h.trailerCount).map { _ in CompactHistogram.varint(b, &i) }
        }
    }

    /// Adds every value of this histogram to `h`.
    package func add(to h: inout Histogram) {
        bytes.withUnsafeBufferPointer { b in
            let header = CompactHistogram.header(b)
            guard header.totalCount > 0 else { return }
            h.cover(header.low, header.high)
            var reader = BitReader(UnsafeBufferPointer(rebasing: b[header.runsStart...]))
            var rice = RiceCoder()
            var index = header.low
            while index <= header.high {
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
            h.mergeSummary(count: header.totalCount, min: header.min, max: header.max, sum: header.sum)
        }
    }

    /// The histogram this was frozen from.
    package var histogram: Histogram {
        var h = Histogram()
        add(to: &h)
        return h
    }

    /// Heap bytes held: the encoded bytes and their array header.
    package var footprintBytes: Int { bytes.capacity == 0 ? 0 : bytes.capacity + 32 }

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
    static func unzigzag(_ z: UInt64, _ previous: UInt64) -> UInt64 {
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

/// Where `CompactHistogram` codes its bits, least significant first.
struct BitWriter {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    var next = 0
    var pending: UInt64 = 0
    var pendingBits = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    /// Appends the low `count` bits of `value` (count ≤ 32; higher bits of `value` are zero).
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

struct BitReader {
    let bytes: UnsafeBufferPointer<UInt8>
    let end: Int
    var next = 0
    /// Bits read ahead, least significant first.
    var window: UInt64 = 0
    var windowBits = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        end = bytes.count
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
    /// No division: n·2^k0, with k0 the difference of their bit lengths, has the bit length of
    /// sum / 2, so either it reaches sum / 2 or twice it does.
    @inline(__always)
    var k: Int {
        let half = sum >> 1
        let k0 = Swift.max(0, n.leadingZeroBitCount - half.leadingZeroBitCount)
        return n << UInt64(k0) < half ? k0 + 1 : k0
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

    mutating func write(_ z: UInt64, into out: inout BitWriter) {
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
