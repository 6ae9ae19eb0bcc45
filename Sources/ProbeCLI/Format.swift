/// Human-readable figures for probectl's tables.
public enum Format {
    /// A duration in ns as "812ns", "15.2µs", "3.40ms", "1.25s", "2m05s".
    public static func duration(_ ns: UInt64?) -> String {
        guard let ns else { return "-" }
        let v = Double(ns)
        switch ns {
        case ..<1_000: return "\(ns)ns"
        case ..<1_000_000: return fixed(v / 1e3) + "µs"
        case ..<1_000_000_000: return fixed(v / 1e6) + "ms"
        case ..<60_000_000_000: return fixed(v / 1e9) + "s"
        default:
            let s = ns / 1_000_000_000
            return "\(s / 60)m" + (s % 60 < 10 ? "0" : "") + "\(s % 60)s"
        }
    }

    /// Three significant figures.
    static func fixed(_ v: Double) -> String {
        let decimals = v < 10 ? 2 : v < 100 ? 1 : 0
        return decimal(v, decimals)
    }

    public static func decimal(_ v: Double, _ decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let r = (v * scale).rounded() / scale
        // Past what Int64 holds (or not a number) Swift's own text: never a trapping conversion.
        guard r.isFinite, abs(r) < 9e18 else { return r.isFinite ? String(r) : v.isNaN ? "-" : v > 0 ? "∞" : "-∞" }
        var text = decimals == 0 ? String(Int64(r)) : String(r)
        if decimals > 0 {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            let frac = parts.count > 1 ? String(parts[1]) : ""
            text = String(parts[0]) + "." + frac.padding(toLength: decimals, withPad: "0", startingAt: 0)
        }
        return text
    }

    public static func rate(_ v: Double) -> String {
        v >= 100 ? decimal(v, 0) : decimal(v, 1)
    }

    public static func count(_ v: UInt64) -> String { String(v) }

    public static func uptime(_ ns: UInt64) -> String {
        let s = ns / 1_000_000_000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\((s / 60) % 60)m" }
        return "\(s / 86400)d\((s / 3600) % 24)h"
    }
}

/// A plain text table: left-aligned text columns, right-aligned figures.
public struct TextTable {
    var header: [String]
    var rightAligned: Set<Int>
    var rows: [[String]] = []

    public init(_ header: [String], rightAligned: Set<Int>) {
        self.header = header
        self.rightAligned = rightAligned
    }

    public mutating func add(_ row: [String]) { rows.append(row) }

    public func render() -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, cell) in cells.enumerated() {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                out += rightAligned.contains(i) ? pad + cell : cell + pad
                if i < cells.count - 1 { out += "  " }
            }
            while out.hasSuffix(" ") { out.removeLast() }
            return out
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
