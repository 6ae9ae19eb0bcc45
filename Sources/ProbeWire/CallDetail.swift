/// One slow or failed call with its context, as it travels in a CALL_DETAIL message (`0x05`).
///
/// The call is also an ordinary event in EVENTS, so counts and percentiles stay exact; this
/// message only adds what an operator needs to see *which* call it was. Text fields are bounded
/// by `CallDetail.Limits`; a client cuts what is longer and sets `truncated` (`applyLimits()`),
/// and the daemon refuses a message over the limits with `oversized`.
public struct CallDetail: Hashable, Sendable {
    /// The bounds on a detail's text; the daemon refuses a CALL_DETAIL over any of them.
    public enum Limits {
        /// Attributes per call.
        public static let maxAttributes = 16
        /// Bytes of one attribute key (UTF-8, at least 1).
        public static let maxKeyBytes = 64
        /// Bytes of one attribute value (UTF-8, may be empty).
        public static let maxValueBytes = 256
        /// Bytes of the error description (UTF-8).
        public static let maxErrorBytes = 512
    }

    /// Bits of a CALL_DETAIL's `flags` field.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// The call failed (threw, or was recorded as failed).
        public static let failed = Flags(rawValue: 1 << 0)
        /// The call took longer than its operation's slow threshold.
        public static let slow = Flags(rawValue: 1 << 1)
        /// The client cut an attribute or the error description, or left attributes out, to fit the limits.
        public static let truncated = Flags(rawValue: 1 << 2)
        /// Every bit defined; any other is `reserved_nonzero`.
        public static let known: Flags = [.failed, .slow, .truncated]
    }

    /// One key/value pair describing the call's input, e.g. `batch` = `32`.
    public struct Attribute: Hashable, Sendable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) {
            self.key = key
            self.value = value
        }
    }

    public var operationID: UInt32
    public var flags: Flags
    /// CLOCK_MONOTONIC when the call started, ns (the same clock as the call's event record).
    public var startNanoseconds: UInt64
    /// CLOCK_REALTIME when the call started, ns since the Unix epoch.
    public var startWallNanoseconds: UInt64
    public var durationNanoseconds: UInt64
    /// Items the call processed (a batch's size); at least 1.
    public var items: UInt32
    /// The error type id (DEFINE kind 2) of a failed call; 0 when none.
    public var errorTypeID: UInt32
    /// `String(describing: error)` of a failed call; empty when none.
    public var errorDescription: String
    /// In the order sent; keys are unique.
    public var attributes: [Attribute]

    public init(
        operationID: UInt32, flags: Flags, startNanoseconds: UInt64, startWallNanoseconds: UInt64,
        durationNanoseconds: UInt64, items: UInt32 = 1, errorTypeID: UInt32 = 0, errorDescription: String = "",
        attributes: [Attribute] = []
    ) {
        self.operationID = operationID
        self.flags = flags
        self.startNanoseconds = startNanoseconds
        self.startWallNanoseconds = startWallNanoseconds
        self.durationNanoseconds = durationNanoseconds
        self.items = items
        self.errorTypeID = errorTypeID
        self.errorDescription = errorDescription
        self.attributes = attributes
    }

    public var failed: Bool { flags.contains(.failed) }
    public var slow: Bool { flags.contains(.slow) }
    public var truncated: Bool { flags.contains(.truncated) }

    /// Cuts everything over `Limits` so the detail can be sent, and sets `truncated` when
    /// anything was cut. Attributes past the 16th (sorted by key, so the choice is stable) are
    /// left out; an empty key becomes `_`; text is cut between Unicode scalars.
    public mutating func applyLimits() {
        var cut = false
        if attributes.count > Limits.maxAttributes {
            attributes.sort { $0.key < $1.key }
            attributes.removeSubrange(Limits.maxAttributes...)
            cut = true
        }
        for i in attributes.indices {
            if attributes[i].key.isEmpty { attributes[i].key = "_" }
            if attributes[i].key.utf8.count > Limits.maxKeyBytes {
                attributes[i].key = String(decoding: WireEncoder.clampName(attributes[i].key, limit: Limits.maxKeyBytes), as: UTF8.self)
                cut = true
            }
            if attributes[i].value.utf8.count > Limits.maxValueBytes {
                attributes[i].value = String(decoding: WireEncoder.clampName(attributes[i].value, limit: Limits.maxValueBytes), as: UTF8.self)
                cut = true
            }
        }
        // Cutting (or "_" for an empty key) can make two keys equal: keep the first, mark the cut.
        var seen = Set<[UInt8]>()
        let before = attributes.count
        attributes.removeAll { !seen.insert(Array($0.key.utf8)).inserted }
        if attributes.count != before { cut = true }
        if errorDescription.utf8.count > Limits.maxErrorBytes {
            errorDescription = String(decoding: WireEncoder.clampName(errorDescription, limit: Limits.maxErrorBytes), as: UTF8.self)
            cut = true
        }
        if items == 0 { items = 1 }
        if cut { flags.insert(.truncated) }
    }
}

