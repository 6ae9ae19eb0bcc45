@testable import ProbeWire

/// SplitMix64: a small, fast, seedable generator, so a failing property run can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random values that protocol v1 allows, for property-style tests.
extension SeededGenerator {
    /// A scalar of 1, 2, 3 or 4 UTF-8 bytes (never a surrogate), optionally never a C0 control or DEL.
    mutating func scalar(printable: Bool) -> Unicode.Scalar {
        while true {
            let value: UInt32 = switch UInt8.random(in: 0...3, using: &self) {
            case 0: UInt32.random(in: printable ? 0x20...0x7E : 0...0x7F, using: &self)
            case 1: UInt32.random(in: 0x80...0x7FF, using: &self)
            case 2: UInt32.random(in: 0x800...0xFFFF, using: &self)
            default: UInt32.random(in: 0x10000...0x10FFFF, using: &self)
            }
            if let s = Unicode.Scalar(value), !(printable && value == 0x7F) { return s }
        }
    }

    /// Text of at most `maxBytes` UTF-8 bytes (at least `minBytes` when `maxBytes` allows).
    mutating func text(minBytes: Int = 0, maxBytes: Int, printable: Bool) -> String {
        let target = Int.random(in: minBytes...maxBytes, using: &self)
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        while bytes < target {
            let s = scalar(printable: printable)
            let n = UTF8.width(s)
            if bytes + n > maxBytes { break }
            scalars.append(s)
            bytes += n
        }
        while bytes < minBytes {
            scalars.append("a")
            bytes += 1
        }
        return String(scalars)
    }

    /// A legal name: 1 to 128 bytes of UTF-8 without control characters.
    mutating func name() -> String { text(minBytes: 1, maxBytes: WireProtocol.maxNameBytes, printable: true) }

    mutating func u16() -> UInt16 { UInt16.random(in: .min ... .max, using: &self) }
    mutating func u32() -> UInt32 { UInt32.random(in: .min ... .max, using: &self) }
    mutating func u64() -> UInt64 { next() }

    /// A record the decoder accepts: known flags only and items ≥ 1 (ids are not the codec's business).
    mutating func record() -> EventRecord {
        EventRecord(
            operationID: u32(), flags: EventFlags(rawValue: u32() & EventFlags.known.rawValue),
            startNanoseconds: u64(), durationNanoseconds: u64(),
            items: UInt32.random(in: 1 ... .max, using: &self), errorTypeID: u32())
    }

    mutating func records() -> [EventRecord] {
        let count = Int.random(in: 0..<20, using: &self) == 0
            ? WireProtocol.maxEventsPerMessage : Int.random(in: 0...40, using: &self)
        return (0..<count).map { _ in record() }
    }

    /// A memory delta the decoder accepts: flags 0, any operation id and any signed delta.
    mutating func memoryDelta() -> MemoryDeltaRecord {
        MemoryDeltaRecord(operationID: u32(), deltaBytes: Int64(bitPattern: u64()))
    }

    mutating func memoryDeltas() -> [MemoryDeltaRecord] {
        let count = Int.random(in: 0..<20, using: &self) == 0
            ? WireProtocol.maxMemoryDeltasPerMessage : Int.random(in: 0...40, using: &self)
        return (0..<count).map { _ in memoryDelta() }
    }

    /// Any message of protocol v1 that a correct peer may send.
    mutating func message() -> Message {
        switch Int.random(in: 0..<8, using: &self) {
        case 0:
            return .hello(Hello(minVersion: u16(), maxVersion: u16(), pid: u32(), service: name()))
        case 1:
            let kind: DefinitionKind = Bool.random(using: &self) ? .operation : .errorType
            let low: UInt32 = kind == .operation ? 0 : 1
            let id = UInt32.random(in: low..<UInt32(WireProtocol.maxOperations), using: &self)
            return .define(Definition(id: id, kind: kind, name: name()))
        case 2:
            return .events(droppedTotal: u64(), records: records())
        case 3:
            return .controlRequest(text(maxBytes: WireProtocol.maxControlRequestBytes, printable: false))
        case 4:
            // Any features bits: a client ignores the ones it does not know.
            return .welcome(Welcome(
                version: u16(), maxMessageBytes: u32(), maxOperations: u32(), maxNameBytes: u16(),
                features: DaemonFeatures(rawValue: u16())))
        case 5:
            return .error(WireError(WireErrorCode(rawValue: u16()), text(maxBytes: 1024, printable: false)))
        case 6:
            return .memoryDeltas(droppedTotal: u64(), records: memoryDeltas())
        default:
            let size = Bool.random(using: &self) ? WireEncoder.maxControlChunk : Int.random(in: 0...300, using: &self)
            let chunk = (0..<size).map { _ in UInt8.random(in: 0...255, using: &self) }
            return .controlResponse(final: Bool.random(using: &self), chunk: chunk)
        }
    }
}
