import ProbeStatistics

/// One kept call, shared by the lists of its log that hold it (recent slow calls, the slowest,
/// recent failures): its bytes count once, and leave when the last list lets it go.
final class KeptCall {
    let entry: CallEntry
    /// What the entry holds on the heap, this object included (`CallEntry.footprintBytes`).
    let bytes: Int
    /// How many of its log's lists hold it.
    var holders = 0

    init(_ entry: CallEntry) {
        self.entry = entry
        bytes = entry.footprintBytes
    }
}

/// What probed keeps of one operation's slow and failed calls (all processes of one service
/// together): the most recent slow calls, the slowest ever and the most recent failures, each
/// bounded by `capacity`. Newest-first and slowest-first lists come out in that order.
/// `CallLogs` may take entries back to keep all logs within their budget (`evictOldest`).
struct CallLog {
    let capacity: Int
    /// Recent slow calls and recent failures, in no order (readers sort by sequence).
    private var recentSlowKept: [KeptCall] = []
    private var recentFailuresKept: [KeptCall] = []
    /// A min-heap on duration: the root is the fastest of the slowest, the first to go.
    private var slowestKept: [KeptCall] = []
    /// Slow calls and failures ever added (also those no longer kept).
    private(set) var slowCount: UInt64 = 0
    private(set) var failureCount: UInt64 = 0
    /// Bytes of the entries held, each counted once.
    private var entryBytes = 0
    /// This log's place in `CallLogs`' eviction heap.
    fileprivate var heapIndex = 0

    init(capacity: Int = 100) {
        self.capacity = max(1, capacity)
    }

    var recentSlow: [CallEntry] { recentSlowKept.map(\.entry) }
    var slowest: [CallEntry] { slowestKept.map(\.entry) }
    var recentFailures: [CallEntry] { recentFailuresKept.map(\.entry) }
    var isEmpty: Bool { recentSlowKept.isEmpty && slowestKept.isEmpty && recentFailuresKept.isEmpty }

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

    /// Heap bytes this log holds: its entries (each once) and its lists' storage.
    var footprintBytes: Int {
        entryBytes + CallLog.listBytes(recentSlowKept) + CallLog.listBytes(slowestKept) + CallLog.listBytes(recentFailuresKept)
    }

    private static func listBytes(_ list: [KeptCall]) -> Int {
        list.capacity == 0 ? 0 : 48 + list.capacity * MemoryLayout<KeptCall>.stride
    }

    /// Adds `entry` to each list it belongs to.
    mutating func add(_ entry: CallEntry) {
        let k = KeptCall(entry)
        if entry.detail.slow {
            slowCount &+= 1
            hold(k)
            if let gone = CallLog.pushRecent(k, into: &recentSlowKept, capacity: capacity) { release(gone) }
            pushSlowest(k)
        }
        if entry.detail.failed {
            failureCount &+= 1
            hold(k)
            if let gone = CallLog.pushRecent(k, into: &recentFailuresKept, capacity: capacity) { release(gone) }
        }
        if k.holders > 0 { entryBytes += k.bytes }
    }

    /// Gives up the oldest entry kept (from every list holding it); false when nothing is kept.
    mutating func evictOldest() -> Bool {
        var oldest: KeptCall? = nil
        for list in [recentSlowKept, slowestKept, recentFailuresKept] {
            for k in list where k.entry.sequence < (oldest?.entry.sequence ?? .max) { oldest = k }
        }
        guard let oldest else { return false }
        if let i = recentSlowKept.firstIndex(where: { $0 === oldest }) { release(CallLog.remove(at: i, from: &recentSlowKept)) }
        if let i = recentFailuresKept.firstIndex(where: { $0 === oldest }) { release(CallLog.remove(at: i, from: &recentFailuresKept)) }
        if let i = slowestKept.firstIndex(where: { $0 === oldest }) { removeSlowest(at: i) }
        return true
    }

    private func hold(_ k: KeptCall) { k.holders += 1 }

    private mutating func release(_ k: KeptCall) {
        k.holders -= 1
        if k.holders == 0 { entryBytes -= k.bytes }
    }

    /// Appends until full, then replaces the oldest; returns the entry replaced.
    private static func pushRecent(_ k: KeptCall, into list: inout [KeptCall], capacity: Int) -> KeptCall? {
        guard list.count >= capacity else {
            list.append(k)
            return nil
        }
        var o = 0
        for i in list.indices where list[i].entry.sequence < list[o].entry.sequence { o = i }
        let gone = list[o]
        list[o] = k
        return gone
    }

    /// Removes and returns `list[i]` (the order of a recent list does not matter).
    private static func remove(at i: Int, from list: inout [KeptCall]) -> KeptCall {
        let gone = list[i]
        list.swapAt(i, list.count - 1)
        list.removeLast()
        if list.isEmpty { list = [] }  // gives the storage back
        return gone
    }

    private mutating func pushSlowest(_ k: KeptCall) {
        if slowestKept.count < capacity {
            hold(k)
            slowestKept.append(k)
            siftUp(slowestKept.count - 1)
            return
        }
        guard k.entry.detail.durationNanoseconds > slowestKept[0].entry.detail.durationNanoseconds else { return }
        hold(k)
        release(slowestKept[0])
        slowestKept[0] = k
        siftDown(0)
    }

    private mutating func removeSlowest(at i: Int) {
        release(slowestKept[i])
        let last = slowestKept.count - 1
        slowestKept.swapAt(i, last)
        slowestKept.removeLast()
        if slowestKept.isEmpty {
            slowestKept = []
        } else if i < slowestKept.count {
            siftDown(i)
            siftUp(i)
        }
    }

