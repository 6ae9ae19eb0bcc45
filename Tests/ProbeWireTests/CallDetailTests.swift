import Testing

@testable import ProbeWire

@Suite("CallDetail")
struct CallDetailTests {
    static let sample = CallDetail(
        operationID: 7, flags: [.slow], startNanoseconds: 1_000, startWallNanoseconds: 1_700_000_000_000_000_000,
        durationNanoseconds: 61_000_000, items: 32, errorTypeID: 0, errorDescription: "",
        attributes: [.init("batch", "32"), .init("shape", "32x3x224x224")])

    func reject(_ bytes: [UInt8]) -> WireErrorCode? {
        do throws(WireError) {
            _ = try WireDecoder.decode(bytes)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func slowCall_roundTrips() throws {
        let bytes = WireEncoder.callDetail(Self.sample)
        #expect(try WireDecoder.decode(bytes) == .callDetail(Self.sample))
    }

    @Test func failedCall_withErrorAndNoAttributes_roundTrips() throws {
        let d = CallDetail(
            operationID: 4095, flags: [.failed, .slow, .truncated], startNanoseconds: .max, startWallNanoseconds: 0,
            durationNanoseconds: 12, items: 1, errorTypeID: 3, errorDescription: "timeout after 2 s — ünïcode")
        #expect(try WireDecoder.decode(WireEncoder.callDetail(d)) == .callDetail(d))
    }

    @Test func callDetail_hasTheDocumentedByteLayout() {
        let d = CallDetail(
            operationID: 0x0102_0304, flags: [.failed], startNanoseconds: 0x1112_1314_1516_1718,
            startWallNanoseconds: 0x2122_2324_2526_2728, durationNanoseconds: 0x3132_3334_3536_3738, items: 5,
            errorTypeID: 9, errorDescription: "E!", attributes: [.init("k", "vv")])
        let b = WireEncoder.callDetail(d)
        let expected: [UInt8] = [
            0x05, 1, 0, 0, 60, 0, 0, 0,  // header: type, version, flags, length 60
            0x04, 0x03, 0x02, 0x01,  // operation_id
            0x01, 0, 0, 0,  // flags: failed
            0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,  // start_ns
            0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,  // start_wall_ns
            0x38, 0x37, 0x36, 0x35, 0x34, 0x33, 0x32, 0x31,  // duration_ns
            5, 0, 0, 0,  // items
            9, 0, 0, 0,  // error_type_id
            2, 0, 0x45, 0x21,  // error_length, "E!"
            1,  // attribute_count
            1, 0, 0x6B, 2, 0, 0x76, 0x76,  // "k" = "vv"
        ]
        #expect(b == expected)
    }

    @Test func threshold_hasTheDocumentedByteLayout_andRoundTrips() throws {
        let b = WireEncoder.threshold(operationID: 3, nanoseconds: 50_000_000)
        #expect(b == [0x84, 1, 0, 0, 24, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xF0, 0xFA, 0x02, 0, 0, 0, 0])
        #expect(try WireDecoder.decode(b) == .threshold(operationID: 3, nanoseconds: 50_000_000))
        #expect(try WireDecoder.decode(WireEncoder.threshold(operationID: 0, nanoseconds: 0)) == .threshold(operationID: 0, nanoseconds: 0))
    }

    @Test func threshold_withWrongSizeOrReservedBits_isRejected() {
        var b = WireEncoder.threshold(operationID: 3, nanoseconds: 1)
        b[12] = 1
        #expect(reject(b) == .reservedNonZero)
        var short = Array(WireEncoder.threshold(operationID: 3, nanoseconds: 1).dropLast())
        short[4] = 23
        #expect(reject(short) == .malformed)
    }

    @Test func applyLimits_cutsEverythingOverTheLimits_andMarksTruncated() throws {
        var d = Self.sample
        d.attributes = (0..<20).map { .init(String(format2: $0), "v") }
        d.attributes[0].key = String(repeating: "K", count: 100)  // sorts first, so it is kept
        d.attributes[1].value = String(repeating: "é", count: 200)  // 400 bytes, 2 per scalar
        d.errorDescription = String(repeating: "x", count: 511) + "€€"  // 517 bytes
        d.applyLimits()
        #expect(d.truncated)
        #expect(d.attributes.count == CallDetail.Limits.maxAttributes)
        #expect(d.attributes.allSatisfy { $0.key.utf8.count <= 64 && $0.value.utf8.count <= 256 })
        #expect(d.attributes.contains { $0.key == String(repeating: "K", count: 64) })
        #expect(d.attributes.contains { $0.value == String(repeating: "é", count: 128) })
        #expect(d.errorDescription == String(repeating: "x", count: 511))  // the € is not split
        #expect(try WireDecoder.decode(WireEncoder.callDetail(d)) == .callDetail(d))
    }

    @Test func applyLimits_leavesADetailWithinTheLimitsUntouched() {
        var d = Self.sample
        d.applyLimits()
        #expect(d == Self.sample)
        #expect(!d.truncated)
    }

    @Test func decoder_rejectsWhatIsOverTheHardLimits() {
        var tooMany = Self.sample
        tooMany.attributes = (0..<17).map { .init("k\($0)", "v") }
        #expect(reject(WireEncoder.callDetail(tooMany)) == .oversized)
        var longKey = Self.sample
        longKey.attributes = [.init(String(repeating: "k", count: 65), "v")]
        #expect(reject(WireEncoder.callDetail(longKey)) == .oversized)
        var longValue = Self.sample
        longValue.attributes = [.init("k", String(repeating: "v", count: 257))]
        #expect(reject(WireEncoder.callDetail(longValue)) == .oversized)
        var longError = Self.sample
        longError.errorDescription = String(repeating: "e", count: 513)
        #expect(reject(WireEncoder.callDetail(longError)) == .oversized)
    }

    @Test func decoder_rejectsMalformedDetails() {
        var neither = Self.sample
        neither.flags = []
        #expect(reject(WireEncoder.callDetail(neither)) == .malformed)
        var unknownBit = WireEncoder.callDetail(Self.sample)
        unknownBit[12] |= 0x08
        #expect(reject(unknownBit) == .reservedNonZero)
        var zeroItems = Self.sample
        zeroItems.items = 0
        #expect(reject(WireEncoder.callDetail(zeroItems)) == .malformed)
        var duplicate = Self.sample
        duplicate.attributes = [.init("a", "1"), .init("a", "2")]
        #expect(reject(WireEncoder.callDetail(duplicate)) == .malformed)
        var emptyKey = Self.sample
        emptyKey.attributes = [.init("", "1")]
        #expect(reject(WireEncoder.callDetail(emptyKey)) == .malformed)
        // A trailing byte, counted in the header's length.
        var trailing = WireEncoder.callDetail(Self.sample) + [0]
        trailing[4] &+= 1
        #expect(reject(trailing) == .malformed)
        // Cut inside the attributes.
        var cut = Array(WireEncoder.callDetail(Self.sample).dropLast(3))
        cut[4] &-= 3
        #expect(reject(cut) == .malformed)
        // Invalid UTF-8 in a value ("32" -> 0xFF 0x32).
        var bad = WireEncoder.callDetail(Self.sample)
        let at = bad.firstIndex(of: 0x33)!  // the "3" of "32"
        bad[at] = 0xFF
        #expect(reject(bad) == .malformed)
        // Shorter than the fixed part.
        var short = Array(WireEncoder.callDetail(Self.sample).prefix(50))
        short[4] = 50
        #expect(reject(short) == .malformed)
    }
}

extension String {
    /// "a00", "a01", …: keys that sort in creation order.
    init(format2 n: Int) { self = "a" + (n < 10 ? "0" : "") + String(n) }
}
