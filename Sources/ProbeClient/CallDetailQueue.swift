import ProbeWire

/// The small bounded queue of slow and failed calls' details between recording threads and the
/// flusher, separate from the event buffer: a detail costs an allocation or two anyway (its
/// attributes), so one lock is plenty. A full queue drops the detail — never the call's event,
/// which went to the event buffer — and counts it (`Probe.droppedCallDetails`).
final class CallDetailQueue: @unchecked Sendable {
    // (1) `@unchecked Sendable`: all mutable state is inside the Mutex.
    struct State {
        var details: [CallDetail] = []
        var dropped: UInt64 = 0
        /// Details ever queued (not dropped): what `flush` waits for is counted in these.
        var queuedTotal: UInt64 = 0
    }

    let state = ForkSafeMutex(State())
    let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    /// Queues `detail`; returns true when the flusher should be woken now (the first one queued).
    func append(_ detail: CallDetail) -> Bool {
        let capacity = self.capacity
        return state.withLock { s in
            guard s.details.count < capacity else {
                s.dropped &+= 1
                return false
            }
            s.details.append(detail)
            s.queuedTotal &+= 1
            return s.details.count == 1
        }
    }

    /// Takes every queued detail.
    func drain() -> [CallDetail] {
        state.withLock { s in
            defer { s.details = [] }
            return s.details
        }
    }

    /// Counts `n` details as dropped (the daemon does not accept them).
    func countDropped(_ n: Int) {
        state.withLock { $0.dropped &+= UInt64(n) }
    }

    var isEmpty: Bool { state.withLock { $0.details.isEmpty } }

    var droppedTotal: UInt64 { state.withLock { $0.dropped } }

    var queuedTotal: UInt64 { state.withLock { $0.queuedTotal } }

    /// In a forked child: the queued details are the parent's.
    func resetAfterFork() { state.withLock { $0 = State() } }
}
