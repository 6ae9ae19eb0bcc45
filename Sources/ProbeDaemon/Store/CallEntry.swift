import ProbeWire

/// One slow or failed call as probed keeps it: the client's CALL_DETAIL with the names resolved.
struct CallEntry: Sendable {
    /// Arrival order across the whole daemon; larger is newer.
    var sequence: UInt64
    var service: String
    var pid: Int32
    var operation: String
    var detail: CallDetail
    /// The error type's name; nil for a slow call that did not fail, or a failure without a type.
    var errorType: String?

    /// Heap bytes this entry holds as `KeptCall` keeps it (the object, its text, its attributes),
    /// with malloc's overhead: what the daemon's budget for kept calls counts. Generous: names
    /// are counted as if each entry had its own copy (most share their connection's).
    var footprintBytes: Int {
        var bytes = CallEntry.objectBytes + CallEntry.heapBytes(service) + CallEntry.heapBytes(operation)
            + CallEntry.heapBytes(detail.errorDescription) + (errorType.map(CallEntry.heapBytes) ?? 0)
        if !detail.attributes.isEmpty {
            bytes += 48 + detail.attributes.capacity * MemoryLayout<CallDetail.Attribute>.stride
            for a in detail.attributes { bytes += CallEntry.heapBytes(a.key) + CallEntry.heapBytes(a.value) }
        }
        return bytes
    }

    /// A `KeptCall`: object header, the entry and the byte count, in a malloc block.
    static let objectBytes = (16 + MemoryLayout<CallEntry>.stride + 16 + 16 + 15) / 16 * 16

    /// What a string's text costs on the heap: nothing up to 15 bytes (kept inline), else its
    /// storage object (32 bytes of header and the bytes with a terminator) in a malloc block.
    static func heapBytes(_ s: String) -> Int {
        let n = s.utf8.count
        return n <= 15 ? 0 : (32 + n + 1 + 16 + 15) / 16 * 16
    }
}
