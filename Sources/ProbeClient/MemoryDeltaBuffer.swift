import ProbeWire

/// The bounded buffer of per-call memory deltas between recording threads and the flusher: one
/// lock, no shards, because a memory-tracked call already spends microseconds in two `pread`s
/// and a few-nanosecond append under a lock is noise next to that. A full buffer drops the
/// delta (never the call's event) and counts it; the count reaches the daemon in MEMORY messages.
final class MemoryDeltaBuffer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: all mutable state is inside the Mutex.
    struct State {
        var records: UnsafeMutablePointer<MemoryDeltaRecord>
        var count = 0
        var dropped: UInt64 = 0
        /// Deltas ever buffered (not dropped): what `flush` waits for is counted in these.
        var queuedTotal: UInt64 = 0
    }

    let state: ForkSafeMutex<State>
    let capacity: Int
    /// Reaching this fill level wakes the flusher early.
    let wakeAt: Int

    init(capacity: Int = 4096) {
        self.capacity = capacity
        wakeAt = max(1, capacity / 2)
        state = ForkSafeMutex(State(records: .allocate(capacity: capacity)))
    }

    deinit {
        state.withLock { $0.records.deallocate() }
    }

    /// Appends one record; returns true when the flusher should be woken now.
    @inline(__always)
    func append(_ record: MemoryDeltaRecord) -> Bool {
        let capacity = self.capacity
        let wakeAt = self.wakeAt
        return state.withLock { s in
            if s.count < capacity {
                s.records[s.count] = record
                s.count &+= 1
                s.queuedTotal &+= 1
                return s.count == wakeAt
            }
            s.dropped &+= 1
            return false
        }
    }

    /// Swaps the records out for `spare` (of the same capacity); returns the filled buffer and its count.
    func drain(spare: UnsafeMutablePointer<MemoryDeltaRecord>) -> (UnsafeMutablePointer<MemoryDeltaRecord>, Int) {
        state.withLock { s in
            defer {
                s.records = spare
                s.count = 0
            }
            return (s.records, s.count)
        }
    }

    /// Counts `n` deltas as dropped (the daemon does not accept them).
    func countDropped(_ n: Int) {
        state.withLock { $0.dropped &+= UInt64(n) }
    }

    var isEmpty: Bool { state.withLock { $0.count == 0 } }

    var droppedTotal: UInt64 { state.withLock { $0.dropped } }

    var queuedTotal: UInt64 { state.withLock { $0.queuedTotal } }

    /// In a forked child: the buffered deltas are the parent's.
    func resetAfterFork() {
        state.withLock { s in
            s.count = 0
            s.dropped = 0
            s.queuedTotal = 0
        }
    }
}
