#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import ProbePosix
import ProbeWire
import Synchronization

/// Everything behind a `Probe`: the names table, the event buffer and the flusher thread.
@usableFromInline
final class ProbeCore: @unchecked Sendable {
    // (1) `@unchecked Sendable`: shared state is in Mutexes and Atomics; `flusher` state is
    //     touched only by the flusher thread.
    struct Names {
        var operations: [String: UInt32] = [:]
        var operationNames: [String] = []
        /// What the service declared about each operation (DEFINE flags), by id.
        var operationFlags: [OperationFlags] = []
        /// Bumped whenever a defined operation's flags change, so the flusher DEFINEs it again.
        var flagsVersion: UInt64 = 0
        var errorTypes: [String: UInt32] = [:]
        /// Index i holds error type id i + 1.
        var errorTypeNames: [String] = []
    }

    let service: String
    let explicitPath: String?
    let configuration: Probe.Configuration
    let buffer: EventBuffer
    /// Per-call memory deltas (opt-in) and the reader they come from.
    let memoryDeltas = MemoryDeltaBuffer()
    @usableFromInline
    let residentMemory = ResidentMemory()
    let names = Mutex(Names())
    /// Slow-call thresholds per operation id, and the details of slow and failed calls.
    @usableFromInline
    let thresholds = SlowThresholds()
    let callDetails = CallDetailQueue()
    let connected = Atomic<Bool>(false)
    /// Event records a daemon acknowledged (ACK), over every connection.
    let delivered = Atomic<UInt64>(0)
    /// Event records sent on a connection that ended before acknowledging them.
    let lostInTransit = Atomic<UInt64>(0)
    /// Acknowledged records per connection, oldest first (for tests of restarts).
    let deliveredByConnection = Mutex<[UInt64]>([])
    let flushRequested = Atomic<UInt64>(0)
    let flushCompleted = Atomic<UInt64>(0)
    let stopping = Atomic<Bool>(false)
    let running = Atomic<Bool>(false)
    let wakeup = DispatchSemaphore(value: 0)
    private let warnedOperationLimit = Atomic<Bool>(false)
    private var thread = pthread_t()