extension WireProtocol {
    /// Bytes of a CALL_DETAIL before its error description (header included).
    public static let callDetailPrefixSize = headerSize + 42
    /// Size of a THRESHOLD message.
    public static let thresholdSize = headerSize + 16
}

extension DaemonFeatures {
    /// The daemon accepts CALL_DETAIL messages and sends THRESHOLD.
    public static let callDetails = DaemonFeatures(rawValue: 1 << 1)
}

extension WireEncoder {
    /// CALL_DETAIL; the caller has applied the limits (`CallDetail.applyLimits()`), otherwise the
    /// daemon refuses the message.
    public static func callDetail(_ d: CallDetail) -> [UInt8] {
        let error = Array(d.errorDescription.utf8)
        var length = WireProtocol.callDetailPrefixSize + error.count + 1
        for a in d.attributes { length += 4 + a.key.utf8.count + a.value.utf8.count }
        var w = ByteWriter(capacity: length)
        header(.callDetail, length: length, into: &w)
        w.u32(d.operationID)
        w.u32(d.flags.rawValue)
        w.u64(d.startNanoseconds)
        w.u64(d.startWallNanoseconds)
        w.u64(d.durationNanoseconds)
        w.u32(d.items)
        w.u32(d.errorTypeID)
        w.u16(UInt16(truncatingIfNeeded: error.count))
        w.raw(error)
        w.u8(UInt8(truncatingIfNeeded: d.attributes.count))
        for a in d.attributes {
            w.u16(UInt16(truncatingIfNeeded: a.key.utf8.count))
            w.raw(a.key.utf8)
            w.u16(UInt16(truncatingIfNeeded: a.value.utf8.count))
            w.raw(a.value.utf8)
        }
        return w.bytes
    }

    /// THRESHOLD: the daemon's slow-call threshold for one of the client's operations (0 = none).
    public static func threshold(operationID: UInt32, nanoseconds: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: WireProtocol.thresholdSize)
        header(.threshold, length: WireProtocol.thresholdSize, into: &w)
        w.u32(operationID)
        w.u32(0)
        w.u64(nanoseconds)
        return w.bytes
    }
}

