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

    /// Heap bytes this entry holds, roughly: what the daemon's budget for kept calls counts.
    var footprintBytes: Int {
        160 + service.utf8.count + operation.utf8.count + detail.errorDescription.utf8.count + (errorType?.utf8.count ?? 0)
            + detail.attributes.reduce(0) { $0 + 32 + $1.key.utf8.count + $1.value.utf8.count }
    }
}
