#if canImport(Glibc)
import Glibc
#endif
import ProbePosix
import ProbeWire
import Synchronization

/// The bounded buffer between recording threads and the flusher: one shard per CPU (rounded up
/// to a power of two), each on its own 128-byte block, so two threads on two CPUs never touch
/// the same cache line. A full shard drops the event and counts it; nothing here ever waits
/// longer than another thread's few-nanosecond append on the same shard.
///
/// Costs on the record path, measured by `probe-bench`: one `sched_getcpu` (read from rseq, no
/// system call), one compare-and-swap to take the shard, a 32-byte store, and a plain release
/// store to give it back. No reference counting: shards live in raw memory owned by the buffer.
final class EventBuffer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: every shard's mutable fields are only touched while its lock
    //     is held; the raw memory lives as long as the buffer.

    /// A shard's fields, guarded by the shard's lock. The lock is a separate variable beside it
    /// (same cache line): were it a field of this struct, every `pointee.count = …` would be a
    /// modifying access to the whole struct, lock included, racing (for the Swift memory model
    /// and ThreadSanitizer alike) with another thread's compare-and-swap on the lock.
    struct Shard {
        var records: UnsafeMutablePointer<EventRecord>
        var count = 0
        var dropped: UInt64 = 0
    }

    /// A shard in the buffer's raw memory: its spinlock (0 = free, 1 = held; holders never block
    /// or call out while holding it) and its fields.
    struct ShardRef {
        let lock: UnsafeMutablePointer<Atomic<UInt32>>
        let state: UnsafeMutablePointer<Shard>
    }

    /// Bytes between shards: two cache lines, so adjacent-line prefetch does not couple them.
    static let shardStride = 128
    /// Where a shard's fields start after its lock.
    static let stateOffset = 16

    let storage: UnsafeMutableRawPointer
    let shardCount: Int
    let mask: Int
    /// Records each shard holds before it drops.
    let shardCapacity: Int
    /// Reaching this fill level wakes the flusher early.
    let wakeAt: Int
    /// Events dropped before reaching a shard (operation over the limit).
    let droppedOutside = Atomic<UInt64>(0)

    init(capacity: Int, shardCount requested: Int) {
        var count = 1
        while count < min(max(requested, 1), 64) { count <<= 1 }
        shardCount = count
        mask = count - 1
        shardCapacity = max(64, capacity / count)
        wakeAt = max(1, shardCapacity / 2)
        precondition(MemoryLayout<Atomic<UInt32>>.size <= EventBuffer.stateOffset
            && EventBuffer.stateOffset + MemoryLayout<Shard>.size <= EventBuffer.shardStride)
        storage = .allocate(byteCount: count * EventBuffer.shardStride, alignment: EventBuffer.shardStride)
        for i in 0..<count {
            let s = shard(i)
            s.lock.initialize(to: Atomic<UInt32>(0))
            s.state.initialize(to: Shard(records: .allocate(capacity: shardCapacity)))
        }
    }

    deinit {
        for i in 0..<shardCount {
            let s = shard(i)
            s.state.pointee.records.deallocate()
            s.state.deinitialize(count: 1)
            s.lock.deinitialize(count: 1)
        }
        storage.deallocate()
    }

    @inline(__always)
    func shard(_ index: Int) -> ShardRef {
        let base = storage + index &* EventBuffer.shardStride
        return ShardRef(lock: base.assumingMemoryBound(to: Atomic<UInt32>.self),
                        state: (base + EventBuffer.stateOffset).assumingMemoryBound(to: Shard.self))
    }

    @inline(__always)
    static func lock(_ s: ShardRef) {
        if _fastPath(s.lock.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged) { return }
        lockSlow(s)
    }

    /// Contended: another thread on this CPU was preempted mid-append, or the flusher is
    /// swapping the buffer. Spin briefly on a read, then yield the CPU to whoever holds it.
    @inline(never)
    static func lockSlow(_ s: ShardRef) {
        var spins = 0
        while true {
            while s.lock.pointee.load(ordering: .relaxed) != 0 {
                spins += 1
                if spins > 64 { sched_yield() }
            }
            if s.lock.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return }
        }
    }

    @inline(__always)
    static func unlock(_ s: ShardRef) {
        s.lock.pointee.store(0, ordering: .releasing)
    }

    /// Appends one record; returns true when the flusher should be woken now.
    @inline(__always)
    func append(_ record: EventRecord) -> Bool {
        let s = shard(currentCPU() & mask)
        EventBuffer.lock(s)
        let n = s.state.pointee.count
        if _fastPath(n < shardCapacity) {
            s.state.pointee.records[n] = record
            s.state.pointee.count = n &+ 1
            EventBuffer.unlock(s)
            return n &+ 1 == wakeAt
        }
        s.state.pointee.dropped &+= 1
        EventBuffer.unlock(s)
        return false
    }

    /// Swaps shard `index`'s records out for `spare` (of `shardCapacity`). Returns the filled
    /// buffer and how many records it holds; `spare` now belongs to the shard.
    func drain(_ index: Int, spare: UnsafeMutablePointer<EventRecord>) -> (UnsafeMutablePointer<EventRecord>, Int) {
        let s = shard(index)
        EventBuffer.lock(s)
        let full = s.state.pointee.records
        let n = s.state.pointee.count
        s.state.pointee.records = spare
        s.state.pointee.count = 0
        EventBuffer.unlock(s)
        return (full, n)
    }

    /// Reads shard `index`'s fields under its lock.
    func withShard<T>(_ index: Int, _ body: (Shard) -> T) -> T {
        let s = shard(index)
        EventBuffer.lock(s)
        defer { EventBuffer.unlock(s) }
        return body(s.state.pointee)
    }

    func isEmpty(_ index: Int) -> Bool { withShard(index) { $0.count == 0 } }

    /// Events waiting in every shard.
    func bufferedTotal() -> Int {
        (0..<shardCount).reduce(0) { total, i in total &+ withShard(i) { $0.count } }
    }

    /// Every event dropped so far, all shards together.
    func droppedTotal() -> UInt64 {
        (0..<shardCount).reduce(droppedOutside.load(ordering: .relaxed)) { total, i in total &+ withShard(i) { $0.dropped } }
    }
}
