/// Protocol v1 constants shared by every peer. The layout of each message is specified in
/// `Protocol/PROTOCOL.md`; this file and that one change together, and only by growing.
public enum WireProtocol {
    /// The protocol version this build speaks. HELLO's layout is frozen for every version.
    public static let version: UInt16 = 1
    /// Every message starts with this many header bytes.
    public static let headerSize = 8
    /// Largest message either side may send (header included).
    public static let maxMessageBytes = 65_536
    /// Longest service, operation or error-type name, in UTF-8 bytes.
    public static let maxNameBytes = 128
    /// Operation ids run from 0 to `maxOperations - 1`; so do error-type ids (0 meaning "none").
    public static let maxOperations = 4096
    /// Size of one event record inside an EVENTS message.
    public static let eventRecordSize = 32
    /// Bytes before the first record of an EVENTS message (header included).
    public static let eventsPrefixSize = headerSize + 16
    /// Most records one EVENTS message can hold.
    public static let maxEventsPerMessage = (maxMessageBytes - eventsPrefixSize) / eventRecordSize
    /// Longest control request text, in bytes.
    public static let maxControlRequestBytes = 4096
    /// Size of one record inside a MEMORY message.
    public static let memoryDeltaRecordSize = 16
    /// Bytes before the first record of a MEMORY message (header included).
    public static let memoryPrefixSize = headerSize + 16
    /// Most records one MEMORY message can hold.
    public static let maxMemoryDeltasPerMessage = (maxMessageBytes - memoryPrefixSize) / memoryDeltaRecordSize
}

/// The one-byte message type at offset 0 of every message.
public enum MessageType: UInt8, Sendable {
    case hello = 0x01
    case define = 0x02
    case events = 0x03
    /// Per-call resident-memory deltas; sent only to a daemon whose WELCOME lists `memoryDeltas`.
    case memoryDeltas = 0x04
    /// One slow or failed call with its context; sent only to a daemon whose WELCOME lists `callDetails`.
    case callDetail = 0x05
    case controlRequest = 0x10
    case welcome = 0x81
    case error = 0x82
    /// ACK: the events the daemon has accepted on this connection so far (cumulative).
    case ack = 0x83
    /// The daemon's slow-call threshold for one operation of the client.
    case threshold = 0x84
    case controlResponse = 0x90
}

/// What a DEFINE message names.
public enum DefinitionKind: UInt8, Sendable {
    case operation = 1
    case errorType = 2
}

/// Bits of an event record's `flags` field.
public struct EventFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The call failed (threw).
    public static let failed = EventFlags(rawValue: 1 << 0)
    /// The call's clock was started and stopped after a device synchronisation.
    public static let deviceSynchronized = EventFlags(rawValue: 1 << 1)
    /// Every bit v1 defines; a record with any other bit set is malformed.
    public static let known: EventFlags = [.failed, .deviceSynchronized]
}

/// The reasons a peer's message is refused. The daemon sends one in an ERROR message and then
/// closes the connection. Codes are stable: new ones are appended, none is ever reused.
public struct WireErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let malformed = WireErrorCode(rawValue: 1)
    public static let oversized = WireErrorCode(rawValue: 2)
    public static let unknownType = WireErrorCode(rawValue: 3)
    public static let unsupportedVersion = WireErrorCode(rawValue: 4)
    public static let outOfOrder = WireErrorCode(rawValue: 5)
    public static let unknownOperation = WireErrorCode(rawValue: 6)
    public static let badName = WireErrorCode(rawValue: 7)
    public static let limitExceeded = WireErrorCode(rawValue: 8)
    public static let reservedNonZero = WireErrorCode(rawValue: 9)
    public static let badControlRequest = WireErrorCode(rawValue: 10)
    public static let redefinition = WireErrorCode(rawValue: 11)
    public static let refused = WireErrorCode(rawValue: 12)

    public var description: String {
        switch self {
        case .malformed: "malformed"
        case .oversized: "oversized"
        case .unknownType: "unknown_type"
        case .unsupportedVersion: "unsupported_version"
        case .outOfOrder: "out_of_order"
        case .unknownOperation: "unknown_operation"
        case .badName: "bad_name"
        case .limitExceeded: "limit_exceeded"
        case .reservedNonZero: "reserved_nonzero"
        case .badControlRequest: "bad_control_request"
        case .redefinition: "redefinition"
        case .refused: "refused"
        default: "code_\(rawValue)"
        }
    }
}

/// A message that could not be decoded: the code sent back to the peer and a sentence for the log.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: WireErrorCode
    public var message: String
    public init(_ code: WireErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.rawValue) \(code): \(message)" }
}
