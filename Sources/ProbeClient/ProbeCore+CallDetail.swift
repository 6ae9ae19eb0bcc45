import ProbePosix
import ProbeWire

extension ProbeCore {
    /// A batch size as an event's `items`: at least 1, at most `UInt32.max`.
    @inlinable
    @inline(__always)
    static func itemCount(_ n: Int) -> UInt32 {
        n <= 1 ? 1 : UInt32(truncatingIfNeeded: Swift.min(n, Int(UInt32.max)))
    }

    /// Records a successful call; when it took longer than its operation's threshold, also
    /// queues its detail (the only time `attributes` is evaluated).
    @inlinable
    @inline(__always)
    func complete(id: UInt32, start: UInt64, duration: UInt64, items: Int, attributes: () -> [String: String]) {
        append(EventRecord(operationID: id, startNanoseconds: start, durationNanoseconds: duration, items: ProbeCore.itemCount(items)))
        if _slowPath(duration > thresholds.nanoseconds(id)) {
            recordSlow(id: id, start: start, duration: duration, items: items, attributes: attributes)
        }
    }

    @usableFromInline
    func recordSlow(id: UInt32, start: UInt64, duration: UInt64, items: Int, attributes: () -> [String: String]) {
        queueDetail(id: id, flags: .slow, start: start, duration: duration, items: items, errorTypeID: 0, error: nil, attributes: attributes)
    }

    /// Records a failed call (its event, with the error's type name) and queues its detail with
    /// the error's description and the call's attributes. `error` nil: a failure without an error.
    @usableFromInline
    func recordFailure(
        id: UInt32, start: UInt64, duration: UInt64, items: Int, error: (any Error)?, attributes: () -> [String: String]
    ) {
        let typeID = error.map { errorTypeID(String(reflecting: type(of: $0))) } ?? 0
        append(EventRecord(
            operationID: id, flags: .failed, startNanoseconds: start, durationNanoseconds: duration,
            items: ProbeCore.itemCount(items), errorTypeID: typeID))
        var flags: CallDetail.Flags = .failed
        if duration > thresholds.nanoseconds(id) { flags.insert(.slow) }
        queueDetail(id: id, flags: flags, start: start, duration: duration, items: items, errorTypeID: typeID, error: error, attributes: attributes)
    }

    func queueDetail(
        id: UInt32, flags: CallDetail.Flags, start: UInt64, duration: UInt64, items: Int, errorTypeID: UInt32,
        error: (any Error)?, attributes: () -> [String: String]
    ) {
        guard id != .max else { return }  // over the operation limit: the event was dropped and counted
        // The wall clock is read only here, off the fast path: now, minus the time since the start.
        let sinceStart = monotonicNanoseconds() &- start
        var detail = CallDetail(
            operationID: id, flags: flags, startNanoseconds: start, startWallNanoseconds: wallClockNanoseconds() &- sinceStart,
            durationNanoseconds: duration, items: ProbeCore.itemCount(items), errorTypeID: errorTypeID,
            errorDescription: error.map { String(describing: $0) } ?? "",
            attributes: attributes().sorted { $0.key < $1.key }.map { CallDetail.Attribute($0.key, $0.value) })
        detail.applyLimits()
        if callDetails.append(detail) { wakeup.signal() }
    }
}
