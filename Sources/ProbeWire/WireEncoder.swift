/// Builds protocol v1 messages. Each function returns one complete message, header included.
public enum WireEncoder {
    /// The 8-byte header: type, version, flags, total length.
    static func header(_ type: MessageType, flags: UInt16 = 0, length: Int, into w: inout ByteWriter) {
        w.u8(type.rawValue)
        w.u8(UInt8(WireProtocol.version))
        w.u16(flags)
        w.u32(UInt32(length))
    }

    /// Makes `name` acceptable as a name on the wire: control characters (U+0000–U+001F, U+007F)
    /// become spaces, an empty name becomes "unnamed", and it is cut to at most `limit` UTF-8
    /// bytes between Unicode scalars (a combining accent or half a flag may be lost at the cut).
    public static func sanitizedName(_ name: String, limit: Int = WireProtocol.maxNameBytes) -> String {
        let cleaned = String(String.UnicodeScalarView(name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        return String(decoding: clampName(cleaned.isEmpty ? "unnamed" : cleaned, limit: limit), as: UTF8.self)
    }

    /// Cuts `name` to at most `limit` UTF-8 bytes without splitting a Unicode scalar.
    public static func clampName(_ name: String, limit: Int = WireProtocol.maxNameBytes) -> [UInt8] {
        var utf8 = Array(name.utf8)
        if utf8.count <= limit { return utf8 }
        var end = limit
        // Step back over continuation bytes (10xxxxxx) so the cut falls on a scalar boundary.
        while end > 0 && (utf8[end] & 0xC0) == 0x80 { end -= 1 }
        utf8.removeSubrange(end...)
        return utf8
    }

    public static func hello(_ h: Hello) -> [UInt8] {
        let name = Array(h.service.utf8)
        let length = WireProtocol.headerSize + 10 + name.count
        var w = ByteWriter(capacity: length)
        header(.hello, length: length, into: &w)
        w.u16(h.minVersion)
        w.u16(h.maxVersion)
        w.u32(h.pid)
        w.u16(UInt16(truncatingIfNeeded: name.count))
        w.raw(name)
        return w.bytes
    }

    public static func define(_ d: Definition) -> [UInt8] {
        let name = Array(d.name.utf8)
        let length = WireProtocol.headerSize + 8 + name.count
        var w = ByteWriter(capacity: length)
        header(.define, length: length, into: &w)
        w.u32(d.id)
        w.u8(d.kind.rawValue)
        w.u8(d.flags.rawValue)
        w.u16(UInt16(truncatingIfNeeded: name.count))
        w.raw(name)
        return w.bytes
    }

    public static func events(droppedTotal: UInt64, records: [EventRecord]) -> [UInt8] {
        let length = WireProtocol.eventsPrefixSize + records.count * WireProtocol.eventRecordSize
        var w = ByteWriter(capacity: length)
        header(.events, length: length, into: &w)
        w.u32(UInt32(records.count))
        w.u32(0)
        w.u64(droppedTotal)
        for r in records {
            w.u32(r.operationID)
            w.u32(r.flags)
            w.u64(r.startNanoseconds)
            w.u64(r.durationNanoseconds)
            w.u32(r.items)
            w.u32(r.errorTypeID)
        }
        return w.bytes
    }

    /// The 24-byte start shared by EVENTS and MEMORY_DELTAS: header, record count, reserved 0,
    /// and the client's cumulative drop count.
    @inline(__always)
    static func writeBatchPrefix(
        _ type: MessageType, into buffer: UnsafeMutableRawPointer, length: Int, count: Int, droppedTotal: UInt64
    ) {
        buffer.storeBytes(of: type.rawValue, toByteOffset: 0, as: UInt8.self)
        buffer.storeBytes(of: UInt8(WireProtocol.version), toByteOffset: 1, as: UInt8.self)
        buffer.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        buffer.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 8, as: UInt32.self)
        buffer.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
        buffer.storeBytes(of: droppedTotal.littleEndian, toByteOffset: 16, as: UInt64.self)
    }

    /// Writes an EVENTS message for `count` records straight into `buffer` (at least
    /// `eventsPrefixSize + count * 32` bytes); the records are copied from `records`.
    /// Returns the message length. Allocates nothing: this is the client's flush path.
    public static func writeEvents(
        into buffer: UnsafeMutableRawPointer, droppedTotal: UInt64,
        records: UnsafePointer<EventRecord>, count: Int
    ) -> Int {
        let length = WireProtocol.eventsPrefixSize + count * WireProtocol.eventRecordSize
        writeBatchPrefix(.events, into: buffer, length: length, count: count, droppedTotal: droppedTotal)
        let body = buffer + WireProtocol.eventsPrefixSize
        if EventRecord.layoutMatchesWire {
            body.copyMemory(from: records, byteCount: count * WireProtocol.eventRecordSize)
        } else {
            for i in 0..<count {
                let r = records[i]
                let p = body + i * WireProtocol.eventRecordSize
                p.storeBytes(of: r.operationID.littleEndian, toByteOffset: 0, as: UInt32.self)
                p.storeBytes(of: r.flags.littleEndian, toByteOffset: 4, as: UInt32.self)
                p.storeBytes(of: r.startNanoseconds.littleEndian, toByteOffset: 8, as: UInt64.self)
                p.storeBytes(of: r.durationNanoseconds.littleEndian, toByteOffset: 16, as: UInt64.self)
                p.storeBytes(of: r.items.littleEndian, toByteOffset: 24, as: UInt32.self)
                p.storeBytes(of: r.errorTypeID.littleEndian, toByteOffset: 28, as: UInt32.self)
            }
        }
        return length
    }

    public static func memoryDeltas(droppedTotal: UInt64, records: [MemoryDeltaRecord]) -> [UInt8] {
        let length = WireProtocol.memoryPrefixSize + records.count * WireProtocol.memoryDeltaRecordSize
        var w = ByteWriter(capacity: length)
        header(.memoryDeltas, length: length, into: &w)
        w.u32(UInt32(records.count))
        w.u32(0)
        w.u64(droppedTotal)
        for r in records {
            w.u32(r.operationID)
            w.u32(r.flags)
            w.u64(UInt64(bitPattern: r.deltaBytes))
        }
        return w.bytes
    }

    /// Writes a MEMORY message for `count` records straight into `buffer` (at least
    /// `memoryPrefixSize + count * 16` bytes). Returns the message length. Allocates nothing.
    public static func writeMemoryDeltas(
        into buffer: UnsafeMutableRawPointer, droppedTotal: UInt64,
        records: UnsafePointer<MemoryDeltaRecord>, count: Int
    ) -> Int {
        let length = WireProtocol.memoryPrefixSize + count * WireProtocol.memoryDeltaRecordSize
        writeBatchPrefix(.memoryDeltas, into: buffer, length: length, count: count, droppedTotal: droppedTotal)
        let body = buffer + WireProtocol.memoryPrefixSize
        if MemoryDeltaRecord.layoutMatchesWire {
            body.copyMemory(from: records, byteCount: count * WireProtocol.memoryDeltaRecordSize)
        } else {
            for i in 0..<count {
                let r = records[i]
                let p = body + i * WireProtocol.memoryDeltaRecordSize
                p.storeBytes(of: r.operationID.littleEndian, toByteOffset: 0, as: UInt32.self)
                p.storeBytes(of: r.flags.littleEndian, toByteOffset: 4, as: UInt32.self)
                p.storeBytes(of: r.deltaBytes.littleEndian, toByteOffset: 8, as: Int64.self)
            }
        }
        return length
    }

    /// ACK: the cumulative count of event records accepted on this connection.
    public static func ack(eventsAccepted: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: WireProtocol.headerSize + 8)
        header(.ack, length: WireProtocol.headerSize + 8, into: &w)
        w.u64(eventsAccepted)
        return w.bytes
    }

