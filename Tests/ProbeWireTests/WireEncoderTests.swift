import Testing

@testable import ProbeWire

@Suite("WireEncoder")
struct WireEncoderTests {
    @Test(arguments: ProtocolVectors.valid)
    func encode_decodedValidVector_reproducesItsBytes(_ vector: ProtocolVector) throws {
        let message = try WireDecoder.decode(vector.bytes)
        #expect(encode(message) == vector.bytes)
    }

    @Test func encodeThenDecode_randomMessages_returnsTheSameMessage() throws {
        let seed: UInt64 = 0x0B5E_55ED
        var rng = SeededGenerator(seed: seed)
        for i in 0..<3_000 {
            let message = rng.message()
            let bytes = encode(message)
            #expect(bytes.count <= WireProtocol.maxMessageBytes)
            let decoded: Message
            do throws(WireError) {
                decoded = try WireDecoder.decode(bytes)
            } catch {
                Issue.record("seed \(seed) iteration \(i): \(message) failed to decode: \(error)")
                continue
            }
            #expect(decoded == message, "seed \(seed) iteration \(i)")
            // String equality is canonical equivalence; the bytes must match exactly too.
            #expect(encode(decoded) == bytes, "seed \(seed) iteration \(i)")
        }
    }

    @Test func writeEvents_sameRecords_producesTheSameBytesAsEvents() {
        var rng = SeededGenerator(seed: 0xE7E7)
        var counts = [0, 1, 2, 3, 64, WireProtocol.maxEventsPerMessage]
        counts += (0..<40).map { _ in Int.random(in: 0...300, using: &rng) }
        for count in counts {
            let records = (0..<count).map { _ in rng.record() }
            let dropped = rng.u64()
            let expected = WireEncoder.events(droppedTotal: dropped, records: records)
            // One sentinel byte past the message shows nothing is written beyond its length.
            let capacity = expected.count + 1
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            defer { buffer.deallocate() }
            buffer.initializeMemory(as: UInt8.self, repeating: 0xA5, count: capacity)
            // The records come from a buffer of their own, as the client's flusher passes them.
            let source = UnsafeMutablePointer<EventRecord>.allocate(capacity: max(count, 1))
            defer { source.deallocate() }
            for (i, r) in records.enumerated() { (source + i).initialize(to: r) }
            let length = WireEncoder.writeEvents(into: buffer, droppedTotal: dropped, records: source, count: count)
            let written = Array(UnsafeRawBufferPointer(start: buffer, count: capacity))
            #expect(length == expected.count, "count \(count)")
            #expect(Array(written[0..<expected.count]) == expected, "count \(count)")
            #expect(written[expected.count] == 0xA5, "count \(count): wrote past the message")
        }
    }

    @Test func writeEvents_overDirtyBuffer_zeroesTheReservedField() {
        let records = [EventRecord(operationID: 1, startNanoseconds: 2, durationNanoseconds: 3)]
        let expected = WireEncoder.events(droppedTotal: 9, records: records)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: expected.count, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xFF, count: expected.count)
        let length = records.withUnsafeBufferPointer {
            WireEncoder.writeEvents(into: buffer, droppedTotal: 9, records: $0.baseAddress!, count: 1)
        }
        #expect(Array(UnsafeRawBufferPointer(start: buffer, count: length)) == expected)
    }

    @Test func clampName_whenNameFits_returnsItUnchanged() {
        for name in ["", "a", "predict", String(repeating: "é", count: 64), String(repeating: "x", count: 128)] {
            #expect(WireEncoder.clampName(name) == Array(name.utf8))
        }
    }

    @Test func clampName_whenCutFallsInsideACharacter_backsOffToItsStart() {
        // "a" then 64 two-byte characters: byte 128 is the first half of the 64th "é".
        let long = "a" + String(repeating: "é", count: 64)
        #expect(WireEncoder.clampName(long) == Array(("a" + String(repeating: "é", count: 63)).utf8))
        // A four-byte character straddling the limit is dropped whole.
        #expect(WireEncoder.clampName("abc🙂", limit: 5) == Array("abc".utf8))
        #expect(WireEncoder.clampName("abc🙂", limit: 7) == Array("abc🙂".utf8))
        #expect(WireEncoder.clampName("€", limit: 2) == [])
        #expect(WireEncoder.clampName("abc", limit: 0) == [])
    }

    @Test func clampName_randomTextAndLimits_neverSplitsAUTF8Character() {
        var rng = SeededGenerator(seed: 0xC1A3)
        for _ in 0..<5_000 {
            let text = rng.text(maxBytes: 400, printable: false)
            let limit = Int.random(in: 0...200, using: &rng)
            let utf8 = Array(text.utf8)
            let clamped = WireEncoder.clampName(text, limit: limit)
            #expect(clamped.count <= limit)
            #expect(Array(utf8.prefix(clamped.count)) == clamped, "not a prefix")
            #expect(String(validating: clamped, as: UTF8.self) != nil, "split a character: \(clamped)")
            if utf8.count > limit {
                // As long as possible: the cut is on a character boundary at most 3 bytes short.
                #expect(clamped.count > limit - 4)
                #expect(utf8[clamped.count] & 0xC0 != 0x80)
            } else {
                #expect(clamped == utf8)
            }
        }
    }

    @Test func error_whenMessageIsLong_cutsTextTo1024BytesAndStillDecodes() throws {
        let long = String(repeating: "ü", count: 700)  // 1400 bytes
        let bytes = WireEncoder.error(WireError(.malformed, long))
        #expect(bytes.count == 12 + 1024)
        guard case .error(let e) = try WireDecoder.decode(bytes) else {
            Issue.record("not decoded as ERROR")
            return
        }
        #expect(e.code == .malformed)
        #expect(e.message == String(repeating: "ü", count: 512))
    }
}
