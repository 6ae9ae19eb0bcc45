#if canImport(Glibc)
import Glibc
#endif
import CProbeSys
import ProbePosix
import ProbeWire
import Synchronization

/// Everything behind a `Probe`: the names table, the event buffer and the flusher thread.
@usableFromInline
final class ProbeCore: @unchecked Sendable {
    // (1) `@unchecked Sendable`: shared state is in ForkSafeMutexes and Atomics; `Flusher` state
    //     is touched only by the flusher thread.

    /// The flusher thread and whether it may (still) be started.
    struct Lifecycle {
        var thread: pthread_t?
        /// `stop` was called: no flusher starts again, not even in a forked child.
        var stopped = false
    }

    let service: String
    let explicitPath: String?
    let configuration: Probe.Configuration
    let buffer: EventBuffer
    let names = OperationNames()
    /// Per-call memory deltas (opt-in) and the reader they come from.
    let memoryDeltas = MemoryDeltaBuffer()
    @usableFromInline
    let residentMemory = ResidentMemory()
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
    let deliveredByConnection = ForkSafeMutex<[UInt64]>([])
    /// The connected socket (-1 when none), set and closed under this lock, so that a forked
    /// child knows which descriptor is its parent's connection and closes it.
    let connection = ForkSafeMutex<Int32>(-1)
    let flushRequested = Atomic<UInt64>(0)
    let flushCompleted = Atomic<UInt64>(0)
    let stopping = Atomic<Bool>(false)
    let running = Atomic<Bool>(false)
    /// Set in a forked child: the first call that needs the flusher starts one.
    let startPending = Atomic<Bool>(false)
    let lifecycle = ForkSafeMutex(Lifecycle())
    let wakeup = Wakeup()
    private let warnedOperationLimit = Atomic<Bool>(false)

    init(service: String, socketPath: String?, configuration: Probe.Configuration) {
        self.service = WireEncoder.sanitizedName(service)
        self.explicitPath = socketPath
        self.configuration = configuration
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        buffer = EventBuffer(capacity: max(configuration.bufferCapacity, 64), cpus: cpus)
    }

    /// Starts the flusher thread (unless `stop` was called) and registers for exit and fork.
    func start() {
        let stopped = lifecycle.withLock { l -> Bool in
            guard l.thread == nil, !l.stopped else { return l.stopped }
            let context = Unmanaged.passRetained(self).toOpaque()
            stopping.store(false, ordering: .relaxed)
            running.store(true, ordering: .releasing)
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let core = Unmanaged<ProbeCore>.fromOpaque(raw!).takeRetainedValue()
                var flusher = Flusher(core: core)
                flusher.run()
                core.running.store(false, ordering: .releasing)
                return nil
            }, context)
            if rc == 0 {
                l.thread = thread
            } else {
                // No thread: events are buffered, then dropped and counted; the service is unaffected.
                running.store(false, ordering: .releasing)
                Unmanaged<ProbeCore>.fromOpaque(context).release()
            }
            return false
        }
        if !stopped { ProbeRegistry.register(self) }
    }

    /// In a forked child: starts the flusher on the first call that needs it.
    @inline(never)
    func startIfPending() {
        if startPending.load(ordering: .relaxed) && startPending.exchange(false, ordering: .acquiringAndReleasing) {
            start()
        }
    }

    /// Asks the flusher to ship what it can within `timeout`, then to exit; waits for it.
    func stop(timeout: Duration) {
        ProbeRegistry.unregister(self)
        startPending.store(false, ordering: .relaxed)
        let thread = lifecycle.withLock { l -> pthread_t? in
            l.stopped = true
            defer { l.thread = nil }
            return l.thread
        }
        guard let thread else { return }
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
        guard let ring = buffer.currentRing() else { return appendFindingRing(record) }
        if ring.push(record) { wakeup.signal() }
    }

    /// `append` on this thread's first call (or its first since a `fork`, or since it recorded
    /// into four other probes): out of line, so that the fast path saves no registers.
    @inline(never)
    func appendFindingRing(_ record: EventRecord) {
        startIfPending()
        if buffer.ringForCurrentThread().push(record) { wakeup.signal() }
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

    /// The id of operation `name`, defined on first use; `UInt32.max` past the limit. No lock
    /// and no shared write once the name is known (see `OperationNames`).
    @usableFromInline
    func operationID(_ name: String) -> UInt32 {
        names.operationID(name)
    }

    /// Declares (or withdraws) `flag` for operation `id`; the daemon learns it from DEFINE.
    func setFlag(_ flag: OperationFlags, _ on: Bool, for id: UInt32) {
        names.setFlag(flag, on, for: id)
    }

    func errorTypeID(_ name: String) -> UInt32 {
        names.errorTypeID(name)
    }

    // MARK: Flush

    /// Waits until every event recorded before the call (by this thread, or by any thread before
    /// something this thread saw) is acknowledged, or dropped and counted with the count
    /// reported; events other threads record meanwhile are not waited for.
    func flush(timeout: Duration) -> Bool {
        startIfPending()
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

/// How the flusher is woken between its timed rounds: a POSIX semaphore (`sem_post` from a
/// recording thread every half ring; `sem_clockwait` on CLOCK_MONOTONIC in the flusher).
/// Not Dispatch: libdispatch may not be used in a child after `fork`.
final class Wakeup: @unchecked Sendable {
    // (1) `@unchecked Sendable`: sem_t is made for sharing between threads.
    private let semaphore: UnsafeMutablePointer<sem_t>

    init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    func signal() { sem_post(semaphore) }

    /// Waits for a signal or `nanoseconds`; true when signalled.
    func wait(nanoseconds: UInt64) -> Bool {
        cprobe_sem_wait_ns(semaphore, Int64(clamping: nanoseconds)) == 0
    }

    /// In a forked child, where no thread waits on it: starts again at zero.
    func resetAfterFork() { sem_init(semaphore, 0, 0) }
}
