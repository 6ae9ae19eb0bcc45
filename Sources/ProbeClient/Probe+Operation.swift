import ProbePosix
import ProbeWire

extension Probe {
    /// One named operation of a probe, looked up once. Copy it freely; it is two words.
    public struct Operation: Sendable {
        @usableFromInline
        let core: ProbeCore
        /// The connection-local id, or `UInt32.max` when the probe is over its operation limit
        /// (events for it are then dropped and counted).
        @usableFromInline
        let id: UInt32
        /// Whether each call also records the change in resident memory (see `Probe/operation(_:trackMemory:)`).
        public let tracksMemory: Bool

        @usableFromInline
        init(core: ProbeCore, id: UInt32, trackMemory: Bool = false) {
            self.core = core
            self.id = id
            self.tracksMemory = trackMemory
        }

        /// Times `body`; see ``Probe/measure(_:_:)-(String,()->T)``. When the operation tracks
        /// memory, also records the change in resident memory across the call.
        @inlinable
        public func measure<T>(_ body: () throws -> T) rethrows -> T {
            if _slowPath(tracksMemory) { return try measureTrackingMemory(body) }
            let start = monotonicNanoseconds()
            do {
                let value = try body()
                core.append(EventRecord(operationID: id, startNanoseconds: start, durationNanoseconds: monotonicNanoseconds() &- start))
                return value
            } catch {
                core.recordFailure(id: id, start: start, duration: monotonicNanoseconds() &- start, error: error)
                throw error
            }
        }

        /// Times an `async` body.
        @inlinable
        public func measure<T>(_ body: () async throws -> T) async rethrows -> T {
            if _slowPath(tracksMemory) { return try await measureTrackingMemory(body) }
            let start = monotonicNanoseconds()
            do {
                let value = try await body()
                core.append(EventRecord(operationID: id, startNanoseconds: start, durationNanoseconds: monotonicNanoseconds() &- start))
                return value
            } catch {
                core.recordFailure(id: id, start: start, duration: monotonicNanoseconds() &- start, error: error)
                throw error
            }
        }

        /// Records a call measured elsewhere; `failed` marks it as a failure without an error type.
        @inlinable
        public func record(nanoseconds: UInt64, failed: Bool = false) {
            let end = monotonicNanoseconds()
            core.append(EventRecord(
                operationID: id, flags: failed ? .failed : [], startNanoseconds: end &- nanoseconds,
                durationNanoseconds: nanoseconds))
        }
    }
}
