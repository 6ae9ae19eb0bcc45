import ProbeControl
import ProbeStatistics

/// `probectl status --json`, rendered from the store's snapshot.
enum StatusJSON {
    /// `pid`: probed's own. `upToDate`: false when messages clients queued before the request were
    /// still waiting to be applied (probed is behind); the figures then leave them out.
    /// `limits`: the ingest side's connection limit and refusals (nil in tests without one).
    static func render(_ s: StatusSnapshot, pid: Int32, upToDate: Bool = true, limits: (maxClients: Int, refused: UInt64)? = nil) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("version", probeVersion)
        w.field("pid", pid)
        w.field("uptime_ns", s.now &- s.startedAt)
        w.field("socket", s.socketPath)
        w.field("warmup_calls", s.warmup)
        w.field("up_to_date", upToDate)
        w.field("connected_processes", s.connections.filter { $0.state == "connected" }.count)
        w.field("series", s.series)
        w.field("events_received", s.eventsReceived)
        w.field("bytes_received", s.bytesReceived)
        w.field("messages_received", s.messagesReceived)
        w.field("messages_rejected", s.messagesRejected)
        w.field("max_series", s.maxSeries)
        w.field("series_refused", s.seriesRefused)
        w.field("events_refused", s.eventsRefused)
        w.field("retired_series", s.retiredSeries)
        w.field("retired_processes", s.retiredProcesses)
        w.field("exited_retention_ns", s.exitedRetention)
        w.field("state_dir", s.stateDirectory)
        w.field("state_saved_ago_ns", s.stateSavedAt.map { s.now &- min($0, s.now) })
        if let limits {
            w.field("max_clients", limits.maxClients)
            w.field("connections_refused", limits.refused)
        }
        w.field("call_log_bytes", s.callLogBytes)
        w.field("call_log_budget_bytes", s.callLogBudgetBytes)
        w.field("call_log_evicted", s.callLogEvicted)
        // A process's drop count covers its whole life: one that reconnected reports it again,
        // so take the largest per process, not the sum over its connections. Connections
        // forgotten after the retention left theirs in `retiredDroppedEvents`.
        var droppedByProcess: [Int32: UInt64] = [:]
        for c in s.connections { droppedByProcess[c.pid] = max(droppedByProcess[c.pid] ?? 0, c.droppedReported) }
        // Drop counts are what clients claim (any 64-bit value): the total saturates, never wraps.
        w.field("dropped_events", droppedByProcess.values.reduce(s.retiredDroppedEvents) { $0.saturatingAdd($1) })
        w.beginArray("processes")
        for c in s.connections.sorted(by: { ($0.service, $0.pid, $0.connectedAt) < ($1.service, $1.pid, $1.connectedAt) }) {
            w.beginObject()
            w.field("service", c.service)
            w.field("pid", c.pid)
            w.field("uid", c.uid)
            w.field("state", c.state)
            w.field("connected_for_ns", (c.disconnectedAt ?? s.now) &- c.connectedAt)
            w.field("events_received", c.eventsReceived)
            w.field("dropped_events", c.droppedReported)
            w.field("operations", c.operations)
            w.field("series_refused", c.seriesRefused)
            w.field("events_refused", c.eventsRefused)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
