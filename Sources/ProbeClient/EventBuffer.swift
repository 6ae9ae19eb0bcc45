#if canImport(Glibc)
import Glibc
#endif
import CProbeSys
import ProbeWire
import Synchronization

/// The bounded buffer between recording threads and the flusher: one single-producer ring per
/// recording thread, found through a thread-local slot, so a call writes only memory its own
/// thread owns. A full ring drops the event and counts it; nothing here ever waits.
///
/// Costs on the record path, measured by `probe-bench`: one thread-local load and compare, a
/// 32-byte store and a release store of the ring's head (a plain store on x86): no
/// compare-and-swap, no lock, no cache line written by two threads. The flusher reads the head
/// with acquire, sends the records straight from the ring and moves the tail with a release
/// store; the producer rereads the tail only when its cached copy says the ring is full.
///
/// Each thread's first call (and its first after a `fork`) takes the slow path: it claims a ring
/// a finished thread left behind, or allocates one. A ring holds `bufferCapacity / CPUs` events
/// (a power of two, at least 64) while all rings together stay within 8 × `bufferCapacity`, and
/// 256 beyond that, so memory is bounded whatever the number of threads. When a thread exits (a
/// pthread key destructor), its rings are left for the next new thread; the flusher still
/// drains what they hold.
final class EventBuffer: @unchecked Sendable {
    // (1) `@unchecked Sendable`: a ring's producer fields are touched only by the thread that
    //     owns it, handed from thread to thread through `registry`'s lock and `owners`' atomic;
    //     the flusher's fields only by the flusher; the rest is atomics.

    /// A ring in raw memory: a 256-byte header (producer's cache line, flusher's cache line,
    /// shared and immutable fields), then `capacity` records.
    struct Ring: @unchecked Sendable {
        let base: UnsafeMutableRawPointer

        static let headerSize = 256
        /// Producer's line: head (written by the producer, read by the flusher), drops, the
        /// producer's last view of the tail, and the immutable mask.
        @inline(__always) var head: UnsafeMutablePointer<Atomic<Int>> { base.assumingMemoryBound(to: Atomic<Int>.self) }
        @inline(__always) var dropped: UnsafeMutablePointer<Atomic<UInt64>> { (base + 8).assumingMemoryBound(to: Atomic<UInt64>.self) }
        @inline(__always) var cachedTail: UnsafeMutablePointer<Int> { (base + 16).assumingMemoryBound(to: Int.self) }
        @inline(__always) var mask: Int { (base + 24).assumingMemoryBound(to: Int.self).pointee }
        /// Flusher's line: the tail (the flusher has sent everything before it).
        @inline(__always) var tail: UnsafeMutablePointer<Atomic<Int>> { (base + 128).assumingMemoryBound(to: Atomic<Int>.self) }
        /// 2 while both a thread and the buffer hold the ring, 1 when one of them let go (a ring
        /// the buffer holds alone is free for the next new thread); whoever lets go last frees it.
        @inline(__always) var owners: UnsafeMutablePointer<Atomic<Int>> { (base + 136).assumingMemoryBound(to: Atomic<Int>.self) }
        @inline(__always) var records: UnsafeMutablePointer<EventRecord> {
            (base + Ring.headerSize).assumingMemoryBound(to: EventRecord.self)
        }
        var capacity: Int { mask + 1 }

        init(_ base: UnsafeMutableRawPointer) { self.base = base }

        static func allocate(capacity: Int) -> Ring {
            let base = UnsafeMutableRawPointer.allocate(
                byteCount: headerSize + capacity * MemoryLayout<EventRecord>.stride, alignment: 128)
            let ring = Ring(base)
            ring.head.initialize(to: Atomic(0))
            ring.dropped.initialize(to: Atomic(0))
            ring.cachedTail.initialize(to: 0)
            (base + 24).assumingMemoryBound(to: Int.self).initialize(to: capacity - 1)
            ring.tail.initialize(to: Atomic(0))
            ring.owners.initialize(to: Atomic(2))
            return ring
        }

        /// Appends `record` (the owning thread only); returns true when the flusher should be
        /// woken now (every half ring), false also when the ring was full and it was dropped.
        @inline(__always)
        func push(_ record: EventRecord) -> Bool {
            let h = head.pointee.load(ordering: .relaxed)
            let mask = self.mask
            if _slowPath(h &- cachedTail.pointee > mask) {
                let t = tail.pointee.load(ordering: .acquiring)
                cachedTail.pointee = t
                if h &- t > mask {
                    dropped.pointee.store(dropped.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
                    return false
                }
            }
            records[h & mask] = record
            head.pointee.store(h &+ 1, ordering: .releasing)
            return (h &+ 1) & (mask >> 1) == 0
        }

        /// Events recorded and not yet sent.
        var count: Int { head.pointee.load(ordering: .acquiring) &- tail.pointee.load(ordering: .acquiring) }

        /// Lets go of the ring on one side; frees it when the other side already has.
        func release() {
            if owners.pointee.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 { base.deallocate() }
        }
    }

    struct Registry {
        var rings: [Ring] = []
        /// Events all rings hold together.
        var allocatedEvents = 0
    }

    /// Serials identify buffers in threads' slots; never reused (a new one after `fork` too), so
    /// a slot left by a buffer that is gone never matches another.
    static let serials = Atomic<UInt64>(1)

