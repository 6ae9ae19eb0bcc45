import Testing

@testable import ProbeWire

@Suite("EventRecord")
struct EventRecordTests {
    @Test func layoutMatchesWire_onLittleEndianHost_isTrue() {
        #if _endian(little)
        #expect(EventRecord.layoutMatchesWire)
        #else
        #expect(!EventRecord.layoutMatchesWire)
        #endif
    }

    @Test func inMemoryRecord_whenLayoutMatches_isItsWireBytes() throws {
        try #require(EventRecord.layoutMatchesWire)
        let record = EventRecord(
            operationID: 0x0102_0304, flags: [.failed, .deviceSynchronized], startNanoseconds: 0x1112_1314_1516_1718,
            durationNanoseconds: 0x2122_2324_2526_2728, items: 0x3132_3334, errorTypeID: 0x4142_4344)
        let memory = withUnsafeBytes(of: record) { Array($0) }
        let message = WireEncoder.events(droppedTotal: 0, records: [record])
        let wire = Array(message.dropFirst(WireProtocol.eventsPrefixSize))
        #expect(memory == wire)
    }

    @Test func flags_whenFailed_reportFailed() {
        let failed = EventRecord(
            operationID: 0, flags: .failed, startNanoseconds: 0, durationNanoseconds: 0, errorTypeID: 3)
        let synced = EventRecord(
            operationID: 0, flags: .deviceSynchronized, startNanoseconds: 0, durationNanoseconds: 0)
        #expect(failed.failed)
        #expect(!synced.failed)
        #expect(synced.eventFlags == .deviceSynchronized)
        #expect(EventFlags.known.rawValue == 0b11)
    }
}
