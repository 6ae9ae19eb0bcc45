/// Human-readable figures, the same in probectl's tables and probed's log lines.
public enum Format {
    /// A duration in ns with three significant figures in the largest unit that keeps it at 1 or
    /// more: "812ns", "15.2µs", "3.40ms", "1.25s", "2m05s"; "-" for nil.
    package static func duration(_ ns: UInt64?) -> String {
        guard let ns else { return "-" }
        let v = Double(ns)
        switch ns {
        case ..<1_000: return "\(ns)ns"
        case ..<999_500: return fixed(v / 1e3) + "µs"  // 999.5µs and up round to 1.00ms, not 1000µs
        case ..<999_500_000: return fixed(v / 1e6) + "ms"
        case ..<60_000_000_000: return fixed(v / 1e9) + "s"
        default:
            let s = ns / 1_000_000_000
            return "\(s / 60)m" + (s % 60 < 10 ? "0" : "") + "\(s % 60)s"
        }
    }

    /// Three significant figures.
    package static func fixed(_ v: Double) -> String {
        let decimals = v < 10 ? 2 : v < 100 ? 1 : 0
        return decimal(v, decimals)
    }

    /// `v` with exactly `decimals` digits after the point.
    package static func decimal(_ v: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let r = (v * scale).rounded() / scale
        // Past what Int64 holds (or not a number) Swift's own text: never a trapping conversion.
        guard r.isFinite, abs(r) < 9e18 else { return r.isFinite ? String(r) : v.isNaN ? "-" : v > 0 ? "∞" : "-∞" }
        var text = decimals == 0 ? String(Int64(r)) : String(r)
        if decimals > 0 {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let frac = parts.count > 1 ? String(parts[1]) : ""
            text = String(parts[0]) + "." + frac.prefix(decimals) + String(repeating: "0", count: max(0, decimals - frac.count))
        }
        return text
    }
}