    init(service: String, socketPath: String?, configuration: Probe.Configuration) {
        self.service = WireEncoder.sanitizedName(service)
        self.explicitPath = socketPath
        self.configuration = configuration
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        buffer = EventBuffer(capacity: max(configuration.bufferCapacity, 64), shardCount: cpus)
    }

    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        running.store(true, ordering: .releasing)
        let rc = pthread_create(&thread, nil, { raw in
            let core = Unmanaged<ProbeCore>.fromOpaque(raw!).takeRetainedValue()
            var flusher = Flusher(core: core)
            flusher.run()
            core.running.store(false, ordering: .releasing)
            return nil
        }, context)
        if rc != 0 {
            // No thread: events are buffered, then dropped and counted; the service is unaffected.
            running.store(false, ordering: .releasing)
            Unmanaged<ProbeCore>.fromOpaque(context).release()
            return
        }
        ExitFlush.register(self)
    }

    /// Asks the flusher to ship what it can within `timeout`, then to exit; waits for it.
    func stop(timeout: Duration) {
        ExitFlush.unregister(self)
        guard running.load(ordering: .acquiring) else { return }
        _ = flush(timeout: timeout)
        stopping.store(true, ordering: .releasing)
        wakeup.signal()
        pthread_join(thread, nil)
    }

    // MARK: Recording

    @usableFromInline
    @inline(__always)
    func append(_ record: EventRecord) {
        if _slowPath(record.operationID == .max) {
            droppedOverLimit()
            return
        }
        if buffer.append(record) { wakeup.signal() }
    }

    @usableFromInline
    func recordFailure(id: UInt32, start: UInt64, duration: UInt64, error: any Error) {
        recordFailure(id: id, start: start, duration: duration, items: 1, error: error, attributes: { [:] })
    }

    /// Every event dropped so far: buffer full, operation over the limit, or lost in transit.
    func droppedTotal() -> UInt64 {
        buffer.droppedTotal() &+ lostInTransit.load(ordering: .relaxed)
    }

    func droppedOverLimit() {
        buffer.droppedOutside.add(1, ordering: .relaxed)
        if !warnedOperationLimit.exchange(true, ordering: .relaxed) {
            writeLog("probe: service \(service) has more than \(WireProtocol.maxOperations) operation names; events for new names are dropped and counted")
        }
    }

    /// The id of operation `name`, defined on first use; `UInt32.max` past the limit.
    @usableFromInline
    func operationID(_ name: String) -> UInt32 {
        names.withLock { n in
            if let id = n.operations[name] { return id }
            guard n.operationNames.count < WireProtocol.maxOperations else { return .max }
            let id = UInt32(n.operationNames.count)
            n.operationNames.append(WireEncoder.sanitizedName(name))
            n.operationFlags.append([])
            n.operations[name] = id
            return id
        }
    }

    /// Declares (or withdraws) `flag` for operation `id`; the daemon learns it from DEFINE.
    func setFlag(_ flag: OperationFlags, _ on: Bool, for id: UInt32) {
        names.withLock { n in
            guard Int(id) < n.operationFlags.count else { return }
            let before = n.operationFlags[Int(id)]
            if on { n.operationFlags[Int(id)].insert(flag) } else { n.operationFlags[Int(id)].remove(flag) }
            if n.operationFlags[Int(id)] != before { n.flagsVersion &+= 1 }
        }
    }

    func errorTypeID(_ name: String) -> UInt32 {
        names.withLock { n in
            if let id = n.errorTypes[name] { return id }
            guard n.errorTypeNames.count < WireProtocol.maxOperations - 1 else { return 0 }
            n.errorTypeNames.append(WireEncoder.sanitizedName(name))
            let id = UInt32(n.errorTypeNames.count)
            n.errorTypes[name] = id
            return id
        }
    }

    // MARK: Flush

    func flush(timeout: Duration) -> Bool {
        guard running.load(ordering: .acquiring) else { return false }
        let target = flushRequested.add(1, ordering: .acquiringAndReleasing).newValue
        wakeup.signal()
        let deadline = monotonicNanoseconds() &+ timeout.nanoseconds
        while flushCompleted.load(ordering: .acquiring) < target {
            if monotonicNanoseconds() >= deadline || !running.load(ordering: .acquiring) { return false }
            sleepNanoseconds(200_000)
        }
        return true
    }
}

func writeLog(_ line: String) {
    writeStandardError(line + "\n")
}

extension Duration {
    var nanoseconds: UInt64 {
        let (s, atto) = components
        if s < 0 { return 0 }
        return UInt64(s) &* 1_000_000_000 &+ UInt64(atto / 1_000_000_000)
    }
}

/// Flushes every live probe when the process exits, bounded so that exit never hangs.
enum ExitFlush {
    struct Entry { weak var core: ProbeCore? }
    static let entries = Mutex<[Entry]>([])
    static let installed = Atomic<Bool>(false)

    static func register(_ core: ProbeCore) {
        entries.withLock { list in
            list.removeAll { $0.core == nil }
            list.append(Entry(core: core))
        }
        if !installed.exchange(true, ordering: .relaxed) {
            atexit {
                let cores = ExitFlush.entries.withLock { $0.compactMap(\.core) }
                // 300 ms for all probes together: a bounded, best-effort last delivery.
                let deadline = monotonicNanoseconds() &+ 300_000_000
                for core in cores {
                    let now = monotonicNanoseconds()
                    guard now < deadline else { break }
                    _ = core.flush(timeout: .nanoseconds(Int64(deadline - now)))
                }
            }
        }
    }

    static func unregister(_ core: ProbeCore) {
        entries.withLock { $0.removeAll { $0.core == nil || $0.core === core } }
    }
}