    let serial: Atomic<UInt64>
    let registry = ForkSafeMutex(Registry())
    /// Bumped whenever a ring is added: the flusher copies the list when it changed.
    let version = Atomic<Int>(0)
    /// A new ring's capacity while all rings hold less than `budget` events, and after.
    let ringCapacity: Int
    let smallRingCapacity: Int
    let budget: Int
    /// Events dropped before reaching a ring (operation over the limit).
    let droppedOutside = Atomic<UInt64>(0)

    init(capacity: Int, cpus: Int) {
        var count = 1
        while count < min(max(cpus, 1), 64) { count <<= 1 }
        var perRing = 64
        while perRing * 2 <= capacity / count { perRing *= 2 }
        ringCapacity = perRing
        smallRingCapacity = min(perRing, 256)
        budget = max(8 * capacity, 2 * perRing)
        serial = Atomic(EventBuffer.serials.add(1, ordering: .relaxed).oldValue)
    }

    deinit {
        registry.withLock { r in for ring in r.rings { ring.release() } }
    }

    /// The calling thread's ring when it has one at the front of its slots (the fast path).
    @inline(__always)
    func currentRing() -> Ring? {
        let slot = UnsafeMutableRawPointer(cprobe_thread_rings_get()).assumingMemoryBound(to: cprobe_ring_slot.self)
        if _fastPath(slot.pointee.serial == serial.load(ordering: .relaxed)) { return Ring(slot.pointee.ring.unsafelyUnwrapped) }
        return nil
    }

    /// The calling thread's ring: from another of its slots, or claimed, or new. The most
    /// recently used buffer goes to the front; a fifth evicts the least recent (its ring is left
    /// to the buffer, for the next new thread).
    @inline(never)
    func ringForCurrentThread() -> Ring {
        let slots = UnsafeMutableRawPointer(cprobe_thread_rings_get()).assumingMemoryBound(to: cprobe_ring_slot.self)
        let serial = self.serial.load(ordering: .relaxed)
        var found: Ring?
        var at = 3
        for i in 1..<4 where slots[i].serial == serial {
            found = Ring(slots[i].ring.unsafelyUnwrapped)
            at = i
            break
        }
        let ring = found ?? claimRing()
        if found == nil, let evicted = slots[3].ring {
            Ring(evicted).release()
        }
        var i = at
        while i > 0 {
            slots[i] = slots[i - 1]
            i -= 1
        }
        slots[0] = cprobe_ring_slot(serial: serial, ring: ring.base)
        _ = cprobe_thread_rings_watch(EventBuffer.releaseAtThreadExit)
        return ring
    }

    /// The ring a thread left behind, or a new one.
    private func claimRing() -> Ring {
        registry.withLock { r in
            for ring in r.rings where ring.owners.pointee.compareExchange(
                expected: 1, desired: 2, ordering: .acquiringAndReleasing).exchanged {
                ring.cachedTail.pointee = ring.tail.pointee.load(ordering: .acquiring)
                return ring
            }
            let ring = Ring.allocate(capacity: r.allocatedEvents < budget ? ringCapacity : smallRingCapacity)
            r.rings.append(ring)
            r.allocatedEvents += ring.capacity
            version.add(1, ordering: .releasing)
            return ring
        }
    }

    /// Called for each of an exiting thread's slots (CProbeSys's pthread key destructor).
    static let releaseAtThreadExit: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
        if let raw { Ring(raw).release() }
    }

    /// Every ring, for the flusher.
    func rings() -> [Ring] { registry.withLock { $0.rings } }

    /// Events waiting in every ring.
    func bufferedTotal() -> Int {
        registry.withLock { r in r.rings.reduce(0) { $0 &+ $1.count } }
    }

    /// Every event dropped so far, all rings together.
    func droppedTotal() -> UInt64 {
        registry.withLock { r in
            r.rings.reduce(droppedOutside.load(ordering: .relaxed)) { $0 &+ $1.dropped.pointee.load(ordering: .relaxed) }
        }
    }

    // MARK: Fork

    /// In a child after `fork` (one thread, locks free): the records in the rings are the
    /// parent's, sent by the parent; the child starts empty, with counts of zero, a new serial
    /// (so no thread slot matches until its thread claims a ring again) and every ring free.
    func resetAfterFork() {
        serial.store(EventBuffer.serials.add(1, ordering: .relaxed).oldValue, ordering: .relaxed)
        registry.withLock { r in
            for ring in r.rings {
                let h = ring.head.pointee.load(ordering: .relaxed)
                ring.tail.pointee.store(h, ordering: .relaxed)
                ring.cachedTail.pointee = h
                ring.dropped.pointee.store(0, ordering: .relaxed)
                ring.owners.pointee.store(1, ordering: .relaxed)
            }
        }
        droppedOutside.store(0, ordering: .relaxed)
        version.add(1, ordering: .releasing)
    }

    /// In a child after `fork`: lets go of the forking thread's slots (of every buffer), before
    /// the buffers reset; the other threads' slots went with them.
    static func releaseCurrentThreadSlots() {
        let slots = UnsafeMutableRawPointer(cprobe_thread_rings_get()).assumingMemoryBound(to: cprobe_ring_slot.self)
        for i in 0..<4 {
            if let ring = slots[i].ring { Ring(ring).release() }
            slots[i] = cprobe_ring_slot(serial: 0, ring: nil)
        }
    }
}
