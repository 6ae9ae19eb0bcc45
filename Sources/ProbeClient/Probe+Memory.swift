import ProbePosix
import ProbeWire

extension Probe {
    /// A handle for `name` whose calls also record the change in this process's resident memory
    /// across the call (resident after minus before, in bytes), so that probed can show per
    /// operation the mean, largest and cumulative delta.
    ///
    /// Costs two `pread`s of a kept-open `/proc/self/statm` per call (a few µs); allocates nothing.
    /// Caveats: resident memory is the whole process's, so work on other threads during the call
    /// shows up in its delta; memory freed lazily by an allocator shows up on a later call.
    public func operation(_ name: String, trackMemory: Bool) -> Operation {
        if trackMemory { core.residentMemory.prepare() }
        return Operation(core: core, id: core.operationID(name), trackMemory: trackMemory)
    }

    /// Per-call memory deltas dropped: the buffer was full, or probed predates them (its WELCOME
    /// does not list the feature). Reported to the daemon in MEMORY messages when it accepts them.
    public var droppedMemoryDeltas: UInt64 { core.memoryDeltas.droppedTotal }

    /// Times `body` like ``measure(_:_:)-(String,()->T)``; with `trackMemory`, also records the
    /// change in resident memory across the call (see ``operation(_:trackMemory:)``).
    @inlinable
    public func measure<T>(_ operation: String, trackMemory: Bool, _ body: () throws -> T) rethrows -> T {
        try Operation(core: core, id: core.operationID(operation), trackMemory: trackMemory).measure(body)
    }

    /// Times an `async` body; with `trackMemory`, also records the change in resident memory.
    @inlinable
    public func measure<T>(_ operation: String, trackMemory: Bool, _ body: () async throws -> T) async rethrows -> T {
        try await Operation(core: core, id: core.operationID(operation), trackMemory: trackMemory).measure(body)
    }
}

extension Probe.Operation {
    /// `measure` with a resident-memory read before the clock starts and after it stops, so the
    /// reads are not part of the call's duration.
    @inlinable
    func measureTrackingMemory<T>(items: Int, attributes: () -> [String: String], _ body: () throws -> T) rethrows -> T {
        let before = core.residentMemory.bytes()
        let start = monotonicNanoseconds()
        do {
            let value = try body()
            let duration = monotonicNanoseconds() &- start
            core.complete(id: id, start: start, duration: duration, items: items, attributes: attributes)
            core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes())
            return value
        } catch {
            core.recordFailure(
                id: id, start: start, duration: monotonicNanoseconds() &- start, items: items, error: error, attributes: attributes)
            core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes())
            throw error
        }
    }

    @inlinable
    func measureTrackingMemory<T>(
        items: Int, attributes: () -> [String: String], _ body: () async throws -> T
    ) async rethrows -> T {
        let before = core.residentMemory.bytes()
        let start = monotonicNanoseconds()
        do {
            let value = try await body()
            let duration = monotonicNanoseconds() &- start
            core.complete(id: id, start: start, duration: duration, items: items, attributes: attributes)
            core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes())
            return value
        } catch {
            core.recordFailure(
                id: id, start: start, duration: monotonicNanoseconds() &- start, items: items, error: error, attributes: attributes)
            core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes())
            throw error
        }
    }
}

extension ProbeCore {
    /// Queues one call's memory delta; skipped when either read failed (no `/proc`).
    @usableFromInline
    @inline(__always)
    func appendMemoryDelta(id: UInt32, before: Int64, after: Int64) {
        guard before >= 0, after >= 0, id != .max else { return }
        if memoryDeltas.append(MemoryDeltaRecord(operationID: id, deltaBytes: after &- before)) { wakeup.signal() }
    }
}
