import ProbeControl

extension Store {
    static let quantiles = [0.5, 0.9, 0.99, 0.999]

    /// Latency and counts of one series or of several merged.
    struct Aggregate {
        var calls: UInt64 = 0
        var errors: UInt64 = 0
        var warmup: UInt64 = 0
        var latency = Histogram()
        var rate: Double = 0
        var errorTypes: [String: UInt64] = [:]
        var processes = 0
        var memory = MemoryDeltaStats()

        mutating func add(_ s: Series, now: UInt64) {
            calls &+= s.calls
            errors &+= s.errors
            warmup &+= s.warmup
            latency.merge(s.latency)
            rate += s.rate.perSecond(now: now, since: s.firstSeen)
            for (k, v) in s.errorTypes { errorTypes[k, default: 0] &+= v }
            processes += 1
            memory.merge(s.memory)
        }

        func write(service: String, pid: Int32?, operation: String, to w: inout JSONWriter) {
            w.beginObject()
            w.field("service", service)
            w.field("pid", pid)
            w.field("operation", operation)
            w.field("calls", calls)
            w.field("errors", errors)
            w.field("warmup", warmup)
            w.field("counted", latency.totalCount)
            let empty = latency.totalCount == 0
            let q = latency.quantiles(Store.quantiles)
            w.field("min_ns", empty ? nil : latency.min)
            w.field("mean_ns", empty ? nil : latency.mean)
            w.field("p50_ns", empty ? nil : q[0])
            w.field("p90_ns", empty ? nil : q[1])
            w.field("p99_ns", empty ? nil : q[2])
            w.field("p999_ns", empty ? nil : q[3])
            w.field("max_ns", empty ? nil : latency.max)
            w.field("rate_per_s", rate)
            w.beginObject("error_types")
            for (k, v) in errorTypes.sorted(by: { $0.key < $1.key }) { w.field(k, v) }
            w.endObject()
            w.field("processes", processes)
            w.field("mem_delta_calls", memory.count)
            w.field("mem_delta_mean_bytes", memory.meanBytes)
            w.field("mem_delta_max_bytes", memory.largest)
            w.field("mem_delta_total_bytes", memory.total)
            w.endObject()
        }
    }

    /// `probectl stats --json`: one row per series, then one per (service, operation) merged.
    public func statsJSON() -> String {
        let now = clock.now()
        var w = JSONWriter(capacity: 512 * (series.count * 2 + 1))
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("warmup_calls", configuration.warmup)
        w.beginArray("operations")
        let ordered = series.values.sorted {
            ($0.key.service, $0.key.operation, $0.key.pid) < ($1.key.service, $1.key.operation, $1.key.pid)
        }
        var merged = Aggregate()
        var current: (String, String)? = nil
        func flushMerged() {
            if let (service, operation) = current {
                merged.write(service: service, pid: nil, operation: operation, to: &w)
            }
        }
        for s in ordered {
            var one = Aggregate()
            one.add(s, now: now)
            one.write(service: s.key.service, pid: s.key.pid, operation: s.key.operation, to: &w)
        }
        for s in ordered {
            if current.map({ $0 != (s.key.service, s.key.operation) }) ?? true {
                flushMerged()
                merged = Aggregate()
                current = (s.key.service, s.key.operation)
            }
            merged.add(s, now: now)
        }
        flushMerged()
        w.endArray()
        w.endObject()
        return w.text
    }

    /// `probectl status --json`.
    public func statusJSON(pid: Int32) -> String {
        let now = clock.now()
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("version", probeVersion)
        w.field("pid", pid)
        w.field("uptime_ns", now &- startedAt)
        w.field("socket", configuration.socketPath)
        w.field("warmup_calls", configuration.warmup)
        let known = clients.values.filter { $0.service != nil }
        w.field("connected_processes", known.filter { $0.state == "connected" }.count)
        w.field("series", series.count)
        w.field("events_received", eventsReceived)
        w.field("bytes_received", bytesReceived)
        w.field("messages_received", messagesReceived)
        w.field("messages_rejected", messagesRejected)
        w.field("dropped_events", known.reduce(UInt64(0)) { $0 &+ $1.droppedReported })
        w.beginArray("processes")
        for c in known.sorted(by: { ($0.service!, $0.pid, $0.connectedAt) < ($1.service!, $1.pid, $1.connectedAt) }) {
            w.beginObject()
            w.field("service", c.service)
            w.field("pid", c.pid)
            w.field("uid", c.uid)
            w.field("state", c.state)
            w.field("connected_for_ns", (c.disconnectedAt ?? now) &- c.connectedAt)
            w.field("events_received", c.eventsReceived)
            w.field("dropped_events", c.droppedReported)
            w.field("operations", c.operations.lazy.compactMap { $0 }.count)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
