/// One completed call, as it travels inside an EVENTS message (32 bytes, little-endian):
///
///     0  u32 operation_id   4  u32 flags   8  u64 start_ns   16  u64 duration_ns
///     24 u32 items          28 u32 error_type_id (0 = none)
///
/// The in-memory layout matches the wire layout on little-endian hosts, which lets the client
/// copy a whole buffer of records into a message at once (see `EventRecord.layoutMatchesWire`).
@frozen
public struct EventRecord: Hashable, Sendable {
    public var operationID: UInt32
    public var flags: UInt32
    /// CLOCK_MONOTONIC of the client's host when the call started, in nanoseconds.
    public var startNanoseconds: UInt64
    public var durationNanoseconds: UInt64
    /// How many items the call processed (a batch's size); at least 1.
    public var items: UInt32
    /// The id of the error type (DEFINE kind 2) when the call failed; 0 when none.
    public var errorTypeID: UInt32

    @inlinable
    public init(
        operationID: UInt32, flags: EventFlags = [], startNanoseconds: UInt64, durationNanoseconds: UInt64,
        items: UInt32 = 1, errorTypeID: UInt32 = 0
    ) {
        self.operationID = operationID
        self.flags = flags.rawValue
        self.startNanoseconds = startNanoseconds
        self.durationNanoseconds = durationNanoseconds
        self.items = items
        self.errorTypeID = errorTypeID
    }

    public var eventFlags: EventFlags { EventFlags(rawValue: flags) }
    public var failed: Bool { flags & EventFlags.failed.rawValue != 0 }

    /// True when a buffer of `EventRecord`s is byte for byte a run of wire records.
    public static let layoutMatchesWire: Bool = {
        #if _endian(little)
        return MemoryLayout<EventRecord>.stride == WireProtocol.eventRecordSize
            && MemoryLayout<EventRecord>.offset(of: \.flags) == 4
            && MemoryLayout<EventRecord>.offset(of: \.startNanoseconds) == 8
            && MemoryLayout<EventRecord>.offset(of: \.durationNanoseconds) == 16
            && MemoryLayout<EventRecord>.offset(of: \.items) == 24
            && MemoryLayout<EventRecord>.offset(of: \.errorTypeID) == 28
        #else
        return false
        #endif
    }()
}
