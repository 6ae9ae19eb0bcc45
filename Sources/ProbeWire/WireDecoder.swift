/// Decodes one protocol v1 message. Checks run in a fixed order — size, header length, version,
/// type, flags, reserved fields, then the payload — and the first failure is reported.
/// Never traps on any input (fuzzed by `Tools/fuzz`).
public enum WireDecoder {
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Message {
        let result: Result<Message, WireError> = bytes.withUnsafeBytes { buffer in
            do throws(WireError) { return .success(try decode(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Checks the header alone; returns the message type and flags.
    public static func header(_ b: UnsafeRawBufferPointer) throws(WireError) -> (MessageType, UInt16) {
        guard b.count >= WireProtocol.headerSize else {
            throw WireError(.malformed, "message of \(b.count) bytes is shorter than the 8-byte header")
        }
        guard b.count <= WireProtocol.maxMessageBytes else {
            throw WireError(.oversized, "message of \(b.count) bytes exceeds the limit of \(WireProtocol.maxMessageBytes)")
        }
        let length = Int(b.u32(4))
        guard length == b.count else {
            throw WireError(.malformed, "header says \(length) bytes but the message has \(b.count)")
        }
        let version = b.u8(1)
        guard version == UInt8(WireProtocol.version) else {
            throw WireError(.unsupportedVersion, "message version \(version); this daemon speaks version \(WireProtocol.version)")
        }
        guard let type = MessageType(rawValue: b.u8(0)) else {
            throw WireError(.unknownType, "unknown message type 0x\(String(b.u8(0), radix: 16))")
        }
        let flags = b.u16(2)
        let allowedFlags: UInt16 = type == .controlResponse ? 1 : 0
        guard flags & ~allowedFlags == 0 else {
            throw WireError(.reservedNonZero, "flags 0x\(String(flags, radix: 16)) set on a \(type) message")
        }
        return (type, flags)
    }

    public static func decode(_ b: UnsafeRawBufferPointer) throws(WireError) -> Message {
        let (type, flags) = try header(b)
        let h = WireProtocol.headerSize
        switch type {
        case .hello:
            try need(b, h + 10, "HELLO")
            let nameLength = Int(b.u16(h + 8))
            try exact(b, h + 10 + nameLength, "HELLO")
            let service = try name(b, from: h + 10, count: nameLength, what: "service name")
            return .hello(Hello(minVersion: b.u16(h), maxVersion: b.u16(h + 2), pid: b.u32(h + 4), service: service))
        case .define:
            try need(b, h + 8, "DEFINE")
            let nameLength = Int(b.u16(h + 6))
            try exact(b, h + 8 + nameLength, "DEFINE")
            let flags = OperationFlags(rawValue: b.u8(h + 5))
            guard flags.isSubset(of: .known) else {
                throw WireError(.reservedNonZero, "DEFINE flags 0x\(String(flags.rawValue, radix: 16)) set a bit v1 does not define")
            }
            guard let kind = DefinitionKind(rawValue: b.u8(h + 4)) else {
                throw WireError(.malformed, "DEFINE kind \(b.u8(h + 4)) is neither 1 (operation) nor 2 (error type)")
            }
            guard kind == .operation || flags.isEmpty else {
                throw WireError(.reservedNonZero, "DEFINE of an error type with flags 0x\(String(flags.rawValue, radix: 16)); flags are for operations")
            }
            let id = b.u32(h)
            guard id < WireProtocol.maxOperations else {
                throw WireError(.limitExceeded, "id \(id) is over the limit of \(WireProtocol.maxOperations - 1)")
            }
            if kind == .errorType && id == 0 {
                throw WireError(.malformed, "error type id 0 is reserved for \"no error type\"")
            }
            let text = try name(b, from: h + 8, count: nameLength, what: kind == .operation ? "operation name" : "error type name")
            return .define(Definition(id: id, kind: kind, name: text, flags: flags))
        case .events:
            try need(b, WireProtocol.eventsPrefixSize, "EVENTS")
            let count = Int(b.u32(h))
            guard b.u32(h + 4) == 0 else { throw WireError(.reservedNonZero, "EVENTS reserved field is not zero") }
            guard count <= WireProtocol.maxEventsPerMessage else {
                throw WireError(.oversized, "EVENTS count \(count) exceeds \(WireProtocol.maxEventsPerMessage)")
            }
            try exact(b, WireProtocol.eventsPrefixSize + count * WireProtocol.eventRecordSize, "EVENTS with \(count) records")
            return .events(droppedTotal: b.u64(h + 8), records: try eventRecords(b, at: WireProtocol.eventsPrefixSize, count: count))
        case .memoryDeltas:
            try need(b, WireProtocol.memoryPrefixSize, "MEMORY")
            let count = Int(b.u32(h))
            guard b.u32(h + 4) == 0 else { throw WireError(.reservedNonZero, "MEMORY reserved field is not zero") }
            guard count <= WireProtocol.maxMemoryDeltasPerMessage else {
                throw WireError(.oversized, "MEMORY count \(count) exceeds \(WireProtocol.maxMemoryDeltasPerMessage)")
            }
            try exact(b, WireProtocol.memoryPrefixSize + count * WireProtocol.memoryDeltaRecordSize, "MEMORY with \(count) records")
            var records: [MemoryDeltaRecord] = []
            records.reserveCapacity(count)
            for i in 0..<count {
                let offset = WireProtocol.memoryPrefixSize + i * WireProtocol.memoryDeltaRecordSize
                guard b.u32(offset + 4) == 0 else {
                    throw WireError(.reservedNonZero, "memory record \(i) has flags 0x\(String(b.u32(offset + 4), radix: 16)); v1 defines none")
                }
                records.append(MemoryDeltaRecord(operationID: b.u32(offset), deltaBytes: Int64(bitPattern: b.u64(offset + 8))))
            }
            return .memoryDeltas(droppedTotal: b.u64(h + 8), records: records)
        case .callDetail:
            return .callDetail(try callDetail(b))
        case .threshold:
            return try threshold(b)
        case .controlRequest:
            guard b.count - h <= WireProtocol.maxControlRequestBytes else {
                throw WireError(.oversized, "control request of \(b.count - h) bytes exceeds \(WireProtocol.maxControlRequestBytes)")
            }
            guard let text = String(validating: UnsafeRawBufferPointer(rebasing: b[h...]), as: UTF8.self) else {
                throw WireError(.badControlRequest, "control request is not valid UTF-8")
            }
            return .controlRequest(text)
        case .welcome:
            try exact(b, h + 16, "WELCOME")
            guard b.u16(h + 2) == 0 else { throw WireError(.reservedNonZero, "WELCOME reserved field is not zero") }
            return .welcome(Welcome(
                version: b.u16(h), maxMessageBytes: b.u32(h + 4), maxOperations: b.u32(h + 8), maxNameBytes: b.u16(h + 12),
                features: DaemonFeatures(rawValue: b.u16(h + 14))))
        case .error:
            try need(b, h + 4, "ERROR")
            let textLength = Int(b.u16(h + 2))
            try exact(b, h + 4 + textLength, "ERROR")
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[(h + 4)...]), as: UTF8.self)
            return .error(WireError(WireErrorCode(rawValue: b.u16(h)), text))
        case .ack:
            try exact(b, h + 8, "ACK")
            return .ack(eventsAccepted: b.u64(h))
        case .controlResponse:
            return .controlResponse(final: flags & 1 == 1, chunk: Array(b[h...]))
        }
    }

    /// Reads and checks `count` event records from `offset`. Where the in-memory layout is the
    /// wire's, one pass checks the fields and one copy makes the array: this runs for every
    /// event probed receives (millions per second), so no per-record append.
    static func eventRecords(_ b: UnsafeRawBufferPointer, at offset: Int, count: Int) throws(WireError) -> [EventRecord] {
        guard EventRecord.layoutMatchesWire else {
            var records: [EventRecord] = []
            records.reserveCapacity(count)
            for i in 0..<count {
                records.append(try eventRecord(b, at: offset + i * WireProtocol.eventRecordSize, index: i))
            }
            return records
        }
        var flags: UInt32 = 0
        var fewestItems: UInt32 = .max
        for i in 0..<count {
            let at = offset + i * WireProtocol.eventRecordSize
            flags |= b.u32(at + 4)
            fewestItems = min(fewestItems, b.u32(at + 24))
        }
        if flags & ~EventFlags.known.rawValue != 0 || fewestItems == 0 {
            // Name the first bad record, with the same words as the record-by-record path.
            for i in 0..<count { _ = try eventRecord(b, at: offset + i * WireProtocol.eventRecordSize, index: i) }
        }
        return [EventRecord](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                    from: b.baseAddress! + offset, byteCount: count * WireProtocol.eventRecordSize)
            }
            initialized = count
        }
    }

    /// Reads and checks one 32-byte event record at `offset`.
    @inline(__always)
    public static func eventRecord(_ b: UnsafeRawBufferPointer, at offset: Int, index: Int) throws(WireError) -> EventRecord {
        let flags = b.u32(offset + 4)
        guard flags & ~EventFlags.known.rawValue == 0 else {
            throw WireError(.reservedNonZero, "record \(index) has unknown flag bits 0x\(String(flags, radix: 16))")
        }
        let items = b.u32(offset + 24)
        guard items >= 1 else { throw WireError(.malformed, "record \(index) has items 0; a call processes at least 1") }
        return EventRecord(
            operationID: b.u32(offset), flags: EventFlags(rawValue: flags), startNanoseconds: b.u64(offset + 8),
            durationNanoseconds: b.u64(offset + 16), items: items, errorTypeID: b.u32(offset + 28))
    }

    static func need(_ b: UnsafeRawBufferPointer, _ n: Int, _ what: String) throws(WireError) {
        guard b.count >= n else { throw WireError(.malformed, "\(what) needs at least \(n) bytes, got \(b.count)") }
    }

    static func exact(_ b: UnsafeRawBufferPointer, _ n: Int, _ what: String) throws(WireError) {
        guard b.count == n else { throw WireError(.malformed, "\(what) must be \(n) bytes, got \(b.count)") }
    }

    /// A name: 1 to `maxNameBytes` bytes of UTF-8 with no control characters.
    static func name(_ b: UnsafeRawBufferPointer, from: Int, count: Int, what: String) throws(WireError) -> String {
        guard count >= 1 else { throw WireError(.badName, "\(what) is empty") }
        guard count <= WireProtocol.maxNameBytes else {
            throw WireError(.badName, "\(what) of \(count) bytes exceeds \(WireProtocol.maxNameBytes)")
        }
        let slice = UnsafeRawBufferPointer(rebasing: b[from..<(from + count)])
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw WireError(.badName, "\(what) is not valid UTF-8")
        }
        guard !slice.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw WireError(.badName, "\(what) contains a control character")
        }
        return text
    }
}
