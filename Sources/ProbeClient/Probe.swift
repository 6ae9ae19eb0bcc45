import ProbePosix
import ProbeWire

/// The handle a service keeps to report its calls to probed.
///
/// Recording is lock-free and allocation-free: an event goes into the calling thread's own ring
/// buffer and one background thread ships batches to the daemon. Creating a probe never throws
/// and never waits: it connects in the background and reconnects whenever the daemon comes back.
/// When the daemon is absent or slow, events wait in a bounded buffer, then are dropped and
/// *counted*; the count reaches the daemon as soon as it can (delivered + dropped = recorded).
///
/// A process that forks without exec (pre-fork workers) can keep using its probes in the child:
/// the child starts afresh with its own connection, buffer and background thread, under its own
/// pid, and never sends what the parent recorded.
///
/// ```swift
/// let probe = Probe(service: "ranker")
/// let scores = try probe.measure("predict") { try model.predict(batch) }
/// ```
public final class Probe: Sendable {
    /// Tuning for one probe; the defaults suit a service doing up to millions of calls per second.
    public struct Configuration: Sendable {
        /// Events buffered before new ones are dropped and counted: each recording thread has a
        /// ring of `bufferCapacity / CPUs` events (rounded down to a power of two, at least 64),
        /// made at its first call and reused after it exits; past 8 × `bufferCapacity` events in
        /// all rings, a new thread's ring holds 256. Default 65,536 (32 bytes an event);
        /// `PROBE_BUFFER_EVENTS` overrides it.
        public var bufferCapacity: Int
        /// How often the background thread ships what was recorded. Default 50 ms.
        public var flushInterval: Duration

        public init(bufferCapacity: Int = 65_536, flushInterval: Duration = .milliseconds(50)) {
            self.bufferCapacity = bufferCapacity
            self.flushInterval = flushInterval
        }
    }

    @usableFromInline
    let core: ProbeCore

    /// Creates a probe for `service` and starts connecting to probed in the background.
    /// - Parameter socketPath: the daemon's socket; `nil` resolves it as the README describes
    ///   (`$PROBED_SOCKET`, `/run/probed/probed.sock`, `$XDG_RUNTIME_DIR/probed.sock`, `/tmp/probed-<uid>.sock`).
    public convenience init(service: String, socketPath: String? = nil) {
        self.init(service: service, socketPath: socketPath, configuration: Configuration())
    }

    public init(service: String, socketPath: String? = nil, configuration: Configuration) {
        var configuration = configuration
        if let text = SocketPath.environment("PROBE_BUFFER_EVENTS"), let n = Int(text), n > 0 {
            configuration.bufferCapacity = n
        }
        core = ProbeCore(service: service, socketPath: socketPath, configuration: configuration)
        core.start()
    }

    deinit {
        core.stop(timeout: .milliseconds(500))
    }

    /// A handle for `name` that records without looking the name up again. Keeping one is the
    /// cheapest way to record, though `measure("name")` costs nearly as little: a name seen
    /// before is found without a lock (see `OperationNames`).
    public func operation(_ name: String) -> Operation {
        Operation(core: core, id: core.operationID(name))
    }

    /// Times `body` with the monotonic clock, returns its value and records the call; when `body`
    /// throws, the call is recorded as failed (with the error's type name) and the error rethrown.
    /// - Parameters:
    ///   - items: the batch's size, for items per second and latency per item (default 1).
    ///   - attributes: the input's properties, e.g. `["batch": "\(n)", "shape": "\(shape)"]`;
    ///     evaluated only when the call fails or is slow (see ``operation(_:slowThreshold:)``).
    @inlinable
    public func measure<T>(
        _ operation: String, items: Int = 1, attributes: @autoclosure () -> [String: String] = [:], _ body: () throws -> T
    ) rethrows -> T {
        try Operation(core: core, id: core.operationID(operation)).measure(items: items, attributes: attributes(), body)
    }

    /// Times an `async` body; see ``measure(_:items:attributes:_:)-(String,_,_,()->T)``.
    @inlinable
    public func measure<T>(
        _ operation: String, items: Int = 1, attributes: @autoclosure () -> [String: String] = [:],
        _ body: () async throws -> T
    ) async rethrows -> T {
        try await Operation(core: core, id: core.operationID(operation)).measure(items: items, attributes: attributes(), body)
    }

    /// Records a call measured elsewhere.
    public func record(
        _ operation: String, nanoseconds: UInt64, failed: Bool = false, items: Int = 1,
        attributes: @autoclosure () -> [String: String] = [:]
    ) {
        Operation(core: core, id: core.operationID(operation))
            .record(nanoseconds: nanoseconds, failed: failed, items: items, attributes: attributes())
    }

    /// Waits until every event recorded before the call has been acknowledged by the daemon (or
    /// dropped and counted, and that count reported), and the slow or failed calls' details and
    /// memory deltas recorded before it are sent. Events other threads record meanwhile are not
    /// waited for: a busy service can flush.
    /// - Returns: `true` when it was, `false` when `timeout` passed first (daemon absent or slow).
    @discardableResult
    public func flush(timeout: Duration) -> Bool {
        core.flush(timeout: timeout)
    }

    /// Events this probe has dropped and counted (also reported to the daemon): its buffer was
    /// full, or they were sent on a connection that ended before the daemon acknowledged them.
    public var droppedEvents: UInt64 { core.droppedTotal() }

    /// Events a daemon has acknowledged receiving. Once `flush` returns true,
    /// `deliveredEvents + droppedEvents` is every event recorded.
    public var deliveredEvents: UInt64 { core.delivered.load(ordering: .relaxed) }

    /// Events recorded and still waiting in the buffer for the background thread to send them
    /// (what a full buffer would drop next is measured against). A snapshot; cheap but not free:
    /// it visits every thread's ring, so don't call it per event.
    public var bufferedEvents: Int { core.buffer.bufferedTotal() }

    /// Events acknowledged on each connection so far, oldest first.
    @_spi(Testing)
    public var deliveredByConnection: [UInt64] { core.deliveredByConnection.withLock { $0 } }

    /// Whether the probe is connected to probed right now.
    public var isConnected: Bool { core.connected.load(ordering: .relaxed) }
}
