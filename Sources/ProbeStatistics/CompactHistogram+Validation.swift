/// Compact histograms from bytes of unknown origin (a state file written by another probed, or a
/// damaged one). `add(to:)` trusts its bytes for speed; these checks make that trust safe.
extension CompactHistogram {
    /// The bytes this histogram is kept in: what a state file stores.
    package var encodedBytes: [UInt8] { bytes }

    /// The histogram whose bytes are `bytes`; nil unless they are exactly what `init(_:trailer:)`
    /// produces for some histogram: every varint in range, the bucket range within
    /// `Histogram.maxIndex`, min and max in the lowest and highest buckets, a sum (one varint, or
    /// two past 2^63) between count × min and count × max, every run inside the bucket range, no
    /// count in a slot no value falls in (the spare slot of a power of two without an exact `le`
    /// edge, see `Histogram.slotsPerOctave`), counts that add up to the total, and no bit read
    /// past the end nor a byte left over. Reading such a histogram cannot trap.
    /// Costs one decoding pass (as `add(to:)` does), without allocating.
    package init?(validating bytes: [UInt8]) {
        guard CompactHistogram.isCanonical(bytes) else { return nil }
        self.init()
        self.bytes = bytes
    }

    static func isCanonical(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { b -> Bool in
            if b.isEmpty { return true }  // neither values nor a trailer
            var i = 0
            /// A LEB128 varint that ends inside `b` and fits in 64 bits.
            func next() -> UInt64? {
                var value: UInt64 = 0
                var shift: UInt64 = 0
                while i < b.count {
                    let byte = b[i]
                    i += 1
                    if shift == 63 && byte > 1 { return nil }
                    value |= UInt64(byte & 0x7F) << shift
                    if byte < 0x80 { return value }
                    shift += 7
                    if shift > 63 { return nil }
                }
                return nil
            }
            guard let total = next() else { return false }
            var low = 0, high = 0
            var minimum: UInt64 = 0, maximum: UInt64 = 0
            if total > 0 {
                guard let mn = next(), let spread = next(), let packedSum = next() else { return false }
                // The exact sum: below 2^63 in one varint, else its low 63 bits and the rest (see `packSum`).
                var sum = UInt128(packedSum >> 1)
                if packedSum & 1 == 1 {
                    guard let high = next(), high > 0 else { return false }
                    sum |= UInt128(high) << 63
                }
                guard let lowest = next(), let width = next() else { return false }
                let (mx, overflow) = mn.addingReportingOverflow(spread)
                guard !overflow, lowest <= UInt64(Histogram.maxIndex), width <= UInt64(Histogram.maxIndex) - lowest else { return false }
                minimum = mn
                maximum = mx
                low = Int(lowest)
                high = low + Int(width)
                guard Histogram.index(of: minimum) == low, Histogram.index(of: maximum) == high else { return false }
                // Both products fit: two factors below 2^64.
                guard sum >= UInt128(minimum) * UInt128(total), sum <= UInt128(maximum) * UInt128(total),
                      total > 1 || minimum == maximum
                else { return false }
            }
            guard let trailerCount = next(), trailerCount <= UInt64(b.count - i) else { return false }
            if total == 0 && trailerCount == 0 { return false }  // written as no bytes at all
            for _ in 0..<Int(trailerCount) {
                guard next() != nil else { return false }
            }
            if total == 0 { return i == b.count }
            guard i < b.count else { return false }

            let available = (b.count - i) * 8
            var reader = BitReader(UnsafeBufferPointer(rebasing: b[i...]))
            var consumed: Int { reader.next * 8 - reader.windowBits }
            var rice = RiceCoder()
            var index = low
            var seen: UInt64 = 0
            var first = -1, last = -1
            /// An Elias-gamma value of at most 2^12 − 1 (gaps and lengths are at most the
            /// 2,329 bucket slots); nil past that. Read with `readUnary(limit: 12)`, not `readGamma`:
            /// a run of 57 or more ones would take `readGamma`'s reader past its window.
            func gamma() -> UInt64? {
                let n = reader.readUnary(limit: 12)
                guard n < 12 else { return nil }
                return (1 << UInt64(n)) | reader.readLong(n)
            }
            while index <= high {
                guard let gap = gamma(), consumed <= available, gap - 1 <= UInt64(high - index) else { return false }
                index += Int(gap - 1)
                guard let length = gamma(), consumed <= available, length <= UInt64(high - index + 1) else { return false }
                var predictor = CountPredictor()
                for _ in 0..<Int(length) {
                    let c = CompactHistogram.unzigzag(rice.read(from: &reader), predictor.next)
                    predictor.saw(c)
                    if c > 0 {
                        // A slot no value falls in holds no count (`bounds(of:)` is its own inverse elsewhere).
                        guard Histogram.index(of: Histogram.bounds(of: index).low) == index else { return false }
                        let (sum, overflow) = seen.addingReportingOverflow(c)
                        guard !overflow else { return false }
                        seen = sum
                        if first < 0 { first = index }
                        last = index
                    }
                    index += 1
                }
                guard consumed <= available else { return false }
            }
            // Only the last byte's padding may be left unread.
            return seen == total && first == low && last == high && consumed > available - 8
        }
    }
}
