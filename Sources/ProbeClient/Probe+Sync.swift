import ProbePosix
import ProbeWire

// Device-synchronised timing. GPU work is asynchronous: a call that launches kernels returns
// before they finish, so a timer that stops when the call returns measures only the launch.
// These overloads take a `sync` closure the service supplies (its framework's device synchronise,
// e.g. a CUDA stream or Metal command-buffer wait) and call it right before starting the clock
// and right before stopping it, so the duration is the device's work too. The events carry
// EventFlags.deviceSynchronized, and probed shows per operation whether its timings are synchronised.

extension Probe {
    /// Times `body` between two calls of `sync`: `sync()`, start the clock, `body()`, `sync()`,
    /// stop the clock. The first sync waits for earlier device work so it is not charged to this
    /// call; the second waits for this call's own. A `sync` that throws at the end marks the call
    /// failed with that error; at the start, the error is rethrown and nothing is recorded.
    @inlinable
    public func measure<T>(_ operation: String, sync: () throws -> Void, _ body: () throws -> T) rethrows -> T {
        try Operation(core: core, id: core.operationID(operation)).measure(sync: sync, body)
    }

    /// Times an `async` body between two calls of `sync`; see ``measure(_:sync:_:)-(String,_,_)``.
    @inlinable
    public func measure<T>(_ operation: String, sync: () async throws -> Void, _ body: () async throws -> T) async rethrows -> T {
        try await Operation(core: core, id: core.operationID(operation)).measure(sync: sync, body)
    }
}

extension Probe.Operation {
    /// Times `body` between two calls of `sync` (see ``Probe/measure(_:sync:_:)-(String,_,_)``).
    /// When the operation tracks memory, the resident-memory reads stay outside the clock.
    @inlinable
    public func measure<T>(sync: () throws -> Void, _ body: () throws -> T) rethrows -> T {
        let before = tracksMemory ? core.residentMemory.bytes() : -1
        try sync()
        let start = monotonicNanoseconds()
        do {
            let value = try body()
            try sync()
            let duration = monotonicNanoseconds() &- start
            core.append(EventRecord(operationID: id, flags: .deviceSynchronized, startNanoseconds: start, durationNanoseconds: duration))
            if _slowPath(tracksMemory) { core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes()) }
            return value
        } catch {
            core.recordFailure(id: id, start: start, duration: monotonicNanoseconds() &- start, error: error, flags: .deviceSynchronized)
            if _slowPath(tracksMemory) { core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes()) }
            throw error
        }
    }

    /// Times an `async` body between two calls of an `async` `sync`.
    @inlinable
    public func measure<T>(sync: () async throws -> Void, _ body: () async throws -> T) async rethrows -> T {
        let before = tracksMemory ? core.residentMemory.bytes() : -1
        try await sync()
        let start = monotonicNanoseconds()
        do {
            let value = try await body()
            try await sync()
            let duration = monotonicNanoseconds() &- start
            core.append(EventRecord(operationID: id, flags: .deviceSynchronized, startNanoseconds: start, durationNanoseconds: duration))
            if _slowPath(tracksMemory) { core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes()) }
            return value
        } catch {
            core.recordFailure(id: id, start: start, duration: monotonicNanoseconds() &- start, error: error, flags: .deviceSynchronized)
            if _slowPath(tracksMemory) { core.appendMemoryDelta(id: id, before: before, after: core.residentMemory.bytes()) }
            throw error
        }
    }
}

extension ProbeCore {
    /// Records a failed call with extra `flags` (besides `.failed`) and the error's type name.
    @usableFromInline
    func recordFailure(id: UInt32, start: UInt64, duration: UInt64, error: any Error, flags: EventFlags) {
        let typeID = errorTypeID(String(reflecting: type(of: error)))
        append(EventRecord(
            operationID: id, flags: flags.union(.failed), startNanoseconds: start, durationNanoseconds: duration, errorTypeID: typeID))
    }
}
