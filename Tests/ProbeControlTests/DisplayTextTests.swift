import Testing
@testable import ProbeControl

/// PROTOCOL.md §5: error texts and attributes may hold any character; a receiver escapes control
/// characters when it shows them. Issue 22 found them printed raw in probed's log and probectl.
@Suite struct DisplayTextTests {
    @Test func controlCharacters_areWrittenVisibly_andNothingElseChanges() {
        let hostile = "\u{1b}[2J\u{1b}]0;pwned\u{07}\0boom\r\n\tend\u{7f}"
        #expect(hostile.escapingControlCharacters() == #"\x1b[2J\x1b]0;pwned\x07\x00boom\r\n\tend\x7f"#)
        // C1 controls (a lone CSI, U+009B, acts like ESC [ on some terminals) and bidi overrides.
        #expect("a\u{9b}31mb\u{85}".escapingControlCharacters() == #"a\x9b31mb\x85"#)
        #expect("user\u{202e}gnp.exe\u{2066}".escapingControlCharacters() == #"user\u{202e}gnp.exe\u{2066}"#)
        // Printable text, other languages and emoji, and backslashes pass as they are.
        for plain in ["torch.OutOfMemoryError: CUDA out of memory", "Größe ≥ 32 — 批量 🚀", #"C:\path\x1b"#, ""] {
            #expect(plain.escapingControlCharacters() == plain)
        }
    }

    @Test func everyEscapedString_holdsNoControlCharacter() {
        var all = ""
        for v in UInt32(0)...0x2070 { if let s = Unicode.Scalar(v) { all.unicodeScalars.append(s) } }
        let shown = all.escapingControlCharacters()
        #expect(!shown.unicodeScalars.contains { $0.properties.generalCategory == .control })
        #expect(!shown.unicodeScalars.contains { (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) })
    }
}
