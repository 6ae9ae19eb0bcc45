import ProbeControl
import ProbeStatistics
import ProbeWire

extension Store {
    var leakDetector: LeakDetector {
        LeakDetector(
            thresholdBytesPerMinute: configuration.memory.leakThresholdBytesPerMinute,
            windowSeconds: Double(configuration.memory.leakWindow) / 1e9)
    }

    /// The processes the sampler reads next: every connected client that has said HELLO.
    public func memoryTargets() -> [(ConnectionID, Int32)] {
        clients.compactMap { id, c in c.state == "connected" && c.service != nil ? (id, c.pid) : nil }
    }

    /// Stores one round of readings (nil: the read failed), re-assesses each process at most once
    /// a second, and forgets exited processes past their retention. Returns a log line for each
    /// suspicion of a leak that began or ended.
    public func recordMemorySamples(_ readings: [(ConnectionID, ProcStatus?)]) -> [String] {
        let now = clock.now()
        let detector = leakDetector
        var lines: [String] = []
        for (id, reading) in readings {
            guard let client = clients[id] else { continue }
            var m = memory[id] ?? ProcessMemory(capacity: configuration.memory.historyCapacity)
            if let reading {
                m.latest = reading
                m.history.append(MemorySample(time: now, rssBytes: reading.rssBytes))
                m.samplesTaken &+= 1
            } else {
                m.sampleFailures &+= 1
            }
            if m.assessment == nil || now &- m.assessedAt >= 1_000_000_000 {
                let was = m.assessment?.suspected ?? false
                let assessment = detector.assess(m.history.since(now &- min(now, configuration.memory.leakWindow)))
                m.assessment = assessment
                m.assessedAt = now
                let who = "service \(client.service ?? "?") pid \(client.pid)"
                if assessment.suspected && !was {
                    m.suspectedSince = now
                    let rate = (assessment.trend?.slopeBytesPerMinute ?? 0) / 1_048_576
                    lines.append("suspected memory leak: \(who) resident memory growing \(formatted(rate)) MiB/min steadily (fit \(formatted(assessment.trend?.tau ?? 0))); see probectl procs")
                } else if !assessment.suspected && was {
                    m.suspectedSince = nil
                    lines.append("memory leak no longer suspected: \(who) (\(assessment.verdict))")
                }
            }
            memory[id] = m
        }
        forgetExitedMemory(now: now)
        return lines
    }

    /// Drops the history of processes that exited longer ago than the retention.
    func forgetExitedMemory(now: UInt64) {
        for (id, c) in clients where c.state != "connected" {
            if let gone = c.disconnectedAt, now &- gone > configuration.memory.exitedRetention, memory[id] != nil {
                memory[id] = nil
            }
        }
    }

    /// Adds a MEMORY message's deltas to their series; the ingest side has checked the operation ids.
    func ingestMemoryDeltas(_ records: [MemoryDeltaRecord], droppedTotal: UInt64, on id: ConnectionID) {
        guard let client = clients[id] else { return }
        for r in records {
            let index = Int(r.operationID)
            guard index < client.operations.count, let s = client.operations[index] else { continue }
            s.memory.add(r.deltaBytes)
        }
        var m = memory[id] ?? ProcessMemory(capacity: configuration.memory.historyCapacity)
        m.deltasDropped = max(m.deltasDropped, droppedTotal)
        memory[id] = m
    }

    /// `probectl procs --json`: one row per client process, connected or recently exited.
    public func procsJSON() -> String {
        let now = clock.now()
        let options = configuration.memory
        let detector = leakDetector
        var w = JSONWriter(capacity: 1024 + 640 * clients.count)
        w.beginObject()
        w.field("schema_version", Schema.version)
        w.field("sample_interval_ns", options.sampleInterval)
        w.field("leak_threshold_bytes_per_min", options.leakThresholdBytesPerMinute)
        w.field("leak_window_ns", options.leakWindow)
        w.beginArray("processes")
        let visible = clients.filter { _, c in
            guard c.service != nil else { return false }
            guard c.state != "connected", let gone = c.disconnectedAt else { return true }
            return now &- gone <= options.exitedRetention
        }
        for (id, c) in visible.sorted(by: { ($0.value.service!, $0.value.pid, $0.key) < ($1.value.service!, $1.value.pid, $1.key) }) {
            let m = memory[id]
            // Fitted afresh from the whole window; for an exited process the window ends at its last sample.
            let assessment = m.map { detector.assess($0.history.since(($0.history.last?.time ?? 0) &- min($0.history.last?.time ?? 0, options.leakWindow))) }
            let trend = assessment?.trend
            w.beginObject()
            w.field("service", c.service)
            w.field("pid", c.pid)
            w.field("uid", c.uid)
            w.field("state", c.state)
            w.field("rss_bytes", m?.latest?.rssBytes)
            w.field("rss_peak_bytes", m?.latest?.peakBytes)
            w.field("rss_anon_bytes", m?.latest?.anonBytes)
            w.field("swap_bytes", m?.latest?.swapBytes)
            w.field("rss_growth_bytes_per_min", trend.map { $0.slopeBytesPerMinute.rounded() })
            w.field("rss_growth_fit", trend?.tau)
            w.field("trend", assessment?.verdict ?? "insufficient_data")
            w.field("leak_suspected", assessment?.suspected ?? false)
            w.field("leak_suspected_for_ns", (assessment?.suspected ?? false) ? m?.suspectedSince.map { now &- $0 } ?? 0 : nil)
            w.field("trend_window_ns", trend.map { UInt64($0.spanSeconds * 1e9) })
            w.field("samples", m?.history.count ?? 0)
            w.field("sample_failures", m?.sampleFailures ?? 0)
            w.field("last_sample_age_ns", m?.history.last.map { now &- $0.time })
            w.field("connected_for_ns", (c.disconnectedAt ?? now) &- c.connectedAt)
            w.field("exited_ago_ns", c.state == "connected" ? nil : c.disconnectedAt.map { now &- $0 })
            w.field("events_received", c.eventsReceived)
            w.field("dropped_events", c.droppedReported)
            w.field("memory_deltas_dropped", m?.deltasDropped ?? 0)
            writeGPUMemory(of: id, to: &w)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    private func formatted(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return String(r)
    }
}
