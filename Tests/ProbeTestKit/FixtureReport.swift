/// The one line a client process prints when it is done — the test fixtures (`probe-fixture`,
/// `probe-load-fixture`, `probe-slow-fixture`, `probe-leak-fixture`) and the benchmark's ingest
/// clients: `key value` pairs separated by spaces, such as `recorded 2500 dropped 0 flushed true`.
/// Each fixture's header comment lists its keys.
package struct FixtureReport: CustomStringConvertible {
    /// The line read: the last non-empty line of the output.
    package let line: String
    private let values: [String: String]

    package init(_ output: String) {
        line = output.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let words = line.split(separator: " ").map(String.init)
        var values: [String: String] = [:]
        for i in stride(from: 0, to: words.count - 1, by: 2) { values[words[i]] = words[i + 1] }
        self.values = values
    }

    package subscript(_ key: String) -> String? { values[key] }

    /// The whole number after `key`; nil when the key is missing or not a number.
    package func number(_ key: String) -> UInt64? { values[key].flatMap { UInt64($0) } }

    /// `true` or `false` after `key`; nil otherwise.
    package func flag(_ key: String) -> Bool? { values[key].flatMap { Bool($0) } }

    package var description: String { line }
}
