import ProbeControl
import ProbeStatistics

extension Store {
    static let quantiles = [0.5, 0.9, 0.99, 0.999]

    /// Latency and counts of one series or of several merged, over one window.
    struct Aggregate {
        let window: StatsWindow
        var calls: UInt64 = 0
        var errors: UInt64 = 0
        var warmup: UInt64 = 0
        var latency = Histogram()
        /// For a recent window, the lifetime latency beside it (its p99 shows what changed).
        var lifetimeLatency = Histogram()
        var rate: Double = 0
        /// How much time the figures cover: the window, or less where the series began later.
        var spanNs: UInt64 = 0
        var errorTypes: [String: UInt64] = [:]
        var processes = 0
        var memory = MemoryDeltaStats()
        /// Device synchronisation and GPU memory of the rows' processes (see Store+DeviceSync.swift).
        var sync = DeviceSyncSummary()
        /// Items, slow calls and the last minute's error rate.
        var detail = CallFigures()

        init(window: StatsWindow) { self.window = window }

        /// Adds a series' figures for the window; brings its slices up to `now` first.
        mutating func add(_ s: Series, now: UInt64) {
            s.touch(now)
            let totals = s.totals
            processes += 1
            // Memory deltas are lifetime figures, whatever the window.
            memory.merge(s.memory)
            let spanOf = { [self] (seconds: UInt64) in span(s, seconds: seconds, now: now) }
            detail.add(s, window: window, now: now, span: spanOf)
            guard let seconds = window.seconds else {
                calls &+= s.calls
                errors &+= s.errors
                warmup &+= s.warmup
                latency.merge(s.windows.lifetimeLatency)
                for (k, v) in s.errorTypes { errorTypes[k, default: 0] &+= v }
                spanNs = max(spanNs, now &- min(s.firstSeen, now))
                // The lifetime row's rate is the current one, over the last 10 s, as it always was.
                let recent = s.windows.figures(seconds: 10, totals: totals, latency: false)
                rate += Double(recent.calls) / max(Double(span(s, seconds: 10, now: now)) / 1e9, 1)
                return
            }
            let f = s.windows.figures(seconds: seconds, totals: totals, latency: true)
            calls &+= f.calls
            errors &+= f.errors
            warmup &+= f.warmup
            latency.merge(f.latency)
            lifetimeLatency.merge(s.windows.lifetimeLatency)
            for (t, c) in f.errorTypes.enumerated() where c > 0 { errorTypes[s.errorTypeNames[t], default: 0] &+= c }
            let covered = span(s, seconds: seconds, now: now)
            spanNs = max(spanNs, covered)
            rate += Double(f.calls) / max(Double(covered) / 1e9, 1)
        }

        /// The time a window of `seconds` covers for `s` at `now`: from the window's first slice
        /// start, or from the series' first appearance if later.
        func span(_ s: Series, seconds: UInt64, now: UInt64) -> UInt64 {
            let start = SeriesWindows.windowStart(seconds: seconds, nowSecond: now / 1_000_000_000) * 1_000_000_000
            return now &- min(max(start, s.firstSeen), now)
        }

        func write(service: String, pid: Int32?, operation: String, to w: inout JSONWriter) {
            w.beginObject()
            w.field("service", service)
            w.field("pid", pid)
            w.field("operation", operation)
            w.field("window", window.rawValue)
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
            w.field("span_ns", spanNs)
            let lifetime = window == .all ? latency : lifetimeLatency
            w.field("lifetime_p99_ns", lifetime.totalCount == 0 ? nil : lifetime.quantile(0.99))
            w.field("mem_delta_calls", memory.count)
            w.field("mem_delta_mean_bytes", memory.meanBytes)
            w.field("mem_delta_max_bytes", memory.largest)
            w.field("mem_delta_total_bytes", memory.total)
            sync.write(to: &w)
            detail.write(to: &w)
            w.endObject()
        }
    }

