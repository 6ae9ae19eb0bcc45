import Testing

@testable import ProbeWire

@Suite("WireProtocol")
struct WireProtocolTests {
    @Test func limits_matchTheNumbersInProtocolMd() {
        #expect(WireProtocol.version == 1)
        #expect(WireProtocol.headerSize == 8)
        #expect(WireProtocol.maxMessageBytes == 65_536)
        #expect(WireProtocol.maxNameBytes == 128)
        #expect(WireProtocol.maxOperations == 4096)
        #expect(WireProtocol.eventRecordSize == 32)
        #expect(WireProtocol.eventsPrefixSize == 24)
        #expect(WireProtocol.maxEventsPerMessage == 2047)
        #expect(WireProtocol.memoryDeltaRecordSize == 16)
        #expect(WireProtocol.memoryPrefixSize == 24)
        #expect(WireProtocol.maxMemoryDeltasPerMessage == 4094)
        #expect(WireProtocol.maxControlRequestBytes == 4096)
        #expect(WireEncoder.maxControlChunk == 65_528)
    }

    @Test func fixedSizes_matchTheLayoutsInProtocolMd() {
        #expect(WireEncoder.hello(Hello(pid: 1, service: "s")).count == 18 + 1)
        #expect(WireEncoder.define(Definition(id: 0, kind: .operation, name: "op")).count == 16 + 2)
        #expect(WireEncoder.events(droppedTotal: 0, records: []).count == 24)
        #expect(WireEncoder.memoryDeltas(droppedTotal: 0, records: []).count == 24)
        #expect(WireEncoder.memoryDeltas(droppedTotal: 0, records: [MemoryDeltaRecord(operationID: 0, deltaBytes: -1)]).count == 24 + 16)
        #expect(WireEncoder.welcome(Welcome()).count == 24)
        #expect(WireEncoder.error(WireError(.malformed, "")).count == 12)
        #expect(WireEncoder.controlRequest("").count == 8)
        #expect(WireEncoder.controlResponse(final: true, chunk: []).count == 8)
    }
}
