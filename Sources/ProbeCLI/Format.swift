import ProbeControl

/// Human-readable figures for probectl's tables (durations: ProbeControl's `Format.duration`).
extension Format {
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

/// A plain text table: left-aligned text columns, right-aligned figures, fitted to a terminal.
///
/// In a terminal narrower than the table it does what top(1) does: it takes its `fit` steps in
/// order — hide the least important columns, shorten names — until the table fits, and clips what
/// still does not; a line never wraps. Without a width (output to a pipe or a file) every column
/// is shown in full. Cells are shown with their control characters escaped
/// (`escapingControlCharacters()`): peers choose names, error texts and attributes, and a cell is
/// always one line of plain text.
public struct TextTable {
    /// One way of making the table narrower; columns are named by their header.
    public enum Step: Sendable {
        /// Hide the column.
        case drop(String)
        /// Let the column give way, down to `minimum` characters, shortening its cells as its
        /// `Shortening` says.
        case shrink(String, to: Int)
        /// Show the first column's cells in the second as `service/operation` (the service part
        /// gives way first), saving a separator and the first column's padding.
        case merge(String, into: String)
    }

    /// How a cell wider than its column is shortened.
    public enum Shortening: Sendable {
        /// Cut at the end: `embedding_lo…`.
        case end
        /// A `service/operation` name: the service gives way first (`emb…/encode`), then the
        /// operation (`…/enc…`).
        case serviceFirst
        /// An ISO 8601 time (`2026-11-25T13:55:33.287Z`): the date goes first (`13:55:33.287`).
        case timeOfDay
    }

    var header: [String]
    var rightAligned: Set<Int>
    var rows: [[String]] = []
    var steps: [Step]
    var shortening: [Int: Shortening]

    public init(_ header: [String], rightAligned: Set<Int>, fit steps: [Step] = [], shortening: [String: Shortening] = [:]) {
        self.header = header
        self.rightAligned = rightAligned
        self.steps = steps
        var byIndex: [Int: Shortening] = [:]
        for (name, s) in shortening { if let i = header.firstIndex(of: name) { byIndex[i] = s } }
        self.shortening = byIndex
    }

    public mutating func add(_ row: [String]) { rows.append(row.map { $0.escapingControlCharacters() }) }

    /// The table for a terminal `width` columns wide (nil: no limit), followed by a note on the
    /// columns it had to hide.
    public func render(width: Int? = nil) -> String {
        let (lines, hidden) = fitted(width: width)
        return (lines + (width.flatMap { TextTable.note(hidden: hidden, width: $0) }.map { [$0] } ?? [])).joined(separator: "\n")
    }

    /// A line naming the columns hidden to fit `width` columns; nil when none was.
    public static func note(hidden: [String], width: Int) -> String? {
        guard !hidden.isEmpty else { return nil }
        let what = hidden.count <= 3 ? hidden.joined(separator: ", ") + " hidden" : "\(hidden.count) more columns"
        return Format.wrap("(\(what): widen the terminal or pipe the output)", width: width)
    }

    /// The table's lines for `width` columns (nil: no limit), and the headers of the columns hidden.
    public func fitted(width: Int?) -> (lines: [String], hidden: [String]) {
        var cells = rows.map { row in header.indices.map { $0 < row.count ? row[$0] : "" } }
        var shortening = self.shortening
        var widths = header.map(\.count)
        func measure(_ i: Int) { widths[i] = cells.reduce(header[i].count) { max($0, $1[i].count) } }
        header.indices.forEach(measure)
        var shown = Array(header.indices)
        var merged: Set<Int> = []
        func total() -> Int { shown.reduce(0) { $0 + widths[$1] } + 2 * max(0, shown.count - 1) }
        if let width {
            var natural = widths
            var shrunk: [Int] = []
            for step in steps where total() > width {
                switch step {
                case .drop(let name):
                    if let i = header.firstIndex(of: name) { shown.removeAll { $0 == i } }
                case .shrink(let name, let minimum):
                    if let i = header.firstIndex(of: name), shown.contains(i) {
                        widths[i] = max(min(minimum, widths[i]), widths[i] - (total() - width))
                        if !shrunk.contains(i) { shrunk.append(i) }
                    }
                case .merge(let name, let target):
                    if let from = header.firstIndex(of: name), let into = header.firstIndex(of: target), shown.contains(from), shown.contains(into) {
                        for r in cells.indices where !cells[r][from].isEmpty { cells[r][into] = cells[r][from] + "/" + cells[r][into] }
                        shown.removeAll { $0 == from }
                        merged.insert(from)
                        shortening[into] = .serviceFirst
                        let before = widths[into]
                        measure(into)
                        natural[into] = widths[into]
                        if shrunk.contains(into) { widths[into] = min(widths[into], before + widths[from] + 1) }
                    }
                }
            }
            // A column dropped after a name was shortened may have left room: the name takes it
            // back, as far as its shortened cells use it (a time without its date stays short).
            for i in shrunk where shown.contains(i) {
                let room = min(natural[i], widths[i] + max(0, width - total()))
                let used = cells.reduce(min(header[i].count, room)) { max($0, Format.shorten($1[i], to: room, shortening[i] ?? .end).count) }
                widths[i] = used
            }
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (n, i) in shown.enumerated() {
                let cell = Format.shorten(cells[i], to: widths[i], shortening[i] ?? .end)
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                out += rightAligned.contains(i) ? pad + cell : cell + pad
                if n < shown.count - 1 { out += "  " }
            }
            while out.hasSuffix(" ") { out.removeLast() }
            return width.map { Format.shorten(out, to: $0, .end) } ?? out
        }
        let hidden = header.indices.filter { !shown.contains($0) && !merged.contains($0) }.map { header[$0] }
        return ([line(header)] + cells.map(line), hidden)
    }
}

extension Format {
    /// `text` in at most `width` characters, shortened as `shortening` says; "…" marks the cut.
    public static func shorten(_ text: String, to width: Int, _ shortening: TextTable.Shortening) -> String {
        guard text.count > width else { return text }
        guard width > 1 else { return String(text.prefix(max(0, width))) }
        switch shortening {
        case .end:
            return String(text.prefix(width - 1)) + "…"
        case .serviceFirst:
            guard let slash = text.firstIndex(of: "/") else { return shorten(text, to: width, .end) }
            let operation = text[slash...]  // "/predict"
            let room = width - operation.count - 1
            if room >= 1 { return String(text[..<slash].prefix(room)) + "…" + operation }
            return "…" + shorten(String(operation), to: width - 1, .end)
        case .timeOfDay:
            // 2026-11-25T13:55:33.287Z → 13:55:33.287
            if let t = text.firstIndex(of: "T") {
                var time = text[text.index(after: t)...]
                if time.hasSuffix("Z") { time = time.dropLast() }
                return shorten(String(time), to: width, .end)
            }
            return shorten(text, to: width, .end)
        }
    }

    /// `text` broken into lines of at most `width` characters at spaces (nil: one line); a word
    /// longer than a line is cut.
    public static func wrap(_ text: String, width: Int?) -> String {
        guard let width, width > 0 else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { paragraph -> String in
            var lines: [String] = []
            var current = ""
            for word in paragraph.split(separator: " ") {
                if current.isEmpty {
                    current = String(word)
                } else if current.count + 1 + word.count <= width {
                    current += " " + word
                } else {
                    lines.append(current)
                    current = String(word)
                }
                while current.count > width {
                    lines.append(String(current.prefix(width)))
                    current = String(current.dropFirst(width))
                }
            }
            lines.append(current)
            return lines.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
