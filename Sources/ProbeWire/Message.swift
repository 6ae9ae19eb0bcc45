/// HELLO: the first message a client sends. Its layout is the same in every protocol version.
public struct Hello: Hashable, Sendable {
    public var minVersion: UInt16
    public var maxVersion: UInt16
    /// The pid the client believes it has; informational only (the daemon trusts SO_PEERCRED).
    public var pid: UInt32
    public var service: String
    public init(minVersion: UInt16 = 1, maxVersion: UInt16 = WireProtocol.version, pid: UInt32, service: String) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.pid = pid
        self.service = service
    }
}

/// DEFINE: binds a connection-local id to a name, once, before any record uses the id.
public struct Definition: Hashable, Sendable {
    public var id: UInt32
    public var kind: DefinitionKind
    public var name: String
    /// What the client declares about an operation (kind 1; always empty for an error type).
    /// Sent only to a daemon whose WELCOME lists `operationFlags`; byte 13, formerly reserved.
    public var flags: OperationFlags
    public init(id: UInt32, kind: DefinitionKind, name: String, flags: OperationFlags = []) {
        self.id = id
        self.kind = kind
        self.name = name
        self.flags = flags
    }
}

/// Bits of DEFINE's `flags` byte (offset 13): what a client declares about one of its operations.
public struct OperationFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The operation does no device (GPU) work: probed never warns that its timings are not
    /// device-synchronised.
    public static let noDeviceWork = OperationFlags(rawValue: 1 << 0)
    /// Warm-up is kept per items value: the first N calls of each batch size are warm-up, not
    /// the first N of the operation (a model compiled or tuned per input shape).
    public static let warmupPerItems = OperationFlags(rawValue: 1 << 1)
    /// Every bit defined; any other is `reserved_nonzero`.
    public static let known: OperationFlags = [.noDeviceWork, .warmupPerItems]
}

extension DaemonFeatures {
    /// The daemon accepts DEFINE `flags` (byte 13): no device work, warm-up per items value.
    public static let operationFlags = DaemonFeatures(rawValue: 1 << 2)
}

/// WELCOME: the daemon's answer to HELLO, with the version it chose and its limits.
public struct Welcome: Hashable, Sendable {
    public var version: UInt16
    public var maxMessageBytes: UInt32
    public var maxOperations: UInt32
    public var maxNameBytes: UInt16
    /// What the daemon accepts beyond the first v1 messages (bytes 22–23, once reserved and 0).
    public var features: DaemonFeatures
    public init(
        version: UInt16 = WireProtocol.version,
        maxMessageBytes: UInt32 = UInt32(WireProtocol.maxMessageBytes),
        maxOperations: UInt32 = UInt32(WireProtocol.maxOperations),
        maxNameBytes: UInt16 = UInt16(WireProtocol.maxNameBytes),
        features: DaemonFeatures = []
    ) {
        self.version = version
        self.maxMessageBytes = maxMessageBytes
        self.maxOperations = maxOperations
        self.maxNameBytes = maxNameBytes
        self.features = features
    }
}

/// Every message of protocol v1, decoded.
public enum Message: Hashable, Sendable {
    case hello(Hello)
    case define(Definition)
    /// EVENTS: `droppedTotal` is the client's cumulative count of events it had to drop.
    case events(droppedTotal: UInt64, records: [EventRecord])
    /// MEMORY: `droppedTotal` is the client's cumulative count of memory deltas it had to drop.
    case memoryDeltas(droppedTotal: UInt64, records: [MemoryDeltaRecord])
    /// CALL_DETAIL: one slow or failed call with its context.
    case callDetail(CallDetail)
    case controlRequest(String)
    case welcome(Welcome)
    case error(WireError)
    /// ACK: how many event records the daemon has accepted on this connection, cumulative.
    case ack(eventsAccepted: UInt64)
    /// THRESHOLD: calls of `operationID` longer than `nanoseconds` are slow; 0 = no daemon threshold.
    case threshold(operationID: UInt32, nanoseconds: UInt64)
    case controlResponse(final: Bool, chunk: [UInt8])
}
