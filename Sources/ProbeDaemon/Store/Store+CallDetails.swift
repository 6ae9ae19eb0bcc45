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

    /// `probectl slow --json`: recent slow calls newest first, and the slowest ever slowest first,
    /// of `operation` (every operation when nil), at most `limit` of each.
    public func slowJSON(operation: String?, limit: Int = 100) -> String {
        let logs = callLogs.matching(operation)
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("operation", operation)
        w.field("slow_count", logs.reduce(UInt64(0)) { $0 &+ $1.slowCount })
        w.beginArray("slow_calls")
        for e in logs.flatMap(\.recentSlow).sorted(by: { $0.sequence > $1.sequence }).prefix(limit) { e.write(to: &w) }
        w.endArray()
        w.beginArray("slowest")
        let slowest = logs.flatMap(\.slowest).sorted {
            ($0.detail.durationNanoseconds, $0.sequence) > ($1.detail.durationNanoseconds, $1.sequence)
        }
        for e in slowest.prefix(limit) { e.write(to: &w) }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// `probectl errors --json`: recent failures newest first, and per (service, operation) the
    /// failures by error type and the error rate over the last minute.
    public func errorsJSON(operation: String?, limit: Int = 100) -> String {
        let now = clock.now()
        let logs = callLogs.matching(operation)
        var w = JSONWriter(capacity: 4096)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("operation", operation)
        w.beginArray("errors")
        for e in logs.flatMap(\.recentFailures).sorted(by: { $0.sequence > $1.sequence }).prefix(limit) { e.write(to: &w) }
        w.endArray()
        w.beginArray("operations")
        var groups: [CallLogs.Key: Aggregate] = [:]
        for s in series.values where operation == nil || s.key.operation == operation {
            let key = CallLogs.Key(service: s.key.service, operation: s.key.operation)
            var a = groups[key] ?? Aggregate(window: .all)
            a.add(s, now: now)
            groups[key] = a
        }
        for (key, a) in groups.sorted(by: { ($0.key.service, $0.key.operation) < ($1.key.service, $1.key.operation) }) {
            w.beginObject()
            w.field("service", key.service)
            w.field("operation", key.operation)
            w.field("calls", a.calls)
            w.field("errors", a.errors)
            w.field("error_rate_1m", a.detail.errorRate1m)
            w.beginObject("error_types")
            for (k, v) in a.errorTypes.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
            w.endObject()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// Entries kept and the bytes they hold, for tests and status.
    var callLogFootprint: (logs: Int, bytes: Int) { (callLogs.logs.count, callLogs.bytes) }
}

/// The per-row figures issue 6 adds to `probectl stats`: items, slow calls, the last minute's error rate.
struct CallFigures {
    var items: UInt64 = 0
    var countedItems: UInt64 = 0
    var countedItemNanoseconds: UInt64 = 0
    var itemsPerSecond: Double = 0
    var slowCalls: UInt64 = 0
    var calls1m: UInt64 = 0
    var errors1m: UInt64 = 0

    /// Failed calls over all calls in the last minute; nil when there were none.
    var errorRate1m: Double? { calls1m == 0 ? nil : Double(errors1m) / Double(calls1m) }

    /// Adds series `s`; items per second are over the window (at most its last minute; the
    /// `all` row: the last 10 s, like its `rate_per_s`).
    mutating func add(_ s: Series, window: StatsWindow, now: UInt64, span: (UInt64) -> UInt64) {
        items &+= s.items.total
        countedItems &+= s.items.countedItems
        countedItemNanoseconds &+= s.items.countedNanoseconds
        slowCalls &+= s.slowCalls
        let seconds = min(window.seconds ?? 10, UInt64(ItemStats.seconds))
        itemsPerSecond += Double(s.items.recent(seconds: seconds, nowSecond: now / 1_000_000_000)) / max(Double(span(seconds)) / 1e9, 1)
        let minute = s.windows.figures(seconds: 60, totals: s.totals, latency: false)
        calls1m &+= minute.calls
        errors1m &+= minute.errors
    }

    func write(to w: inout JSONWriter) {
        w.field("items", items)
        w.field("items_per_s", itemsPerSecond)
        w.field("mean_per_item_ns", countedItems == 0 ? nil : countedItemNanoseconds / countedItems)
        w.field("slow_calls", slowCalls)
        w.field("error_rate_1m", errorRate1m)
    }
}
