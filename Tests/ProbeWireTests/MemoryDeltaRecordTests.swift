import ProbeWire
import Testing

@Suite struct MemoryDeltaRecordTests {
    static let records = [
        MemoryDeltaRecord(operationID: 3, deltaBytes: 16 << 20),
        MemoryDeltaRecord(operationID: 0, deltaBytes: -4096),
    ]

    @Test func memoryMessage_roundTrips_withTheDocumentedLayout() throws {
        let bytes = WireEncoder.memoryDeltas(droppedTotal: 7, records: Self.records)
        #expect(bytes.count == 24 + 2 * 16)
        #expect(Array(bytes[0..<8]) == [0x04, 1, 0, 0, 56, 0, 0, 0])  // type, version, flags, length
        #expect(Array(bytes[8..<24]) == [2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0])  // count, reserved, dropped
        #expect(Array(bytes[24..<40]) == [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])  // op 3, flags 0, +16 MiB
        #expect(Array(bytes[48..<56]) == [0x00, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])  // -4096, two's complement
        #expect(try WireDecoder.decode(bytes) == .memoryDeltas(droppedTotal: 7, records: Self.records))
    }

    @Test func writeMemoryDeltas_intoABuffer_matchesTheArrayEncoder() throws {
        #expect(MemoryDeltaRecord.layoutMatchesWire)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 16)
        defer { buffer.deallocate() }
        let length = Self.records.withUnsafeBufferPointer {
            WireEncoder.writeMemoryDeltas(into: buffer, droppedTotal: 7, records: $0.baseAddress!, count: 2)
        }
        let written = Array(UnsafeRawBufferPointer(start: buffer, count: length))
        #expect(written == WireEncoder.memoryDeltas(droppedTotal: 7, records: Self.records))
    }

    @Test func badMemoryMessages_areRefusedWithTheirCodes() {
        var wrongLength = WireEncoder.memoryDeltas(droppedTotal: 0, records: Self.records)
        wrongLength.removeLast(8)
        wrongLength.replaceSubrange(4..<8, with: [48, 0, 0, 0])
        var flags = WireEncoder.memoryDeltas(droppedTotal: 0, records: Self.records)
        flags[28] = 1
        var reserved = WireEncoder.memoryDeltas(droppedTotal: 0, records: [])
        reserved[12] = 1
        var tooMany = WireEncoder.memoryDeltas(droppedTotal: 0, records: [])
        tooMany.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0, 0])
        for (bytes, code) in [(wrongLength, WireErrorCode.malformed), (flags, .reservedNonZero), (reserved, .reservedNonZero), (tooMany, .oversized)] {
            #expect(throws: WireError.self) { try WireDecoder.decode(bytes) }
            do { _ = try WireDecoder.decode(bytes) } catch { #expect(error.code == code, "\(error)") }
        }
    }

    @Test func welcomeFeatures_travelInTheOnceReservedBytes_andAnOldWelcomeMeansNone() throws {
        let bytes = WireEncoder.welcome(Welcome(features: .memoryDeltas))
        #expect(bytes.count == 24 && bytes[22] == 1 && bytes[23] == 0)
        guard case .welcome(let w) = try WireDecoder.decode(bytes) else { Issue.record("not a WELCOME"); return }
        #expect(w.features.contains(.memoryDeltas))
        var old = bytes
        old[22] = 0
        guard case .welcome(let o) = try WireDecoder.decode(old) else { Issue.record("not a WELCOME"); return }
        #expect(o.features.isEmpty)
    }
}