    /// `probectl stats --json`: one row per series, then one per (service, operation) merged,
    /// each over `window` (`all`: since the series began).
    public func statsJSON(window: StatsWindow = .all) -> String {
        let now = clock.now()
        var w = JSONWriter(capacity: 640 * (series.count * 2 + 1))  // rows are about 570 bytes
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("warmup_calls", configuration.warmup)
        w.field("window", window.rawValue)
        w.beginArray("operations")
        let ordered = series.values.sorted {
            ($0.key.service, $0.key.operation, $0.key.pid) < ($1.key.service, $1.key.operation, $1.key.pid)
        }
        let gpuByPid = gpu.memoryByPid
        var merged = Aggregate(window: window)
        var current: (String, String)? = nil
        func flushMerged() {
            if let (service, operation) = current {
                merged.write(service: service, pid: nil, operation: operation, to: &w)
            }
        }
        // A (service, operation) run by one process merges to that process's own row: keep the
        // rows of such series and write them again without a pid instead of computing them twice.
        var alone = [Bool](repeating: false, count: ordered.count)
        for i in ordered.indices {
            let k = ordered[i].key
            let sameBefore = i > 0 && ordered[i - 1].key.service == k.service && ordered[i - 1].key.operation == k.operation
            let sameAfter = i + 1 < ordered.count && ordered[i + 1].key.service == k.service && ordered[i + 1].key.operation == k.operation
            alone[i] = !sameBefore && !sameAfter
        }
        var kept: [Int: Aggregate] = [:]
        for (i, s) in ordered.enumerated() {
            var one = Aggregate(window: window)
            one.add(s, now: now)
            one.sync.add(s, gpuBytes: gpuByPid[s.key.pid])
            one.write(service: s.key.service, pid: s.key.pid, operation: s.key.operation, to: &w)
            if alone[i] { kept[i] = one }
        }
        for (i, s) in ordered.enumerated() {
            if let one = kept[i] {
                flushMerged()
                current = nil
                one.write(service: s.key.service, pid: nil, operation: s.key.operation, to: &w)
                continue
            }
            if current.map({ $0 != (s.key.service, s.key.operation) }) ?? true {
                flushMerged()
                merged = Aggregate(window: window)
                current = (s.key.service, s.key.operation)
            }
            merged.add(s, now: now)
            merged.sync.add(s, gpuBytes: gpuByPid[s.key.pid])
        }
        flushMerged()
        w.endArray()
        w.endObject()
        return w.text
    }

    /// `probectl status --json`. `upToDate`: false when messages clients queued before the request
    /// were still waiting to be applied (probed is behind); the figures then leave them out.
    public func statusJSON(pid: Int32, upToDate: Bool = true) -> String {
        let now = clock.now()
        var w = JSONWriter()
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("version", probeVersion)
        w.field("pid", pid)
        w.field("uptime_ns", now &- startedAt)
        w.field("socket", configuration.socketPath)
        w.field("warmup_calls", configuration.warmup)
        w.field("up_to_date", upToDate)
        let known = clients.values.filter { $0.service != nil }
        w.field("connected_processes", known.filter { $0.state == "connected" }.count)
        w.field("series", series.count)
        w.field("events_received", eventsReceived)
        w.field("bytes_received", bytesReceived)
        w.field("messages_received", messagesReceived)
        w.field("messages_rejected", messagesRejected)
        w.field("max_series", configuration.maxSeries)
        w.field("series_refused", seriesRefused)
        w.field("events_refused", eventsRefused)
        // A process's drop count covers its whole life: one that reconnected reports it again,
        // so take the largest per process, not the sum over its connections.
        var droppedByProcess: [Int32: UInt64] = [:]
        for c in known { droppedByProcess[c.pid] = max(droppedByProcess[c.pid] ?? 0, c.droppedReported) }
        w.field("dropped_events", droppedByProcess.values.reduce(UInt64(0), &+))
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
            w.field("series_refused", c.seriesRefused)
            w.field("events_refused", c.eventsRefused)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }
}
