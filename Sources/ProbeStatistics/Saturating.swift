/// Saturating arithmetic for figures a peer controls (item counts, reported drop counts, bytes):
/// a sum that would pass the type's range stops at its bound instead of trapping or wrapping,
/// so a report can show "at least this much" but never a small or negative number.
extension FixedWidthInteger {
    /// `self + other`, or the type's bound in the direction of the overflow.
    @inlinable @inline(__always)
    package func saturatingAdd(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other < 0 ? .min : .max
    }
}

extension Sequence where Element: FixedWidthInteger {
    /// The sum of the elements, saturating (see `saturatingAdd`).
    @inlinable
    package func saturatingSum() -> Element { reduce(0) { $0.saturatingAdd($1) } }
}

extension UInt64 {
    /// `value` rounded to the nearest whole number and clamped to 0...2^64 − 1; 0 for NaN.
    /// For converting a Double (a rate, a span in seconds × 1e9) without the trap `UInt64(_:)`
    /// has for a value out of range.
    @inlinable
    package init(saturating value: Double) {
        let r = value.rounded()
        if !(r > 0) {
            self = 0
        } else if r >= 18_446_744_073_709_551_616.0 {
            self = .max
        } else {
            self = UInt64(r)
        }
    }
}
