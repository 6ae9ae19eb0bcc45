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

        /// Times `body`; see ``Probe/measure(_:items:attributes:_:)-(String,_,_,()->T)``. When the
        /// operation tracks memory, also records the change in resident memory across the call.
        /// - Parameters:
        ///   - items: the batch's size (at least 1 is recorded), for items per second and latency per item.
        ///   - attributes: the input's properties (batch size, shape, model); evaluated only when the
        ///     call fails or is slower than the operation's threshold, and then sent to probed with it.
        @inlinable
        public func measure<T>(
            items: Int = 1, attributes: @autoclosure () -> [String: String] = [:], _ body: () throws -> T
        ) rethrows -> T {
            if _slowPath(tracksMemory) { return try measureTrackingMemory(items: items, attributes: attributes, body) }
            let start = monotonicNanoseconds()
            do {
                let value = try body()
                core.complete(id: id, start: start, duration: monotonicNanoseconds() &- start, items: items, attributes: attributes)
                return value
            } catch {
                core.recordFailure(
                    id: id, start: start, duration: monotonicNanoseconds() &- start, items: items, error: error, attributes: attributes)
                throw error
            }
        }

        /// Times an `async` body; `items` and `attributes` as for the synchronous one.
        @inlinable
        public func measure<T>(
            items: Int = 1, attributes: @autoclosure () -> [String: String] = [:], _ body: () async throws -> T
        ) async rethrows -> T {
            if _slowPath(tracksMemory) { return try await measureTrackingMemory(items: items, attributes: attributes, body) }
            let start = monotonicNanoseconds()
            do {
                let value = try await body()
                core.complete(id: id, start: start, duration: monotonicNanoseconds() &- start, items: items, attributes: attributes)
                return value
            } catch {
                core.recordFailure(
                    id: id, start: start, duration: monotonicNanoseconds() &- start, items: items, error: error, attributes: attributes)
                throw error
            }
        }

        /// Records a call measured elsewhere; `failed` marks it as a failure without an error type.
        /// `items` and `attributes` as for ``measure(items:attributes:_:)-(_,_,()->T)``.
        @inlinable
        public func record(
            nanoseconds: UInt64, failed: Bool = false, items: Int = 1, attributes: @autoclosure () -> [String: String] = [:]
        ) {
            let start = monotonicNanoseconds() &- nanoseconds
            if _slowPath(failed) {
                core.recordFailure(id: id, start: start, duration: nanoseconds, items: items, error: nil, attributes: attributes)
            } else {
                core.complete(id: id, start: start, duration: nanoseconds, items: items, attributes: attributes)
            }
        }
    }
}

extension Probe {
    /// A handle for `name`, declaring whether its calls do device (GPU) work. With
    /// `deviceWork: false` probed never warns that the operation's timings are not
    /// device-synchronised: declare it for CPU-only steps (tokenising, decoding JSON,
    /// post-processing) of a process that holds GPU memory.
    ///
    /// The declaration belongs to the operation name, like its threshold, and reaches probed in
    /// DEFINE (a probed that predates operation flags does not get it).
    public func operation(_ name: String, deviceWork: Bool) -> Operation {
        let id = core.operationID(name)
        core.setFlag(.noDeviceWork, !deviceWork, for: id)
        return Operation(core: core, id: id)
    }

    /// A handle for `name` whose warm-up is kept per items value: probed keeps the first N calls
    /// of each batch size out of the latency figures (N is probed's `--warmup`), not only the
    /// first N of the operation — for a model compiled, tuned or given an engine profile per
    /// input shape. Pass the batch size as `items` to every call.
    ///
    /// probed tracks up to 64 distinct items values per process and operation; calls with a
    /// value past those get no warm-up of their own (probed says so in the operation's warnings).
    public func operation(_ name: String, warmupPerItems: Bool) -> Operation {
        let id = core.operationID(name)
        core.setFlag(.warmupPerItems, warmupPerItems, for: id)
        return Operation(core: core, id: id)
    }
}
