import Foundation
import Testing

@testable import ProbeWire

@Suite("WireErrorCode")
struct WireErrorCodeTests {
    /// Rows of PROTOCOL.md's error table: `| 1 | `malformed` | … |`.
    static func documentedCodes() throws -> [UInt16: String] {
        let url = ProtocolVectors.directory.deletingLastPathComponent().appendingPathComponent("PROTOCOL.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        var codes: [UInt16: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("|") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3, let number = UInt16(cells[1]), cells[2].hasPrefix("`"), cells[2].hasSuffix("`")
            else { continue }
            codes[number] = String(cells[2].dropFirst().dropLast())
        }
        return codes
    }

    @Test func everyNamedCode_isDocumentedInProtocolMd() throws {
        let documented = try Self.documentedCodes()
        #expect(!documented.isEmpty)
        for raw in UInt16(1)...256 {
            let name = WireErrorCode(rawValue: raw).description
            if name == "code_\(raw)" {
                #expect(documented[raw] == nil, "PROTOCOL.md documents code \(raw), which the codec does not name")
            } else {
                #expect(
                    documented[raw] == name,
                    "code \(raw) is \(name) in Protocol.swift, \(documented[raw] ?? "missing") in PROTOCOL.md")
            }
        }
    }

    @Test func invalidVectors_coverEveryCodeTheDecoderCanReport() {
        // The other codes (out_of_order, unknown_operation, redefinition, refused) come from the
        // daemon's connection state, not from decoding one message.
        let decoderCodes: [WireErrorCode] = [
            .malformed, .oversized, .unknownType, .unsupportedVersion, .badName, .limitExceeded,
            .reservedNonZero, .badControlRequest,
        ]
        let covered = Set(ProtocolVectors.invalid.compactMap(\.expectedError))
        for code in decoderCodes {
            #expect(covered.contains(code.description), "no invalid vector expects \(code)")
        }
    }

    @Test func unknownCode_describesItselfByNumber() {
        #expect(WireErrorCode(rawValue: 0).description == "code_0")
        #expect(WireErrorCode(rawValue: 4000).description == "code_4000")
        #expect(WireError(.badName, "x").description == "7 bad_name: x")
    }
}
