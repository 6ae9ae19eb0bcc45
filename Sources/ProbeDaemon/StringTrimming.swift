extension StringProtocol {
    /// Without the whitespace at either end (spaces, tabs, a CR left by CRLF line ends): what
    /// `trimmingCharacters(in: .whitespaces)` did, without Foundation.
    func trimmingWhitespace() -> SubSequence {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return self[endIndex...] }
        let last = lastIndex(where: { !$0.isWhitespace })!
        return self[first...last]
    }
}
