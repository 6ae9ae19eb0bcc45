import ProbeControl
import ProbeStatistics
import ProbeWire

extension Store {
    /// Keeps one slow or failed call (a CALL_DETAIL whose names the ingest side resolved) and
    /// hands it to the followers. Its event arrives separately, in EVENTS, and is counted there.
    func ingestCallDetail(_ d: CallDetail, operation: String, errorType: String?, bytes: Int, on id: ConnectionID) {
        messagesReceived &+= 1
        bytesReceived &+= UInt64(bytes)
        guard let client = clients[id], let service = client.service else { return }
        guard let s = series[SeriesKey(service: service, pid: client.pid, operation: operation)] else {
            return  // refused by --max-series: its call log would be a series by another name
        }
        if d.slow { s.slowCalls &+= 1 }
        let kept = callLogs.add(CallEntry(sequence: 0, service: service, pid: client.pid, operation: operation, detail: d, errorType: errorType))
        callFeed.publish(kept)
    }

    /// What `probectl slow` shows: recent slow calls newest first, and the slowest ever slowest
    /// first, of `operation` (every operation when nil), at most `limit` of each.
    func slowCallsSnapshot(operation: String?, limit: Int = 100) -> SlowCallsSnapshot {
        let logs = callLogs.matching(operation)
        let slowest = logs.flatMap(\.slowest).sorted {
            ($0.detail.durationNanoseconds, $0.sequence) > ($1.detail.durationNanoseconds, $1.sequence)
        }
        return SlowCallsSnapshot(
            operation: operation, slowCount: logs.reduce(UInt64(0)) { $0 &+ $1.slowCount },
            recent: Array(logs.flatMap(\.recentSlow).sorted(by: { $0.sequence > $1.sequence }).prefix(limit)),
            slowest: Array(slowest.prefix(limit)))
    }

    /// What `probectl errors` shows: recent failures newest first, and per (service, operation)
    /// the failures by error type and the error rate over the last minute.
    func errorsSnapshot(operation: String?, limit: Int = 100) -> ErrorsSnapshot {
        let now = clock.now()
        let logs = callLogs.matching(operation)
        var groups: [CallLogs.Key: Aggregate] = [:]
        for s in series.values where operation == nil || s.key.operation == operation {
            let key = CallLogs.Key(service: s.key.service, operation: s.key.operation)
            var a = groups[key] ?? Aggregate(window: .all)
            a.add(s, now: now)
            groups[key] = a
        }
        return ErrorsSnapshot(
            operation: operation,
            recent: Array(logs.flatMap(\.recentFailures).sorted(by: { $0.sequence > $1.sequence }).prefix(limit)),
            operations: groups.sorted(by: { ($0.key.service, $0.key.operation) < ($1.key.service, $1.key.operation) })
                .map { ErrorsSnapshot.Operation(service: $0.key.service, operation: $0.key.operation, figures: $0.value) })
    }

    /// Logs, the bytes they hold and the entries evicted to stay within the budget, for tests and status.
    var callLogFootprint: (logs: Int, bytes: Int, evicted: UInt64) { (callLogs.logs.count, callLogs.bytes, callLogs.evicted) }
}

/// Slow calls kept for `probectl slow` (Control/CallsJSON.swift renders them).
struct SlowCallsSnapshot: Sendable {
    /// The operation asked for; nil for all.
    var operation: String?
    /// Slow calls ever reported, also those no longer kept.
    var slowCount: UInt64
    /// Newest first.
    var recent: [CallEntry]
    /// Slowest first (ties: newest first).
    var slowest: [CallEntry]
}

/// Failures kept for `probectl errors` (Control/CallsJSON.swift renders them).
struct ErrorsSnapshot: Sendable {
    struct Operation: Sendable {
        var service: String
        var operation: String
        /// Lifetime figures; `detail.errorRate1m` over the last minute.
        var figures: Store.Aggregate
    }

    /// The operation asked for; nil for all.
    var operation: String?
    /// Newest first.
    var recent: [CallEntry]
    /// Sorted by service, then operation.
    var operations: [Operation]
}

/// The per-row figures issue 6 adds to `probectl stats`: items, slow calls, the last minute's error rate.
struct CallFigures: Sendable {
    /// Saturates at 2^64 − 1 (items are peer-controlled); the sums behind the mean are exact.
    var items: UInt64 = 0
    /// Calls since the series began, whatever the window: beside `items`, it tells a batched
    /// operation (items ≠ calls) from one that records one item per call.
    var lifetimeCalls: UInt64 = 0
    var countedItems: UInt128 = 0
    var countedItemNanoseconds: UInt128 = 0
    /// Items over the time the item window covers (at least a second): for a merged row, all its
    /// processes' items over the longest time any of them covers, as for `rate_per_s` — not the
    /// sum of each one's rate, which would count a recycled worker's items as if they were
    /// processed beside its successor's.
    var itemsPerSecond: Double { recentItems / max(Double(recentItemsSpanNs) / 1e9, 1) }
    /// Items in the item window, summed in floating point: each series' count saturates at
    /// 2^64 − 1 and several such would wrap an integer sum.
    var recentItems: Double = 0
    var recentItemsSpanNs: UInt64 = 0
    var slowCalls: UInt64 = 0
    var calls1m: UInt64 = 0
    var errors1m: UInt64 = 0

    /// Failed calls over all calls in the last minute; nil when there were none.
    var errorRate1m: Double? { calls1m == 0 ? nil : Double(errors1m) / Double(calls1m) }

    /// Adds series `s`; items per second are over the window (at most its last minute; the
    /// `all` row: the last 10 s, like its `rate_per_s`).
    mutating func add(_ s: Series, window: StatsWindow, now: UInt64) {
        items = items.saturatingAdd(s.items.total)
        lifetimeCalls &+= s.calls
        countedItems &+= s.items.countedItems
        countedItemNanoseconds &+= s.items.countedNanoseconds
        slowCalls = slowCalls.saturatingAdd(s.slowCalls)
        let seconds = min(window.seconds ?? 10, UInt64(ItemStats.seconds))
        let nowSecond = now / 1_000_000_000
        recentItems += Double(s.items.recent(seconds: seconds, nowSecond: nowSecond))
        // The time those items cover: the last `seconds` whole seconds up to now (the ring's
        // own, not the windows' slices), from the series' first appearance if later while its
        // process is live; a process gone spreads its items over them all.
        let start = (nowSecond + 1 > seconds ? nowSecond + 1 - seconds : 0) * 1_000_000_000
        recentItemsSpanNs = max(recentItemsSpanNs, now &- min(s.live ? max(start, s.firstSeen) : start, now))
        let minute = s.windows.figures(seconds: 60, totals: s.totals, latency: false)
        calls1m &+= minute.calls
        errors1m &+= minute.errors
    }
}
