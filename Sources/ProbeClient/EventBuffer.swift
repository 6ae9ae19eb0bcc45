import ProbePosix
import ProbeWire
import Synchronization

/// The bounded buffer between recording threads and the flusher: one shard per CPU (rounded up
/// to a power of two), each with its own lock on its own cache lines, so that two threads on two
/// CPUs never contend. A full shard drops the event and counts it; nothing here ever blocks
/// longer than another thread's few-nanosecond append on the same CPU.
final class EventBuffer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: all mutable state is inside each shard's Mutex.
    final class Shard: @unchecked Sendable {
        struct State: ~Copyable {
            var records: UnsafeMutablePointer<EventRecord>
            var count = 0
            var dropped: UInt64 = 0
        }
        let state: Mutex<State>
        let capacity: Int
        /// Reaching this fill level wakes the flusher early.
        let wakeAt: Int
        // Keeps the next shard's lock off this one's cache line.
        private var padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

        init(capacity: Int) {
            self.capacity = capacity
            self.wakeAt = max(1, capacity / 2)
            state = Mutex(State(records: .allocate(capacity: capacity)))
        }

        deinit {
            state.withLock { $0.records.deallocate() }
        }
    }

    let shards: [Shard]
    let mask: Int
    /// Events dropped before reaching a shard (operation over the limit).
    let droppedOutside = Atomic<UInt64>(0)

    init(capacity: Int, shardCount requested: Int) {
        var count = 1
        while count < min(max(requested, 1), 64) { count <<= 1 }
        let perShard = max(64, capacity / count)
        shards = (0..<count).map { _ in Shard(capacity: perShard) }
        mask = count - 1
    }

    /// Appends one record; returns true when the flusher should be woken now.
    @inline(__always)
    func append(_ record: EventRecord) -> Bool {
        let shard = shards[currentCPU() & mask]
        let capacity = shard.capacity
        let wakeAt = shard.wakeAt
        return shard.state.withLock { s in
            if s.count < capacity {
                s.records[s.count] = record
                s.count &+= 1
                return s.count == wakeAt
            }
            s.dropped &+= 1
            return false
        }
    }

    /// Swaps shard `index`'s records out for `spare` (of the same capacity). Returns the filled
    /// buffer and how many records it holds; `spare` is now the shard's.
    func drain(_ index: Int, spare: UnsafeMutablePointer<EventRecord>) -> (UnsafeMutablePointer<EventRecord>, Int) {
        // The pointers cross the lock as integers: the buffers belong to whoever holds them.
        let spareBits = UInt(bitPattern: spare)
        let (fullBits, n) = shards[index].state.withLock { s in
            let full = UInt(bitPattern: s.records)
            let n = s.count
            s.records = UnsafeMutablePointer(bitPattern: spareBits)!
            s.count = 0
            return (full, n)
        }
        return (UnsafeMutablePointer(bitPattern: fullBits)!, n)
    }

    func isEmpty(_ index: Int) -> Bool { shards[index].state.withLock { $0.count == 0 } }

    /// Every event dropped so far, all shards together.
    func droppedTotal() -> UInt64 {
        var total = droppedOutside.load(ordering: .relaxed)
        for shard in shards { total &+= shard.state.withLock { $0.dropped } }
        return total
    }
}
