/// Which calls of a series are warm-up: the `limit` calls that **started** first, exactly,
/// whatever order they arrive in — of the whole series, or (`perItems`) of each items value.
///
/// Calls do not arrive in the order they started: a client ships one CPU's buffer at a time, so
/// a thread that moved between CPUs delivers later calls first, and a long call is recorded
/// after shorter ones that started after it. The filter keeps the warm-up calls themselves (a
/// max-heap on start time, `limit` entries of 32 bytes) until a call that started earlier than
/// the latest of them arrives: that call takes its place, and the one it displaces — no longer
/// among the first `limit` — is measured then (`Verdict.warmupReplacing`). So at every moment the
/// warm-up calls are exactly the `limit` earliest-started calls received, and every other
/// successful call is in the latency figures, once. Ties in start time keep the call that
/// arrived first. A displaced call joins the figures of the second it was displaced in.
///
/// Per items value (`perItems`), each of the first `maxItemsValues` distinct values has its own
/// `limit` warm-up calls (a model compiled, tuned or given an engine profile per input shape);
/// calls of a value past those are measured, never warm-up, and counted in `untrackedCalls`.
public struct WarmupFilter: Sendable {
    /// One warm-up call, as much of it as the figures need once it is displaced.
    public struct Call: Sendable {
        public var start: UInt64
        public var duration: UInt64
        /// Arrival order within the series (its call number): breaks ties of `start`.
        public var arrival: UInt64
        public var items: UInt32
        public var failed: Bool

        @inlinable
        public init(start: UInt64, duration: UInt64, arrival: UInt64, items: UInt32, failed: Bool) {
            self.start = start
            self.duration = duration
            self.arrival = arrival
            self.items = items
            self.failed = failed
        }

        /// Started later (ties: arrived later).
        @inlinable
        func isLater(than other: Call) -> Bool { (start, arrival) > (other.start, other.arrival) }
    }

    /// What became of an offered call.
    public enum Verdict: Sendable {
        /// Not warm-up: measure it.
        case measured
        /// Warm-up, displacing nothing.
        case warmup
        /// Warm-up, in place of this call, which is not warm-up any more: measure it now.
        case warmupReplacing(Call)
    }

    /// The warm-up calls of one set, the latest-started at the root.
    public struct Calls: Sendable {
        @usableFromInline var heap: [Call] = []
        @usableFromInline let limit: Int
        /// Once full: the start of the latest-started warm-up call; an earlier start gets in.
        @usableFromInline var latestStart: UInt64 = 0
        @usableFromInline var full: Bool

        init(limit: Int) {
            self.limit = limit
            full = limit == 0
        }

        /// Whether a call that started at `start` would be warm-up.
        @inlinable @inline(__always)
        func admits(_ start: UInt64) -> Bool { !full || start < latestStart }

        mutating func admit(_ call: Call) -> Verdict {
            guard admits(call.start) else { return .measured }
            if !full {
                if heap.capacity == 0 { heap.reserveCapacity(limit) }
                heap.append(call)
                siftUp(heap.count - 1)
                full = heap.count == limit
                latestStart = heap[0].start
                return .warmup
            }
            let displaced = heap[0]
            heap[0] = call
            siftDown(0)
            latestStart = heap[0].start
            return .warmupReplacing(displaced)
        }

        private mutating func siftUp(_ start: Int) {
            var i = start
            while i > 0 {
                let parent = (i - 1) / 2
                guard heap[i].isLater(than: heap[parent]) else { return }
                heap.swapAt(i, parent)
                i = parent
            }
        }

        private mutating func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var latest = i
                if l < heap.count && heap[l].isLater(than: heap[latest]) { latest = l }
                if r < heap.count && heap[r].isLater(than: heap[latest]) { latest = r }
                guard latest != i else { return }
                heap.swapAt(i, latest)
                i = latest
            }
        }

        var footprintBytes: Int { heap.capacity * MemoryLayout<Call>.stride }
    }

    /// Distinct items values that get warm-up calls of their own, per series.
    package static let maxItemsValues = 64

    /// Warm-up calls per set.
    package let limit: Int
    /// Keep warm-up per items value (DEFINE's `warmup_per_items`); applies to calls offered after it is set.
    @usableFromInline package var perItems = false
    @usableFromInline var whole: Calls
    package internal(set) var byItems: [UInt32: Calls] = [:]
    /// Calls whose items value came after `maxItemsValues` others: measured without a warm-up of their own.
    package internal(set) var untrackedCalls: UInt64 = 0

    package init(limit: Int) {
        self.limit = max(0, limit)
        whole = Calls(limit: self.limit)
    }

    /// Whether `offer` must look at a call that started at `start`: false means it is measured.
    /// The ingest loop's whole cost in the common case: a flag and one comparison.
    @inlinable @inline(__always)
    public func mayAdmit(_ start: UInt64) -> Bool { perItems || whole.admits(start) }

    /// Judges one call (see the type's description).
    public mutating func offer(_ call: Call) -> Verdict {
        guard perItems else { return whole.admit(call) }
        if byItems[call.items] == nil {
            guard byItems.count < WarmupFilter.maxItemsValues else {
                untrackedCalls &+= 1
                return .measured
            }
            byItems[call.items] = Calls(limit: limit)
        }
        return byItems[call.items]!.admit(call)
    }

    /// Heap bytes held by the warm-up calls.
    package var footprintBytes: Int {
        byItems.values.reduce(whole.footprintBytes) { $0 + $1.footprintBytes + 16 } + (byItems.isEmpty ? 0 : 64)
    }
}