extension WireDecoder {
    /// The payload of a CALL_DETAIL, checked in order: size, flags, items, error length and text,
    /// attribute count, then each attribute, then that nothing follows the last one.
    static func callDetail(_ b: UnsafeRawBufferPointer) throws(WireError) -> CallDetail {
        let h = WireProtocol.headerSize
        let prefix = WireProtocol.callDetailPrefixSize
        try need(b, prefix + 1, "CALL_DETAIL")
        let flags = b.u32(h + 4)
        guard flags & ~CallDetail.Flags.known.rawValue == 0 else {
            throw WireError(.reservedNonZero, "CALL_DETAIL has unknown flag bits 0x\(String(flags, radix: 16))")
        }
        let parsed = CallDetail.Flags(rawValue: flags)
        guard !parsed.intersection([.failed, .slow]).isEmpty else {
            throw WireError(.malformed, "CALL_DETAIL is neither failed nor slow (flags 0x\(String(flags, radix: 16)))")
        }
        let items = b.u32(h + 32)
        guard items >= 1 else { throw WireError(.malformed, "CALL_DETAIL has items 0; a call processes at least 1") }
        let errorLength = Int(b.u16(h + 40))
        guard errorLength <= CallDetail.Limits.maxErrorBytes else {
            throw WireError(.oversized, "CALL_DETAIL error description of \(errorLength) bytes exceeds \(CallDetail.Limits.maxErrorBytes)")
        }
        var offset = prefix
        let error = try text(b, at: &offset, count: errorLength, what: "error description")
        guard offset < b.count else { throw WireError(.malformed, "CALL_DETAIL ends before its attribute count") }
        let count = Int(b.u8(offset))
        offset += 1
        guard count <= CallDetail.Limits.maxAttributes else {
            throw WireError(.oversized, "CALL_DETAIL has \(count) attributes; the limit is \(CallDetail.Limits.maxAttributes)")
        }
        var attributes: [CallDetail.Attribute] = []
        attributes.reserveCapacity(count)
        for i in 0..<count {
            guard offset + 2 <= b.count else { throw WireError(.malformed, "CALL_DETAIL ends inside attribute \(i)") }
            let keyLength = Int(b.u16(offset))
            offset += 2
            guard keyLength >= 1 else { throw WireError(.malformed, "CALL_DETAIL attribute \(i) has an empty key") }
            guard keyLength <= CallDetail.Limits.maxKeyBytes else {
                throw WireError(.oversized, "CALL_DETAIL attribute \(i) key of \(keyLength) bytes exceeds \(CallDetail.Limits.maxKeyBytes)")
            }
            let key = try text(b, at: &offset, count: keyLength, what: "attribute \(i) key")
            guard offset + 2 <= b.count else { throw WireError(.malformed, "CALL_DETAIL ends inside attribute \(i)") }
            let valueLength = Int(b.u16(offset))
            offset += 2
            guard valueLength <= CallDetail.Limits.maxValueBytes else {
                throw WireError(.oversized, "CALL_DETAIL attribute \(i) value of \(valueLength) bytes exceeds \(CallDetail.Limits.maxValueBytes)")
            }
            let value = try text(b, at: &offset, count: valueLength, what: "attribute \(i) value")
            // Byte for byte: String == would call canonically equivalent keys duplicates.
            guard !attributes.contains(where: { $0.key.utf8.elementsEqual(key.utf8) }) else {
                throw WireError(.malformed, "CALL_DETAIL attribute key \"\(key)\" appears twice")
            }
            attributes.append(CallDetail.Attribute(key, value))
        }
        guard offset == b.count else {
            throw WireError(.malformed, "CALL_DETAIL has \(b.count - offset) bytes after its last attribute")
        }
        return CallDetail(
            operationID: b.u32(h), flags: parsed, startNanoseconds: b.u64(h + 8), startWallNanoseconds: b.u64(h + 16),
            durationNanoseconds: b.u64(h + 24), items: items, errorTypeID: b.u32(h + 36), errorDescription: error,
            attributes: attributes)
    }

    /// `count` bytes of UTF-8 at `offset` (advanced past them).
    static func text(_ b: UnsafeRawBufferPointer, at offset: inout Int, count: Int, what: String) throws(WireError) -> String {
        guard offset + count <= b.count else { throw WireError(.malformed, "CALL_DETAIL ends inside its \(what)") }
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: b[offset..<(offset + count)]), as: UTF8.self) else {
            throw WireError(.malformed, "CALL_DETAIL \(what) is not valid UTF-8")
        }
        offset += count
        return s
    }

    static func threshold(_ b: UnsafeRawBufferPointer) throws(WireError) -> Message {
        let h = WireProtocol.headerSize
        try exact(b, WireProtocol.thresholdSize, "THRESHOLD")
        guard b.u32(h + 4) == 0 else { throw WireError(.reservedNonZero, "THRESHOLD reserved field is not zero") }
        return .threshold(operationID: b.u32(h), nanoseconds: b.u64(h + 8))
    }
}
