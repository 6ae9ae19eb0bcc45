import Foundation
import Testing

@testable import ProbeWire

@Suite("WireDecoder")
struct WireDecoderTests {
    @Test func vectors_loadFromProtocolFolder_withoutErrors() throws {
        let vectors = try ProtocolVectors.load()
        #expect(!vectors.isEmpty, "no vectors in \(ProtocolVectors.directory.path)")
        #expect(!ProtocolVectors.valid.isEmpty)
        #expect(!ProtocolVectors.invalid.isEmpty)
    }

    /// README.md's numbering: valid vectors 01-49; invalid ones 50-99, then 100 and up, named `…-bad-…`.
    @Test func vectors_followTheNumberingScheme() throws {
        for vector in try ProtocolVectors.load() {
            let number = try #require(ProtocolVectors.number(vector.name), "\(vector.name)")
            let rest = vector.name.drop { $0 != "-" }.dropFirst()
            #expect(vector.name.prefix { $0 != "-" }.count == (number < 100 ? 2 : 3), "\(vector.name)")
            if vector.expectedError == nil {
                #expect((1...49).contains(number) && !rest.hasPrefix("bad-"), "\(vector.name)")
            } else {
                #expect(number >= 50 && rest.hasPrefix("bad-"), "\(vector.name)")
            }
        }
    }

    @Test(arguments: ProtocolVectors.valid)
    func decode_validVector_matchesItsMeaningFieldByField(_ vector: ProtocolVector) throws {
        let message = try WireDecoder.decode(vector.bytes)
        expectMessage(message, matches: vector.meaning)
    }

    @Test(arguments: ProtocolVectors.invalid)
    func decode_invalidVector_throwsItsErrorCode(_ vector: ProtocolVector) {
        let meaning = vector.meaning
        let expectedNumber = (meaning["code"] as? NSNumber)?.uint16Value
        #expect(Set(meaning.keys) == ["error", "code", "note"])
        switch decodeResult(vector.bytes) {
        case .success(let message):
            Issue.record("decoded as \(message) instead of failing with \(vector.expectedError ?? "?")")
        case .failure(let error):
            #expect(error.code.description == vector.expectedError, "\(error)")
            #expect(error.code.rawValue == expectedNumber, "\(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test(arguments: ProtocolVectors.valid)
    func decode_everyProperPrefixOfValidVector_isMalformed(_ vector: ProtocolVector) {
        for n in 0..<vector.bytes.count {
            guard case .failure(let error) = decodeResult(Array(vector.bytes[0..<n])) else {
                Issue.record("prefix of \(n) bytes decoded")
                continue
            }
            #expect(error.code == .malformed, "prefix of \(n) bytes: \(error)")
        }
    }

    @Test(arguments: ProtocolVectors.valid)
    func decode_validVectorWithTrailingByte_isMalformed(_ vector: ProtocolVector) {
        guard case .failure(let error) = decodeResult(vector.bytes + [0]) else {
            Issue.record("decoded with a trailing byte")
            return
        }
        #expect(error.code == .malformed)
    }

    @Test func decode_twoMessagesInOnePacket_isMalformed() throws {
        let valid = ProtocolVectors.valid
        try #require(valid.count >= 2)
        for (a, b) in zip(valid, valid.dropFirst()) {
            guard case .failure(let error) = decodeResult(a.bytes + b.bytes) else {
                Issue.record("\(a.name) + \(b.name) decoded as one message")
                continue
            }
            #expect(error.code == .malformed, "\(a.name) + \(b.name): \(error)")
        }
    }

    /// Every single-byte change of every valid vector: the decoder answers (message or error),
    /// never traps, and anything it accepts re-encodes to the bytes it was given.
    @Test(arguments: ProtocolVectors.valid)
    func decode_validVectorWithAnyByteChanged_neverTrapsAndStaysCanonical(_ vector: ProtocolVector) {
        for i in vector.bytes.indices {
            for mask: UInt8 in [0x01, 0x02, 0x10, 0x80, 0xFF] {
                var bytes = vector.bytes
                bytes[i] ^= mask
                switch decodeResult(bytes) {
                case .failure:
                    break
                case .success(.error):
                    break  // ERROR text is decoded leniently (invalid UTF-8 is repaired), so it need not re-encode.
                case .success(let message):
                    #expect(encode(message) == bytes, "byte \(i) ^ 0x\(String(mask, radix: 16)) decoded as \(message)")
                }
            }
        }
    }

    @Test func decode_randomBytes_neverTraps() {
        var rng = SeededGenerator(seed: 0x5EED_0001)
        var accepted = 0
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if count >= 8 && Bool.random(using: &rng) {
                // Make the header plausible so the payload checks are reached too.
                bytes[0] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x81, 0x82, 0x83, 0x84, 0x90].randomElement(using: &rng)!
                bytes[1] = 1
                bytes[2] = 0
                bytes[3] = 0
                withUnsafeBytes(of: UInt32(count).littleEndian) { for j in 0..<4 { bytes[4 + j] = $0[j] } }
            }
            if case .success = decodeResult(bytes) { accepted += 1 }
        }
        #expect(accepted > 0)
    }