    public static func controlRequest(_ text: String) -> [UInt8] {
        let body = Array(text.utf8)
        var w = ByteWriter(capacity: WireProtocol.headerSize + body.count)
        header(.controlRequest, length: WireProtocol.headerSize + body.count, into: &w)
        w.raw(body)
        return w.bytes
    }

    public static func welcome(_ v: Welcome) -> [UInt8] {
        let length = WireProtocol.headerSize + 16
        var w = ByteWriter(capacity: length)
        header(.welcome, length: length, into: &w)
        w.u16(v.version)
        w.u16(0)
        w.u32(v.maxMessageBytes)
        w.u32(v.maxOperations)
        w.u16(v.maxNameBytes)
        w.u16(v.features.rawValue)
        return w.bytes
    }

    public static func error(_ e: WireError) -> [UInt8] {
        // The text is cut so the message always fits: the peer learns the code even if not every word.
        let text = clampName(e.message, limit: 1024)
        let length = WireProtocol.headerSize + 4 + text.count
        var w = ByteWriter(capacity: length)
        header(.error, length: length, into: &w)
        w.u16(e.code.rawValue)
        w.u16(UInt16(text.count))
        w.raw(text)
        return w.bytes
    }

    /// One CONTROL_RESPONSE chunk; flag bit 0 marks the last chunk of a response.
    public static func controlResponse(final: Bool, chunk: some Collection<UInt8>) -> [UInt8] {
        let length = WireProtocol.headerSize + chunk.count
        var w = ByteWriter(capacity: length)
        header(.controlResponse, flags: final ? 1 : 0, length: length, into: &w)
        w.raw(chunk)
        return w.bytes
    }

    /// Largest chunk of response text that fits one CONTROL_RESPONSE message.
    public static let maxControlChunk = WireProtocol.maxMessageBytes - WireProtocol.headerSize
}
