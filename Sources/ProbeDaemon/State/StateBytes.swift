/// The primitives a state file is written in: LEB128 varints (zigzag for signed values), doubles
/// as their 64 bits, UTF-8 strings and byte strings after their length, and records after their
/// length, so that a reader skips fields a newer writer appended.
struct StateWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 4096) { bytes.reserveCapacity(capacity) }

    mutating func byte(_ b: UInt8) { bytes.append(b) }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func varint(_ value: Int) { varint(UInt64(value)) }

    mutating func signed(_ value: Int64) { varint(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    /// A 128-bit value (exact sums) as one LEB128 varint of up to 19 bytes.
    mutating func varint128(_ value: UInt128) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func signed128(_ value: Int128) { varint128(UInt128(bitPattern: (value << 1) ^ (value >> 127))) }

    /// An optional value: 0 for nil, else the value + 1 (nil and 0 differ; `UInt64.max` cannot be saved).
    mutating func optional(_ value: UInt64?) { varint(value.map { $0 &+ 1 } ?? 0) }

    mutating func fixed32(_ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    mutating func fixed64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func string(_ s: String) {
        varint(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }

    mutating func blob(_ b: [UInt8]) {
        varint(b.count)
        bytes.append(contentsOf: b)
    }

    mutating func flag(_ b: Bool) { bytes.append(b ? 1 : 0) }

    /// Writes what `body` writes, after its length.
    mutating func record(_ body: (inout StateWriter) -> Void) {
        var inner = StateWriter(capacity: 256)
        body(&inner)
        blob(inner.bytes)
    }

    mutating func append(_ other: [UInt8]) { bytes.append(contentsOf: other) }
}

/// Why a state file was not used; its description is the log line's reason.
struct StateFileError: Error, CustomStringConvertible, Equatable {
    enum Code: String, Sendable {
        case empty, truncated, notStateFile = "not_state_file", newerVersion = "newer_version", checksum, corrupt, unreadable
    }

    var code: Code
    var description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    static func corrupt(_ what: String) -> StateFileError { StateFileError(.corrupt, "corrupt: \(what)") }
}

/// Reads what `StateWriter` wrote, checking every length against the bytes that are there: any
/// input gives values or a `StateFileError`, never a trap, and no count asks for more memory than
/// the bytes could hold.
struct StateReader {
    private let bytes: [UInt8]
    private(set) var position: Int
    private let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        position = start
        self.end = end ?? bytes.count
    }

    var isAtEnd: Bool { position >= end }
    var remaining: Int { end - position }

    mutating func byte() throws(StateFileError) -> UInt8 {
        guard position < end else { throw .corrupt("ends inside a field at byte \(position)") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func varint() throws(StateFileError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw .corrupt("a number over 64 bits at byte \(position - 1)") }
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
            if shift > 63 { throw .corrupt("a number over 64 bits at byte \(position - 1)") }
        }
    }

    mutating func varint128() throws(StateFileError) -> UInt128 {
        var value: UInt128 = 0
        var shift: UInt128 = 0
        while true {
            let b = try byte()
            if shift == 126 && b > 3 { throw .corrupt("a number over 128 bits at byte \(position - 1)") }
            value |= UInt128(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
            if shift > 126 { throw .corrupt("a number over 128 bits at byte \(position - 1)") }
        }
    }

    mutating func signed128() throws(StateFileError) -> Int128 {
        let z = try varint128()
        return Int128(bitPattern: z >> 1) ^ -Int128(bitPattern: z & 1)
    }

    /// A varint that must be at most `limit`; `what` names it in the error.
    mutating func varint(atMost limit: UInt64, _ what: String) throws(StateFileError) -> UInt64 {
        let v = try varint()
        guard v <= limit else { throw .corrupt("\(what) \(v) is over \(limit)") }
        return v
    }

    /// A count of elements each at least `minimumBytes` long: never more than the bytes left hold.
    mutating func count(_ what: String, minimumBytes: Int = 1) throws(StateFileError) -> Int {
        let n = try varint()
        guard n <= UInt64(remaining / max(1, minimumBytes)) else { throw .corrupt("\(n) \(what) cannot fit in the \(remaining) bytes left") }
        return Int(n)
    }

    mutating func signed() throws(StateFileError) -> Int64 {
        let z = try varint()
        return Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1)
    }

    mutating func optional() throws(StateFileError) -> UInt64? {
        let v = try varint()
        return v == 0 ? nil : v - 1
    }

    mutating func fixed32() throws(StateFileError) -> UInt32 {
        var v: UInt32 = 0
        for shift in stride(from: 0, to: 32, by: 8) { v |= UInt32(try byte()) << UInt32(shift) }
        return v
    }

    mutating func fixed64() throws(StateFileError) -> UInt64 {
        var v: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) { v |= UInt64(try byte()) << UInt64(shift) }
        return v
    }

    mutating func blob(atMost limit: Int = .max) throws(StateFileError) -> [UInt8] {
        let n = try varint()
        guard n <= UInt64(remaining) else { throw .corrupt("a field of \(n) bytes at byte \(position) runs past the end") }
        guard n <= UInt64(limit) else { throw .corrupt("a field of \(n) bytes is over \(limit)") }
        defer { position += Int(n) }
        return Array(bytes[position..<(position + Int(n))])
    }

    /// UTF-8 text of at most `limit` bytes.
    mutating func string(atMost limit: Int = 65_536) throws(StateFileError) -> String {
        let b = try blob(atMost: limit)
        guard let s = String(validating: b, as: UTF8.self) else { throw .corrupt("text that is not UTF-8 before byte \(position)") }
        return s
    }

    mutating func flag() throws(StateFileError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        case let b: throw .corrupt("a flag of \(b) at byte \(position - 1)")
        }
    }

    /// Reads one record with `body`, which must not read past it; what it leaves unread (fields a
    /// newer writer appended) is skipped.
    mutating func record<T>(_ body: (inout StateReader) throws(StateFileError) -> T) throws(StateFileError) -> T {
        let n = try varint()
        guard n <= UInt64(remaining) else { throw .corrupt("a record of \(n) bytes at byte \(position) runs past the end") }
        var inner = StateReader(bytes, from: position, to: position + Int(n))
        let value = try body(&inner)
        position += Int(n)
        return value
    }
}