    @Test func header_whenLengthFieldDisagrees_isMalformed() {
        var bytes = WireEncoder.welcome(Welcome())
        bytes[4] &+= 1
        let code: WireErrorCode? = bytes.withUnsafeBytes { b in
            do throws(WireError) {
                _ = try WireDecoder.header(b)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code == .malformed)
    }

    @Test func decode_whenControlResponseHasFinalFlag_reportsFinal() throws {
        let message = try WireDecoder.decode(WireEncoder.controlResponse(final: true, chunk: Array("{}".utf8)))
        #expect(message == .controlResponse(final: true, chunk: Array("{}".utf8)))
    }

    @Test func decode_whenEventsHoldsMaximumRecords_succeeds() throws {
        let records = (0..<WireProtocol.maxEventsPerMessage).map {
            EventRecord(operationID: UInt32($0 % 4096), startNanoseconds: UInt64($0), durationNanoseconds: 1)
        }
        let bytes = WireEncoder.events(droppedTotal: 0, records: records)
        #expect(bytes.count == 65_528)
        #expect(try WireDecoder.decode(bytes) == .events(droppedTotal: 0, records: records))
    }

    @Test func decode_whenMemoryDeltasHoldsMaximumRecords_succeeds() throws {
        #expect(WireProtocol.maxMemoryDeltasPerMessage == 4094)
        let records = (0..<WireProtocol.maxMemoryDeltasPerMessage).map {
            MemoryDeltaRecord(operationID: UInt32($0 % 4096), deltaBytes: Int64($0) - 2000)
        }
        let bytes = WireEncoder.memoryDeltas(droppedTotal: 1, records: records)
        #expect(bytes.count == 65_528)
        #expect(try WireDecoder.decode(bytes) == .memoryDeltas(droppedTotal: 1, records: records))
    }

    @Test func decode_whenMessageIsExactlyTheLimit_isNotOversized() {
        // A 65536-byte CONTROL_RESPONSE is legal; one byte more is not.
        let chunk = [UInt8](repeating: 0x61, count: WireEncoder.maxControlChunk)
        let atLimit = WireEncoder.controlResponse(final: true, chunk: chunk)
        #expect(atLimit.count == WireProtocol.maxMessageBytes)
        #expect((try? WireDecoder.decode(atLimit)) != nil)
        let over = WireEncoder.controlResponse(final: true, chunk: chunk + [0x61])
        guard case .failure(let error) = decodeResult(over) else {
            Issue.record("oversized message decoded")
            return
        }
        #expect(error.code == .oversized)
    }

    @Test func decode_whenControlRequestIsExactlyTheLimit_succeeds() throws {
        let text = String(repeating: "x", count: WireProtocol.maxControlRequestBytes)
        #expect(try WireDecoder.decode(WireEncoder.controlRequest(text)) == .controlRequest(text))
    }

    /// PROTOCOL.md: reserved fields must be zero, WELCOME's one (bytes 10–11) included. Bytes
    /// 22–23 are `features`, not reserved: any bits are accepted (see MemoryDeltaRecordTests).
    @Test func decode_whenWelcomeReservedFieldIsNonZero_isReservedNonZero() {
        var bytes = WireEncoder.welcome(Welcome())
        bytes[10] = 1
        guard case .failure(let error) = decodeResult(bytes) else {
            Issue.record("WELCOME with reserved byte 10 = 1 was accepted")
            return
        }
        #expect(error.code == .reservedNonZero)
    }

    @Test func decode_whenErrorCodeIsUnknown_keepsTheNumber() throws {
        let bytes = WireEncoder.error(WireError(WireErrorCode(rawValue: 999), "from a newer daemon"))
        guard case .error(let e) = try WireDecoder.decode(bytes) else {
            Issue.record("not decoded as ERROR")
            return
        }
        #expect(e.code.rawValue == 999)
        #expect(e.code.description == "code_999")
    }
}
