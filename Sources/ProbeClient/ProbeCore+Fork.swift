#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import Synchronization

/// Every live probe of the process, for the two things that concern them all: a bounded flush
/// when the process exits, and `fork`.
///
/// Fork without exec (pre-fork workers: gunicorn-style servers, a supervisor that forks
/// workers) gives the child a copy of the memory and one thread, the one that forked. Our
/// `pthread_atfork` handlers make that safe:
/// - *prepare* (in the parent, before `fork`): takes the registry's lock, then every lock of every
///   probe (ForkSafeMutex), so that at the instant of the fork no other thread is inside one;
/// - *parent* (after `fork`): gives them back;
/// - *child*: gives them back, lets go of the forking thread's rings, and resets each probe to a
///   fresh start: the parent's connection closed (never written to: it is the parent's), the
///   buffered events discarded (they are the parent's, which sends them), counts at zero,
///   probed's thresholds forgotten (the new connection gets them again), a new wake-up
///   semaphore and `/proc/self/statm` reopened. Operation names and handles stay valid. The
///   child's first call that needs it starts the child's own flusher, which connects with the
///   child's pid; what the child records from then on is delivered, or dropped and counted, like
///   any process's. `Probe`'s teardown in the child never joins the parent's thread.
enum ProbeRegistry {
    struct Entry { weak var core: ProbeCore? }

    static let entries = ForkSafeMutex<[Entry]>([])
    static let installed = Atomic<Bool>(false)
    /// The probes locked by the prepare handler, for the parent and child handlers: set and
    /// cleared by the forking thread while it holds `entries`' lock.
    nonisolated(unsafe) static var forking: [ProbeCore] = []

    static func register(_ core: ProbeCore) {
        entries.withLock { list in
            list.removeAll { $0.core == nil }
            if !list.contains(where: { $0.core === core }) { list.append(Entry(core: core)) }
        }
        if !installed.exchange(true, ordering: .acquiringAndReleasing) {
            atexit { ProbeRegistry.flushAtExit() }
            pthread_atfork(
                { ProbeRegistry.prepareFork() },
                { ProbeRegistry.afterForkInParent() },
                { ProbeRegistry.afterForkInChild() })
        }
    }

    static func unregister(_ core: ProbeCore) {
        entries.withLock { $0.removeAll { $0.core == nil || $0.core === core } }
    }

    /// 300 ms for all running probes together: a bounded, best-effort last delivery.
    static func flushAtExit() {
        let cores = entries.withLock { $0.compactMap(\.core) }
        let deadline = monotonicNanoseconds() &+ 300_000_000
        for core in cores where core.running.load(ordering: .acquiring) {
            let now = monotonicNanoseconds()
            guard now < deadline else { break }
            _ = core.flush(timeout: .nanoseconds(Int64(deadline - now)))
        }
    }

    static func prepareFork() {
        entries.lockForFork()
        forking = entries.valueWhileLockedForFork.compactMap(\.core)
        for core in forking { core.lockForFork() }
    }

    static func afterForkInParent() {
        for core in forking.reversed() { core.unlockAfterFork() }
        forking = []
        entries.unlockAfterFork()
    }

    static func afterForkInChild() {
        for core in forking.reversed() { core.unlockAfterFork() }
        EventBuffer.releaseCurrentThreadSlots()
        for core in forking { core.resetAfterFork() }
        forking = []
        entries.unlockAfterFork()
    }
}

extension ProbeCore {
    /// Every lock of this probe, in the one order the prepare handler takes them. No code path
    /// holds one of them while taking another.
    private var forkLocks: [any ForkLockable] {
        [names.definitions, buffer.registry, thresholds.configured, callDetails.state, memoryDeltas.state,
         deliveredByConnection, connection, lifecycle]
    }

    func lockForFork() {
        for lock in forkLocks { lock.lockForFork() }
    }

    func unlockAfterFork() {
        for lock in forkLocks.reversed() { lock.unlockAfterFork() }
    }

    /// In the child, with its one thread and every lock free: a fresh start (see `ProbeRegistry`).
    func resetAfterFork() {
        let stopped = lifecycle.withLock { l -> Bool in
            l.thread = nil  // the parent's flusher: not ours to join
            return l.stopped
        }
        connection.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
        running.store(false, ordering: .relaxed)
        stopping.store(false, ordering: .relaxed)
        connected.store(false, ordering: .relaxed)
        delivered.store(0, ordering: .relaxed)
        lostInTransit.store(0, ordering: .relaxed)
        flushRequested.store(0, ordering: .relaxed)
        flushCompleted.store(0, ordering: .relaxed)
        deliveredByConnection.withLock { $0 = [] }
        wakeup.resetAfterFork()
        buffer.resetAfterFork()
        callDetails.resetAfterFork()
        memoryDeltas.resetAfterFork()
        thresholds.clearDaemon()
        residentMemory.resetAfterFork()
        startPending.store(!stopped, ordering: .releasing)
    }
}
