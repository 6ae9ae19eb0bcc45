/// What probed keeps of one operation's slow and failed calls (all processes of one service
/// together): the most recent slow calls, the slowest ever and the most recent failures, each
/// bounded by `capacity`. Newest-first and slowest-first lists come out in that order.
struct CallLog {
    let capacity: Int
    private(set) var recentSlow: [CallEntry] = []
    private var recentSlowNext = 0
    /// A min-heap on duration: the root is the fastest of the slowest, the first to go.
    private(set) var slowest: [CallEntry] = []
    private(set) var recentFailures: [CallEntry] = []
    private var recentFailuresNext = 0
    /// Slow calls and failures ever added (also those no longer kept).
    private(set) var slowCount: UInt64 = 0
    private(set) var failureCount: UInt64 = 0

    init(capacity: Int = 100) {
        self.capacity = max(1, capacity)
    }

    /// Adds `entry` to each list it belongs to; returns the change in bytes held.
    mutating func add(_ entry: CallEntry) -> Int {
        var delta = 0
        if entry.detail.slow {
            slowCount &+= 1
            delta += CallLog.push(entry, into: &recentSlow, next: &recentSlowNext, capacity: capacity)
            delta += pushSlowest(entry)
        }
        if entry.detail.failed {
            failureCount &+= 1
            delta += CallLog.push(entry, into: &recentFailures, next: &recentFailuresNext, capacity: capacity)
        }
        return delta
    }

    /// Sets the counts of slow calls and failures ever added (restoring a state file, where
    /// entries no longer kept were counted too).
    mutating func restoreCounts(slow: UInt64, failures: UInt64) {
        slowCount = max(slowCount, slow)
        failureCount = max(failureCount, failures)
    }

    /// Every entry kept, in any list, oldest first (each once).
    var entries: [CallEntry] {
        var seen = Set<UInt64>()
        return (recentSlow + slowest + recentFailures).filter { seen.insert($0.sequence).inserted }.sorted { $0.sequence < $1.sequence }
    }

    /// Recent slow calls, newest first.
    var newestSlow: [CallEntry] { recentSlow.sorted { $0.sequence > $1.sequence } }
    /// The slowest calls ever kept, slowest first (ties: newest first).
    var slowestFirst: [CallEntry] {
        slowest.sorted { ($0.detail.durationNanoseconds, $0.sequence) > ($1.detail.durationNanoseconds, $1.sequence) }
    }
    /// Recent failures, newest first.
    var newestFailures: [CallEntry] { recentFailures.sorted { $0.sequence > $1.sequence } }

    var footprintBytes: Int {
        (recentSlow + slowest + recentFailures).reduce(0) { $0 + $1.footprintBytes }
    }

    /// A ring: appends until full, then overwrites the oldest.
    private static func push(_ e: CallEntry, into ring: inout [CallEntry], next: inout Int, capacity: Int) -> Int {
        if ring.count < capacity {
            ring.append(e)
            return e.footprintBytes
        }
        let delta = e.footprintBytes - ring[next].footprintBytes
        ring[next] = e
        next = (next + 1) % capacity
        return delta
    }

    private mutating func pushSlowest(_ e: CallEntry) -> Int {
        if slowest.count < capacity {
            slowest.append(e)
            siftUp(slowest.count - 1)
            return e.footprintBytes
        }
        guard e.detail.durationNanoseconds > slowest[0].detail.durationNanoseconds else { return 0 }
        let delta = e.footprintBytes - slowest[0].footprintBytes
        slowest[0] = e
        siftDown(0)
        return delta
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard slowest[i].detail.durationNanoseconds < slowest[parent].detail.durationNanoseconds else { return }
            slowest.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < slowest.count && slowest[l].detail.durationNanoseconds < slowest[smallest].detail.durationNanoseconds { smallest = l }
            if r < slowest.count && slowest[r].detail.durationNanoseconds < slowest[smallest].detail.durationNanoseconds { smallest = r }
            guard smallest != i else { return }
            slowest.swapAt(i, smallest)
            i = smallest
        }
    }
}

/// The call logs of every operation, and the daemon-wide budget on what they hold.
///
/// Each log is bounded by count; the budget bounds the total: once the logs hold `budgetBytes`,
/// a new entry keeps its numbers but loses its attributes and message (and is marked truncated),
/// so a flood of huge attributes from many operations cannot grow the daemon without bound.
struct CallLogs {
    struct Key: Hashable {
        var service: String
        var operation: String
    }

    var logs: [Key: CallLog] = [:]
    let capacity: Int
    let budgetBytes: Int
    private(set) var bytes = 0
    private(set) var nextSequence: UInt64 = 1

    init(capacity: Int = 100, budgetBytes: Int = 64 << 20) {
        self.capacity = capacity
        self.budgetBytes = budgetBytes
    }

    /// Stamps `entry` with the next sequence number, keeps it, and returns it as kept.
    mutating func add(_ entry: CallEntry) -> CallEntry {
        var e = entry
        e.sequence = nextSequence
        nextSequence &+= 1
        if bytes + e.footprintBytes > budgetBytes {
            e.detail.attributes = []
            e.detail.errorDescription = ""
            e.detail.flags.insert(.truncated)
        }
        let key = Key(service: e.service, operation: e.operation)
        var log = logs.removeValue(forKey: key) ?? CallLog(capacity: capacity)
        bytes += log.add(e)
        logs[key] = log
        return e
    }

    /// The logs of `operation` (every operation when nil), in a stable order.
    func matching(_ operation: String?) -> [CallLog] {
        logs.filter { operation == nil || $0.key.operation == operation }
            .sorted { ($0.key.service, $0.key.operation) < ($1.key.service, $1.key.operation) }
            .map(\.value)
    }
}