    private func duration(_ i: Int) -> UInt64 { slowestKept[i].entry.detail.durationNanoseconds }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard duration(i) < duration(parent) else { return }
            slowestKept.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < slowestKept.count && duration(l) < duration(smallest) { smallest = l }
            if r < slowestKept.count && duration(r) < duration(smallest) { smallest = r }
            guard smallest != i else { return }
            slowestKept.swapAt(i, smallest)
            i = smallest
        }
    }
}

/// The call logs of every operation, and the daemon-wide budget on the memory they hold.
///
/// Each log is bounded by count (`capacity` per list); the budget bounds them all together:
/// `bytes` counts every entry with its text and attributes, the lists and each log's own keys,
/// generously (`CallEntry.footprintBytes`). When an entry takes the total past `budgetBytes`,
/// the log holding the most bytes gives up its oldest entry, again until the total fits. So a
/// flood in one operation evicts its own entries first, the others keep theirs, and under
/// pressure from many operations each keeps an equal share of the budget, its newest entries.
/// Counts of slow calls and failures (`slowCount`, `failureCount`) are never evicted.
struct CallLogs {
    struct Key: Hashable {
        var service: String
        var operation: String
    }

    static let defaultBudgetBytes = Store.Configuration.defaultCallLogBudgetBytes

    private(set) var logs: [CallLog] = []
    private var keys: [Key] = []
    private var index: [Key: Int] = [:]
    /// Indices into `logs`, a max-heap on their bytes: the root gives up an entry first.
    private var byBytes: [Int] = []
    let capacity: Int
    let budgetBytes: Int
    /// Bytes held by every log, entries and lists, plus each log's keys.
    private(set) var bytes = 0
    /// Entries given up to keep within the budget.
    private(set) var evicted: UInt64 = 0
    private(set) var nextSequence: UInt64 = 1

    init(capacity: Int = 100, budgetBytes: Int = CallLogs.defaultBudgetBytes) {
        self.capacity = capacity
        self.budgetBytes = budgetBytes
    }

    /// Forgets every kept entry and count (`probectl reset`); the sequence numbers go on, so a
    /// follower never sees one twice, and `evicted` stays a daemon-wide counter.
    mutating func removeAll() {
        logs = []
        keys = []
        index = [:]
        byBytes = []
        bytes = 0
    }

    /// Stamps `entry` with the next sequence number, keeps it (evicting older entries past the
    /// budget), and returns it as stamped.
    mutating func add(_ entry: CallEntry) -> CallEntry {
        var e = entry
        e.sequence = nextSequence
        nextSequence &+= 1
        let i = log(for: Key(service: e.service, operation: e.operation))
        let before = logs[i].footprintBytes
        logs[i].add(e)
        bytes += logs[i].footprintBytes - before
        siftUp(logs[i].heapIndex)
        siftDown(logs[i].heapIndex)  // a large entry replaced by a smaller one
        while bytes > budgetBytes {
            let largest = byBytes[0]
            let held = logs[largest].footprintBytes
            guard logs[largest].evictOldest() else { break }  // only keys are left: nothing to give
            evicted &+= 1
            bytes += logs[largest].footprintBytes - held
            siftDown(0)
        }
        return e
    }

    /// The logs of `operation` (every operation when nil), in a stable order.
    func matching(_ operation: String?) -> [CallLog] {
        keys.indices.filter { operation == nil || keys[$0].operation == operation }
            .sorted { (keys[$0].service, keys[$0].operation) < (keys[$1].service, keys[$1].operation) }
            .map { logs[$0] }
    }

    /// Every log with its key, in no particular order (a state file keeps them).
    var keyed: [(key: Key, log: CallLog)] { Array(zip(keys, logs)) }

    /// Sets `key`'s counts of slow calls and failures ever added, and the entries evicted so far
    /// (restoring a state file: its log is kept for its counts even when no entry came back).
    mutating func restoreCounts(_ key: Key, slow: UInt64, failures: UInt64) {
        let i = log(for: key)
        logs[i].restoreCounts(slow: slow, failures: failures)
    }

    mutating func restoreEvicted(_ count: UInt64) { evicted = evicted.saturatingAdd(count) }

    /// Entries held, each once.
    var entryCount: Int {
        logs.reduce(0) { n, log in
            n + Set((log.recentSlow + log.slowest + log.recentFailures).map(\.sequence)).count
        }
    }

    private mutating func log(for key: Key) -> Int {
        if let i = index[key] { return i }
        let i = logs.count
        var log = CallLog(capacity: capacity)
        log.heapIndex = byBytes.count
        logs.append(log)
        keys.append(key)
        index[key] = i
        byBytes.append(i)
        bytes += CallLogs.keyBytes(key)
        return i
    }

    /// A log's place in the arrays and the index, and its key's text.
    static func keyBytes(_ key: Key) -> Int {
        MemoryLayout<CallLog>.stride + 2 * MemoryLayout<Key>.stride + 16 + CallEntry.heapBytes(key.service)
            + CallEntry.heapBytes(key.operation)
    }

    private func weight(_ heapIndex: Int) -> Int { logs[byBytes[heapIndex]].footprintBytes }

    private mutating func swapHeap(_ a: Int, _ b: Int) {
        byBytes.swapAt(a, b)
        logs[byBytes[a]].heapIndex = a
        logs[byBytes[b]].heapIndex = b
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard weight(i) > weight(parent) else { return }
            swapHeap(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var largest = i
            if l < byBytes.count && weight(l) > weight(largest) { largest = l }
            if r < byBytes.count && weight(r) > weight(largest) { largest = r }
            guard largest != i else { return }
            swapHeap(i, largest)
            i = largest
        }
    }
}
