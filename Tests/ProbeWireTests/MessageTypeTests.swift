import Testing

@testable import ProbeWire

@Suite("MessageType")
struct MessageTypeTests {
    /// Every type the codec knows, found by asking for all 256 byte values.
    static let allTypes: [MessageType] = (0...255).compactMap { MessageType(rawValue: UInt8($0)) }

    @Test func allTypes_areTheElevenOfVersion1() {
        #expect(Self.allTypes.map(\.rawValue) == [0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x81, 0x82, 0x83, 0x84, 0x90])
    }

    @Test func validVectors_coverEveryMessageType() throws {
        var covered: Set<MessageType> = []
        for vector in ProtocolVectors.valid {
            let type = messageType(try WireDecoder.decode(vector.bytes))
            #expect(vector.bytes.first == type.rawValue, "\(vector.name)")
            covered.insert(type)
        }
        for type in Self.allTypes {
            #expect(covered.contains(type), "no valid vector of type \(type) (0x\(String(type.rawValue, radix: 16)))")
        }
    }

    func messageType(_ message: Message) -> MessageType {
        switch message {
        case .hello: .hello
        case .define: .define
        case .events: .events
        case .memoryDeltas: .memoryDeltas
        case .callDetail: .callDetail
        case .threshold: .threshold
        case .controlRequest: .controlRequest
        case .welcome: .welcome
        case .error: .error
        case .ack: .ack
        case .controlResponse: .controlResponse
        }
    }

    @Test func daemonToPeerTypes_haveTheHighBitSet() {
        // 0x80 and above travel from the daemon; below, towards it.
        for type in Self.allTypes {
            let fromDaemon = [MessageType.welcome, .error, .ack, .threshold, .controlResponse].contains(type)
            #expect((type.rawValue & 0x80 != 0) == fromDaemon, "\(type)")
        }
    }
}
