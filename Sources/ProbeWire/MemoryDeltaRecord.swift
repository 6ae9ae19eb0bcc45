/// The change in a client's resident memory across one call, as it travels inside a MEMORY
/// message (16 bytes, little-endian):
///
///     0  u32 operation_id   4  u32 flags (0 in v1)   8  i64 rss_delta_bytes
///
/// The delta is resident set after the call minus before, in bytes (negative when the call
/// released memory). The in-memory layout matches the wire layout on little-endian hosts.
@frozen
public struct MemoryDeltaRecord: Hashable, Sendable {
    public var operationID: UInt32
    /// Reserved for later use; must be 0.
    public var flags: UInt32
    public var deltaBytes: Int64

    @inlinable
    public init(operationID: UInt32, deltaBytes: Int64) {
        self.operationID = operationID
        self.flags = 0
        self.deltaBytes = deltaBytes
    }

    /// True when a buffer of `MemoryDeltaRecord`s is byte for byte a run of wire records.
    public static let layoutMatchesWire: Bool = {
        #if _endian(little)
        return MemoryLayout<MemoryDeltaRecord>.stride == WireProtocol.memoryDeltaRecordSize
            && MemoryLayout<MemoryDeltaRecord>.offset(of: \.flags) == 4
            && MemoryLayout<MemoryDeltaRecord>.offset(of: \.deltaBytes) == 8
        #else
        return false
        #endif
    }()
}

/// Bits of WELCOME's `features` field: what this daemon accepts beyond the first v1 messages.
/// A daemon that predates the field sends 0 there, so a client learns it must not send them.
public struct DaemonFeatures: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The daemon accepts MEMORY messages (per-call resident-memory deltas).
    public static let memoryDeltas = DaemonFeatures(rawValue: 1 << 0)
    /// Everything this build's daemon accepts.
    public static let all: DaemonFeatures = [.memoryDeltas, .callDetails, .operationFlags]
}
