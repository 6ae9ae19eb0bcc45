/// Text from peers made safe to show a person: what `JSONWriter` is for machines, this is for
/// terminals and logs.
///
/// Peers choose much of what probed and probectl print (a call's error text and attributes may
/// hold any character, PROTOCOL.md §5; names exclude only C0 and DEL). Printed raw, an ESC
/// sequence clears the screen or retitles the window, a newline forges a log line or a table row,
/// and a bidirectional override reorders what follows. Every table cell, log line and followed
/// entry goes through `escapingControlCharacters()` once, just before it is shown.
extension StringProtocol {
    /// This text with every control character written visibly: `\n`, `\r` and `\t` as such, the
    /// other C0 controls, DEL and the C1 controls (U+0080–U+009F) as `\xNN` (the code point,
    /// as Python's `repr` writes it), and the bidirectional embeddings, overrides and isolates
    /// (U+202A–U+202E, U+2066–U+2069) as `\u{NNNN}`. Everything else, backslashes included,
    /// is kept as it is. Returns the text unchanged (no copy) when there is nothing to escape.
    package func escapingControlCharacters() -> String {
        guard unicodeScalars.contains(where: DisplayText.needsEscape) else { return String(self) }
        var out = ""
        out.reserveCapacity(utf8.count + 16)
        for scalar in unicodeScalars {
            guard DisplayText.needsEscape(scalar) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x100: out += "\\x" + DisplayText.hex(scalar.value, digits: 2)
            default: out += "\\u{" + DisplayText.hex(scalar.value, digits: 4) + "}"
            }
        }
        return out
    }
}

enum DisplayText {
    /// C0, DEL, C1 (Unicode's general category Cc) and the bidirectional formatting characters.
    @inline(__always)
    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0..<0x20, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    static func hex(_ v: UInt32, digits: Int) -> String {
        let text = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
